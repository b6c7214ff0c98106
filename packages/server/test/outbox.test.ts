/**
 * The outbox that delivers back-channel logout tokens: retries, giving up, surviving restarts and an
 * RP that is down, and several instances sharing the rows. The RP is a real HTTP server that
 * verifies every token (test/backchannel_rp.ts); the store is the suite's (SQLite or PostgreSQL).
 */

import type { LookupOptions } from 'node:dns';
import { createServer as createHttpServer, type Server } from 'node:http';
import type { AddressInfo, LookupFunction } from 'node:net';

type LookupCallback = Parameters<LookupFunction>[2];

import { decodeJwtUnverified } from '@tessera/jose';
import { afterEach, describe, expect, it } from 'vitest';
import { retryAfter } from '../src/outbox/delivery.js';
import { endEverySession, endSession } from '../src/revocation/sessions.js';
import { housekeep } from '../src/server.js';
import { createServices } from '../src/services.js';
import { toJsonText } from '../src/store/schema.js';
import { addRpClient, outboxRows, runCli, settled, startRp } from './backchannel.js';
import type { BackchannelRp } from './backchannel_rp.js';
import { TEST_STORE } from './databases.js';
import { breakWrites } from './failures.js';
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

  it('a 408 (the RP timed out reading the request) is tried again', async () => {
    const { server, rp } = await setUp();
    rp.answer = (n) => (n === 1 ? { status: 408 } : { status: 200 });
    const sid = await logOut(server);
    const [received] = await rp.waitFor(1);
    expect(received!.claims.sid).toBe(sid);
    expect((await settled([server]))[0]).toMatchObject({ attempts: 2, last_error: null, gave_up_at: null });
    expect(await deliveryCounts(server)).toEqual({ retried: 1, delivered: 1 });
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

describe('a client changed while its logout waits', () => {
  /**
   * A logout whose first attempt failed and whose next is an hour away (Retry-After, on the server's
   * clock): whatever the operator changes now, no attempt is made until the clock is moved on.
   */
  async function pendingLogout(): Promise<{ server: TestServer; rp: BackchannelRp; sid: string }> {
    const { server, rp } = await setUp();
    rp.answer = () => ({ status: 503, headers: { 'retry-after': '3600' } });
    const sid = await logOut(server);
    await eventually(
      async () =>
        (await outboxRows(server))[0]?.last_error === 'HTTP 503' && server.delivery.inFlight() === 0,
      'the first attempt failed',
    );
    return { server, rp, sid };
  }

  async function givenUpAfterChange(server: TestServer, rp: BackchannelRp, sid: string, reason: string) {
    server.advance(3_600_000 + 1_000);
    const [row] = await settled([server]);
    expect(row).toMatchObject({ last_error: reason, delivered_at: null, attempts: 2 });
    expect(row!.gave_up_at).not.toBeNull();
    // Given up before connecting: the old address heard nothing more.
    expect(rp.requests).toBe(1);
    const event = (await server.services.audit.recent()).find((e) => e.type === 'delivery_gave_up');
    expect(event).toMatchObject({ clientId: CLIENT, detail: { sid, error: reason } });
  }

  it('`tessera client remove`: the waiting logout is given up, not sent to the old URI', async () => {
    const { server, rp, sid } = await pendingLogout();
    expect((await runCli(server, ['client', 'remove', CLIENT])).code).toBe(0);
    await givenUpAfterChange(server, rp, sid, 'the client was removed');
  });

  it('the URI changed: given up, neither the old URI nor the new one gets it', async () => {
    const { server, rp, sid } = await pendingLogout();
    const moved = await startRp(server, CLIENT);
    cleanup.push(() => moved.stop());
    expect(
      (await runCli(server, ['client', 'update', CLIENT, '--backchannel-logout-uri', moved.uri])).code,
    ).toBe(0);
    await givenUpAfterChange(server, rp, sid, 'the client registered another back-channel logout URI');
    expect(moved.requests).toBe(0);
  });

  it('the URI removed: given up', async () => {
    const { server, rp, sid } = await pendingLogout();
    expect((await runCli(server, ['client', 'update', CLIENT, '--backchannel-logout-uri', ''])).code).toBe(0);
    await givenUpAfterChange(server, rp, sid, 'the client no longer registers a back-channel logout URI');
  });

  it('`tessera client remove` of a signed-in client: the logouts of the sessions it ends go with it', async () => {
    const { server, rp } = await setUp();
    // Whatever attempt is made before the client is gone fails: the RP is taken down first.
    await rp.stop();
    const { access_token } = await loginApp(server, CLIENT);
    const { sid } = decodeJwtUnverified(access_token) as { sid: string };
    expect((await runCli(server, ['client', 'remove', CLIENT])).code).toBe(0);
    server.advance(3_600_000);
    const [row] = await settled([server]);
    expect(JSON.parse(row!.payload)).toMatchObject({ sid, reason: 'client_removed' });
    expect(row).toMatchObject({ last_error: 'the client was removed', delivered_at: null });
  });
});

describe('where deliveries may connect (SSRF)', () => {
  /**
   * A server whose deliveries resolve names with `names` (the injectable lookup seam: no DNS, no
   * /etc/hosts), and a client of its registered at `uri`. Returns the lookups made.
   */
  async function addClient(server: TestServer, uri: string): Promise<void> {
    await server.services.clients.add({
      clientId: CLIENT,
      type: 'public',
      audiences: [server.services.config.audience],
      scopes: ['openid', 'offline_access'],
      backchannelLogoutUri: uri,
    });
  }

  async function serverResolving(
    names: Record<string, { address: string; family: number }[]>,
    uri: string | undefined,
    overrides: Partial<TestServer['services']['config']> = {},
  ): Promise<{ server: TestServer; looked: string[] }> {
    const looked: string[] = [];
    const deliveryLookup = ((hostname: string, options: LookupOptions, callback: LookupCallback) => {
      looked.push(hostname);
      const found = names[hostname];
      if (!found)
        return (callback as (err: Error) => void)(
          Object.assign(new Error('not found'), { code: 'ENOTFOUND' }),
        );
      if (options.all) return (callback as (err: null, all: typeof found) => void)(null, found);
      (callback as (err: null, address: string, family: number) => void)(
        null,
        found[0]!.address,
        found[0]!.family,
      );
    }) as LookupFunction;
    const server = await startServer(overrides, undefined, { deliveryLookup });
    cleanup.push(() => stopServer(server));
    if (uri !== undefined) await addClient(server, uri);
    return { server, looked };
  }

  it.each([
    ['cloud metadata (link-local)', '169.254.169.254', /^address refused: a link-local/],
    ['a private network', '10.0.0.7', /^address refused: a private network address \(10\.0\.0\.7/],
    ['loopback, for a name that is not', '127.0.0.1', /^address refused: a loopback address/],
    [
      'an IPv4-mapped private address',
      '::ffff:192.168.1.1',
      /^address refused: a private network address \(192\.168\.1\.1/,
    ],
  ])('a name resolving to %s is given up without a connection; audited', async (_what, address, error) => {
    const { server, looked } = await serverResolving(
      { 'rp.example': [{ address, family: address.includes(':') ? 6 : 4 }] },
      'https://rp.example/backchannel-logout',
    );
    const sid = await logOut(server);
    const [row] = await settled([server]);
    expect(looked).toContain('rp.example');
    // Given up at the first attempt: a connection to that address would have failed (retry), not this.
    expect(row).toMatchObject({ attempts: 1, delivered_at: null });
    expect(row!.last_error).toMatch(error);
    const event = (await server.services.audit.recent()).find((e) => e.type === 'delivery_gave_up');
    expect(event).toMatchObject({ clientId: CLIENT, detail: { sid } });
  });

  it('an address literal registered before the rule (stored as is) is given up at delivery, unresolved', async () => {
    const { server, looked } = await serverResolving({}, 'https://rp.example/bcl');
    await server.services.db
      .updateTable('clients')
      .set({ backchannel_logout_uri: 'https://169.254.169.254/bcl' })
      .where('client_id', '=', CLIENT)
      .execute();
    await logOut(server);
    const [row] = await settled([server]);
    expect(row).toMatchObject({ attempts: 1, target: 'https://169.254.169.254/bcl' });
    expect(row!.last_error).toMatch(/^address refused: a link-local/);
    expect(looked).toEqual([]);
  });

  it('one refused address among those a name resolves to refuses the name', async () => {
    const { server } = await serverResolving(
      {
        'rp.example': [
          { address: '93.184.215.14', family: 4 },
          { address: '169.254.169.254', family: 4 },
        ],
      },
      'https://rp.example/backchannel-logout',
    );
    await logOut(server);
    const [row] = await settled([server]);
    expect(row!.last_error).toMatch(/^address refused: a link-local/);
  });

  it('`localhost` may resolve to loopback (development): the RP gets the token through the lookup', async () => {
    const { server, looked } = await serverResolving(
      { localhost: [{ address: '127.0.0.1', family: 4 }] },
      undefined,
    );
    const rp = await startRp(server, CLIENT);
    cleanup.push(() => rp.stop());
    await addClient(server, rp.uri.replace('127.0.0.1', 'localhost'));
    const sid = await logOut(server);
    const [received] = await rp.waitFor(1);
    expect(received!.claims.sid).toBe(sid);
    expect(looked).toContain('localhost');
  });

  it('deliveryAllowPrivateNetworks never lifts the link-local refusal (cloud metadata)', async () => {
    const { server } = await serverResolving(
      { 'meta.example': [{ address: '169.254.169.254', family: 4 }] },
      'https://meta.example/bcl',
      { deliveryAllowPrivateNetworks: true },
    );
    await logOut(server);
    const [row] = await settled([server]);
    expect(row!.last_error).toMatch(/^address refused: a link-local/);
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

  it('a 404 or a 401 (an RP mid-redeploy) is tried again, and delivered once the RP takes it', async () => {
    const { server, rp } = await setUp();
    rp.answer = (n) => (n === 1 ? { status: 404 } : n === 2 ? { status: 401 } : { status: 200 });
    const sid = await logOut(server);
    const [received] = await rp.waitFor(1);
    expect(received!.claims.sid).toBe(sid);
    expect((await settled([server]))[0]).toMatchObject({ attempts: 3, last_error: null, gave_up_at: null });
    expect(await deliveryCounts(server)).toEqual({ retried: 2, delivered: 1 });
  });

  it('an RP that keeps refusing (403) is given up an hour after the logout, not a day; audited', async () => {
    const { server, rp } = await setUp();
    rp.answer = () => ({ status: 403 });
    const sid = await logOut(server);
    await eventually(
      async () => (await outboxRows(server))[0]?.last_error === 'HTTP 403',
      'the first refusal recorded',
    );
    server.advance(3_600_000 + 1_000);
    const [row] = await settled([server]);
    expect(row!.gave_up_at).not.toBeNull();
    expect(row!.last_error).toBe('HTTP 403 (refused for 1 h)');
    const event = (await server.services.audit.recent()).find((e) => e.type === 'delivery_gave_up');
    expect(event).toMatchObject({ clientId: CLIENT, detail: { sid, error: 'HTTP 403 (refused for 1 h)' } });
  });

  it('a row claimed only after its 24 h (an outage of days) is given up, not sent days late', async () => {
    const { server, rp } = await setUp();
    const user = (await server.services.users.byUsername('alice'))!;
    // As a store restored after a long outage holds it: written more than a day ago, never attempted.
    await server.services.db
      .insertInto('outbox')
      .values({
        kind: 'backchannel_logout',
        payload: toJsonText({ clientId: CLIENT, sub: user.id, sid: 'old-session', reason: 'logout' }),
        target: rp.uri,
        attempts: 0,
        next_attempt_at: server.now(),
        created_at: server.now() - 25 * 3_600_000,
      })
      .execute();
    server.delivery.wake();
    const [row] = await settled([server]);
    expect(row).toMatchObject({
      attempts: 1,
      delivered_at: null,
      last_error: 'not attempted within 24 h of the logout',
    });
    expect(rp.requests).toBe(0);
    const event = (await server.services.audit.recent()).find((e) => e.type === 'delivery_gave_up');
    expect(event).toMatchObject({ clientId: CLIENT, detail: { sid: 'old-session' } });
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

describe('recording outcomes', () => {
  it('a give-up and its audit event are one write: an audit failure leaves the row to be tried again', async () => {
    const { server, rp } = await setUp();
    // The logout itself writes audit events: it happens first, its first attempt put off for an hour.
    rp.answer = (n) => (n === 1 ? { status: 503, headers: { 'retry-after': '3600' } } : { status: 400 });
    const sid = await logOut(server);
    await eventually(
      async () =>
        (await outboxRows(server))[0]?.last_error === 'HTTP 503' && server.delivery.inFlight() === 0,
      'the first attempt failed',
    );
    const broken = await breakWrites(server.services.db, 'audit_events', 'insert');
    let healed = false;
    cleanup.push(async () => {
      if (!healed) await broken.heal();
    });
    server.advance(3_600_000 + 1_000);
    await eventually(async () => rp.requests >= 2 && server.delivery.inFlight() === 0, 'a refused attempt');
    const [pending] = await outboxRows(server);
    // Not given up without its record: still pending, its lease left to run out.
    expect(pending).toMatchObject({ gave_up_at: null, delivered_at: null });
    healed = true;
    await broken.heal();
    server.advance(60_000);
    const [row] = await settled([server]);
    expect(row!.gave_up_at).not.toBeNull();
    const events = (await server.services.audit.recent()).filter((e) => e.type === 'delivery_gave_up');
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ detail: { sid, error: 'HTTP 400' } });
  });

  it('a delivery whose lease was lost meanwhile is not counted as delivered by this instance', async () => {
    const server = await startServer({ metricsToken: METRICS_TOKEN });
    cleanup.push(() => stopServer(server));
    // A receiver that answers 204 only after the row's lease has passed to another owner (as when
    // this instance stalled past its term and another claimed the row).
    const receiver: Server = createHttpServer((req, res) => {
      req.resume();
      void server.services.db
        .updateTable('outbox')
        .set({ lease_owner: 'another-instance' })
        .execute()
        .then(() => res.writeHead(204).end());
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    cleanup.push(() => new Promise((resolve) => receiver.close(() => resolve())));
    await server.services.clients.add({
      clientId: CLIENT,
      type: 'public',
      audiences: [server.services.config.audience],
      scopes: ['openid', 'offline_access'],
      backchannelLogoutUri: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/bcl`,
    });
    await logOut(server);
    await eventually(
      async () =>
        (await outboxRows(server))[0]?.lease_owner === 'another-instance' && server.delivery.inFlight() === 0,
      'the attempt answered',
    );
    const [row] = await outboxRows(server);
    expect(row!.delivered_at).toBeNull();
    expect(await deliveryCounts(server)).toEqual({});
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
    // The scenario itself: the RP stays down for ten seconds of real time, and attempts fail meanwhile
    // (at least two: the back-off is running). Watched for, not slept through.
    const downSince = Date.now();
    await eventually(
      async () =>
        Date.now() - downSince >= 10_000 &&
        (await outboxRows(server))[0]!.attempts >= 2 &&
        server.delivery.inFlight() === 0,
      'ten seconds down and two failed attempts',
      40_000,
    );
    const failed = (await outboxRows(server))[0]!;
    expect(failed.delivered_at).toBeNull();
    expect(failed.last_error).toBe('connection failed (ECONNREFUSED)');
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

describe('backlog metrics', () => {
  it('tessera_outbox_pending and the oldest pending age, by kind; back to 0 once delivered', async () => {
    const { server, rp } = await setUp();
    const scrape = async () =>
      (
        await request(`${server.url}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } })
      ).text();
    expect(await scrape()).toMatch(/^tessera_outbox_pending\{kind="backchannel_logout"\} 0$/m);
    await rp.stop();
    await logOut(server);
    await logOut(server);
    await eventually(
      async () => (await outboxRows(server)).every((row) => row.attempts >= 1),
      'attempts failed',
    );
    const text = await scrape();
    expect(text).toMatch(/^tessera_outbox_pending\{kind="backchannel_logout"\} 2$/m);
    const age = Number(
      /^tessera_outbox_oldest_pending_seconds\{kind="backchannel_logout"\} ([\d.]+)$/m.exec(text)?.[1],
    );
    expect(age).toBeGreaterThan(0);
    await rp.listen();
    await rp.waitFor(2, 60_000);
    await settled([server]);
    const after = await scrape();
    expect(after).toMatch(/^tessera_outbox_pending\{kind="backchannel_logout"\} 0$/m);
    expect(after).toMatch(/^tessera_outbox_oldest_pending_seconds\{kind="backchannel_logout"\} 0$/m);
  });
});

describe('housekeeping', () => {
  /** `count` finished rows of a kind no job delivers, written `ageMs` ago. */
  async function finishedRows(server: TestServer, count: number, ageMs: number): Promise<void> {
    const { outbox, db } = server.services;
    await outbox.enqueue(
      db,
      Array.from({ length: count }, (_, i) => ({
        kind: 'test_only',
        payload: { i },
        target: 'https://rp.example/x',
      })),
    );
    for (const row of await outbox.claim('me', ['test_only'], count, 60_000)) await outbox.delivered(row);
    await db
      .updateTable('outbox')
      .set({ created_at: server.now() - ageMs })
      .execute();
  }

  it('prunes in batches: every finished row, however many batches it takes', async () => {
    const server = await startServer();
    cleanup.push(() => stopServer(server));
    await finishedRows(server, 7, 1_000);
    expect(await server.services.outbox.prune(server.now(), 3)).toBe(7);
    expect(await outboxRows(server)).toEqual([]);
  });

  it('a failing step is reported and the others still run (old outbox rows are pruned)', async () => {
    const server = await startServer();
    cleanup.push(() => stopServer(server));
    await finishedRows(server, 2, 8 * 86_400_000);
    const failures: string[] = [];
    // An early step that fails, as one whose table is locked would.
    const lifetimes = {
      ...server.services.lifetimes,
      refresh: () => Promise.reject(new Error('injected failure')),
    };
    await housekeep({ ...server.services, lifetimes } as typeof server.services, (step, err) =>
      failures.push(`${step}: ${(err as Error).message}`),
    );
    expect(failures).toEqual(['lifetimes: injected failure']);
    expect(await outboxRows(server)).toEqual([]);
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
