/**
 * The outbox that delivers back-channel logout tokens: retries, giving up, surviving restarts and an
 * RP that is down, and several instances sharing the rows. The RP is a real HTTP server that
 * verifies every token (test/backchannel_rp.ts); the store is the suite's (SQLite or PostgreSQL).
 */
import { createServer as createHttpServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { decodeJwtUnverified } from '@tessera/jose';
import { afterEach, describe, expect, it } from 'vitest';
import { retryAfter } from '../src/outbox/delivery.js';
import { endEverySession, endSession } from '../src/revocation/sessions.js';
import { createServices } from '../src/services.js';
import { addRpClient, outboxRows, settled, startRp } from './backchannel.js';
import type { BackchannelRp } from './backchannel_rp.js';
import { TEST_STORE } from './databases.js';
import {
  createTestDatabase,
  dropTestDatabase,
  eventually,
  removeDataDir,
  startServer,
  stopServer,
  type TestServer,
} from './helpers.js';
import { loginApp } from './http.js';
import { request } from './requests.js';

const CLIENT = 'rp-app';
const METRICS_TOKEN = 'metrics-token-0123456789abcdefghijklmnopqrstuv';
const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

/** A server with the RP's client registered, and the RP; both stopped after the test. */
async function setUp(): Promise<{ server: TestServer; rp: BackchannelRp }> {
  const server = await startServer({ metricsToken: METRICS_TOKEN });
  cleanup.push(() => stopServer(server));
  const rp = await startRp(server, CLIENT);
  cleanup.push(() => rp.stop());
  await addRpClient(server, rp);
  return { server, rp };
}

async function logOut(server: TestServer): Promise<string> {
  const { access_token } = await loginApp(server, CLIENT);
  const res = await request(`${server.url}/logout`, {
    method: 'POST',
    headers: { authorization: `Bearer ${access_token}` },
  });
  expect(res.status).toBe(204);
  return (decodeJwtUnverified(access_token) as { sid: string }).sid;
}

async function deliveryCounts(server: TestServer): Promise<Record<string, number>> {
  const text = await (
    await request(`${server.url}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } })
  ).text();
  const counts: Record<string, number> = {};
  for (const match of text.matchAll(
    /^tessera_backchannel_logout_deliveries_total\{outcome="(\w+)"\} (\d+)$/gm,
  ))
    counts[match[1]!] = Number(match[2]);
  return counts;
}

describe('retries', () => {
  it('a 503 is tried again with a new token (fresh jti) until the RP takes it', async () => {
    const { server, rp } = await setUp();
    rp.answer = (n) => (n <= 2 ? { status: 503 } : { status: 200 });
    const sid = await logOut(server);
    const [received] = await rp.waitFor(1);
    expect(received!.claims.sid).toBe(sid);
    expect(rp.attemptJtis).toHaveLength(3);
    expect(new Set(rp.attemptJtis).size).toBe(3);
    const [row] = await settled([server]);
    expect(row).toMatchObject({ attempts: 3, last_error: null, gave_up_at: null });
    expect(await deliveryCounts(server)).toEqual({ retried: 2, delivered: 1 });
  });

  it('a 429 waits at least its Retry-After before the next attempt', async () => {
    const { server, rp } = await setUp();
    let answeredAt = 0;
    rp.answer = (n) => {
      if (n > 1) return { status: 204 };
      answeredAt = server.now();
      return { status: 429, headers: { 'retry-after': '3' } };
    };
    await logOut(server);
    // The schedule in the store, not a measured wait: no sooner than three seconds after the 429.
    await eventually(
      async () => (await outboxRows(server))[0]?.last_error === 'HTTP 429',
      'the 429 recorded',
    );
    const [failed] = await outboxRows(server);
    expect(failed!.next_attempt_at).toBeGreaterThanOrEqual(answeredAt + 3_000);
    await rp.waitFor(1);
    expect((await settled([server]))[0]).toMatchObject({ attempts: 2 });
  });

  it('an RP that does not answer within 5 s is tried again', async () => {
    const { server, rp } = await setUp();
    rp.answer = (n) => (n === 1 ? 'hang' : { status: 200 });
    await logOut(server);
    await eventually(
      async () => (await outboxRows(server))[0]?.last_error === 'timed out after 5000 ms',
      'the timeout recorded',
      20_000,
    );
    await rp.waitFor(1);
    expect((await settled([server]))[0]).toMatchObject({ attempts: 2, last_error: null });
  });

  it('gives up 24 h after the logout when the RP keeps failing; audited', async () => {
    const { server, rp } = await setUp();
    rp.answer = () => ({ status: 500 });
    const sid = await logOut(server);
    await eventually(async () => rp.requests >= 1, 'a first attempt');
    // A day later (the server's clock), the next failure is the last.
    server.advance(24 * 3_600_000 + 1_000);
    const [row] = await settled([server]);
    expect(row!.gave_up_at).not.toBeNull();
    expect(row!.last_error).toMatch(/^HTTP 500 \(failing for 24 h\)$/);
    const event = (await server.services.audit.recent()).find((e) => e.type === 'delivery_gave_up');
    expect(event).toMatchObject({ clientId: CLIENT, detail: { kind: 'backchannel_logout', sid } });
  });
});

describe('a receiver that hangs', () => {
  it('holds back its own rows, not other receivers: one wave of attempts, then the others go first', async () => {
    const { server, rp: hung } = await setUp();
    hung.answer = () => 'hang';
    const other = await startRp(server, 'other-rp');
    cleanup.push(() => other.stop());
    await addRpClient(server, other);
    // Forty sessions of the hanging RP end together: more rows than the instance's 16 slots.
    const user = (await server.services.users.byUsername('alice'))!;
    for (let i = 0; i < 40; i++)
      await server.services.refreshTokens.start(user.id, CLIENT, 'openid', user.tokenVersion);
    await endEverySession(
      server.services,
      user.id,
      (trx) => server.services.users.bumpTokenVersion(user.id, trx),
      'logout_all',
    );
    await eventually(() => hung.requests === 16, 'the first wave of attempts');
    // Then a session of another RP ends. When the first wave times out, its other 24 rows wait out
    // the same back-off, and this one is attempted first.
    const { familyId } = await server.services.refreshTokens.start(user.id, 'other-rp', 'openid');
    await endSession(server.services, familyId, 'logout');
    const [received] = await other.waitFor(1);
    expect(received!.claims.sid).toBe(familyId);
    expect(hung.requests).toBe(16);
    const waiting = (await outboxRows(server)).filter((row) => row.target === hung.uri && row.attempts === 0);
    expect(waiting).toHaveLength(24);
  });
});

describe('giving up', () => {
  it('a 400 (the RP refused the token) is given up at once: audited, counted, not tried again', async () => {
    const { server, rp } = await setUp();
    rp.answer = () => ({ status: 400 });
    const sid = await logOut(server);
    const [row] = await settled([server]);
    expect(row).toMatchObject({ attempts: 1, last_error: 'HTTP 400', delivered_at: null });
    expect(row!.gave_up_at).not.toBeNull();
    const user = await server.services.users.byUsername('alice');
    const event = (await server.services.audit.recent()).find((e) => e.type === 'delivery_gave_up');
    expect(event).toMatchObject({
      userId: user!.id,
      clientId: CLIENT,
      detail: { kind: 'backchannel_logout', sid, reason: 'logout', attempts: 1, error: 'HTTP 400' },
    });
    expect(await deliveryCounts(server)).toEqual({ gave_up: 1 });
    expect(rp.requests).toBe(1);
  });

  it('a row whose payload cannot be read is given up without a request', async () => {
    const { server, rp } = await setUp();
    await server.services.outbox.enqueue(server.services.db, [
      { kind: 'backchannel_logout', payload: { clientId: CLIENT }, target: rp.uri },
    ]);
    server.services.outbox.notify();
    const [row] = await settled([server]);
    expect(row!.last_error).toMatch(/^unreadable payload: /);
    expect(row!.gave_up_at).not.toBeNull();
    expect(rp.requests).toBe(0);
  });

  it('a redirect is not followed: the token never reaches where it points, and the delivery is given up', async () => {
    const { server, rp } = await setUp();
    let reachedTarget = 0;
    const elsewhere: Server = createHttpServer((_req, res) => {
      reachedTarget++;
      res.writeHead(200).end();
    });
    await new Promise<void>((resolve) => elsewhere.listen(0, '127.0.0.1', resolve));
    cleanup.push(() => new Promise((resolve) => elsewhere.close(() => resolve())));
    const location = `http://127.0.0.1:${(elsewhere.address() as AddressInfo).port}/steal`;
    rp.answer = () => ({ status: 307, headers: { location } });
    await logOut(server);
    const [row] = await settled([server]);
    expect(row).toMatchObject({ last_error: 'HTTP 307', attempts: 1 });
    expect(reachedTarget).toBe(0);
  });
});

