-- Counters of the ephemeral store when no Redis is configured (rate limits): a count per key
-- for a window that ends at expires_at (Unix milliseconds on the database's clock).
CREATE TABLE counters (
    key         TEXT PRIMARY KEY,
    count       BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL
);

CREATE INDEX counters_expires_at_idx ON counters (expires_at);
