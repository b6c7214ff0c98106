/**
 * Revocations over NATS JetStream (`revocationBroker: nats://…`): two instances on one PostgreSQL
 * database (SQLite where the run has none) and one stream. Each publishes with the row as
 * `Nats-Msg-Id`, reads the whole stream, relays it with `<stream>-<sequence>` event ids, heartbeats
 * while it vouches for the stream, and keeps a revocation made while NATS is away in the store until
 * it can be delivered.
 */
import { decodeJwtUnverified } from '@tessera/jose';
import { nanos, StorageType } from 'nats';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError, describeConfig, loadConfig } from '../src/config.js';
import { createNatsFeed } from '../src/revocation/nats_feed.js';
import { parseNatsBroker } from '../src/revocation/nats_url.js';
import type { Logger } from '../src/shared/logger.js';
import { TEST_STORE } from './databases.js';
import {
  createTestDatabase,
  dropTestDatabase,
  eventually,
  removeDataDir,
  startServer,
  type TestServer,
} from './helpers.js';
import { addClients, form, loginApp } from './http.js';
import {
  deleteStream,
  NATS_URL,
  natsConnection,
  natsSkip,
  storedMessages,
  type TestStream,
  uniqueStream,
} from './nats.js';
import { SseStream, streamAuth } from './sse.js';
import { TcpProxy } from './tcp_proxy.js';

// Two instances share one store: PostgreSQL, as scaled out (the brokers project runs on it where
// there is one, and always on CI).
const skip =
  TEST_STORE !== 'postgres'
    ? 'two instances share a store on PostgreSQL only'
    : await natsSkip('the NATS revocation feed tests');
if (skip && TEST_STORE !== 'postgres') console.warn(`skipping the NATS revocation feed tests: ${skip}`);

const claimsOf = (token: string) => decodeJwtUnverified(token) as { sid: string; sub: string; jti: string };
const userinfo = (server: TestServer, token: string) =>
  fetch(`${server.url}/userinfo`, { headers: { authorization: `Bearer ${token}` } });
