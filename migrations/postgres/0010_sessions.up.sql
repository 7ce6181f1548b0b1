-- Browser sessions (docs/sessions.md): one row per signed-in browser, so a user's sessions can
-- be listed and every one of them ended. The cookie carries a random secret; only its SHA-256
-- is kept here. `sid` is the session's opaque handle, also the `sid` claim of its tokens.
-- A session that ends is deleted; its tokens are refused through a mark in the ephemeral store.
CREATE TABLE sessions (
    sid           TEXT PRIMARY KEY,
    cookie_hash   TEXT NOT NULL,
    user_id       UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    auth_time     BIGINT NOT NULL,
    started_at    TIMESTAMPTZ NOT NULL,
    last_seen_at  TIMESTAMPTZ NOT NULL,
    expires_at    TIMESTAMPTZ NOT NULL,
    user_agent    TEXT,
    ip            TEXT,
    CONSTRAINT sessions_cookie_hash_key UNIQUE (cookie_hash)
);

CREATE INDEX sessions_user_id_idx ON sessions (user_id);
CREATE INDEX sessions_expires_at_idx ON sessions (expires_at);
CREATE INDEX refresh_tokens_user_id_idx ON refresh_tokens (user_id);
