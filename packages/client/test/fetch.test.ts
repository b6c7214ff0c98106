import { once } from 'node:events';
import { createServer } from 'node:http';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ADMIN_PASSWORD, stopServer, type TestServer } from '../../server/test/helpers.js';
import { startRealServer } from '../../server/test/real_server.js';
import { type AuthClient, createAuthClient } from '../src/index.js';
import { NodeAgent } from './agent.js';
import { startGuardedApi } from './api.js';

/**
 * `auth.fetch` against APIs behind a real `@tessera/guard` (with DPoP), with tokens from a real
 * Tessera server over HTTP. Tokens expire at the API by moving the server's and the guard's clocks
 * past their 30 s lifetime, never by waiting; the clocks move back after each test (a DPoP proof
 * carries the client's time, which the server and the guard hold against theirs).
 */

let server: TestServer;
let issuer: string;
let agent: NodeAgent;
const cleanup: (() => unknown)[] = [];

beforeAll(async () => {
  // The guards follow the revocation stream without credentials of their own.
  ({ server, issuer } = await startRealServer({
    accessTokenTtl: 30,
    refreshGrace: 5,
    revocationStreamPublic: true,
  }));
});
afterAll(() => stopServer(server));
beforeEach(() => {
  agent = new NodeAgent(new URL(issuer).origin);
});
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

async function loggedIn(options: { apiOrigins: string[]; dpop?: boolean }): Promise<AuthClient> {
  const auth = createAuthClient({ issuer, fetch: agent.fetch, ...options });
  cleanup.push(() => auth.close());
  await auth.login({ username: 'alice', password: ADMIN_PASSWORD });
  return auth;
}

/** Moves the server's clock (and so the guards') past the access tokens' lifetime until the test ends. */
function expireTokens(): void {
  const shift = (server.services.config.accessTokenTtl + 1) * 1000;
  server.advance(shift);
  cleanup.push(() => server.advance(-shift));
}

async function guardedApi(clock: () => number) {
  const api = await startGuardedApi(issuer, server.services.config.audience, clock);
  cleanup.push(() => api.close());
  return api;
}

describe('auth.fetch', () => {
  it('sends the DPoP-bound token with a proof to the API origins, and nothing to other origins', async () => {
    const api = await guardedApi(server.now);
    const seen: (string | undefined)[] = [];
    const elsewhere = createServer((req, res) => {
      seen.push(req.headers.authorization);
      res.end('{}');
    }).listen(0, '127.0.0.1');
    await once(elsewhere, 'listening');
    cleanup.push(() => elsewhere.close());
    const auth = await loggedIn({ apiOrigins: [api.url] });

    const me = await auth.fetch(`${api.url}/me`);
    expect(me.status).toBe(200);
    expect(await me.json()).toEqual({
      sub: auth.state.user?.sub,
      scheme: 'DPoP',
      jkt: (auth.state.user!.cnf as { jkt: string }).jkt,
    });
    const { port } = elsewhere.address() as { port: number };
    expect((await auth.fetch(`http://127.0.0.1:${port}/`)).status).toBe(200);
    expect(seen).toEqual([undefined]);
  });

  it('on a 401 for an expired token refreshes once and retries once', async () => {
    const api = await guardedApi(server.now);
    const auth = await loggedIn({ apiOrigins: [api.url] });
    const refreshes: unknown[] = [];
    auth.on('refresh', (state) => refreshes.push(state));
    const before = agent.count('/token/refresh');
    // Past the token's lifetime at the server and the guard; the client's own clock has not moved.
    expireTokens();

    const me = await auth.fetch(`${api.url}/me`, { headers: { accept: 'application/json' } });
    expect(me.status).toBe(200);
    expect(api.hits()).toBe(2);
    expect(agent.count('/token/refresh') - before).toBe(1);
    expect(refreshes).toHaveLength(1);
    expect(auth.state.loggedIn).toBe(true);
  });

  it('keeps the request body for the retry', async () => {
    const api = await guardedApi(server.now);
    const auth = await loggedIn({ apiOrigins: [api.url] });
    expireTokens();
    const me = await auth.fetch(`${api.url}/me`, { method: 'POST', body: JSON.stringify({ n: 1 }) });
    expect(me.status).toBe(200);
    expect(api.hits()).toBe(2);
  });

  it('on any other 401 ends the session, without a refresh', async () => {
    // A guard for another audience: the token is valid, but not for this API.
    const api = await startGuardedApi(issuer, 'https://another-api.example', server.now);
    cleanup.push(() => api.close());
    const auth = await loggedIn({ apiOrigins: [api.url] });
    const reasons: string[] = [];
    auth.on('logout', ({ reason }) => reasons.push(reason));
    const before = agent.count('/token/refresh');

    const me = await auth.fetch(`${api.url}/me`);
    expect(me.status).toBe(401);
    expect(api.hits()).toBe(1);
    expect(agent.count('/token/refresh') - before).toBe(0);
    expect(auth.state.loggedIn).toBe(false);
    expect(reasons).toEqual(['unauthorized']);
  });

  it('never loops: an API that keeps saying expired gets two requests and one refresh', async () => {
    // The guard's clock runs a minute ahead: every token, even a fresh one, is expired there.
    const api = await guardedApi(() => server.now() + 60_000);
    const auth = await loggedIn({ apiOrigins: [api.url] });
    const before = agent.count('/token/refresh');

    const me = await auth.fetch(`${api.url}/me`);
    expect(me.status).toBe(401);
    expect(api.hits()).toBe(2);
    expect(agent.count('/token/refresh') - before).toBe(1);
    expect(auth.state.loggedIn).toBe(false);
  });

  it('sends logged-out requests without a token and does not try to refresh', async () => {
    const api = await guardedApi(server.now);
    const auth = createAuthClient({ issuer, fetch: agent.fetch, apiOrigins: [api.url] });
    cleanup.push(() => auth.close());
    await auth.ready();
    const before = agent.count('/token/refresh');
    expect((await auth.fetch(`${api.url}/me`)).status).toBe(401);
    expect(agent.count('/token/refresh')).toBe(before);
  });

  it('sends a Bearer token when DPoP is off', async () => {
    const api = await guardedApi(server.now);
    const auth = await loggedIn({ apiOrigins: [api.url], dpop: false });
    expect(await (await auth.fetch(`${api.url}/me`)).json()).toMatchObject({ scheme: 'Bearer' });
    expect(agent.sent.filter((request) => request.proof !== undefined)).toEqual([]);
  });
});