describe('durability', () => {
  it('a delivery written while the RP is unreachable survives a restart and is delivered once', async () => {
    const first = await startServer();
    const dataDir = first.dataDir;
    cleanup.push(() => removeDataDir(dataDir));
    const rp = await startRp(first, CLIENT);
    await addRpClient(first, rp);
    const port = Number(new URL(rp.uri).port);
    await rp.stop();
    const sid = await logOut(first);
    await eventually(
      // What went wrong, without the URL: the error code only.
      async () => (await outboxRows(first))[0]?.last_error === 'connection failed (ECONNREFUSED)',
      'a failed attempt',
    );
    await first.close();

    const second = await startServer({}, dataDir);
    cleanup.push(() => second.close());
    // The RP is back where it was registered; it reads the keys from the new instance.
    const restartedRp = await startRp(second, CLIENT, port);
    cleanup.push(() => restartedRp.stop());
    const [received] = await restartedRp.waitFor(1);
    expect(received!.claims.sid).toBe(sid);
    const rows = await settled([second]);
    expect(rows).toHaveLength(1);
    expect(restartedRp.received).toHaveLength(1);
  });

  it('an RP down for 10 s gets the token once it is back, exactly once', async () => {
    const { server, rp } = await setUp();
    await rp.stop();
    const sid = await logOut(server);
    // The scenario itself: the RP stays down for ten seconds of real time while attempts fail.
    await new Promise((resolve) => setTimeout(resolve, 10_000));
    const failed = (await outboxRows(server))[0]!;
    expect(failed.delivered_at).toBeNull();
    expect(failed.attempts).toBeGreaterThanOrEqual(2);
    await rp.listen();
    const [received] = await rp.waitFor(1, 60_000);
    expect(received!.claims.sid).toBe(sid);
    await settled([server]);
    expect(rp.received).toHaveLength(1);
    expect(rp.requests).toBe(1);
  }, 90_000);
});

