-- Earlier e-mails of an identity: when a provider reports a new address for a known
-- (provider, uid), the identity is updated and the old address is kept here (DESIGN §2.2).
CREATE TABLE identity_emails (
    id           UUID PRIMARY KEY,
    identity_id  UUID NOT NULL REFERENCES identities (id) ON DELETE CASCADE,
    email        TEXT NOT NULL,
    replaced_at  TIMESTAMPTZ NOT NULL
);

CREATE INDEX identity_emails_identity_id_idx ON identity_emails (identity_id);

-- What happened to whom: logins, refusals, sign-ups, and later links and Gmail events.
-- user_id is NULL for events that belong to no account (a refused first login).
CREATE TABLE audit_events (
    id       UUID PRIMARY KEY,
    user_id  UUID REFERENCES users (id) ON DELETE CASCADE,
    kind     TEXT NOT NULL,
    detail   JSONB NOT NULL,
    at       TIMESTAMPTZ NOT NULL
);

CREATE INDEX audit_events_user_id_at_idx ON audit_events (user_id, at DESC);
