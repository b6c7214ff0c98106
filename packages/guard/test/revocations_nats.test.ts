import { connect } from 'nats';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createGuard, type Guard, GuardError, type GuardOptions } from '../src/index.js';
import { BrokerProxy } from './helpers/broker_proxy.js';
import { closedPort, guardFor, runCloseAndExit, type TestLogger } from './helpers/guard.js';
import { AUDIENCE, bearer, startIssuer, type TestIssuer, waitFor } from './helpers/issuer.js';
import { NATS_URL, natsUnreachable, TestStream } from './helpers/nats.js';

const CI = process.env.CI === 'true';
const unreachable = await natsUnreachable();
if (unreachable && CI) throw new Error(`${unreachable}; under CI=true the NATS tests must run`);
if (unreachable) console.warn(`@tessera/guard: skipping the NATS tests: ${unreachable}`);

describe('revocations: { nats } options', () => {
  const base = {
    issuer: 'https://issuer.example.com',
    audience: AUDIENCE,
    jwksUri: 'https://issuer.example.com/jwks',
  };
  const nats = (value: unknown) => () =>
    createGuard({ ...base, revocations: value as GuardOptions['revocations'] });

  it('refuses what is not a NATS URL or connection, and a bad stream name, at createGuard', () => {
    for (const value of ['redis://127.0.0.1:6379', 'nats://', 'http://nats:4222', 42, {}, { jetstream() {} }])
      expect(nats({ nats: value }), String(value)).toThrow(
        new TypeError(
          'options.revocations.nats must be a nats:// or tls:// URL or a NatsConnection (the nats package)',
        ),
      );
    for (const stream of ['', 'a.b', 'a b', 'a*', 'x'.repeat(129), 7])
      expect(nats({ nats: NATS_URL, stream }), String(stream)).toThrow(
        /^options\.revocations\.stream must be a stream name/,
      );
  });

  it('refuses a client that would never be sent with revocations from NATS', () => {
    expect(() =>
      createGuard({ ...base, revocations: { nats: NATS_URL }, client: { id: 'api', secret: 's3cret' } }),
    ).toThrow(/with revocations \{ nats \} it would never be used/);
  });
});

