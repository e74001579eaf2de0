// A real OpenID provider for tests: `oidc-provider` (a certified OpenID
// Connect implementation) on a loopback port, with one confidential client,
// PKCE required, RS256 ID tokens carrying `email` and `email_verified`, and
// a non-interactive login for tests: whoever the `login_hint` names is signed
// in (an address starting with "unverified" gets `email_verified: false`),
// and consent is given for the client's scopes.
//
// As a program (for the Rust API tests), it prints one JSON line with the
// issuer once it listens, and runs until its standard input closes:
//   node tests/support/oidc-provider.mjs --client-id ID --client-secret S --redirect-uri URI [--port N]
// As a module: `startProvider({ clientId, clientSecret, redirectUris })` → `{ issuer, close() }`.

import { generateKeyPairSync, randomBytes } from 'node:crypto';
import http from 'node:http';
import { pathToFileURL } from 'node:url';

import Provider from 'oidc-provider';

export async function startProvider({ clientId, clientSecret, redirectUris, port = 0, defaultEmail = 'alice@example.org' }) {
  const server = http.createServer();
  await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${server.address().port}`;
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = { ...privateKey.export({ format: 'jwk' }), kid: 'test-key', alg: 'RS256', use: 'sig' };

  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: clientId,
        client_secret: clientSecret,
        redirect_uris: redirectUris,
        grant_types: ['authorization_code'],
        response_types: ['code'],
        token_endpoint_auth_method: 'client_secret_basic',
      },
    ],
    jwks: { keys: [jwk] },
    cookies: { keys: [randomBytes(32).toString('hex')] },
    pkce: { required: () => true },
    scopes: ['openid', 'email', 'profile'],
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
    // The claims of the scopes go into the ID token too, as Entra ID, Keycloak and Google do.
    conformIdTokenClaims: false,
    features: { devInteractions: { enabled: false } },
    ttl: {
      Interaction: 600,
      Session: 3600,
      Grant: 3600,
      AuthorizationCode: 60,
      AccessToken: 600,
      IdToken: 600,
    },
    interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
    async findAccount(ctx, id) {
      return {
        accountId: id,
        claims: async () => ({
          sub: id,
          email: id,
          email_verified: !id.startsWith('unverified'),
          name: id.split('@')[0],
        }),
      };
    },
    // A first-party client: consent is implied.
    async loadExistingGrant(ctx) {
      const grantId = ctx.oidc.result?.consent?.grantId || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
      if (grantId) return ctx.oidc.provider.Grant.find(grantId);
      const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId });
      grant.addOIDCScope('openid email profile');
      await grant.save();
      ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId, grant.jti);
      return grant;
    },
  });
  const handler = provider.callback();

  server.on('request', async (req, res) => {
    if (!req.url.startsWith('/interaction/')) return handler(req, res);
    try {
      const details = await provider.interactionDetails(req, res);
      const email = String(details.params.login_hint || defaultEmail).toLowerCase();
      if (details.prompt.name === 'login') {
        await provider.interactionFinished(req, res, { login: { accountId: email } }, { mergeWithLastSubmission: false });
      } else {
        const grant = new provider.Grant({ accountId: details.session.accountId, clientId: details.params.client_id });
        grant.addOIDCScope('openid email profile');
        const grantId = await grant.save();
        await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
      }
    } catch (e) {
      res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(`test provider: ${e.message}`);
    }
  });

  return {
    issuer,
    close: () => new Promise((resolve) => {
      server.closeAllConnections?.();
      server.close(resolve);
    }),
  };
}

function option(args, name) {
  const values = [];
  for (let i = 0; i < args.length; i++) if (args[i] === name) values.push(args[i + 1]);
  return values;
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const args = process.argv.slice(2);
  const [clientId] = option(args, '--client-id');
  const [clientSecret] = option(args, '--client-secret');
  const redirectUris = option(args, '--redirect-uri');
  const [port = '0'] = option(args, '--port');
  if (!clientId || !clientSecret || redirectUris.length === 0) {
    console.error('usage: oidc-provider.mjs --client-id ID --client-secret SECRET --redirect-uri URI [--port N]');
    process.exit(2);
  }
  const { issuer, close } = await startProvider({ clientId, clientSecret, redirectUris, port: Number(port) });
  console.log(JSON.stringify({ issuer }));
  // Ends with its parent: when standard input closes.
  process.stdin.resume();
  process.stdin.on('end', async () => {
    await close();
    process.exit(0);
  });
}
