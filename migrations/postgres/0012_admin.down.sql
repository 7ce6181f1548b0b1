DROP INDEX identity_emails_email_lower_idx;
DROP INDEX identities_uid_idx;
DROP INDEX identities_email_lower_idx;
DROP INDEX users_created_at_id_idx;
DROP INDEX users_email_lower_idx;
DROP INDEX users_username_prefix_idx;

ALTER TABLE audit_events DROP COLUMN actor_id;

ALTER TABLE users DROP COLUMN disabled_reason;
ALTER TABLE users DROP COLUMN disabled_at;
ALTER TABLE users DROP COLUMN is_admin;
