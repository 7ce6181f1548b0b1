-- Logout for apps and consent (docs/logout.md, docs/consent.md).
--
-- Clients gain a display name, whether they are first-party (no consent page), where a user may
-- be sent after signing out, and where back-channel logout tokens are delivered.
ALTER TABLE clients ADD COLUMN name TEXT;
ALTER TABLE clients ADD COLUMN first_party BOOLEAN NOT NULL DEFAULT TRUE;
ALTER TABLE clients ADD COLUMN post_logout_redirect_uris TEXT NOT NULL DEFAULT '[]';
ALTER TABLE clients ADD COLUMN backchannel_logout_uri TEXT;
ALTER TABLE clients ADD COLUMN backchannel_logout_session_required BOOLEAN NOT NULL DEFAULT TRUE;

-- Which clients received tokens under which session: they are told when the session ends.
CREATE TABLE session_clients (
    sid         TEXT NOT NULL,
    client_id   TEXT NOT NULL,
    user_id     UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    first_at    TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (sid, client_id)
);

CREATE INDEX session_clients_user_id_idx ON session_clients (user_id);

-- Back-channel logout deliveries still to make. A row is written in the transaction that ends
-- the session, claimed by one instance at a time (locked_until), and deleted once delivered or
-- given up. user_id is kept without a foreign key: a deleted user's apps must still be told.
CREATE TABLE backchannel_outbox (
    id               UUID PRIMARY KEY,
    jti              TEXT NOT NULL,
    client_id        TEXT NOT NULL,
    user_id          UUID NOT NULL,
    sid              TEXT NOT NULL,
    created_at       TIMESTAMPTZ NOT NULL,
    next_attempt_at  TIMESTAMPTZ NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    locked_until     TIMESTAMPTZ
);

CREATE INDEX backchannel_outbox_next_attempt_at_idx ON backchannel_outbox (next_attempt_at);

-- What a user allowed a third-party client: the scopes (a JSON array), remembered until the
-- user removes the app.
CREATE TABLE consents (
    user_id     UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id   TEXT NOT NULL,
    scopes      TEXT NOT NULL,
    granted_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (user_id, client_id)
);
