import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ADMIN_PASSWORD, post, removeDataDir, startServer, type TestServer } from './helpers.js';
import { request } from './requests.js';

let server: TestServer;
beforeEach(async () => {
  server = await startServer({ refreshGrace: 5 });
  await server.services.clients.add({
    clientId: 'app',
    type: 'public',
    audiences: [server.services.config.audience],
    scopes: ['openid', 'profile', 'offline_access'],
  });
});
afterEach(async () => {
  await server.close();
  await removeDataDir(server.dataDir);
});

async function login() {
  const res = await post(`${server.url}/login`, {
    username: 'alice',
    password: ADMIN_PASSWORD,
    client_id: 'app',
  });
  expect(res.status).toBe(200);
  return (await res.json()) as {
    access_token: string;
    refresh_token: string;
    expires_in: number;
    token_type: string;
    scope: string;
  };
}
const refresh = (token: string) =>
  post(`${server.url}/token`, { grant_type: 'refresh_token', refresh_token: token, client_id: 'app' });
const userinfo = (token: string) =>
  request(`${server.url}/userinfo`, { headers: { authorization: `Bearer ${token}` } });

describe('the story of DESIGN.md over real HTTP', () => {
  it('login → protected route → expiry → refresh → rotation → reuse revokes the family → logout', async () => {
    const first = await login();
    expect(first).toMatchObject({ token_type: 'Bearer', expires_in: 900 });
    expect((await userinfo(first.access_token)).status).toBe(200);

    // The access token expires after 15 minutes; the protected route says so per RFC 6750.
    server.advance(16 * 60_000);
    const expired = await userinfo(first.access_token);
    expect(expired.status).toBe(401);
    expect(expired.headers.get('www-authenticate')).toMatch(/^Bearer error="invalid_token"/);

    // Refresh rotates: a new refresh token, a working access token.
    const second = (await (await refresh(first.refresh_token)).json()) as typeof first;
    expect(second.refresh_token).not.toBe(first.refresh_token);
    expect((await userinfo(second.access_token)).status).toBe(200);

    // Presenting the rotated token after the grace window is theft: the whole family dies.
    server.advance(10_000);
    const reuse = await refresh(first.refresh_token);
    expect(reuse.status).toBe(400);
    expect(await reuse.json()).toMatchObject({ error: 'invalid_grant' });
    expect((await refresh(second.refresh_token)).status).toBe(400);
    expect((await userinfo(second.access_token)).status).toBe(401);

    // A new login, then logout: its tokens stop working at once.
    const third = await login();
    const logout = await request(`${server.url}/logout`, {
      method: 'POST',
      headers: { authorization: `Bearer ${third.access_token}` },
    });
    expect(logout.status).toBe(204);
    expect((await userinfo(third.access_token)).status).toBe(401);
    expect((await refresh(third.refresh_token)).status).toBe(400);
  });

  it('a duplicate refresh inside the grace window gets the same successor, not a revocation', async () => {
    const { refresh_token } = await login();
    const a = (await (await refresh(refresh_token)).json()) as { refresh_token: string };
    const b = (await (await refresh(refresh_token)).json()) as { refresh_token: string };
    expect(b.refresh_token).toBe(a.refresh_token);
    expect((await refresh(a.refresh_token)).status).toBe(200);
  });

  it('keeps the sealed copy of a successor only for the grace window', async () => {
    const { refresh_token } = await login();
    await refresh(refresh_token);
    const sealed = () =>
      server.services.db
        .selectFrom('refresh_tokens')
        .select('token_hash')
        .where('successor_sealed', 'is not', null)
        .execute();
    await server.services.refreshTokens.sweep();
    expect(await sealed()).toHaveLength(1);
    server.advance(6_000);
    await server.services.refreshTokens.sweep();
    expect(await sealed()).toHaveLength(0);
  });

  it('many simultaneous refreshes of one token yield exactly one live successor', async () => {
    const { refresh_token } = await login();
    const answers = await Promise.all(Array.from({ length: 25 }, () => refresh(refresh_token)));
    const bodies = (await Promise.all(answers.map((r) => r.json()))) as { refresh_token?: string }[];
    expect(answers.every((r) => r.status === 200)).toBe(true);
    expect(new Set(bodies.map((b) => b.refresh_token)).size).toBe(1);
    const live = await server.services.db
      .selectFrom('refresh_tokens')
      .select('token_hash')
      .where('rotated_at', 'is', null)
      .execute();
    expect(live).toHaveLength(1);
  });

  it('log out everywhere ends every session of the user', async () => {
    const one = await login();
    const two = await login();
    const res = await request(`${server.url}/logout/all`, {
      method: 'POST',
      headers: { authorization: `Bearer ${one.access_token}` },
    });
    expect(res.status).toBe(204);
    for (const session of [one, two]) {
      expect((await userinfo(session.access_token)).status).toBe(401);
      expect((await refresh(session.refresh_token)).status).toBe(400);
    }
    expect((await userinfo((await login()).access_token)).status).toBe(200);
  });

  it('keeps sessions, keys and revocations across a restart on the same data directory', async () => {
    const kept = await login();
    const revoked = await login();
    await request(`${server.url}/logout`, {
      method: 'POST',
      headers: { authorization: `Bearer ${revoked.access_token}` },
    });
    const jwks = await (await request(`${server.url}/.well-known/jwks.json`)).json();
    const dir = server.dataDir;
    await server.close();
    server = await startServer({ refreshGrace: 5 }, dir);
    expect(await (await request(`${server.url}/.well-known/jwks.json`)).json()).toEqual(jwks);
    expect((await userinfo(kept.access_token)).status).toBe(200);
    expect((await userinfo(revoked.access_token)).status).toBe(401);
    expect((await refresh(kept.refresh_token)).status).toBe(200);
  });
});
