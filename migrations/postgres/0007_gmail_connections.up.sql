-- Gmail connections (DESIGN §8): a user's grant of gmail.send to munji. Tokens are sealed with
-- AES-256-GCM under one of encryption_keys and tagged with its id ("kid:…"), so keys can rotate.
-- At most one connection per (user, target) is equipped.
CREATE TABLE gmail_connections (
    id                 UUID PRIMARY KEY,
    user_id            UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    gmail_address      TEXT NOT NULL,
    scopes             TEXT NOT NULL,
    access_token       TEXT NOT NULL,
    access_expires_at  TIMESTAMPTZ NOT NULL,
    refresh_token      TEXT,
    status             TEXT NOT NULL CHECK (status IN ('active', 'needs_reauth')),
    equipped_to        TEXT,
    created_at         TIMESTAMPTZ NOT NULL,
    updated_at         TIMESTAMPTZ NOT NULL,
    CONSTRAINT gmail_connections_user_id_equipped_to_key UNIQUE (user_id, equipped_to)
);

CREATE INDEX gmail_connections_user_id_idx ON gmail_connections (user_id);
