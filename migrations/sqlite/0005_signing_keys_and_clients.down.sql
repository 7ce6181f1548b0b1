DROP TABLE clients;
DROP TABLE signing_keys;
