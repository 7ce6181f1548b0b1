-- Accounts and the social identities that sign in to them (DESIGN §2.1).
CREATE TABLE users (
    id            UUID PRIMARY KEY,
    username      TEXT NOT NULL,
    display_name  TEXT NOT NULL,
    email         TEXT,
    created_at    TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL,
    CONSTRAINT users_username_key UNIQUE (username)
);

-- An external identity is keyed by (provider, uid); e-mail is data, never a key.
-- uid is NULL only for an imported legacy mapping that has not signed in yet; NULLs never
-- collide in a unique constraint, so any number of such rows may wait for their first login.
CREATE TABLE identities (
    id              UUID PRIMARY KEY,
    user_id         UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider        TEXT NOT NULL CHECK (provider IN ('google', 'naver', 'kakao')),
    uid             TEXT,
    email           TEXT,
    email_verified  BOOLEAN NOT NULL DEFAULT FALSE,
    linked_at       TIMESTAMPTZ NOT NULL,
    last_login_at   TIMESTAMPTZ,
    CONSTRAINT identities_provider_uid_key UNIQUE (provider, uid)
);

CREATE INDEX identities_user_id_idx ON identities (user_id);
