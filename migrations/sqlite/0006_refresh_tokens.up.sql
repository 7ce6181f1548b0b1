-- Refresh tokens (DESIGN §7): opaque, stored as SHA-256, rotated at every use. Tokens of one
-- login form a family; presenting a rotated token after the grace window revokes the family.
-- successor_sealed keeps the successor (AES-256-GCM) so a concurrent duplicate within the grace
-- window gets the same successor instead of a second one.
CREATE TABLE refresh_tokens (
    id                BLOB PRIMARY KEY NOT NULL,
    token_hash        TEXT NOT NULL,
    family_id         BLOB NOT NULL,
    client_id         TEXT NOT NULL,
    user_id           BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    sid               TEXT NOT NULL,
    scope             TEXT NOT NULL,
    auth_time         BIGINT NOT NULL,
    created_at        TEXT NOT NULL,
    expires_at        TEXT NOT NULL,
    used_at           TEXT,
    rotated_at        TEXT,
    successor_sealed  BLOB,
    revoked_at        TEXT,
    CONSTRAINT refresh_tokens_token_hash_key UNIQUE (token_hash)
);

CREATE INDEX refresh_tokens_family_id_idx ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_sid_idx ON refresh_tokens (sid);
