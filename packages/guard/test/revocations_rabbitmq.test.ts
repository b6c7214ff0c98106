/**
 * `revocations: { rabbitmq }`: the guard follows the server's RabbitMQ stream directly. The test
 * writes the stream as server instances do (@tessera/protocol broker messages, heartbeats with the
 * issuer's clock), so every rule is checked against a real broker: the snapshot is the stream read
 * from its start up to a current heartbeat, heartbeats keep it live, silence makes it stale (503
 * failing closed), a disconnect resumes after the last offset read. Runs in the `brokers` project.
 */

import {
  encodeBrokerHeartbeat,
  encodeBrokerRevocation,
  type RevocationEntry,
  type RevocationKind,
} from '@tessera/protocol';
import amqp from 'amqplib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createGuard, type Guard, GuardError } from '../src/index.js';
import { BrokerProxy } from './helpers/broker_proxy.js';
import { guardFor, type TestLogger } from './helpers/guard.js';
import { AUDIENCE, bearer, startIssuer, type TestIssuer, waitFor } from './helpers/issuer.js';
import {
  declareStream,
  deleteStream,
  publish,
  RABBITMQ_URL,
  rabbitmqUnreachable,
  uniqueStream,
} from './helpers/rabbitmq.js';

const skip = await rabbitmqUnreachable();
if (skip && process.env.CI === 'true') throw new Error(`${skip} (required on CI)`);
if (skip) console.warn(`@tessera/guard: skipping the RabbitMQ tests: ${skip}`);

