-- no-transaction
-- Provider names become an open set (docs/providers.md): the built-in ones, Apple and any
-- configured OpenID Connect provider `[a-z0-9-]{1,32}`. SQLite cannot drop a CHECK, so the table
-- is rebuilt (the documented twelve steps): foreign keys are off while `identities` is replaced,
-- so that the e-mail history that references it is neither deleted nor rewritten.
PRAGMA foreign_keys = OFF;
BEGIN;
CREATE TABLE identities_new (
    id              BLOB PRIMARY KEY NOT NULL,
    user_id         BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider        TEXT NOT NULL CHECK (length(provider) BETWEEN 1 AND 32 AND provider NOT GLOB '*[^a-z0-9-]*'),
    uid             TEXT,
    email           TEXT,
    email_verified  BOOLEAN NOT NULL DEFAULT FALSE,
    linked_at       TEXT NOT NULL,
    last_login_at   TEXT,
    CONSTRAINT identities_provider_uid_key UNIQUE (provider, uid)
);
INSERT INTO identities_new (id, user_id, provider, uid, email, email_verified, linked_at, last_login_at)
SELECT id, user_id, provider, uid, email, email_verified, linked_at, last_login_at FROM identities;
DROP TABLE identities;
ALTER TABLE identities_new RENAME TO identities;
CREATE INDEX identities_user_id_idx ON identities (user_id);
CREATE INDEX identities_legacy_email_idx ON identities (provider, lower(email)) WHERE uid IS NULL;
CREATE INDEX identities_email_lower_idx ON identities (LOWER(email));
CREATE INDEX identities_uid_idx ON identities (uid);
COMMIT;
PRAGMA foreign_keys = ON;
