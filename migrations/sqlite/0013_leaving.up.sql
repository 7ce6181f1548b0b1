-- Leaving (docs/leaving.md): what is kept once an account is deleted, and nothing more.
--
-- `deleted_accounts`: one receipt per deletion, without personal data: the SHA-256 of the user
-- id (so an operator can answer "was this account deleted?" given the id), when, who deleted
-- it (`user`, `admin` with the admin's id, or `cli`), and what each provider answered to the
-- revocations and unlinks (a JSON object of outcomes, no tokens, uids or addresses).
CREATE TABLE deleted_accounts (
    id            BLOB PRIMARY KEY NOT NULL,
    user_id_hash  TEXT NOT NULL,
    deleted_at    TEXT NOT NULL,
    deleted_by    TEXT NOT NULL CHECK (deleted_by IN ('user', 'admin', 'cli')),
    actor_id      BLOB,
    upstream      TEXT NOT NULL
);

CREATE INDEX deleted_accounts_user_id_hash_idx ON deleted_accounts (user_id_hash);

-- The usernames of deleted accounts that nobody may take until `until` (`username_quarantine`),
-- kept as the SHA-256 of the name: a sign-up looks its name up, nobody needs to list them.
CREATE TABLE quarantined_usernames (
    username_hash  TEXT PRIMARY KEY NOT NULL,
    until          TEXT NOT NULL
);
