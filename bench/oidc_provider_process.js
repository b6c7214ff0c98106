// The node-oidc-provider side of the OpenID Provider benchmark (oidc.js): oidc-provider on loopback in
// this process (one core), configured to issue what Tessera issues, and printed as one JSON line on
// stdout when ready. Tokens, codes, sessions and grants live in memory (the adapter below).
//   - signing: an RS256 key made at start-up (a JWK in `jwks`), for ID tokens and access tokens;
//   - access tokens: JWTs (RFC 9068), through resource indicators: every request resolves to the one
//     resource server `https://api.example`, whose tokens are `accessTokenFormat: 'jwt'` signed RS256.
//     Without it, oidc-provider issues opaque tokens, which cost a store write instead of a signature;
//   - clients: `service` (client_credentials, client_secret_basic) and `webapp` (authorization code with
//     PKCE, client_secret_basic), as the Tessera process registers them;
//   - sign-in: a username-and-password form at /interaction/:uid checks the bench user's password; consent is
//     implied for the `webapp` client (loadExistingGrant makes its grant), as Tessera's `skipConsent` does.
import { createHash, generateKeyPairSync, randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer } from 'node:http';
import Provider from 'oidc-provider';
import { freePort } from './processes.js';

const RESOURCE = 'https://api.example';
const REDIRECT_URI = 'https://app.example/callback';
const USERNAME = 'bench';
const PASSWORD = 'correct horse battery staple';

/**
 * oidc-provider's own memory adapter is an LRU of 1,000 entries, too small to hold the thousands of
 * codes the benchmark prepares, and it rewrites a grant's whole member list on each save. This one is
 * a plain Map per model with expiry on read: the least a store in memory does.
 */
class MemoryStore {
  static models = new Map();
  /** grantId → keys of the tokens it produced, for revokeByGrantId (a reused code). */
  static grants = new Map();

  constructor(model) {
    this.model = model;
    if (!MemoryStore.models.has(model))
      MemoryStore.models.set(model, { entries: new Map(), uids: new Map() });
    const { entries, uids } = MemoryStore.models.get(model);
    this.entries = entries;
    this.uids = uids;
  }

  async upsert(id, payload, expiresIn) {
    const expiresAt =
      typeof expiresIn === 'number' ? Date.now() + expiresIn * 1000 : Number.POSITIVE_INFINITY;
    this.entries.set(id, { payload, expiresAt });
    if (payload.uid !== undefined) this.uids.set(payload.uid, id);
    if (payload.grantId !== undefined) {
      const members = MemoryStore.grants.get(payload.grantId) ?? [];
      members.push([this.model, id]);
      MemoryStore.grants.set(payload.grantId, members);
    }
  }

  async find(id) {
    const entry = this.entries.get(id);
    if (!entry) return undefined;
    if (entry.expiresAt <= Date.now()) {
      this.entries.delete(id);
      return undefined;
    }
    return entry.payload;
  }

  async findByUid(uid) {
    const id = this.uids.get(uid);
    return id === undefined ? undefined : this.find(id);
  }

  async findByUserCode() {
    return undefined;
  }

  async consume(id) {
    const entry = this.entries.get(id);
    if (entry) entry.payload.consumed = Math.floor(Date.now() / 1000);
  }

  async destroy(id) {
    const entry = this.entries.get(id);
    this.entries.delete(id);
    if (entry?.payload.uid !== undefined) this.uids.delete(entry.payload.uid);
  }

  async revokeByGrantId(grantId) {
    for (const [model, id] of MemoryStore.grants.get(grantId) ?? [])
      MemoryStore.models.get(model)?.entries.delete(id);
    MemoryStore.grants.delete(grantId);
  }
}

const port = await freePort();
const issuer = `http://127.0.0.1:${port}`;
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingJwk = { ...privateKey.export({ format: 'jwk' }), kid: 'bench-rs256', alg: 'RS256', use: 'sig' };
const serviceSecret = randomBytes(32).toString('base64url');
const webSecret = randomBytes(32).toString('base64url');

const provider = new Provider(issuer, {
  adapter: MemoryStore,
  jwks: { keys: [signingJwk] },
  cookies: { keys: [randomBytes(32).toString('base64url')] },
  clients: [
    {
      client_id: 'service',
      client_secret: serviceSecret,
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: 'client_secret_basic',
    },
    {
      client_id: 'webapp',
      client_secret: webSecret,
      grant_types: ['authorization_code'],
      response_types: ['code'],
      redirect_uris: [REDIRECT_URI],
      token_endpoint_auth_method: 'client_secret_basic',
      id_token_signed_response_alg: 'RS256',
    },
  ],
  scopes: ['openid'],
  pkce: { required: () => true },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => RESOURCE,
      // The code's resource carries over to the token request: the access token is for the API.
      useGrantedResource: () => true,
      getResourceServerInfo: (_ctx, indicator) => {
        if (indicator !== RESOURCE) throw new Provider.errors.InvalidTarget();
        return {
          scope: 'api',
          audience: RESOURCE,
          accessTokenTTL: 3600,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'RS256' } },
        };
      },
    },
  },
  ttl: {
    AccessToken: 3600,
    AuthorizationCode: 60,
    ClientCredentials: 3600,
    IdToken: 3600,
    Interaction: 600,
    Session: 86_400,
    Grant: 86_400,
  },
  findAccount: (_ctx, sub) => ({ accountId: sub, claims: () => ({ sub }) }),
  // A first-party client: the user is not asked to consent; its grant is made on first use.
  async loadExistingGrant(ctx) {
    const { client, session } = ctx.oidc;
    const grantId = ctx.oidc.result?.consent?.grantId ?? session.grantIdFor(client.clientId);
    if (grantId) return ctx.oidc.provider.Grant.find(grantId);
    const grant = new ctx.oidc.provider.Grant({ clientId: client.clientId, accountId: session.accountId });
    grant.addOIDCScope('openid');
    grant.addResourceScope(RESOURCE, 'api');
    await grant.save();
    session.grantIdFor(client.clientId, grant.jti);
    return grant;
  },
});

const sha256 = (text) => createHash('sha256').update(text).digest();

async function formBody(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

/** The sign-in page's form post: the bench user's password ends the login prompt. */
async function interaction(req, res) {
  if (req.method !== 'POST') {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end('<form method="post"><input name="username"><input name="password" type="password"></form>');
    return;
  }
  const details = await provider.interactionDetails(req, res);
  const form = await formBody(req);
  const signedIn =
    form.get('username') === USERNAME &&
    timingSafeEqual(sha256(form.get('password') ?? ''), sha256(PASSWORD));
  if (details.prompt.name !== 'login' || !signedIn) {
    res.writeHead(400, { 'content-type': 'text/plain' });
    res.end(
      signedIn
        ? `no login prompt here (prompt ${details.prompt.name}: ${details.prompt.reasons.join(', ')})`
        : 'wrong username or password',
    );
    return;
  }
  await provider.interactionFinished(
    req,
    res,
    { login: { accountId: USERNAME } },
    { mergeWithLastSubmission: false },
  );
}

const providerCallback = provider.callback();
const server = createServer((req, res) => {
  if (req.url?.startsWith('/interaction/')) {
    interaction(req, res).catch((err) => {
      res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(String(err));
    });
    return;
  }
  providerCallback(req, res);
});
server.keepAliveTimeout = 60_000;
await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));
process.stdout.write(
  `${JSON.stringify({ url: issuer, serviceSecret, webSecret, username: USERNAME, password: PASSWORD })}\n`,
);
process.on('SIGTERM', () => {
  server.close();
  process.exit(0);
});
