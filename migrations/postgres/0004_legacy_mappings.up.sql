-- Legacy mappings (DESIGN §2.2 step 2, §4): users imported from an e-mail-keyed system keep the
-- id they had there, and their identities wait with uid NULL until the first login pins it.
ALTER TABLE users ADD COLUMN legacy_id TEXT;
CREATE UNIQUE INDEX users_legacy_id_key ON users (legacy_id);

-- The back-fill looks up waiting rows by provider and case-folded e-mail.
CREATE INDEX identities_legacy_email_idx ON identities (provider, lower(email)) WHERE uid IS NULL;
