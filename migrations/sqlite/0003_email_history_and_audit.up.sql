-- Earlier e-mails of an identity: when a provider reports a new address for a known
-- (provider, uid), the identity is updated and the old address is kept here (DESIGN §2.2).
CREATE TABLE identity_emails (
    id           BLOB PRIMARY KEY NOT NULL,
    identity_id  BLOB NOT NULL REFERENCES identities (id) ON DELETE CASCADE,
    email        TEXT NOT NULL,
    replaced_at  TEXT NOT NULL
);

CREATE INDEX identity_emails_identity_id_idx ON identity_emails (identity_id);

-- What happened to whom: logins, refusals, sign-ups, and later links and Gmail events.
-- user_id is NULL for events that belong to no account (a refused first login).
CREATE TABLE audit_events (
    id       BLOB PRIMARY KEY NOT NULL,
    user_id  BLOB REFERENCES users (id) ON DELETE CASCADE,
    kind     TEXT NOT NULL,
    detail   TEXT NOT NULL,
    at       TEXT NOT NULL
);

CREATE INDEX audit_events_user_id_at_idx ON audit_events (user_id, at DESC);
