/**
 * Revocations between instances on a RabbitMQ stream (`revocationBroker: amqp://…`): two instances
 * on one PostgreSQL database relay each other's revocations to their `/revocations` subscribers
 * with stream offsets as event ids, resume with Last-Event-ID, ride out a broker they cannot reach
 * (the store keeps the row until the stream has it), and republish a stream that was lost before
 * vouching for it. Runs in the `brokers` project (one file at a time).
 */
import { decodeJwtUnverified } from '@tessera/jose';
import { parseBrokerMessage } from '@tessera/protocol';
import amqp from 'amqplib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createRabbitMqFeed } from '../src/revocation/rabbitmq_feed.js';
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
import { addClients, loginApp } from './http.js';
import { brokerUrl, deleteStream, RABBITMQ_URL, rabbitmqSkip, uniqueStream } from './rabbitmq.js';
import { SseStream, streamAuth } from './sse.js';
import { TcpProxy } from './tcp_proxy.js';

const skip =
  TEST_STORE !== 'postgres'
    ? 'two instances need PostgreSQL (the brokers project runs on it when it is reachable)'
    : await rabbitmqSkip('the RabbitMQ revocation tests');
if (skip && TEST_STORE !== 'postgres') console.warn(`skipping the RabbitMQ revocation tests: ${skip}`);

