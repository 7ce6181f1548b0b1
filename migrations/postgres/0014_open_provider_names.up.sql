-- Provider names become an open set (docs/providers.md): the built-in ones, Apple and any
-- configured OpenID Connect provider. The column keeps only the name's shape.
ALTER TABLE identities DROP CONSTRAINT identities_provider_check;
ALTER TABLE identities ADD CONSTRAINT identities_provider_check CHECK (provider ~ '^[a-z0-9-]{1,32}$');
