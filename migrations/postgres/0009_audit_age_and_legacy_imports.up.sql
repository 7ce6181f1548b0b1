-- Audit events are purged once older than `audit_retention`: the purge looks them up by age.
CREATE INDEX audit_events_at_idx ON audit_events (at);

-- Every legacy mapping an import has dealt with, per user and provider, by what it matches on:
-- 'uid:' || uid, or 'email:' || lower(email). An import skips what is recorded here, so running
-- the same file again changes nothing, even after the mapping was claimed and its identity then
-- unlinked: the old e-mail must not become a way into the account again.
CREATE TABLE legacy_imports (
    user_id      UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider     TEXT NOT NULL,
    matches_on   TEXT NOT NULL,
    imported_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (user_id, provider, matches_on)
);

-- What earlier imports left behind: the identities of imported users, waiting or claimed.
INSERT INTO legacy_imports (user_id, provider, matches_on, imported_at)
SELECT i.user_id, i.provider, 'email:' || lower(i.email), i.linked_at
FROM identities i JOIN users u ON u.id = i.user_id
WHERE u.legacy_id IS NOT NULL AND i.email IS NOT NULL
ON CONFLICT DO NOTHING;

INSERT INTO legacy_imports (user_id, provider, matches_on, imported_at)
SELECT i.user_id, i.provider, 'uid:' || i.uid, i.linked_at
FROM identities i JOIN users u ON u.id = i.user_id
WHERE u.legacy_id IS NOT NULL AND i.uid IS NOT NULL
ON CONFLICT DO NOTHING;

-- A claimed mapping whose identity is gone (unlinked) left no e-mail behind, only its
-- legacy_backfill event: every e-mail mapping of that user and provider stays retired ('email:*').
INSERT INTO legacy_imports (user_id, provider, matches_on, imported_at)
SELECT a.user_id, a.detail->>'provider', 'email:*', MIN(a.at)
FROM audit_events a
WHERE a.kind = 'legacy_backfill' AND a.user_id IS NOT NULL AND a.detail->>'provider' IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM identities i WHERE i.id::text = a.detail->>'identity_id')
GROUP BY a.user_id, a.detail->>'provider'
ON CONFLICT DO NOTHING;