const claimsOf = (token: string) => decodeJwtUnverified(token) as { sid: string; jti: string };
const logout = (server: TestServer, token: string) =>
  fetch(`${server.url}/logout`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
const userinfo = (server: TestServer, token: string) =>
  fetch(`${server.url}/userinfo`, { headers: { authorization: `Bearer ${token}` } });

type Read = ReturnType<typeof parseBrokerMessage> & {};

/** The stream's messages from its first, read until `enough` holds (or a generous bound). */
async function readStream(stream: string, enough: (messages: Read[]) => boolean): Promise<Read[]> {
  const connection = await amqp.connect(RABBITMQ_URL);
  const messages: Read[] = [];
  try {
    connection.on('error', () => {});
    const channel = await connection.createChannel();
    channel.on('error', () => {}); // a stream not (yet) there: consume() rejects, and says why
    await channel.prefetch(100);
    let wake = () => {};
    await channel.consume(
      stream,
      (message) => {
        if (!message) return;
        channel.ack(message);
        const parsed = parseBrokerMessage(message.content);
        if (parsed) messages.push(parsed);
        wake();
      },
      { arguments: { 'x-stream-offset': 'first' } },
    );
    const until = Date.now() + 10_000;
    while (!enough(messages)) {
      if (Date.now() > until) throw new Error(`the stream never held enough: ${JSON.stringify(messages)}`);
      await new Promise<void>((resolve) => {
        wake = resolve;
        setTimeout(resolve, 50);
      });
    }
    return messages;
  } finally {
    await connection.close().catch(() => {});
  }
}

describe.skipIf(skip)('two instances sharing PostgreSQL and a RabbitMQ stream', () => {
  let databaseUrl: string;
  let stream: string;
  let a: TestServer;
  let b: TestServer;
  const streams: SseStream[] = [];
  const cleanup: (() => Promise<void>)[] = [];

  async function instance(revocationBroker = brokerUrl(stream)): Promise<TestServer> {
    const server = await startServer({ databaseUrl, revocationBroker });
    cleanup.push(async () => {
      await server.close();
      await removeDataDir(server.dataDir);
    });
    // Seeded once it has published every live row or read a heartbeat: then it relays with offsets.
    await eventually(() => server.services.revocations.feed.live(), 'the instance to follow the stream');
    return server;
  }

  async function subscribe(server: TestServer, headers: Record<string, string> = {}): Promise<SseStream> {
    const sse = await SseStream.open(server.url, { ...(await streamAuth(server.services)), ...headers });
    streams.push(sse);
    expect(sse.response.status).toBe(200);
    await sse.until((s) => s.snapshotComplete, 'end of snapshot');
    return sse;
  }

  beforeEach(async () => {
    databaseUrl = (await createTestDatabase())!;
    stream = uniqueStream();
    a = await instance();
    b = await instance();
    await addClients(a);
  });

  afterEach(async () => {
    for (const sse of streams.splice(0)) sse.close();
    for (const step of cleanup.splice(0).reverse()) await step();
    await dropTestDatabase(databaseUrl);
    await deleteStream(stream);
  });

  it('a logout on A reaches B’s subscribers with the stream offset as id, and B’s own checks', async () => {
    const sse = await subscribe(b);
    const session = await loginApp(a);
    const { sid } = claimsOf(session.access_token);
    expect((await userinfo(b, session.access_token)).status).toBe(200);

    expect((await logout(a, session.access_token)).status).toBe(204);
    const [event] = await sse.revocationCount(1);
    expect(event).toMatchObject({ kind: 'sid', value: sid, ver: null });
    expect(event!.eventId).toMatch(/^\d+$/);
    // Applied before it is relayed: B heard it on the stream, not from its store sync.
    expect(b.services.revocations.isRevoked({ sid })).toBe(true);
    expect((await userinfo(b, session.access_token)).status).toBe(401);
    // On the stream as @tessera/protocol's message, after the heartbeats that vouched for it.
    const messages = await readStream(stream, (m) => m.some((x) => x.type === 'revocation'));
    const revocation = messages.find((m) => m.type === 'revocation');
    expect(revocation).toMatchObject({ type: 'revocation', entry: { kind: 'sid', value: sid } });
    expect(messages.some((m) => m.type === 'heartbeat')).toBe(true);
  });

  it('resuming with Last-Event-ID on either instance gives exactly what followed', async () => {
    const sse = await subscribe(b);
    const sessions = [await loginApp(a), await loginApp(a), await loginApp(a)];
    for (const [i, session] of sessions.entries())
      expect((await logout(i % 2 === 0 ? a : b, session.access_token)).status).toBe(204);
    const events = await sse.revocationCount(3);
    expect(events.map((e) => e.value)).toEqual(sessions.map((s) => claimsOf(s.access_token).sid));

    for (const server of [a, b]) {
      const resumed = await subscribe(server, { 'last-event-id': events[0]!.eventId });
      expect(resumed.snapshot.map((e) => e.eventId)).toEqual(events.slice(1).map((e) => e.eventId));
    }
    // An id the stream never gave (garbage) gets everything live: a repeat is harmless, a gap is not.
    const whole = await subscribe(a, { 'last-event-id': 'not-an-offset' });
    expect(whole.snapshot.map((e) => e.value)).toEqual(events.map((e) => e.value));
  });

  it('RabbitMQ out of reach at publish: the row stays undelivered, others hear it through the store, the stream gets it once back', async () => {
    const proxy = await TcpProxy.start('127.0.0.1', Number(new URL(RABBITMQ_URL).port || 5672));
    cleanup.push(() => proxy.close());
    const viaProxy = new URL(brokerUrl(stream));
    viaProxy.host = `127.0.0.1:${proxy.port}`;
    const c = await instance(viaProxy.href);
    const onB = await subscribe(b);
    const session = await loginApp(c);
    const { sid } = claimsOf(session.access_token);

    proxy.cut();
    await eventually(() => !c.services.revocations.feed.live(), 'C to notice the broker is gone');
    const readyz = await fetch(`${c.url}/readyz`);
    expect(readyz.status).toBe(503);
    expect(await readyz.json()).toMatchObject({ reason: 'revocation broker' });
    expect((await logout(c, session.access_token)).status).toBe(204);
    const row = () =>
      c.services.db.selectFrom('revocations').selectAll().where('value', '=', sid).executeTakeFirstOrThrow();
    expect((await row()).published_at).toBeNull();
    // C's checks have it at once; B through its store sync (and relays it, without an id).
    expect(c.services.revocations.isRevoked({ sid })).toBe(true);
    await eventually(() => b.services.revocations.isRevoked({ sid }), 'B to learn it from the store');
    const [heard] = await onB.revocationCount(1);
    expect(heard).toMatchObject({ kind: 'sid', value: sid });

    proxy.restore();
    // C reconnects, and the stream gets the row (from C's republish, or B's redelivery): marked.
    await eventually(async () => (await row()).published_at !== null, 'the row to reach the stream', 20_000);
    const messages = await readStream(stream, (m) =>
      m.some((x) => x.type === 'revocation' && x.entry.value === sid),
    );
    expect(
      messages.filter((m) => m.type === 'revocation').map((m) => m.type === 'revocation' && m.entry.value),
    ).toContain(sid);
    // A subscriber of A, new, resumes by offsets again: the entry is in its snapshot with one.
    await eventually(() => c.services.revocations.feed.live(), 'C to follow the stream again');
    const onA = await subscribe(a);
    expect(onA.snapshot.find((e) => e.value === sid)?.eventId).toMatch(/^\d+$/);
  });

  it('a stream that was lost is republished from the store before any instance vouches for it again', async () => {
    const session = await loginApp(a);
    const { sid } = claimsOf(session.access_token);
    expect((await logout(a, session.access_token)).status).toBe(204);
    await readStream(stream, (m) => m.some((x) => x.type === 'revocation'));

    // Deleted (as a broker reset loses it): both instances are cancelled, declare it again, empty.
    await deleteStream(stream);
    let messages: Read[] = [];
    await eventually(
      async () => {
        // Until an instance declared it again, there is no stream to read.
        messages = await readStream(stream, (m) => m.some((x) => x.type === 'heartbeat')).catch(() => []);
        return messages.length > 0;
      },
      'a heartbeat on the new stream',
      20_000,
    );
    // Whatever came first on the new stream, the revocation precedes every heartbeat: a guard
    // reading it from the start has it before it calls its set current.
    const first = messages.findIndex((m) => m.type === 'heartbeat');
    expect(messages.slice(0, first).some((m) => m.type === 'revocation' && m.entry.value === sid)).toBe(true);
    const sse = await subscribe(b);
    expect(sse.snapshot.find((e) => e.value === sid)?.eventId).toMatch(/^\d+$/);
  });
});

describe.skipIf(skip)('the RabbitMQ feed on its own', () => {
  it('never logs the password of its URL, and says it cannot deliver', async () => {
    const said: string[] = [];
    const record = (fields: object, message?: string) => {
      said.push(`${JSON.stringify(fields)} ${message ?? ''}`);
    };
    const log = { warn: record, info: record, error: record, debug: record } as unknown as Logger;
    const url = new URL(brokerUrl(uniqueStream()));
    url.password = 'not-the-password-123';
    const feed = createRabbitMqFeed(log, { url: url.href, instance: 'test', undelivered: async () => false });
    try {
      await eventually(() => said.length > 0, 'the outage warning');
      expect(said.filter((line) => line.includes('rabbitmq unreachable'))).toHaveLength(1);
      expect(said.join('\n')).not.toContain('not-the-password-123');
      expect(feed.live()).toBe(false);
      expect(
        await feed.publish({
          id: 1,
          kind: 'jti',
          value: 'x',
          ver: null,
          expiresAt: Date.now() + 60_000,
          createdAt: Date.now(),
        }),
      ).toBe(false);
    } finally {
      await feed.close();
    }
  });
  it('sends no heartbeat while the store holds a revocation the broker missed', async () => {
    const stream = uniqueStream();
    let missed = true;
    const quiet = { warn() {}, info() {}, error() {}, debug() {} } as unknown as Logger;
    const feed = createRabbitMqFeed(quiet, {
      url: brokerUrl(stream),
      instance: 'test',
      undelivered: async () => missed,
    });
    try {
      const entry = (id: number, value: string) => ({
        id,
        kind: 'jti' as const,
        value,
        ver: null,
        expiresAt: Date.now() + 60_000,
        createdAt: Date.now(),
      });
      // Connected once it takes a revocation (until then publish() says it could not).
      await eventually(() => feed.publish(entry(1, 'first')), 'the feed to connect');
      // Seeded, but the store says a revocation is missing from the stream: no heartbeat.
      await feed.markSeeded();
      expect(await feed.publish(entry(2, 'made-while-missing'))).toBe(true);
      missed = false;
      await feed.markSeeded();
      const messages = await readStream(stream, (m) => m.some((x) => x.type === 'heartbeat'));
      const firstHeartbeat = messages.findIndex((m) => m.type === 'heartbeat');
      const missing = messages.findIndex(
        (m) => m.type === 'revocation' && m.entry.value === 'made-while-missing',
      );
      // Nothing vouched for the stream while a revocation was missing from it.
      expect(missing).toBeGreaterThanOrEqual(0);
      expect(firstHeartbeat).toBeGreaterThan(missing);
    } finally {
      await feed.close();
      await deleteStream(stream);
    }
  });
});