const logout = (server: TestServer, token: string) =>
  fetch(`${server.url}/logout`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
const revocationsIn = async (stream: string) =>
  (await storedMessages(stream)).filter((m) => m.message?.type === 'revocation');

describe('revocationBroker setting', () => {
  it('takes nats:// and tls:// URLs with a stream and subject, and never prints the credentials', () => {
    const config = loadConfig(
      { TESSERA_REVOCATION_BROKER: 'nats://svc:hunter2hunter2@nats.internal:4222?stream=REV&subject=a.b' },
      {},
      { masterKey: 'A'.repeat(43) },
    );
    expect(config.revocationBroker).toContain('nats.internal');
    expect(JSON.stringify(describeConfig(config))).not.toContain('hunter2');
    expect(describeConfig(config).revocationBroker).toBe('[redacted]');
    const flag = loadConfig(
      {},
      { 'revocation-broker': 'tls://token123@nats.internal' },
      { masterKey: 'A'.repeat(43) },
    );
    expect(flag.revocationBroker).toBe('tls://token123@nats.internal');
  });

  it.each([
    ['redis://127.0.0.1:6379', /nats:\/\/ or tls:\/\//],
    ['nats://', /URL|host/],
    ['nats://u:secretpass@host:4222/path', /no path/],
    ['nats://u:secretpass@host?stream=a.b', /stream must be/],
    ['nats://u:secretpass@host?subject=a.*', /subject must be/],
    ['nats://u:secretpass@host?queue=x', /unknown parameter/],
  ])('refuses %s with a ConfigError naming the setting, not the password', (value, reason) => {
    let error: unknown;
    try {
      loadConfig({ TESSERA_REVOCATION_BROKER: value }, {}, { masterKey: 'A'.repeat(43) });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).setting).toBe('revocationBroker');
    expect((error as Error).message).toMatch(
      /^revocationBroker \(TESSERA_REVOCATION_BROKER, --revocation-broker\): /,
    );
    expect((error as Error).message).toMatch(reason);
    expect((error as Error).message).not.toContain('secretpass');
  });
});

describe.skipIf(skip)('two instances sharing PostgreSQL and a NATS JetStream stream', () => {
  let databaseUrl: string | undefined;
  let nats: TestStream;
  let a: TestServer;
  let b: TestServer;
  const streams: SseStream[] = [];
  const cleanup: (() => Promise<void>)[] = [];

  async function instance(base?: string): Promise<TestServer> {
    const server = await startServer({
      ...(databaseUrl ? { databaseUrl } : {}),
      revocationBroker: nats.url(base),
    });
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

  /** Both instances read the seeded stream whole and vouch for it. */
  async function bothLive(): Promise<void> {
    await eventually(
      () => a.services.revocations.feed.live() && b.services.revocations.feed.live(),
      'both feeds to be live',
    );
  }

  beforeEach(async () => {
    databaseUrl = await createTestDatabase();
    nats = uniqueStream();
    a = await instance();
    b = await instance();
    await addClients(a);
    await bothLive();
  });

  afterEach(async () => {
    for (const stream of streams.splice(0)) stream.close();
    for (const step of cleanup.splice(0).reverse()) await step();
    await dropTestDatabase(databaseUrl);
    await deleteStream(nats.stream);
  });

  it('a logout on A is published once, acknowledged, read by B and relayed to B’s subscribers', async () => {
    const stream = await subscribe(b);
    const session = await loginApp(a);
    const { sid } = claimsOf(session.access_token);
    expect((await userinfo(b, session.access_token)).status).toBe(200);

    expect((await logout(a, session.access_token)).status).toBe(204);
    const [event] = await stream.revocationCount(1);
    expect(event).toMatchObject({ kind: 'sid', value: sid, ver: null });
    // `<stream created, ms>-<sequence>`: a resume is only ever against the stream it came from.
    expect(event!.eventId).toMatch(/^\d+-\d+$/);
    // B applied it before relaying it (not from its once-a-second store sync).
    expect(b.services.revocations.isRevoked({ sid })).toBe(true);
    expect((await userinfo(b, session.access_token)).status).toBe(401);

    // Delivered means acknowledged by JetStream: the row is marked, and the stream holds it once.
    const row = await a.services.db
      .selectFrom('revocations')
      .selectAll()
      .where('value', '=', sid)
      .executeTakeFirstOrThrow();
    expect(row.published_at).not.toBeNull();
    const stored = await revocationsIn(nats.stream);
    expect(stored).toHaveLength(1);
    expect(stored[0]!.msgId).toBe(`${row.id}:${row.created_at}`);
    expect(stored[0]!.message).toMatchObject({
      type: 'revocation',
      rowId: Number(row.id),
      entry: { kind: 'sid', value: sid },
    });
    expect(`${event!.eventId}`.endsWith(`-${stored[0]!.seq}`)).toBe(true);
  });

  it('a redelivered row is dropped by JetStream (Nats-Msg-Id), and heartbeats are kept as one', async () => {
    const entry = await a.services.revocations.revoke('jti', 'jti-redelivered');
    expect(await a.services.revocations.feed.publish(entry)).toBe(true);
    expect(await b.services.revocations.feed.publish(entry)).toBe(true);
    const stored = await storedMessages(nats.stream);
    expect(stored.filter((m) => m.message?.type === 'revocation')).toHaveLength(1);
    // Both instances heartbeat every few seconds; the rollup keeps only the latest in the stream.
    await eventually(async () => {
      const beats = (await storedMessages(nats.stream)).filter((m) => m.message?.type === 'heartbeat');
      return beats.length === 1;
    }, 'one heartbeat in the stream');
    const [beat] = (await storedMessages(nats.stream)).filter((m) => m.message?.type === 'heartbeat');
    expect(beat!.subject).toBe(`${nats.subject}.heartbeat`);
    expect(beat!.message).toMatchObject({ type: 'heartbeat', at: expect.any(Number) });
  });

  it('keeps the stream on disk for the revocation retention, and widens it when it falls short', async () => {
    const nc = await natsConnection();
    try {
      const jsm = await nc.jetstreamManager();
      const { config } = await jsm.streams.info(nats.stream);
      const retention = nanos(a.services.lifetimes.retentionMs());
      expect(config).toMatchObject({
        storage: StorageType.File,
        max_age: retention,
        allow_rollup_hdrs: true,
        subjects: [nats.subject, `${nats.subject}.heartbeat`],
      });
      expect(config.duplicate_window).toBeGreaterThan(0);
      // As left by a configuration with shorter tokens: the next sync raises it again.
      await jsm.streams.update(nats.stream, { ...config, max_age: nanos(150_000) });
      await a.services.revocations.sync();
      expect((await jsm.streams.info(nats.stream)).config.max_age).toBe(retention);
    } finally {
      await nc.close();
    }
  });

  it('resumes with Last-Event-ID on either instance; an id of another stream gets the whole stream', async () => {
    const stream = await subscribe(b);
    const one = await loginApp(a);
    const two = await loginApp(a);
    const revoked = await form(`${a.url}/revoke`, { token: one.access_token, client_id: 'app' });
    expect(revoked.status).toBe(200);
    expect((await logout(b, two.access_token)).status).toBe(204);
    const events = await stream.revocationCount(2);
    expect(events[0]).toMatchObject({ kind: 'jti', value: claimsOf(one.access_token).jti });
    expect(events[1]).toMatchObject({ kind: 'sid', value: claimsOf(two.access_token).sid });

    const resumed = await subscribe(a, { 'last-event-id': events[0]!.eventId });
    expect(resumed.snapshot.map((e) => e.eventId)).toEqual([events[1]!.eventId]);
    const [created, seq] = events[0]!.eventId.split('-');
    const foreign = await subscribe(a, { 'last-event-id': `${Number(created) - 1}-${seq}` });
    expect(foreign.snapshot.map((e) => e.eventId)).toEqual(events.map((e) => e.eventId));
  });

  it('NATS away from A: the revocation waits in the store, B hears it by store sync, and it is delivered once back', async () => {
    const { hostname, port } = new URL(NATS_URL);
    const proxy = await TcpProxy.start(hostname, Number(port || 4222));
    cleanup.push(() => proxy.close());
    const c = await instance(`nats://127.0.0.1:${proxy.port}`);
    await eventually(() => c.services.revocations.feed.live(), 'C to be live');
    const stream = await subscribe(b);
    const session = await loginApp(c);
    const { sid } = claimsOf(session.access_token);

    proxy.cut();
    await eventually(() => !c.services.revocations.feed.live(), 'C to notice NATS is gone');
    // Out of rotation while its revocations cannot reach the others' guards at once.
    const ready = await fetch(`${c.url}/readyz`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toEqual({ status: 'unavailable', reason: 'revocation broker' });
    expect((await logout(c, session.access_token)).status).toBe(204);
    const row = await c.services.db
      .selectFrom('revocations')
      .selectAll()
      .where('value', '=', sid)
      .executeTakeFirstOrThrow();
    expect(row.published_at).toBeNull();
    // B's store sync picks it up within a second and relays it without an id, applied.
    const [relayed] = await stream.revocationCount(1);
    expect(relayed).toMatchObject({ kind: 'sid', value: sid });
    expect((await userinfo(b, session.access_token)).status).toBe(401);

    proxy.restore();
    // Delivered by whichever instance's sync gets there first; once, whatever the retries.
    await eventually(
      async () =>
        (await revocationsIn(nats.stream)).some(
          (m) => m.message?.type === 'revocation' && m.message.entry.value === sid,
        ),
      'the revocation on the stream',
      15_000,
    );
    await eventually(async () => {
      const marked = await c.services.db
        .selectFrom('revocations')
        .select('published_at')
        .where('id', '=', row.id)
        .executeTakeFirstOrThrow();
      return marked.published_at !== null;
    }, 'the row marked delivered');
    await eventually(() => c.services.revocations.feed.live(), 'C live again', 15_000);
    expect((await fetch(`${c.url}/readyz`)).status).toBe(200);
    expect(
      (await revocationsIn(nats.stream)).filter(
        (m) => m.message?.type === 'revocation' && m.message.entry.value === sid,
      ),
    ).toHaveLength(1);
    // Live again says C reads the stream, not that it has read this very message yet (another
    // instance's sync may have published it a moment ago): wait for C's reader to have it.
    await eventually(
      async () => (await c.services.revocations.feed.backlog(undefined)).some((e) => e.value === sid),
      'C to read the revocation from the stream',
    );
    const fresh = await subscribe(c);
    expect(fresh.snapshot.find((e) => e.value === sid)?.eventId).toMatch(/^\d+-\d+$/);
  });

  it('a lost stream (deleted, or NATS restarted without storage) is republished whole before heartbeats resume', async () => {
    const session = await loginApp(a);
    const { sid } = claimsOf(session.access_token);
    expect((await logout(a, session.access_token)).status).toBe(204);
    await eventually(() => b.services.revocations.isRevoked({ sid }), 'B to hold the entry');
    await deleteStream(nats.stream);
    // Right after the loss an empty stream must not pass for a whole one.
    await eventually(() => !a.services.revocations.feed.live(), 'A to stop vouching');
    const during = await subscribe(b);
    expect(during.snapshot.find((e) => e.value === sid)).toBeDefined();
    // The sync loops recreate the stream, republish every live row, then mark it with a heartbeat.
    await bothLive();
    const stored = await storedMessages(nats.stream);
    const revocation = stored.findIndex(
      (m) => m.message?.type === 'revocation' && m.message.entry.value === sid,
    );
    const heartbeat = stored.findIndex((m) => m.message?.type === 'heartbeat');
    expect(revocation).toBeGreaterThanOrEqual(0);
    expect(heartbeat).toBeGreaterThan(revocation);
    const after = await subscribe(a);
    expect(after.snapshot.find((e) => e.value === sid)?.eventId).toMatch(/^\d+-\d+$/);
  });
});

describe.skipIf(skip)('the NATS feed on its own', () => {
  it('sends no heartbeat while the store holds a revocation the broker missed (the shared hold-back)', async () => {
    const nats = uniqueStream();
    let missed = true;
    let asked = 0;
    const quiet = { warn() {}, info() {}, error() {}, debug() {} } as unknown as Logger;
    const feed = createNatsFeed(parseNatsBroker(nats.url()), quiet, {
      retentionMs: () => 60_000,
      instance: 'test',
      undelivered: async () => {
        asked += 1;
        return missed;
      },
    });
    try {
      // Creates the stream; it has no heartbeat yet, so it is not seeded.
      expect(await feed.seeded()).toBe(false);
      // Seeded, but the store says a revocation is missing from the stream: no heartbeat.
      await feed.markSeeded();
      const now = Date.now();
      const entry = {
        id: 1,
        kind: 'jti' as const,
        value: 'made-while-missing',
        ver: null,
        expiresAt: now + 60_000,
        createdAt: now,
      };
      expect(await feed.publish(entry)).toBe(true);
      // Every heartbeat the feed would send asks the hold-back first: three asks, none sent.
      const before = asked;
      await eventually(() => asked >= before + 3, 'three heartbeat ticks');
      expect((await storedMessages(nats.stream)).filter((m) => m.message?.type === 'heartbeat')).toEqual([]);
      // Delivered (the store says so): the next tick vouches, after the revocation.
      missed = false;
      await eventually(
        async () => (await storedMessages(nats.stream)).some((m) => m.message?.type === 'heartbeat'),
        'a heartbeat once nothing is missing',
      );
      const stored = await storedMessages(nats.stream);
      const revocation = stored.findIndex((m) => m.message?.type === 'revocation');
      expect(revocation).toBeGreaterThanOrEqual(0);
      expect(stored.findIndex((m) => m.message?.type === 'heartbeat')).toBeGreaterThan(revocation);
    } finally {
      await feed.close();
      await deleteStream(nats.stream);
    }
  });
});
