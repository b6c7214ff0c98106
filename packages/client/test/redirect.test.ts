import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { stopServer, type TestServer } from '../../server/test/helpers.js';
import { HttpUserAgent, startRealServer } from '../../server/test/real_server.js';
import { type AuthClient, type AuthClientOptions, AuthError, createAuthClient } from '../src/index.js';
import { NodeAgent } from './agent.js';

/**
 * Redirect mode in Node against a real Tessera server over HTTP: the authorization request with
 * PKCE S256, `state` and `dpop_jkt`; the provider's pages answered by {@link HttpUserAgent}; the
 * callback checks; the refresh token kept in memory and revoked at logout.
 */

const REDIRECT_URI = 'http://127.0.0.1:4999/callback';
let server: TestServer;
let issuer: string;
let agent: NodeAgent;
/** The browser at the provider: its single sign-on cookie outlives the app's tabs. */
let browser: HttpUserAgent;
const clients: AuthClient[] = [];

beforeAll(async () => {
  ({ server, issuer } = await startRealServer({ refreshGrace: 5 }));
  await server.services.clients.add({
    clientId: 'spa',
    type: 'public',
    kind: 'spa',
    audiences: [server.services.config.audience],
    scopes: ['openid', 'profile'],
    redirectUris: [REDIRECT_URI],
  });
  browser = new HttpUserAgent(issuer);
});
afterAll(() => stopServer(server));
beforeEach(() => {
  agent = new NodeAgent(new URL(issuer).origin);
});
afterEach(() => {
  for (const client of clients.splice(0)) client.close();
});

function client(options: Partial<AuthClientOptions> = {}): AuthClient {
  const created = createAuthClient({
    issuer,
    mode: 'redirect',
    clientId: 'spa',
    redirectUri: REDIRECT_URI,
    scope: 'openid profile',
    fetch: agent.fetch,
    ...options,
  });
  clients.push(created);
  return created;
}

async function signIn(auth: AuthClient): Promise<string> {
  const callback = await browser.authorize(await auth.authorizationUrl());
  await auth.handleRedirectCallback(callback);
  return callback;
}

