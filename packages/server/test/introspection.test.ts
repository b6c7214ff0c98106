import { decodeJwtUnverified } from '@tessera/jose';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ADMIN_PASSWORD, post, removeDataDir, startServer, type TestServer } from './helpers.js';
import { basic, loginApp } from './http.js';
import { request } from './requests.js';

let server: TestServer;
/** The resource server's secret (a confidential client). */
let secret: string;

beforeEach(async () => {
  server = await startServer({ refreshGrace: 5 });
  const { audience } = server.services.config;
  await server.services.clients.add({
    clientId: 'app',
    type: 'public',
    audiences: [audience],
    scopes: ['openid', 'profile', 'offline_access'],
  });
  const added = await server.services.clients.add({
    clientId: 'orders-api',
    type: 'confidential',
    audiences: [audience],
    scopes: [],
  });
  expect(added.secret).toEqual(expect.any(String));
  secret = added.secret!;
});
afterEach(async () => {
  await server.close();
  await removeDataDir(server.dataDir);
});

interface Tokens {
  access_token: string;
  refresh_token: string;
  scope: string;
}
async function login(): Promise<Tokens> {
  const res = await post(`${server.url}/login`, {
    username: 'alice',
    password: ADMIN_PASSWORD,
    client_id: 'app',
  });
  expect(res.status).toBe(200);
  return (await res.json()) as Tokens;
}
async function refresh(token: string): Promise<Response> {
  return post(`${server.url}/token`, { grant_type: 'refresh_token', refresh_token: token, client_id: 'app' });
}

/** POST /introspect as RFC 7662 §2.1 has it: a form body. */
function introspect(params: Record<string, string>, headers: Record<string, string> = {}) {
  return request(`${server.url}/introspect`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams(params).toString(),
  });
}
/**
 * Introspects with client_secret_basic (as `orders-api`, or `as` another resource server) and returns
 * the JSON answer (checking status and caching).
 */
async function ask(
  token: string,
  hint?: string,
  as: { clientId: string; secret: string } = { clientId: 'orders-api', secret },
): Promise<Record<string, unknown>> {
  const res = await introspect(
    { token, ...(hint ? { token_type_hint: hint } : {}) },
    { authorization: basic(as.clientId, as.secret) },
  );
  expect(res.status).toBe(200);
  expect(res.headers.get('cache-control')).toMatch(/no-store/);
  expect(res.headers.get('content-type')).toMatch(/^application\/json/);
  return (await res.json()) as Record<string, unknown>;
}

