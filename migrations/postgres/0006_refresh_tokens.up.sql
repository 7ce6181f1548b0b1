-- Refresh tokens (DESIGN §7): opaque, stored as SHA-256, rotated at every use. Tokens of one
-- login form a family; presenting a rotated token after the grace window revokes the family.
-- successor_sealed keeps the successor (AES-256-GCM) so a concurrent duplicate within the grace
-- window gets the same successor instead of a second one.
CREATE TABLE refresh_tokens (
    id                UUID PRIMARY KEY,
    token_hash        TEXT NOT NULL,
    family_id         UUID NOT NULL,
    client_id         TEXT NOT NULL,
    user_id           UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    sid               TEXT NOT NULL,
    scope             TEXT NOT NULL,
    auth_time         BIGINT NOT NULL,
    created_at        TIMESTAMPTZ NOT NULL,
    expires_at        TIMESTAMPTZ NOT NULL,
    used_at           TIMESTAMPTZ,
    rotated_at        TIMESTAMPTZ,
    successor_sealed  BYTEA,
    revoked_at        TIMESTAMPTZ,
    CONSTRAINT refresh_tokens_token_hash_key UNIQUE (token_hash)
);

CREATE INDEX refresh_tokens_family_id_idx ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_sid_idx ON refresh_tokens (sid);
