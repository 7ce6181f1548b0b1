-- Sign in with Apple (docs/providers.md, docs/leaving.md).
--
-- `upstream_token`: the refresh token Apple gave at the identity's last sign-in, sealed with
-- the encryption keys (bound to the provider and uid). Kept for one purpose only: revoking the
-- grant at Apple when the account is deleted, as Apple requires. NULL for every other provider.
--
-- `email_deliverable`: false while the provider says mail to the identity's address is not
-- forwarded (Apple's `email-disabled` notification for a private relay address).
ALTER TABLE identities ADD COLUMN upstream_token TEXT;
ALTER TABLE identities ADD COLUMN email_deliverable BOOLEAN NOT NULL DEFAULT TRUE;