describe('POST /introspect (RFC 7662)', () => {
  it('describes an active access token, to a resource server authenticated with client_secret_basic', async () => {
    const { access_token, scope } = await login();
    const claims = decodeJwtUnverified(access_token) as Record<string, unknown>;
    const user = await server.services.users.byUsername('alice');
    const answer = await ask(access_token);
    expect(answer).toEqual({
      active: true,
      token_type: 'Bearer',
      scope,
      client_id: 'app',
      username: 'alice',
      sub: user!.id,
      aud: server.services.config.audience,
      iss: server.services.config.issuer,
      exp: claims.exp,
      iat: claims.iat,
      jti: claims.jti,
      sid: claims.sid,
    });
    expect(answer.exp).toBe((answer.iat as number) + server.services.config.accessTokenTtl);
    // The hint only orders the lookups.
    expect(await ask(access_token, 'refresh_token')).toMatchObject({ active: true, jti: claims.jti });
  });

  it('accepts client_secret_post as well', async () => {
    const { access_token } = await login();
    const res = await introspect({ token: access_token, client_id: 'orders-api', client_secret: secret });
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toMatch(/no-store/);
    expect(await res.json()).toMatchObject({ active: true, client_id: 'app', username: 'alice' });
  });

  it('refuses public clients, wrong secrets, missing credentials and two methods at once', async () => {
    const { access_token } = await login();
    const cases: [string, Response][] = [
      ['public client', await introspect({ token: access_token, client_id: 'app' })],
      ['web client', await introspect({ token: access_token, client_id: 'web' })],
      [
        'wrong secret (basic)',
        await introspect({ token: access_token }, { authorization: basic('orders-api', `${secret}x`) }),
      ],
      [
        'wrong secret (post)',
        await introspect({ token: access_token, client_id: 'orders-api', client_secret: 'nope' }),
      ],
      [
        'confidential client without its secret',
        await introspect({ token: access_token, client_id: 'orders-api' }),
      ],
      ['unknown client', await introspect({ token: access_token }, { authorization: basic('nobody', 'x') })],
      ['no credentials', await introspect({ token: access_token })],
    ];
    for (const [what, res] of cases) {
      expect({ what, status: res.status }).toEqual({ what, status: 401 });
      const body = await res.json();
      expect(body).toMatchObject({ error: 'invalid_client' });
      // Nothing about the token leaks to an unauthenticated caller.
      expect(body).not.toHaveProperty('active');
      expect(res.headers.get('www-authenticate')).toMatch(/^Basic /);
      expect(res.headers.get('cache-control')).toMatch(/no-store/);
    }
    const both = await introspect(
      { token: access_token, client_id: 'orders-api', client_secret: secret },
      { authorization: basic('orders-api', secret) },
    );
    expect(both.status).toBe(400);
  });

  it('answers {"active": false} and nothing else for revoked, expired and garbage tokens', async () => {
    const loggedOut = await login();
    await request(`${server.url}/logout`, {
      method: 'POST',
      headers: { authorization: `Bearer ${loggedOut.access_token}` },
    });
    expect(await ask(loggedOut.access_token)).toEqual({ active: false });

    const revoked = await login();
    const revoke = await post(`${server.url}/revoke`, { token: revoked.access_token, client_id: 'app' });
    expect(revoke.status).toBe(200);
    expect(await ask(revoked.access_token)).toEqual({ active: false });

    for (const garbage of [
      'not-a-token',
      'a.b.c',
      `${revoked.access_token.slice(0, -4)}AAAA`,
      'x'.repeat(300),
    ]) {
      expect(await ask(garbage)).toEqual({ active: false });
    }

    const expiring = await login();
    expect(await ask(expiring.access_token)).toMatchObject({ active: true });
    server.advance((server.services.config.accessTokenTtl + 1) * 1000);
    expect(await ask(expiring.access_token)).toEqual({ active: false });
  });

  it('reports access tokens inactive after logout everywhere and after the account is disabled', async () => {
    const one = await login();
    const two = await login();
    await request(`${server.url}/logout/all`, {
      method: 'POST',
      headers: { authorization: `Bearer ${one.access_token}` },
    });
    expect(await ask(two.access_token)).toEqual({ active: false });
    expect(await ask(two.refresh_token)).toEqual({ active: false });

    const three = await login();
    expect(await ask(three.access_token)).toMatchObject({ active: true });
    const user = await server.services.users.byUsername('alice');
    await server.services.users.disable(user!.id);
    expect(await ask(three.access_token)).toEqual({ active: false });
    expect(await ask(three.refresh_token)).toEqual({ active: false });
  });

  it('describes refresh tokens: live is active, rotated or of a revoked family is not', async () => {
    const first = await login();
    const claims = decodeJwtUnverified(first.access_token) as { sid: string; sub: string };
    const live = await ask(first.refresh_token, 'refresh_token');
    expect(live).toMatchObject({
      active: true,
      token_type: 'refresh_token',
      client_id: 'app',
      username: 'alice',
      sub: claims.sub,
      sid: claims.sid,
      scope: first.scope,
    });
    const nowSeconds = Math.floor(server.now() / 1000);
    expect(live.exp).toBeGreaterThan(nowSeconds);
    expect(live.exp).toBeLessThanOrEqual(nowSeconds + server.services.config.refreshIdleTtl + 1);
    // The hint is only a hint.
    expect(await ask(first.refresh_token)).toMatchObject({ active: true, token_type: 'refresh_token' });
    expect(await ask(first.refresh_token, 'access_token')).toMatchObject({ active: true });

    // Rotation: the predecessor is no longer active (even inside the grace window), the successor is.
    const second = (await (await refresh(first.refresh_token)).json()) as Tokens;
    expect(await ask(first.refresh_token)).toEqual({ active: false });
    expect(await ask(second.refresh_token)).toMatchObject({ active: true, sid: claims.sid });

    // Reuse after the grace window revokes the family: the live successor goes inactive too.
    server.advance(10_000);
    expect((await refresh(first.refresh_token)).status).toBe(400);
    expect(await ask(second.refresh_token)).toEqual({ active: false });
    expect(await ask(second.access_token)).toEqual({ active: false });

    // Logout revokes the family as well.
    const other = await login();
    expect(await ask(other.refresh_token)).toMatchObject({ active: true });
    await request(`${server.url}/logout`, {
      method: 'POST',
      headers: { authorization: `Bearer ${other.access_token}` },
    });
    expect(await ask(other.refresh_token)).toEqual({ active: false });

    // And an idle refresh token expires.
    const idle = await login();
    server.advance((server.services.config.refreshIdleTtl + 1) * 1000);
    expect(await ask(idle.refresh_token)).toEqual({ active: false });
  });

  it('answers inactive to a resource server for access and refresh tokens meant for another audience (RFC 7662 §4)', async () => {
    await server.services.clients.add({
      clientId: 'billing-app',
      type: 'public',
      audiences: ['https://billing'],
      scopes: ['openid'],
    });
    const { secret: billingSecret } = await server.services.clients.add({
      clientId: 'billing-api',
      type: 'confidential',
      audiences: ['https://billing'],
      scopes: [],
    });
    const billingApi = { clientId: 'billing-api', secret: billingSecret! };
    const tokens = await loginApp(server, 'billing-app');
    for (const token of [tokens.access_token, tokens.refresh_token]) {
      expect(await ask(token)).toEqual({ active: false });
      // The resource server the tokens are meant for is told about them.
      expect(await ask(token, undefined, billingApi)).toMatchObject({
        active: true,
        client_id: 'billing-app',
      });
    }
  });
});
