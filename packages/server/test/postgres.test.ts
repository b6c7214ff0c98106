import { randomBytes } from 'node:crypto';
import { decodeJwtUnverified } from '@tessera/jose';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_PASSWORD, post, removeDataDir, startServer, type TestServer } from './helpers.js';

/**
 * The same store on PostgreSQL. Each run creates its own database (and drops it afterwards), so runs
 * never see each other's rows. Without a reachable server the suite is skipped with the reason
 * printed, except on CI (`CI=true`), where that is a failure.
 */
const BASE_URL = process.env.TESSERA_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const DATABASE = `tessera_test_${randomBytes(6).toString('hex')}`;
const databaseUrl = (() => {
  const url = new URL(BASE_URL);
  url.pathname = `/${DATABASE}`;
  return url.href;
})();

async function withAdmin<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: BASE_URL, connectionTimeoutMillis: 5_000 });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

const unreachable = await withAdmin((client) => client.query('select 1')).then(
  () => undefined,
  (err: unknown) => (err instanceof Error ? err.message : String(err)) || 'connection failed',
);
if (unreachable !== undefined) {
  const reason = `PostgreSQL at ${new URL(BASE_URL).host} is not reachable (${unreachable})`;
  if (process.env.CI === 'true') throw new Error(`${reason}; it is required on CI`);
  console.warn(`skipping the PostgreSQL tests: ${reason}; set TESSERA_TEST_DATABASE_URL to run them`);
}

