// A node `oidc-provider` server configured like munji's service clients, for comparing
// client_credentials and introspection on the same machine (scripts/peer/compare.sh).
//   node oidc-provider.mjs PORT jwt|opaque
// jwt: client_credentials tokens are ES256 JWTs (as munji's); opaque: stored tokens, which is
// what oidc-provider's introspection can look up.
import crypto from 'node:crypto';
import Provider from 'oidc-provider';

const port = Number(process.argv[2] ?? 18081);
const format = process.argv[3] ?? 'jwt';
const issuer = `http://127.0.0.1:${port}`;
const { privateKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
const jwk = { ...privateKey.export({ format: 'jwk' }), alg: 'ES256', use: 'sig', kid: 'bench' };

const provider = new Provider(issuer, {
  clients: [{
    client_id: 'bench-svc',
    client_secret: process.env.PEER_SECRET,
    grant_types: ['client_credentials'],
    redirect_uris: [],
    response_types: [],
    scope: 'gmail.vend',
    id_token_signed_response_alg: 'ES256',
  }],
  jwks: { keys: [jwk] },
  scopes: ['gmail.vend'],
  features: {
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    devInteractions: { enabled: false },
    resourceIndicators: {
      enabled: format === 'jwt',
      defaultResource: () => issuer,
      useGrantedResource: () => true,
      getResourceServerInfo: () => ({ scope: 'gmail.vend', accessTokenFormat: 'jwt', jwt: { sign: { alg: 'ES256' } } }),
    },
  },
});
provider.listen(port, '127.0.0.1');
