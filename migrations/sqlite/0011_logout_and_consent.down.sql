DROP TABLE consents;
DROP TABLE backchannel_outbox;
DROP TABLE session_clients;
ALTER TABLE clients DROP COLUMN backchannel_logout_session_required;
ALTER TABLE clients DROP COLUMN backchannel_logout_uri;
ALTER TABLE clients DROP COLUMN post_logout_redirect_uris;
ALTER TABLE clients DROP COLUMN first_party;
ALTER TABLE clients DROP COLUMN name;