describe.skipIf(skip)('revocations from a RabbitMQ stream', () => {
  let issuer: TestIssuer;
  let stream: string;
  const guards: Guard[] = [];
  const cleanup: (() => Promise<void>)[] = [];

  beforeEach(async () => {
    issuer = await startIssuer();
    stream = uniqueStream();
    await declareStream(stream);
  });

  afterEach(async () => {
    for (const guard of guards.splice(0)) await guard.close();
    for (const step of cleanup.splice(0).reverse()) await step();
    await deleteStream(stream);
    await issuer.close();
  });

  function start(options: Parameters<typeof guardFor>[1] = {}): { guard: Guard; logger: TestLogger } {
    const started = guardFor(issuer, { revocations: { rabbitmq: RABBITMQ_URL, stream }, ...options });
    guards.push(started.guard);
    return started;
  }

  let rowId = 0;
  const revocation = (kind: RevocationKind, value: string, ver: number | null = null): Buffer => {
    const entry: RevocationEntry = {
      kind,
      value,
      ver,
      expiresAt: Math.floor(issuer.clock.now() / 1000) + 3600,
    };
    return encodeBrokerRevocation(entry, ++rowId);
  };
  /** A server instance vouching for the stream, `ago` ms before the issuer's (and guard's) now. */
  const heartbeat = (ago = 0) => encodeBrokerHeartbeat(issuer.clock.now() - ago, 'instance-1');

  async function status(guard: Guard, token: string): Promise<number> {
    return guard.authenticate(bearer(token)).then(
      () => 200,
      (err: unknown) => (err instanceof GuardError ? err.status : 500),
    );
  }

  it('reads the stream from its first offset; the snapshot is complete at a current heartbeat', async () => {
    await publish(stream, [
      revocation('jti', 'jti-1'),
      // A day-old heartbeat: the stream was whole then, which says nothing about now.
      heartbeat(86_400_000),
      revocation('sid', 'session-9'),
      revocation('sub', 'user-1', 4),
      heartbeat(),
    ]);
    const { guard } = start();
    await guard.ready();
    expect(guard.health().revocations).toMatchObject({
      mode: 'rabbitmq',
      state: 'live',
      entries: 3,
      lastEventId: '4',
      lastError: null,
    });
    expect(await status(guard, issuer.token({ jti: 'jti-1' }))).toBe(401);
    expect(await status(guard, issuer.token({ sid: 'session-9' }))).toBe(401);
    expect(await status(guard, issuer.token({ ver: 3 }))).toBe(401);
    expect(await status(guard, issuer.token({ ver: 4 }))).toBe(200);
  });

  it('is not ready on old heartbeats alone (503), and is once a current one arrives', async () => {
    await publish(stream, [revocation('jti', 'before'), heartbeat(60_000)]);
    const { guard } = start({ staleAfter: 30, readyTimeout: 0.5 });
    await expect(guard.ready()).rejects.toThrow(/first revocation snapshot from rabbitmq stream/);
    issuer.clock.advance(31_000);
    expect(await status(guard, issuer.token())).toBe(503);
    await publish(stream, [heartbeat()]);
    await guard.ready();
    expect(await status(guard, issuer.token({ jti: 'before' }))).toBe(401);
    expect(await status(guard, issuer.token())).toBe(200);
  });

  it('follows new entries as they are published and reports the offset', async () => {
    await publish(stream, [heartbeat()]);
    const { guard } = start();
    await guard.ready();
    const token = issuer.token({ jti: 'live-1' });
    expect(await status(guard, token)).toBe(200);
    await publish(stream, [revocation('jti', 'live-1')]);
    await waitFor(() => guard.health().revocations.entries === 1, 5000, 'the delivery');
    expect(await status(guard, token)).toBe(401);
    expect(guard.health().revocations.lastEventId).toBe('1');
  });

  it('turns stale without heartbeats: 503 failing closed, accepted failing open; live again on one', async () => {
    await publish(stream, [heartbeat()]);
    const closed = start({ staleAfter: 5 });
    const open = start({ staleAfter: 5, onStale: 'fail-open' });
    await Promise.all([closed.guard.ready(), open.guard.ready()]);
    issuer.clock.advance(6_000);
    expect(closed.guard.health().revocations.state).toBe('stale');
    const token = issuer.token();
    const err = await closed.guard.authenticate(bearer(token)).catch((e: unknown) => e as GuardError);
    expect(err).toMatchObject({ status: 503, error: 'temporarily_unavailable' });
    expect(await status(open.guard, token)).toBe(200);
    expect(open.logger.warnings.some((w) => w.message.includes('not current'))).toBe(true);
    // A heartbeat that is itself stale (a server whose clock is behind by more) proves nothing.
    await publish(stream, [heartbeat(6_000)]);
    await waitFor(() => closed.guard.health().revocations.lastEventId === '1', 5000, 'the old heartbeat');
    expect(closed.guard.health().revocations.state).toBe('stale');
    await publish(stream, [heartbeat()]);
    await waitFor(() => closed.guard.health().revocations.state === 'live', 5000, 'a current heartbeat');
    expect(await status(closed.guard, issuer.token())).toBe(200);
  });

  it('resumes after a disconnect from the offset after the last one read', async () => {
    const proxy = await BrokerProxy.start(RABBITMQ_URL);
    cleanup.push(() => proxy.close());
    await publish(stream, [Buffer.from('not json'), revocation('jti', 'first'), heartbeat()]);
    const { guard, logger } = start({ revocations: { rabbitmq: proxy.url, stream }, staleAfter: 5 });
    await guard.ready();
    const malformed = () => logger.warnings.filter((w) => w.message.includes('malformed')).length;
    expect(malformed()).toBe(1);

    proxy.cut();
    await waitFor(() => guard.health().revocations.lastError !== null, 10_000, 'the outage to be seen');
    await publish(stream, [revocation('jti', 'while-away'), heartbeat()]);
    proxy.restore();
    await waitFor(() => guard.health().revocations.entries === 2, 15_000, 'the entries made meanwhile');
    expect(await status(guard, issuer.token({ jti: 'while-away' }))).toBe(401);
    await waitFor(() => guard.health().revocations.lastEventId === '4', 5000, 'the heartbeat after it');
    expect(guard.health().revocations.lastError).toBeNull();
    // Resumed, not read again from the start: the malformed message at offset 0 was not seen twice.
    expect(malformed()).toBe(1);
    expect(logger.warnings.some((w) => w.message.includes('reading revocations from RabbitMQ failed'))).toBe(
      true,
    );
    expect(logger.infos.some((w) => w.message.includes('works again'))).toBe(true);
  });

  it('reads a stream that was deleted and declared again from its start, once resuming finds nothing', async () => {
    const proxy = await BrokerProxy.start(RABBITMQ_URL);
    cleanup.push(() => proxy.close());
    await publish(stream, [revocation('jti', 'old-1'), revocation('jti', 'old-2'), heartbeat()]);
    const { guard } = start({ revocations: { rabbitmq: proxy.url, stream }, staleAfter: 1 });
    await guard.ready();
    expect(guard.health().revocations.lastEventId).toBe('2');
    proxy.cut();
    await waitFor(() => guard.health().revocations.lastError !== null, 10_000, 'the outage to be seen');
    // The broker lost the stream; the server declares it again and republishes what is in force
    // (offsets from 0 again, below the guard's next one), with a revocation made meanwhile.
    await deleteStream(stream);
    await declareStream(stream);
    await publish(stream, [revocation('jti', 'old-1'), revocation('jti', 'made-meanwhile'), heartbeat()]);
    proxy.restore();
    await waitFor(() => guard.health().revocations.entries === 3, 20_000, 'the stream read again');
    expect(await status(guard, issuer.token({ jti: 'made-meanwhile' }))).toBe(401);
  });

  it('ignores malformed messages, logging them without their content', async () => {
    await publish(stream, [
      Buffer.from('{"type":"revocation","kind":"bogus","value":"secret-value","ver":null,"exp":99999999999}'),
      Buffer.from('{"type":"revocation","kind":"jti","value":"secret-value","ver":"x","exp":99999999999}'),
      Buffer.from('{"type":"heartbeat","at":"yesterday","instance":"secret-value"}'),
      Buffer.from('{"type":"unknown"}'),
      revocation('jti', 'good'),
      heartbeat(),
    ]);
    const { guard, logger } = start();
    await guard.ready();
    expect(guard.health().revocations.entries).toBe(1);
    expect(logger.warnings.filter((w) => w.message.includes('malformed'))).toHaveLength(4);
    expect(JSON.stringify(logger.warnings)).not.toContain('secret-value');
  });

  it('reads on a channel of a connection you pass, and never closes yours', async () => {
    const mine = await amqp.connect(RABBITMQ_URL);
    cleanup.push(() => mine.close().catch(() => {}));
    let closedMine = false;
    mine.on('close', () => {
      closedMine = true;
    });
    await publish(stream, [revocation('sid', 'session-1'), heartbeat()]);
    const { guard } = start({ revocations: { rabbitmq: mine, stream } });
    await guard.ready();
    expect(await status(guard, issuer.token({ sid: 'session-1' }))).toBe(401);
    await guard.close();
    expect(closedMine).toBe(false);
    // Still usable.
    const channel = await mine.createChannel();
    await channel.checkQueue(stream);
    await channel.close();
  });

  it('never puts the URL’s password in health or logs', async () => {
    const url = new URL(RABBITMQ_URL);
    url.password = 'not-the-password-123';
    const { guard, logger } = start({ revocations: { rabbitmq: url.href, stream }, readyTimeout: 0.3 });
    await expect(guard.ready()).rejects.toThrow();
    await waitFor(() => guard.health().revocations.lastError !== null, 5000, 'the refusal');
    const said = JSON.stringify([guard.health(), logger.warnings, logger.errors, logger.infos]);
    expect(said).not.toContain('not-the-password-123');
  });
});

describe('options.revocations { rabbitmq }', () => {
  const base = { issuer: 'https://auth.example.com', audience: AUDIENCE };
  it.each([
    [{ rabbitmq: 'redis://mq:5672' }, /amqp:\/\/ or amqps:\/\/ URL or an amqplib connection/],
    [{ rabbitmq: 'amqp://mq host' }, /amqp:\/\/ or amqps:\/\/ URL/],
    [{ rabbitmq: {} }, /an amqplib connection/],
    [{ rabbitmq: 'amqp://mq', stream: '' }, /stream must be 1 to 200/],
    [{ rabbitmq: 'amqp://mq', stream: 'a/b' }, /stream must be 1 to 200/],
    [{ rabbitmq: 'amqp://mq', stream: 7 }, /stream must be 1 to 200/],
  ])('refuses %j', (revocations, message) => {
    expect(() => createGuard({ ...base, revocations: revocations as never })).toThrow(message);
  });

  it('refuses client credentials it would never send', () => {
    expect(() =>
      createGuard({
        ...base,
        revocations: { rabbitmq: 'amqp://mq' },
        client: { id: 'api', secret: 's'.repeat(32) },
      }),
    ).toThrow(/with revocations \{ rabbitmq \} it would never be used/);
  });
});
