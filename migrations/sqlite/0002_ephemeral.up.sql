-- The ephemeral store when no Redis is configured: short-lived values with a TTL
-- (OAuth state, sessions, link intents, counters). expires_at is Unix time in milliseconds,
-- read from the database's clock so that every instance agrees on it.
CREATE TABLE ephemeral (
    key         TEXT PRIMARY KEY NOT NULL,
    value       BLOB NOT NULL,
    expires_at  BIGINT NOT NULL
);

CREATE INDEX ephemeral_expires_at_idx ON ephemeral (expires_at);
