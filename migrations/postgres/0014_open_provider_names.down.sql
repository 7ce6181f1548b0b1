-- Back to the three names of 0001: identities of any other provider (Apple, OpenID Connect
-- providers) are deleted with their e-mail history.
DELETE FROM identities WHERE provider NOT IN ('google', 'naver', 'kakao');
ALTER TABLE identities DROP CONSTRAINT identities_provider_check;
ALTER TABLE identities ADD CONSTRAINT identities_provider_check CHECK (provider IN ('google', 'naver', 'kakao'));