describe.skipIf(TEST_STORE !== 'postgres')('two instances on one PostgreSQL database', () => {
  it('each delivery is made by exactly one instance', async () => {
    const databaseUrl = (await createTestDatabase())!;
    cleanup.push(() => dropTestDatabase(databaseUrl));
    const a = await startServer({ databaseUrl });
    cleanup.push(() => stopServer(a));
    const b = await startServer({ databaseUrl });
    cleanup.push(() => stopServer(b));
    const rp = await startRp(a, CLIENT);
    cleanup.push(() => rp.stop());
    await addRpClient(a, rp);
    // Thirty sessions, ended on both instances at once (as the logout routes do): each instance
    // writes rows, and both claim whatever is due.
    const user = (await a.services.users.byUsername('alice'))!;
    const sids = await Promise.all(
      Array.from({ length: 30 }, async () => {
        const { familyId } = await a.services.refreshTokens.start(
          user.id,
          CLIENT,
          'openid',
          user.tokenVersion,
        );
        return familyId;
      }),
    );
    await Promise.all(sids.map((sid, i) => endSession((i % 2 ? a : b).services, sid, 'logout')));
    await rp.waitFor(sids.length);
    const rows = await settled([a, b]);
    expect(rows).toHaveLength(sids.length);
    expect(rows.every((row) => row.attempts === 1 && row.delivered_at !== null)).toBe(true);
    expect(rp.received.map((r) => r.claims.sid).sort()).toEqual([...sids].sort());
    expect(rp.requests).toBe(sids.length);
  });
});