describe.skipIf(unreachable)('revocations from a NATS JetStream stream', () => {
  let issuer: TestIssuer;
  let stream: TestStream;
  const guards: Guard[] = [];
  const cleanup: (() => Promise<void>)[] = [];

  beforeEach(async () => {
    issuer = await startIssuer();
    stream = await TestStream.create();
  });

  afterEach(async () => {
    for (const guard of guards.splice(0)) await guard.close();
    for (const step of cleanup.splice(0).reverse()) await step();
    await stream.delete();
    await issuer.close();
  });

  function start(options: Partial<GuardOptions> = {}): { guard: Guard; logger: TestLogger } {
    const started = guardFor(issuer, { revocations: { nats: NATS_URL, stream: stream.name }, ...options });
    guards.push(started.guard);
    return started;
  }

  const exp = () => Math.floor(issuer.clock.now() / 1000) + 3600;

  async function status(guard: Guard, token: string): Promise<number> {
    return guard.authenticate(bearer(token)).then(
      () => 200,
      (err: unknown) => (err instanceof GuardError ? err.status : 500),
    );
  }

  it('reads the stream from its start as the snapshot, loaded at a fresh heartbeat', async () => {
    await stream.revoke('jti', 'revoked-1', null, exp());
    await stream.revoke('sid', 'session-9', null, exp());
    await stream.revoke('sub', 'user-1', 4, exp());
    const last = await stream.heartbeat(issuer.clock.now());
    const { guard } = start();
    await guard.ready();
    expect(guard.health().revocations).toMatchObject({
      mode: 'nats',
      state: 'live',
      entries: 3,
      lastEventId: String(last),
      lastError: null,
    });
    expect(await status(guard, issuer.token({ jti: 'revoked-1' }))).toBe(401);
    expect(await status(guard, issuer.token({ sid: 'session-9' }))).toBe(401);
    expect(await status(guard, issuer.token({ ver: 3 }))).toBe(401);
    expect(await status(guard, issuer.token({ ver: 4 }))).toBe(200);
  });

  it('is not loaded without a heartbeat within staleAfter, however much it read', async () => {
    await stream.revoke('jti', 'revoked-1', null, exp());
    // A heartbeat from before the servers stopped vouching (or a clock far off) proves nothing.
    await stream.heartbeat(issuer.clock.now() - 60_000);
    await stream.heartbeat(issuer.clock.now() + 60_000);
    const { guard } = start({ readyTimeout: 0.5 });
    await expect(guard.ready()).rejects.toThrow();
    expect(await status(guard, issuer.token())).toBe(503);
    await stream.heartbeat(issuer.clock.now());
    await guard.ready();
    expect(guard.health().revocations).toMatchObject({ state: 'live', entries: 1 });
    expect(await status(guard, issuer.token({ jti: 'revoked-1' }))).toBe(401);
    expect(await status(guard, issuer.token())).toBe(200);
  });

  it('follows new revocations as they are published', async () => {
    await stream.heartbeat(issuer.clock.now());
    const { guard } = start();
    await guard.ready();
    const token = issuer.token({ jti: 'live-1' });
    expect(await status(guard, token)).toBe(200);
    const seq = await stream.revoke('jti', 'live-1', null, exp());
    await waitFor(() => guard.health().revocations.entries === 1, 2000, 'the revocation');
    expect(await status(guard, token)).toBe(401);
    expect(guard.health().revocations.lastEventId).toBe(String(seq));
  });

  it('turns stale without heartbeats: 503 failing closed, accepted failing open; live at the next one', async () => {
    await stream.heartbeat(issuer.clock.now());
    const closed = start({ staleAfter: 0.6 });
    const open = start({ staleAfter: 0.6, onStale: 'fail-open' });
    await closed.guard.ready();
    await open.guard.ready();
    issuer.clock.advance(1000);
    expect(closed.guard.health().revocations.state).toBe('stale');
    const token = issuer.token();
    const err = await closed.guard.authenticate(bearer(token)).catch((e: unknown) => e as GuardError);
    expect(err).toMatchObject({ status: 503, error: 'temporarily_unavailable' });
    expect(await status(open.guard, token)).toBe(200);
    expect(open.logger.warnings.some((w) => w.message.includes('not current'))).toBe(true);
    await stream.heartbeat(issuer.clock.now());
    await waitFor(() => closed.guard.health().revocations.state === 'live', 2000, 'the heartbeat');
    expect(await status(closed.guard, token)).toBe(200);
  });

  it('resumes after a lost connection from the next sequence: what was published meanwhile arrives, nothing is read twice', async () => {
    const proxy = await BrokerProxy.start(NATS_URL);
    cleanup.push(() => proxy.close());
    await stream.raw('{"type":"revocation","kind":"nope"}');
    await stream.revoke('jti', 'before', null, exp());
    await stream.heartbeat(issuer.clock.now());
    const { guard, logger } = start({ revocations: { nats: proxy.url, stream: stream.name } });
    await guard.ready();
    expect(logger.warnings.filter((w) => w.message.includes('malformed'))).toHaveLength(1);
    proxy.cut();
    await waitFor(() => guard.health().revocations.lastError !== null, 5000, 'the outage to be noticed');
    expect(logger.warnings.some((w) => w.message.includes('NATS failed'))).toBe(true);
    const seq = await stream.revoke('jti', 'while-away', null, exp());
    proxy.restore();
    await waitFor(() => guard.health().revocations.lastEventId === String(seq), 10_000, 'the resumed read');
    expect(await status(guard, issuer.token({ jti: 'while-away' }))).toBe(401);
    expect(await status(guard, issuer.token({ jti: 'before' }))).toBe(401);
    // Resumed, not read from the start again: the malformed message was reported once.
    expect(logger.warnings.filter((w) => w.message.includes('malformed'))).toHaveLength(1);
    await waitFor(() => guard.health().revocations.lastError === null, 5000, 'the error to clear');
  });

  it('reads a recreated stream (NATS lost its storage) from its start, keeping what it held', async () => {
    await stream.revoke('jti', 'old', null, exp());
    await stream.revoke('jti', 'old-2', null, exp());
    await stream.heartbeat(issuer.clock.now());
    const { guard } = start({ staleAfter: 0.6 });
    await guard.ready();
    await stream.recreate();
    // Republished under low sequences, then vouched for.
    await stream.revoke('jti', 'republished', null, exp());
    await stream.heartbeat(issuer.clock.now());
    await waitFor(() => guard.health().revocations.entries === 3, 5000, 'the new stream read');
    expect(await status(guard, issuer.token({ jti: 'republished' }))).toBe(401);
    expect(await status(guard, issuer.token({ jti: 'old' }))).toBe(401);
  });

  it('ignores malformed messages, logging them without their content', async () => {
    await stream.raw('not json secret-value');
    await stream.raw('{"type":"revocation","kind":"jti","value":"secret-value","ver":"x","exp":99999999999}');
    await stream.raw('{"type":"heartbeat","at":"yesterday","instance":"secret-value"}');
    await stream.revoke('jti', 'good', null, exp());
    await stream.heartbeat(issuer.clock.now());
    const { guard, logger } = start();
    await guard.ready();
    expect(guard.health().revocations.entries).toBe(1);
    expect(logger.warnings.filter((w) => w.message.includes('malformed'))).toHaveLength(3);
    expect(JSON.stringify(logger.warnings)).not.toContain('secret-value');
  });

  it('reads on a connection you pass, and never closes it', async () => {
    const mine = await connect({ servers: new URL(NATS_URL).host });
    try {
      await stream.heartbeat(issuer.clock.now());
      const { guard } = start({ revocations: { nats: mine, stream: stream.name } });
      await guard.ready();
      await stream.revoke('sid', 'session-1', null, exp());
      await waitFor(() => guard.health().revocations.entries === 1, 2000, 'the revocation');
      expect(await status(guard, issuer.token())).toBe(401);
      await guard.close();
      expect(mine.isClosed()).toBe(false);
      await mine.flush();
    } finally {
      await mine.close();
    }
  });

  it('leaves nothing open: a process that closed its guard exits on its own, NATS reachable or not', async () => {
    await stream.heartbeat(issuer.clock.now());
    const env = { GUARD_ISSUER: issuer.url, GUARD_AUDIENCE: AUDIENCE, GUARD_NATS_STREAM: stream.name };
    const read = await runCloseAndExit({
      ...env,
      GUARD_NATS: NATS_URL,
      GUARD_TOKEN: issuer.token({}, { expiresIn: 3600 }),
    });
    expect(read).toEqual({ code: 0, stdout: 'closed user-1\n', stderr: '' });
    const unreachable = await runCloseAndExit({
      ...env,
      GUARD_NATS: `nats://127.0.0.1:${await closedPort()}`,
      GUARD_UNREACHABLE: '1',
    });
    expect(unreachable).toEqual({ code: 0, stdout: 'closed nobody\n', stderr: '' });
  }, 30_000);

  it('never names the credentials of its URL', async () => {
    const { guard, logger } = start({
      revocations: { nats: 'nats://svc:hunter2hunter2@127.0.0.1:1', stream: stream.name },
      readyTimeout: 0.3,
    });
    await expect(guard.ready()).rejects.toThrow();
    await waitFor(() => guard.health().revocations.lastError !== null, 3000, 'the connection failure');
    expect(JSON.stringify(guard.health())).not.toContain('hunter2');
    expect(JSON.stringify(logger.warnings)).not.toContain('hunter2');
  });
});
