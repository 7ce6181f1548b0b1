DROP TABLE gmail_connections;
