-- Token signing keys (DESIGN §7). The private key is sealed (AES-256-GCM) with a key derived from
-- secret_key; the public JWK is kept beside it for the JWKS. A retired key stays published until
-- every token it signed has expired.
CREATE TABLE signing_keys (
    kid          TEXT PRIMARY KEY,
    alg          TEXT NOT NULL,
    sealed_key   BYTEA NOT NULL,
    public_jwk   TEXT NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    retired_at   TIMESTAMPTZ
);

-- OIDC clients registered with `munji clients add` (those in [[clients]] live in the config).
-- secret_hash is the SHA-256 of a 256-bit random secret; NULL for a public client.
CREATE TABLE clients (
    id             TEXT PRIMARY KEY,
    secret_hash    TEXT,
    redirect_uris  TEXT NOT NULL,
    grant_types    TEXT NOT NULL,
    scopes         TEXT NOT NULL,
    gmail_targets  TEXT NOT NULL,
    created_at     TIMESTAMPTZ NOT NULL
);
