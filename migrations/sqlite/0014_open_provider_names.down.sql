-- no-transaction
-- Back to the three names of 0001: identities of any other provider (Apple, OpenID Connect
-- providers) are deleted with their e-mail history, then the table is rebuilt with the old CHECK.
DELETE FROM identities WHERE provider NOT IN ('google', 'naver', 'kakao');
PRAGMA foreign_keys = OFF;
BEGIN;
CREATE TABLE identities_old (
    id              BLOB PRIMARY KEY NOT NULL,
    user_id         BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider        TEXT NOT NULL CHECK (provider IN ('google', 'naver', 'kakao')),
    uid             TEXT,
    email           TEXT,
    email_verified  BOOLEAN NOT NULL DEFAULT FALSE,
    linked_at       TEXT NOT NULL,
    last_login_at   TEXT,
    CONSTRAINT identities_provider_uid_key UNIQUE (provider, uid)
);
INSERT INTO identities_old (id, user_id, provider, uid, email, email_verified, linked_at, last_login_at)
SELECT id, user_id, provider, uid, email, email_verified, linked_at, last_login_at FROM identities;
DROP TABLE identities;
ALTER TABLE identities_old RENAME TO identities;
CREATE INDEX identities_user_id_idx ON identities (user_id);
CREATE INDEX identities_legacy_email_idx ON identities (provider, lower(email)) WHERE uid IS NULL;
CREATE INDEX identities_email_lower_idx ON identities (LOWER(email));
CREATE INDEX identities_uid_idx ON identities (uid);
COMMIT;
PRAGMA foreign_keys = ON;
