import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ADMIN_PASSWORD, stopServer, type TestServer } from '../../server/test/helpers.js';
import { startRealServer } from '../../server/test/real_server.js';
import { type AuthClient, AuthError, createAuthClient } from '../src/index.js';
import { NodeAgent } from './agent.js';

/**
 * First-party mode against a real Tessera server over HTTP, in Node: `/login`, the refresh cookie
 * (kept by {@link NodeAgent} as a browser would), the restore on start, logout.
 */

let server: TestServer;
let issuer: string;
let agent: NodeAgent;
const clients: AuthClient[] = [];

beforeAll(async () => {
  ({ server, issuer } = await startRealServer({ refreshGrace: 5 }));
});
afterAll(() => stopServer(server));
beforeEach(() => {
  agent = new NodeAgent(new URL(issuer).origin);
});
afterEach(() => {
  for (const client of clients.splice(0)) client.close();
});

function client(options: { dpop?: boolean } = {}): AuthClient {
  const created = createAuthClient({ issuer, fetch: agent.fetch, ...options });
  clients.push(created);
  return created;
}

describe('first-party mode', () => {
  it('logs in with /login and exposes the claims, never the token', async () => {
    const auth = client();
    const logins: unknown[] = [];
    auth.on('login', (state) => logins.push(state));
    expect((await auth.ready()).loggedIn).toBe(false);
    const state = await auth.login({ username: 'alice', password: ADMIN_PASSWORD });
    const alice = await server.services.users.byUsername('alice');
    expect(state).toMatchObject({ loggedIn: true, user: { sub: alice!.id, client_id: 'web' } });
    expect(state.expiresAt).toBeGreaterThan(Date.now());
    expect(logins).toEqual([state]);
    expect(JSON.stringify(auth.state)).not.toMatch(/access_token|eyJ/);
    // The refresh token came as the HttpOnly cookie, not in the body.
    expect(agent.cookies.has('__Host-tessera_refresh')).toBe(true);
  });

  it('rejects wrong credentials with ERR_LOGIN_FAILED and stays logged out', async () => {
    const auth = client();
    const failure = await auth.login({ username: 'alice', password: 'not the password' }).catch((e) => e);
    expect(failure).toBeInstanceOf(AuthError);
    expect(failure).toMatchObject({ code: 'ERR_LOGIN_FAILED', error: 'invalid_grant' });
    expect(failure.message).not.toContain('not the password');
    expect(auth.state.loggedIn).toBe(false);
  });

  it('restores the session on start with one refresh by the cookie (a reload)', async () => {
    await client().login({ username: 'alice', password: ADMIN_PASSWORD });
    const before = agent.count('/token/refresh', 200);
    const reloaded = client();
    const state = await reloaded.ready();
    expect(state.loggedIn).toBe(true);
    expect(agent.count('/token/refresh', 200) - before).toBe(1);
    // The refresh carried the CSRF header and the cookie, and rotated it.
    expect(agent.sent.at(-1)).toMatchObject({ method: 'POST', path: '/token/refresh' });
  });

  it('starts logged out, without an error event, when there is no cookie', async () => {
    const auth = client();
    const errors: unknown[] = [];
    auth.on('error', (err) => errors.push(err));
    expect(await auth.ready()).toMatchObject({ loggedIn: false });
    expect(errors).toEqual([]);
  });

  it('reports a refresh the server refuses for the origin (403) as an error, not as the end of a session', async () => {
    await client().login({ username: 'alice', password: ADMIN_PASSWORD });
    // The same browser's cookie, but a page on an origin the server does not know.
    const elsewhere = new NodeAgent('https://not-registered.example');
    for (const [name, value] of agent.cookies) elsewhere.cookies.set(name, value);
    const auth = createAuthClient({ issuer, fetch: elsewhere.fetch });
    clients.push(auth);
    const errors: unknown[] = [];
    auth.on('error', (err) => errors.push(err));
    expect(await auth.ready()).toMatchObject({ loggedIn: false });
    expect(errors).toMatchObject([{ code: 'ERR_OAUTH', error: 'invalid_request', status: 403 }]);
  });

  it('logout ends the session at the server: the cookie no longer refreshes', async () => {
    const auth = client();
    await auth.login({ username: 'alice', password: ADMIN_PASSWORD });
    const cookie = agent.cookies.get('__Host-tessera_refresh');
    const reasons: string[] = [];
    auth.on('logout', ({ reason }) => reasons.push(reason));
    await auth.logout();
    expect(auth.state.loggedIn).toBe(false);
    expect(reasons).toEqual(['logout']);
    expect(agent.cookies.has('__Host-tessera_refresh')).toBe(false);
    // The old cookie, replayed, is refused: the family is gone.
    const replay = await fetch(`${issuer}/token/refresh`, {
      method: 'POST',
      headers: {
        origin: new URL(issuer).origin,
        'x-tessera-csrf': '1',
        cookie: `__Host-tessera_refresh=${cookie}`,
      },
    });
    expect(replay.status).toBe(400);
    expect(await client().ready()).toMatchObject({ loggedIn: false });
  });
});