describe('redirect mode', () => {
  it('asks for a code with PKCE S256, a fresh state and the DPoP key thumbprint', async () => {
    const auth = client();
    const url = await auth.authorizationUrl({ prompt: 'login' });
    expect(url.origin + url.pathname).toBe(`${issuer}/authorize`);
    const query = Object.fromEntries(url.searchParams);
    expect(query).toMatchObject({
      response_type: 'code',
      client_id: 'spa',
      redirect_uri: REDIRECT_URI,
      scope: 'openid profile',
      code_challenge_method: 'S256',
      prompt: 'login',
    });
    expect(query.code_challenge).toMatch(/^[\w-]{43}$/);
    expect(query.state).toMatch(/^[\w-]{22}$/);
    expect(query.dpop_jkt).toMatch(/^[\w-]{43}$/);
    // The verifier never leaves the client.
    expect(url.href).not.toContain('code_verifier');
    expect(new URL(await auth.authorizationUrl()).searchParams.get('state')).not.toBe(query.state);
  });

  it('signs in through the provider and exchanges the code (tokens bound to the key)', async () => {
    const auth = client();
    const logins: unknown[] = [];
    auth.on('login', (state) => logins.push(state));
    await signIn(auth);
    expect(auth.state).toMatchObject({
      loggedIn: true,
      user: { client_id: 'spa', cnf: { jkt: expect.any(String) } },
    });
    expect(logins).toHaveLength(1);
    const exchange = agent.sent.find((request) => request.path === '/token' && request.status === 200)!;
    expect(exchange.tokens?.refresh_token).toEqual(expect.any(String));
  });

  it('refreshes with the refresh token it holds in memory when an API says the token expired', async () => {
    // Bearer: the server's clock moves past the token's expiry, which would also age a proof.
    const auth = client({ dpop: false });
    await signIn(auth);
    const refreshes: unknown[] = [];
    auth.on('refresh', (state) => refreshes.push(state));
    const exchanged = agent.sent.filter((request) => request.tokens?.refresh_token).at(-1)!.tokens!;
    const shift = (server.services.config.accessTokenTtl + 1) * 1000;
    server.advance(shift);
    try {
      // /userinfo is an API the token may call (scope openid); the issuer's origin is always allowed.
      expect((await auth.fetch(`${issuer}/userinfo`)).status).toBe(200);
    } finally {
      server.advance(-shift);
    }
    expect(refreshes).toHaveLength(1);
    const rotated = agent.sent.filter((request) => request.tokens?.refresh_token).at(-1)!.tokens!;
    expect(rotated.refresh_token).not.toBe(exchanged.refresh_token);
    expect(agent.sent.filter((request) => request.path === '/userinfo').map((r) => r.status)).toEqual([
      401, 200,
    ]);
  });

  it('refuses a callback replayed or with a state it did not send, before any token request', async () => {
    const auth = client();
    const callback = await signIn(auth);
    const tokenRequests = agent.count('/token');
    for (const url of [callback, callback.replace(/state=[^&]+/, 'state=forged')]) {
      const failure = await auth.handleRedirectCallback(url).catch((err: unknown) => err);
      expect(failure).toBeInstanceOf(AuthError);
      expect(failure).toMatchObject({ code: 'ERR_CALLBACK_INVALID' });
    }
    expect(agent.count('/token')).toBe(tokenRequests);
  });

  it('refuses a response from another issuer (RFC 9207 mix-up), and without iss', async () => {
    for (const tamper of [
      (url: URL) => url.searchParams.set('iss', 'https://attacker.example'),
      (url: URL) => url.searchParams.delete('iss'),
    ]) {
      const auth = client();
      const callback = new URL(await browser.authorize(await auth.authorizationUrl()));
      tamper(callback);
      await expect(auth.handleRedirectCallback(callback)).rejects.toMatchObject({
        code: 'ERR_CALLBACK_INVALID',
      });
      expect(auth.state.loggedIn).toBe(false);
    }
  });

  it("prompt 'none' restores a session through the provider's sign-in, without a page", async () => {
    await signIn(client());
    // Every tab closed: a new client holds nothing, and the provider still knows the browser.
    const auth = client();
    expect((await auth.ready()).loggedIn).toBe(false);
    const response = await browser.get(await auth.authorizationUrl({ prompt: 'none' }));
    expect(response.status).toBe(303);
    await auth.handleRedirectCallback(response.headers.get('location')!);
    expect(auth.state.loggedIn).toBe(true);
  });

  it("prompt 'none' without a sign-in at the provider fails with login_required", async () => {
    const auth = client();
    const stranger = new HttpUserAgent(issuer);
    const response = await stranger.get(await auth.authorizationUrl({ prompt: 'none' }));
    const failure = await auth
      .handleRedirectCallback(response.headers.get('location')!)
      .catch((e: unknown) => e);
    expect(failure).toMatchObject({ code: 'ERR_OAUTH', error: 'login_required' });
    expect(auth.state.loggedIn).toBe(false);
  });

  it('logout revokes the refresh token: it refreshes nothing afterwards', async () => {
    const auth = client();
    await signIn(auth);
    const { refresh_token } = agent.sent.find((request) => request.tokens?.refresh_token)!.tokens!;
    await auth.logout();
    expect(auth.state.loggedIn).toBe(false);
    expect(agent.sent.at(-1)).toMatchObject({ path: '/revoke', status: 200 });
    const replay = await fetch(`${issuer}/token`, {
      method: 'POST',
      body: new URLSearchParams({
        grant_type: 'refresh_token',
        refresh_token: refresh_token!,
        client_id: 'spa',
      }),
    });
    expect(replay.status).toBe(400);
  });
});
