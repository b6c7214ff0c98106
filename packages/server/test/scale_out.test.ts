/**
 * Scaled out: two server instances on one PostgreSQL database and one Redis (RFC-free territory:
 * DESIGN.md's revocation model). They must agree on revocations within milliseconds, on login
 * limits, on keys, and on refresh rotation; and they must ride out Redis and PostgreSQL outages.
 */
import { decodeJwtUnverified } from '@tessera/jose';
import { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { publishedLongEnough } from '../src/keys/signing_keys.js';
import { createServices } from '../src/services.js';
import { TEST_STORE } from './databases.js';
import {
  ADMIN_PASSWORD,
  createTestDatabase,
  dropTestDatabase,
  eventually,
  post,
  removeDataDir,
  startServer,
  type TestServer,
} from './helpers.js';
import { addClients, form, loginApp } from './http.js';
import {
  deleteKeys,
  OwnRedis,
  REDIS_URL,
  redisServerMissing,
  redisUnreachable,
  uniquePrefix,
} from './redis.js';
import { SseStream, streamAuth } from './sse.js';
import { TcpProxy } from './tcp_proxy.js';

const skip =
  TEST_STORE !== 'postgres'
    ? 'scale-out runs in the server-postgres project'
    : ((await redisUnreachable()) ?? (await redisServerMissing()));
if (skip && TEST_STORE === 'postgres' && process.env.CI === 'true')
  throw new Error(`${skip} (required on CI)`);
if (skip && TEST_STORE === 'postgres') console.warn(`skipping the scale-out tests: ${skip}`);

const claimsOf = (token: string) => decodeJwtUnverified(token) as { sid: string; sub: string; jti: string };
const userinfo = (server: TestServer, token: string) =>
  fetch(`${server.url}/userinfo`, { headers: { authorization: `Bearer ${token}` } });
const refresh = (server: TestServer, token: string) =>
  form(`${server.url}/token`, { grant_type: 'refresh_token', client_id: 'app', refresh_token: token });

describe.skipIf(skip)('two instances sharing PostgreSQL and Redis', () => {
  let databaseUrl: string;
  let prefix: string;
  let a: TestServer;
  let b: TestServer;
  const streams: SseStream[] = [];
  const cleanup: (() => Promise<void>)[] = [];

  async function instance(redisUrl = REDIS_URL): Promise<TestServer> {
    const server = await startServer({ databaseUrl, redisUrl, redisPrefix: prefix });
    cleanup.push(async () => {
      await server.close();
      await removeDataDir(server.dataDir);
    });
    return server;
  }

  async function subscribe(server: TestServer, headers: Record<string, string> = {}): Promise<SseStream> {
    const stream = await SseStream.open(server.url, { ...(await streamAuth(server.services)), ...headers });
    streams.push(stream);
    expect(stream.response.status).toBe(200);
    await stream.until((s) => s.snapshotComplete, 'end of snapshot');
    return stream;
  }

  beforeEach(async () => {
    databaseUrl = (await createTestDatabase())!;
    prefix = uniquePrefix();
    a = await instance();
    b = await instance();
    await addClients(a);
  });

  afterEach(async () => {
    for (const stream of streams.splice(0)) stream.close();
    for (const step of cleanup.splice(0).reverse()) await step();
    await dropTestDatabase(databaseUrl);
    await deleteKeys(prefix);
  });

  it('a logout on A reaches B’s stream (Redis stream ids), B’s own checks and the denylist', async () => {
    const stream = await subscribe(b);
    const session = await loginApp(a);
    const { sid } = claimsOf(session.access_token);
    expect((await userinfo(b, session.access_token)).status).toBe(200);

    const res = await fetch(`${a.url}/logout`, {
      method: 'POST',
      headers: { authorization: `Bearer ${session.access_token}` },
    });
    expect(res.status).toBe(204);
    const [event] = await stream.revocationCount(1);
    expect(event).toMatchObject({ kind: 'sid', value: sid, ver: null });
    expect(event!.eventId).toMatch(/^\d+-\d+$/);
    // B learnt it from the stream, not from its once-a-second store sync: it is applied before B
    // relays it to subscribers.
    expect(b.services.revocations.isRevoked({ sid })).toBe(true);
    expect((await userinfo(b, session.access_token)).status).toBe(401);

    const redis = new Redis(REDIS_URL);
    try {
      expect(await redis.get(`${prefix}denylist:sid:${sid}`)).toBe('1');
      const ttl = await redis.pttl(`${prefix}denylist:sid:${sid}`);
      const lifetime = (a.services.config.accessTokenTtl + 60) * 1000;
      expect(ttl).toBeGreaterThan(lifetime - 5_000);
      expect(ttl).toBeLessThanOrEqual(lifetime);
      expect(await redis.xlen(`${prefix}revocations`)).toBe(1);
    } finally {
      redis.disconnect();
    }
  });

  it('log out everywhere, revoke and reuse detection on A are all heard on B, resumable on A', async () => {
    const stream = await subscribe(b);
    const one = await loginApp(a);
    const two = await loginApp(a);
    const three = await loginApp(a);

    // RFC 7009 revoke of an access token → jti.
    const revoked = await form(`${a.url}/revoke`, { token: one.access_token, client_id: 'app' });
    expect(revoked.status).toBe(200);
    // Reuse of a rotated refresh token (after the grace window) → the family's sid.
    const rotated = await refresh(a, two.refresh_token);
    expect(rotated.status).toBe(200);
    for (const server of [a, b]) server.advance((a.services.config.refreshGrace + 1) * 1000);
    expect((await refresh(b, two.refresh_token)).status).toBe(400);
    // Log out everywhere → sub + ver, and the sids of the live sessions.
    const all = await fetch(`${a.url}/logout/all`, {
      method: 'POST',
      headers: { authorization: `Bearer ${three.access_token}` },
    });
    expect(all.status).toBe(204);

    const events = await stream.revocationCount(3);
    expect(events[0]).toMatchObject({ kind: 'jti', value: claimsOf(one.access_token).jti });
    expect(events[1]).toMatchObject({ kind: 'sid', value: claimsOf(two.access_token).sid });
    expect(events.some((e) => e.kind === 'sub' && e.value === claimsOf(three.access_token).sub)).toBe(true);

    // Ids order the stream on every instance: resuming on A after the first event B sent gives the rest.
    const resumed = await subscribe(a, { 'last-event-id': events[0]!.eventId });
    expect(resumed.snapshot.map((e) => e.eventId)).toEqual(
      (await stream.revocationCount(events.length)).slice(1).map((e) => e.eventId),
    );
  });

  it('counts failed logins across instances', async () => {
    const attempt = (server: TestServer) =>
      post(`${server.url}/login`, { username: 'alice', password: 'not the password', client_id: 'app' });
    for (const server of [a, b, a, b, a]) expect((await attempt(server)).status).toBe(400);
    const locked = await attempt(b);
    expect(locked.status).toBe(429);
    expect(Number(locked.headers.get('retry-after'))).toBeGreaterThan(0);
    // Even the right password waits while the account is locked, on either instance.
    const right = await post(`${a.url}/login`, {
      username: 'alice',
      password: ADMIN_PASSWORD,
      client_id: 'app',
    });
    expect(right.status).toBe(429);
  });

  it('concurrent refreshes of one token on both instances yield one successor', async () => {
    const { refresh_token } = await loginApp(a);
    const answers = await Promise.all(
      Array.from({ length: 24 }, (_, i) => refresh(i % 2 === 0 ? a : b, refresh_token)),
    );
    const bodies = (await Promise.all(answers.map((r) => r.json()))) as { refresh_token?: string }[];
    expect(answers.map((r) => r.status)).toEqual(answers.map(() => 200));
    expect(new Set(bodies.map((body) => body.refresh_token)).size).toBe(1);
    const live = await a.services.db
      .selectFrom('refresh_tokens')
      .select('token_hash')
      .where('rotated_at', 'is', null)
      .execute();
    expect(live).toHaveLength(1);
  });

  it('when rotation falls due, both instances try and exactly one rotates; both then publish the same JWKS', async () => {
    const everyBefore = await a.services.keys.list();
    for (const server of [a, b]) server.advance(a.services.config.keyRotationInterval * 1000);
    await Promise.all([a.services.keys.ensure(), b.services.keys.ensure(), a.services.keys.ensure()]);
    const everyAfter = await a.services.keys.list();
    // Each algorithm (access tokens' ES256, ID tokens' RS256) rotated exactly once.
    for (const alg of ['ES256', 'RS256']) {
      const before = everyBefore.filter((k) => k.alg === alg);
      const after = everyAfter.filter((k) => k.alg === alg);
      expect(after.filter((k) => k.state === 'current')).toHaveLength(1);
      expect(after.filter((k) => k.state === 'next')).toHaveLength(1);
      // The old next signs now; the old current is retired; exactly one new key was made.
      expect(after.find((k) => k.state === 'current')!.kid).toBe(before.find((k) => k.state === 'next')!.kid);
      expect(after.find((k) => k.state === 'retired')!.kid).toBe(
        before.find((k) => k.state === 'current')!.kid,
      );
      expect(after.filter((k) => !before.some((o) => o.kid === k.kid))).toHaveLength(1);
    }
    await Promise.all([a.services.keys.refresh(), b.services.keys.refresh()]);
    const jwks = await Promise.all(
      [a, b].map(async (s) => (await fetch(`${s.url}/.well-known/jwks.json`)).json()),
    );
    expect(jwks[1]).toEqual(jwks[0]);
    expect(a.services.keys.signer().kid).toBe(b.services.keys.signer().kid);
    expect(a.services.keys.idTokenSigner().kid).toBe(b.services.keys.idTokenSigner().kid);
  });

  it('a rotation made on one instance reaches the other within its sync interval', async () => {
    a.advance(publishedLongEnough(a.services.config));
    await a.services.keys.rotate();
    const signing = a.services.keys.signer().kid;
    await eventually(() => b.services.keys.signer().kid === signing, 'B to sign with the new key');
    const jwks = await Promise.all(
      [a, b].map(async (s) => (await fetch(`${s.url}/.well-known/jwks.json`)).json()),
    );
    expect(jwks[1]).toEqual(jwks[0]);
  });

  it('Redis emptied (a restart without persistence): subscribers get the store’s list until the stream is seeded again', async () => {
    const session = await loginApp(a);
    const { sid } = claimsOf(session.access_token);
    await fetch(`${a.url}/logout`, {
      method: 'POST',
      headers: { authorization: `Bearer ${session.access_token}` },
    });
    const first = await subscribe(b);
    expect(first.snapshot.map((e) => e.value)).toContain(sid);
    await eventually(() => b.services.revocations.isRevoked({ sid }), 'B to hold the entry');
    first.close();
    await deleteKeys(prefix);
    // B notices at its next sync; right after the loss, an empty stream must not pass for a whole one.
    expect(await b.services.revocations.feed.seeded()).toBe(false);
    expect(b.services.revocations.feed.live()).toBe(false);
    const during = await subscribe(b);
    const entry = during.snapshot.find((e) => e.value === sid);
    expect(entry).toBeDefined();
    expect(entry!.eventId).toBeUndefined();
    // The sync republishes every live row from the store; the stream then has it again, with an id.
    await b.services.revocations.sync();
    expect(await b.services.revocations.feed.seeded()).toBe(true);
    const after = await subscribe(a);
    expect(after.snapshot.find((e) => e.value === sid)?.eventId).toMatch(/^\d+-\d+$/);
  });

  it('a publication that fails half-way leaves no mark, so the row is delivered again', async () => {
    const redis = new Redis(REDIS_URL);
    try {
      const broken = {
        id: 999_999,
        kind: 'sub' as const,
        value: 'usr_x',
        ver: null,
        expiresAt: Date.now() + 60_000,
        createdAt: 1,
      };
      expect(await a.services.revocations.feed.publish(broken)).toBe(false);
      expect(await redis.exists(`${prefix}revocation:row:999999:1`)).toBe(0);
      expect(await redis.exists(`${prefix}denylist:sub:usr_x`)).toBe(0);
    } finally {
      redis.disconnect();
    }
  });

  it('a rotation without a published next key does not start signing with a key no verifier has seen', async () => {
    // The access tokens' keys; the ID tokens' behave the same (signing_keys_per_alg.test.ts).
    const accessKeys = async () =>
      (await a.services.keys.list()).filter((k) => k.alg === a.services.config.signingAlg);
    const before = await accessKeys();
    await a.services.db.deleteFrom('signing_keys').where('state', '=', 'next').execute();
    await a.services.keys.rotate();
    const after = await accessKeys();
    expect(after.find((k) => k.state === 'current')!.kid).toBe(
      before.find((k) => k.state === 'current')!.kid,
    );
    expect(after.filter((k) => k.state === 'next')).toHaveLength(1);
    // The next rotation promotes that key, once published long enough.
    a.advance(publishedLongEnough(a.services.config));
    await a.services.keys.rotate();
    expect((await accessKeys()).find((k) => k.state === 'current')!.kid).toBe(
      after.find((k) => k.state === 'next')!.kid,
    );
  });

  it('two instances starting on an empty database create one current and one next key per algorithm', async () => {
    const fresh = (await createTestDatabase())!;
    try {
      const config = loadConfig(
        {},
        {},
        { databaseUrl: fresh, masterKey: 'A'.repeat(43), dataDir: a.dataDir, logLevel: 'silent' },
      );
      const started = await Promise.all([
        createServices(config),
        createServices(config),
        createServices(config),
      ]);
      const keys = await started[0]!.keys.list();
      for (const services of started) await services.close();
      expect(keys.map((k) => `${k.alg} ${k.state}`).sort()).toEqual([
        'ES256 current',
        'ES256 next',
        'RS256 current',
        'RS256 next',
      ]);
    } finally {
      await dropTestDatabase(fresh);
    }
  });
});

describe.skipIf(skip)('faults', () => {
  const cleanup: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const step of cleanup.splice(0).reverse()) await step();
  });

  it('Redis down: issuing and refreshing go on, /readyz says not ready, revocations reach the stream when Redis is back', async () => {
    const redis = await OwnRedis.start();
    cleanup.push(() => redis.stop());
    const databaseUrl = (await createTestDatabase())!;
    cleanup.push(() => dropTestDatabase(databaseUrl));
    const servers: TestServer[] = [];
    for (let i = 0; i < 2; i++) {
      const server = await startServer({ databaseUrl, redisUrl: redis.url, redisPrefix: 'tessera:' });
      servers.push(server);
      cleanup.push(async () => {
        await server.close();
        await removeDataDir(server.dataDir);
      });
    }
    const [a, b] = servers as [TestServer, TestServer];
    await addClients(a);
    const before = await loginApp(a);
    await eventually(async () => (await fetch(`${a.url}/readyz`)).status === 200, 'A ready');

    const listening = await SseStream.open(b.url, await streamAuth(b.services));
    cleanup.push(async () => listening.close());
    await listening.until((s) => s.snapshotComplete, 'end of snapshot');
    await redis.stop();
    // The store is the truth: login, refresh and logout all work without Redis.
    const during = await loginApp(b);
    const refreshed = await refresh(a, before.refresh_token);
    expect(refreshed.status).toBe(200);
    const logout = await fetch(`${a.url}/logout`, {
      method: 'POST',
      headers: { authorization: `Bearer ${during.access_token}` },
    });
    expect(logout.status).toBe(204);
    const ready = await fetch(`${a.url}/readyz`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toEqual({ status: 'unavailable', reason: 'redis' });
    // B still learns of it, from the store, within its sync interval, and tells its subscribers at
    // once, in an event without an id (their Last-Event-ID stays a stream id); B's stream keeps
    // its heartbeat, since the store sync vouches for it.
    await eventually(
      () => b.services.revocations.isRevoked({ sid: claimsOf(during.access_token).sid }),
      'B to read the revocation from the store',
    );
    await listening.until(
      (s) => s.revocations.some((e) => e.value === claimsOf(during.access_token).sid),
      'the revocation relayed by B without Redis',
    );
    const relayed = listening.revocations.find((e) => e.value === claimsOf(during.access_token).sid)!;
    expect(relayed.eventId).toBeUndefined();
    expect(b.services.revocations.live()).toBe(true);
    // A subscriber connecting now gets the whole list from B's memory, without ids.
    const late = await SseStream.open(b.url, await streamAuth(b.services));
    cleanup.push(async () => late.close());
    await late.until((s) => s.snapshotComplete, 'end of snapshot');
    expect(late.snapshot.map((e) => e.value)).toContain(claimsOf(during.access_token).sid);
    const undelivered = await a.services.db
      .selectFrom('revocations')
      .select('id')
      .where('published_at', 'is', null)
      .execute();
    expect(undelivered).toHaveLength(1);

    // Redis comes back empty (it kept nothing on disk): every live revocation is published again.
    await redis.start();
    await eventually(async () => (await fetch(`${a.url}/readyz`)).status === 200, 'A ready again');
    await eventually(async () => (await fetch(`${b.url}/readyz`)).status === 200, 'B ready again');
    const stream = await SseStream.open(b.url, await streamAuth(b.services));
    cleanup.push(async () => stream.close());
    await stream.until(
      (s) => s.snapshotComplete && s.revocations.some((e) => e.value === claimsOf(during.access_token).sid),
      'the revocation made while Redis was down',
    );
    await eventually(
      async () =>
        (
          await a.services.db
            .selectFrom('revocations')
            .select('id')
            .where('published_at', 'is', null)
            .execute()
        ).length === 0,
      'every revocation marked delivered',
    );
    // Logins are counted in Redis again.
    expect((await loginApp(b)).access_token).toBeTruthy();
  });

  it('PostgreSQL connections cut: requests fail cleanly with 503, then the server recovers on its own', async () => {
    const databaseUrl = (await createTestDatabase())!;
    cleanup.push(() => dropTestDatabase(databaseUrl));
    const target = new URL(databaseUrl);
    const proxy = await TcpProxy.start(target.hostname, Number(target.port || 5432));
    cleanup.push(() => proxy.close());
    const viaProxy = new URL(databaseUrl);
    viaProxy.host = `127.0.0.1:${proxy.port}`;
    const server = await startServer({ databaseUrl: viaProxy.href });
    cleanup.push(async () => {
      await server.close();
      await removeDataDir(server.dataDir);
    });
    await addClients(server);
    const session = await loginApp(server);

    proxy.cut();
    const failed = await refresh(server, session.refresh_token);
    expect(failed.status).toBe(503);
    expect(await failed.json()).toMatchObject({ error: 'temporarily_unavailable' });
    expect(failed.headers.get('retry-after')).toBe('1');
    expect((await fetch(`${server.url}/readyz`)).status).toBe(503);

    proxy.restore();
    await eventually(async () => (await fetch(`${server.url}/readyz`)).status === 200, 'ready again');
    // The refused refresh burnt nothing: the same token still works, once.
    const again = await refresh(server, session.refresh_token);
    expect(again.status).toBe(200);
    expect((await loginApp(server)).access_token).toBeTruthy();
  });
});
