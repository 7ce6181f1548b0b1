DROP INDEX identities_legacy_email_idx;
DROP INDEX users_legacy_id_key;
ALTER TABLE users DROP COLUMN legacy_id;