describe('leases', () => {
  it('concurrent claims from two processes never hand out the same row; a lapsed lease moves on', async () => {
    const server = await startServer();
    cleanup.push(() => stopServer(server));
    // A second process on the same store, as the command line opens it.
    const other = await createServices(server.services.config);
    cleanup.push(() => other.close());
    const kind = 'test_only';
    const { outbox } = server.services;
    await outbox.enqueue(
      server.services.db,
      Array.from({ length: 120 }, (_, i) => ({ kind, payload: { i }, target: 'https://rp.example/x' })),
    );
    // The running server's job knows no such kind, so only the claims below take these rows.
    const claims = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        (i % 2 ? other.outbox : outbox).claim(`owner-${i}`, [kind], 8, 60_000),
      ),
    );
    const ids = claims.flat().map((row) => row.id);
    expect(ids).toHaveLength(120);
    expect(new Set(ids).size).toBe(120);
    expect(await outbox.claim('late', [kind], 8, 60_000)).toEqual([]);

    // A lease that ran out (its instance died mid-attempt) is claimed again; the old holder can no
    // longer record an outcome over the new one's.
    await outbox.enqueue(server.services.db, [
      { kind: `${kind}_2`, payload: {}, target: 'https://rp.example/y' },
    ]);
    const [held] = await outbox.claim('dies', [`${kind}_2`], 1, 0);
    const [taken] = await other.outbox.claim('survives', [`${kind}_2`], 1, 60_000);
    expect(taken).toMatchObject({ id: held!.id, attempts: 2 });
    expect(await outbox.delivered(held!)).toBe(false);
    expect(await other.outbox.delivered(taken!)).toBe(true);
  });
});

describe('pruning', () => {
  it('deletes finished rows older than the cutoff, never one still to deliver', async () => {
    const server = await startServer();
    cleanup.push(() => stopServer(server));
    const { outbox, db } = server.services;
    const kind = 'test_only';
    await outbox.enqueue(
      db,
      ['delivered', 'gave-up', 'pending', 'recent'].map((name) => ({
        kind,
        payload: { name },
        target: 'https://rp.example/x',
      })),
    );
    const rows = await outbox.claim('me', [kind], 4, 60_000);
    const byName = (name: string) => rows.find((row) => (row.payload as { name: string }).name === name)!;
    await outbox.delivered(byName('delivered'));
    await outbox.giveUp(byName('gave-up'), 'HTTP 400');
    await outbox.retryAt(byName('pending'), server.now() + 60_000, 'HTTP 503');
    const cutoff = server.now() + 1;
    server.advance(10);
    await outbox.delivered(byName('recent'));
    await db
      .updateTable('outbox')
      .set({ created_at: cutoff + 5 })
      .where('id', '=', byName('recent').id)
      .execute();
    expect(await outbox.prune(cutoff)).toBe(2);
    expect(
      (await outboxRows(server)).map((row) => (JSON.parse(row.payload) as { name: string }).name),
    ).toEqual(['pending', 'recent']);
  });
});

describe('Retry-After', () => {
  it('reads delay-seconds and HTTP-dates (RFC 9110 §10.2.3), and ignores anything else', () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(retryAfter('120', now)).toBe(120_000);
    expect(retryAfter('Thu, 01 Jan 2026 00:00:30 GMT', now)).toBe(30_000);
    expect(retryAfter('Wed, 31 Dec 2025 00:00:00 GMT', now)).toBe(0);
    expect(retryAfter('soon', now)).toBeUndefined();
    expect(retryAfter(null, now)).toBeUndefined();
  });
});
