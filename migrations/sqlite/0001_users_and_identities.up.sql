-- Accounts and the social identities that sign in to them (DESIGN §2.1).
-- UUIDs are 16-byte BLOBs and times RFC 3339 TEXT, as sqlx encodes them for SQLite.
CREATE TABLE users (
    id            BLOB PRIMARY KEY NOT NULL,
    username      TEXT NOT NULL,
    display_name  TEXT NOT NULL,
    email         TEXT,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    CONSTRAINT users_username_key UNIQUE (username)
);

-- An external identity is keyed by (provider, uid); e-mail is data, never a key.
-- uid is NULL only for an imported legacy mapping that has not signed in yet; NULLs never
-- collide in a unique constraint, so any number of such rows may wait for their first login.
CREATE TABLE identities (
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

CREATE INDEX identities_user_id_idx ON identities (user_id);
