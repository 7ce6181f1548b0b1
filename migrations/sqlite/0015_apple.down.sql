ALTER TABLE identities DROP COLUMN email_deliverable;
ALTER TABLE identities DROP COLUMN upstream_token;
