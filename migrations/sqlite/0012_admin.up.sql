-- Operators (docs/admin.md): admins, disabled accounts, who did an admin action, and the
-- indexes the admin user search needs (username prefix, e-mails in any letter case).
ALTER TABLE users ADD COLUMN is_admin BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE users ADD COLUMN disabled_at TEXT;
ALTER TABLE users ADD COLUMN disabled_reason TEXT;

ALTER TABLE audit_events ADD COLUMN actor_id BLOB;

-- SQLite uses an index for a prefix LIKE only with a matching collation; usernames are lower
-- case ASCII, so the search uses a range (username >= q AND username < q || x'ff') instead.
CREATE INDEX users_created_at_id_idx ON users (created_at DESC, id DESC);
CREATE INDEX users_email_lower_idx ON users (LOWER(email));
CREATE INDEX identities_email_lower_idx ON identities (LOWER(email));
CREATE INDEX identities_uid_idx ON identities (uid);
CREATE INDEX identity_emails_email_lower_idx ON identity_emails (LOWER(email));