describe.skipIf(unreachable !== undefined)('the store on PostgreSQL', () => {
  let server: TestServer;

  beforeAll(async () => {
    await withAdmin((client) => client.query(`CREATE DATABASE ${DATABASE}`));
    server = await startServer({ databaseUrl, refreshGrace: 5 });
    await server.services.clients.add({
      clientId: 'app',
      type: 'public',
      audiences: [server.services.config.audience],
      scopes: ['openid', 'profile', 'offline_access'],
    });
  });
  afterAll(async () => {
    await server?.close();
    if (server) removeDataDir(server.dataDir);
    await withAdmin((client) => client.query(`DROP DATABASE IF EXISTS ${DATABASE} WITH (FORCE)`));
  });

  interface Tokens {
    access_token: string;
    refresh_token: string;
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
  const refresh = (token: string) =>
    post(`${server.url}/token`, { grant_type: 'refresh_token', refresh_token: token, client_id: 'app' });
  const userinfo = (token: string) =>
    fetch(`${server.url}/userinfo`, { headers: { authorization: `Bearer ${token}` } });

  it('really runs on PostgreSQL, with times read back as numbers', async () => {
    const { rows } = await withAdmin((client) =>
      client.query<{ n: string }>(`select count(*) as n from pg_database where datname = $1`, [DATABASE]),
    );
    expect(rows[0]?.n).toBe('1');
    expect(server.services.config.databaseUrl).toBe(databaseUrl);
    const keys = await server.services.keys.list();
    expect(keys.map((k) => k.state).sort()).toEqual(['current', 'next']);
    for (const key of keys) expect(typeof key.createdAt).toBe('number');
    const user = await server.services.users.byUsername('alice');
    expect(typeof user!.createdAt).toBe('number');
    expect(user!.tokenVersion).toBe(0);
  });

  it('login → userinfo → refresh rotation → concurrent refreshes → reuse revokes the family → logout', async () => {
    const first = await login();
    expect((await userinfo(first.access_token)).status).toBe(200);

    // Rotation: a new refresh token and a working access token.
    const rotated = await refresh(first.refresh_token);
    expect(rotated.status).toBe(200);
    const second = (await rotated.json()) as Tokens;
    expect(second.refresh_token).not.toBe(first.refresh_token);
    expect((await userinfo(second.access_token)).status).toBe(200);

    // 20 simultaneous refreshes of one token: one successor, handed to all of them.
    const answers = await Promise.all(Array.from({ length: 20 }, () => refresh(second.refresh_token)));
    const bodies = (await Promise.all(answers.map((r) => r.json()))) as Partial<Tokens>[];
    expect(answers.map((r) => r.status)).toEqual(Array(20).fill(200));
    const successors = new Set(bodies.map((b) => b.refresh_token));
    expect(successors.size).toBe(1);
    const [third] = successors as Set<string>;
    const sid = (decodeJwtUnverified(first.access_token) as { sid: string }).sid;
    const live = await server.services.db
      .selectFrom('refresh_tokens')
      .select('token_hash')
      .where('family_id', '=', sid)
      .where('rotated_at', 'is', null)
      .execute();
    expect(live).toHaveLength(1);
    expect((await server.services.refreshTokens.familyOf(third!))?.active).toBe(true);

    // Presenting a rotated token after the grace window is theft: the whole family dies.
    server.advance(10_000);
    const reuse = await refresh(first.refresh_token);
    expect(reuse.status).toBe(400);
    expect(await reuse.json()).toMatchObject({ error: 'invalid_grant' });
    expect((await refresh(third!)).status).toBe(400);
    expect((await userinfo(second.access_token)).status).toBe(401);

    // Logout: the session's tokens stop working at once.
    const fourth = await login();
    expect((await userinfo(fourth.access_token)).status).toBe(200);
    const logout = await fetch(`${server.url}/logout`, {
      method: 'POST',
      headers: { authorization: `Bearer ${fourth.access_token}` },
    });
    expect(logout.status).toBe(204);
    expect((await userinfo(fourth.access_token)).status).toBe(401);
    expect((await refresh(fourth.refresh_token)).status).toBe(400);
  });

  it('numbers revocations (the event ids) and bumps token versions', async () => {
    const one = await login();
    const before = server.services.revocations.snapshot();
    const res = await fetch(`${server.url}/logout/all`, {
      method: 'POST',
      headers: { authorization: `Bearer ${one.access_token}` },
    });
    expect(res.status).toBe(204);
    const after = server.services.revocations.snapshot();
    // The user's version (`sub`), then the `sid` of each session that was still live: this one.
    expect(after).toHaveLength(before.length + 2);
    expect(after.at(-1)).toMatchObject({
      kind: 'sid',
      value: JSON.parse(Buffer.from(one.access_token.split('.')[1]!, 'base64url').toString()).sid,
    });
    const added = after.at(-2)!;
    expect(Number.isSafeInteger(added.id)).toBe(true);
    expect(added.id).toBeGreaterThan(Math.max(0, ...before.map((e) => e.id)));
    expect(added).toMatchObject({ kind: 'sub', ver: 1 });
    expect(typeof added.expiresAt).toBe('number');
    expect((await server.services.users.byUsername('alice'))!.tokenVersion).toBe(1);
    expect((await userinfo(one.access_token)).status).toBe(401);
    expect((await userinfo((await login()).access_token)).status).toBe(200);
  });

  it('introspects access and refresh tokens (times as JSON numbers)', async () => {
    const { secret } = await server.services.clients.add({
      clientId: 'orders-api',
      type: 'confidential',
      audiences: [server.services.config.audience],
      scopes: [],
    });
    const tokens = await login();
    for (const [token, type] of [
      [tokens.access_token, 'Bearer'],
      [tokens.refresh_token, 'refresh_token'],
    ] as const) {
      const res = await post(`${server.url}/introspect`, {
        token,
        client_id: 'orders-api',
        client_secret: secret,
      });
      expect(res.status).toBe(200);
      const body = (await res.json()) as { active: boolean; token_type: string; exp: unknown };
      expect(body).toMatchObject({ active: true, token_type: type, username: 'alice' });
      expect(Number.isSafeInteger(body.exp)).toBe(true);
      expect(body.exp as number).toBeGreaterThan(server.now() / 1000);
    }
  });

  it('keeps keys, sessions and revocations across a restart, and rotates keys', async () => {
    const kept = await login();
    const revoked = await login();
    await fetch(`${server.url}/logout`, {
      method: 'POST',
      headers: { authorization: `Bearer ${revoked.access_token}` },
    });
    await server.services.keys.rotate();
    const jwks = await (await fetch(`${server.url}/.well-known/jwks.json`)).json();
    const revocations = server.services.revocations.snapshot();
    const dir = server.dataDir;
    await server.close();

    server = await startServer({ databaseUrl, refreshGrace: 5 }, dir);
    expect(await (await fetch(`${server.url}/.well-known/jwks.json`)).json()).toEqual(jwks);
    expect(server.services.revocations.snapshot()).toEqual(revocations);
    expect((await userinfo(kept.access_token)).status).toBe(200);
    expect((await userinfo(revoked.access_token)).status).toBe(401);
    expect((await refresh(kept.refresh_token)).status).toBe(200);
    expect((await refresh(revoked.refresh_token)).status).toBe(400);

    // Revocation entries expire with the tokens they match, and are pruned from the table. (The
    // restarted server's clock starts again at real time; earlier tests had advanced the old one.)
    server.advance(2 * (server.services.config.accessTokenTtl + 60) * 1000);
    await server.services.revocations.prune();
    expect(server.services.revocations.snapshot()).toEqual([]);
    expect(await server.services.db.selectFrom('revocations').selectAll().execute()).toEqual([]);
  });
});
