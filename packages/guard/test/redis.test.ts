import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type Guard, GuardError } from '../src/index.js';
import { buildForChild, closedPort, guardFor, runCloseAndExit, type TestLogger } from './helpers/guard.js';
import { AUDIENCE, bearer, startIssuer, type TestIssuer, waitFor } from './helpers/issuer.js';
import { REDIS_URL, reachable } from './helpers/redis.js';

const CI = process.env.CI === 'true';

const available = await reachable(REDIS_URL);
if (!available && !CI)
  console.warn(
    `@tessera/guard: skipping the Redis tests: ${REDIS_URL} is not reachable (set TESSERA_TEST_REDIS_URL)`,
  );

describe.runIf(!available && CI)('Redis under CI', () => {
  it('is reachable at TESSERA_TEST_REDIS_URL', () => {
    throw new Error(`Redis is not reachable at ${REDIS_URL}; under CI=true the Redis tests must run`);
  });
});

describe.runIf(available)('revocations from a Redis stream', () => {
  let issuer: TestIssuer;
  let redis: Redis;
  let key: string;
  const guards: Guard[] = [];

  beforeAll(async () => {
    redis = new Redis(REDIS_URL);
    // The child process runs transpiled sources; transpiling (once, cached) is not a test's time.
    await buildForChild();
  }, 30_000);

  afterAll(() => {
    redis.disconnect();
  });

  beforeEach(async () => {
    issuer = await startIssuer();
    key = `tessera:test:revocations:${randomUUID()}`;
    // What the server sets once the stream holds every revocation in force.
    await redis.set(`${key}:seeded`, '1');
  });

  afterEach(async () => {
    for (const guard of guards.splice(0)) await guard.close();
    await redis.del(key, `${key}:seeded`);
    await issuer.close();
  });

  function start(options: Parameters<typeof guardFor>[1] = {}): { guard: Guard; logger: TestLogger } {
    const started = guardFor(issuer, { revocations: { redis: REDIS_URL, key }, ...options });
    guards.push(started.guard);
    return started;
  }

  /** XADD as the server writes it: kind, value, ver (decimal or empty), exp (seconds), rid. */
  function revoke(kind: string, value: string, ver: number | null = null, expiresIn = 3600): Promise<string> {
    const exp = String(Math.floor(issuer.clock.now() / 1000) + expiresIn);
    return redis.xadd(
      key,
      '*',
      'kind',
      kind,
      'value',
      value,
      'ver',
      ver === null ? '' : String(ver),
      'exp',
      exp,
      'rid',
      '1',
    ) as Promise<string>;
  }

  async function status(guard: Guard, token: string): Promise<number> {
    return guard.authenticate(bearer(token)).then(
      () => 200,
      (err: unknown) => (err instanceof GuardError ? err.status : 500),
    );
  }

  it('reads the snapshot with XRANGE, in batches', async () => {
    await revoke('jti', 'jti-1');
    await revoke('sid', 'session-9');
    await revoke('sub', 'user-1', 4);
    await revoke('sub', 'user-2');
    const pipeline = redis.pipeline();
    const exp = String(Math.floor(issuer.clock.now() / 1000) + 3600);
    for (let i = 0; i < 2100; i++)
      pipeline.xadd(key, '*', 'kind', 'jti', 'value', `bulk-${i}`, 'ver', '', 'exp', exp);
    await pipeline.exec();
    const { guard } = start();
    await guard.ready();
    expect(guard.health().revocations).toMatchObject({ mode: 'redis', state: 'live', entries: 2104 });
    expect(await status(guard, issuer.token({ jti: 'jti-1' }))).toBe(401);
    expect(await status(guard, issuer.token({ jti: 'bulk-2099' }))).toBe(401);
    expect(await status(guard, issuer.token({ sid: 'session-9' }))).toBe(401);
    expect(await status(guard, issuer.token({ ver: 3 }))).toBe(401);
    expect(await status(guard, issuer.token({ ver: 4 }))).toBe(200);
    // An entry without ver revokes the tokens without one; versioned tokens of that subject stay valid.
    expect(await status(guard, issuer.token({ sub: 'user-2' }, { omit: ['ver'] }))).toBe(401);
    expect(await status(guard, issuer.token({ sub: 'user-2', ver: 1 }))).toBe(200);
  });

  it('follows new entries with XREAD BLOCK and reports the stream id', async () => {
    const { guard } = start();
    await guard.ready();
    const token = issuer.token({ jti: 'live-1' });
    expect(await status(guard, token)).toBe(200);
    const id = await revoke('jti', 'live-1');
    await waitFor(() => guard.health().revocations.entries === 1, 2000, 'the XREAD');
    expect(await status(guard, token)).toBe(401);
    expect(guard.health().revocations.lastEventId).toBe(id);
  });

  it('counts an XREAD that ends its block without entries as proof of liveness', async () => {
    const { guard } = start({ staleAfter: 0.6 });
    await guard.ready();
    issuer.clock.advance(1000);
    expect(guard.health().revocations.state).toBe('stale');
    expect(await status(guard, issuer.token())).toBe(503);
    // Nothing is written: only the empty reply at the end of a block (200 ms here) can prove liveness.
    await waitFor(() => guard.health().revocations.state === 'live', 2000, 'an empty XREAD reply');
    expect(await status(guard, issuer.token())).toBe(200);
  });

  // A Redis that restarted empty holds no entries and no seed mark until the server has published
  // every revocation in force again; until then the stream proves nothing.
  it('does not start on a stream without the seed mark, and starts once the mark is set', async () => {
    await redis.del(`${key}:seeded`);
    await revoke('jti', 'published-before-the-mark');
    const { guard } = start({ staleAfter: 0.6, readyTimeout: 0.5 });
    await expect(guard.ready()).rejects.toThrow(/not seeded/);
    expect(await status(guard, issuer.token())).toBe(503);
    await redis.set(`${key}:seeded`, '1');
    await guard.ready();
    expect(guard.health().revocations).toMatchObject({ state: 'live', entries: 1 });
    expect(await status(guard, issuer.token({ jti: 'published-before-the-mark' }))).toBe(401);
    expect(await status(guard, issuer.token())).toBe(200);
  });

  it('turns stale when the seed mark goes (Redis emptied), and live again when it is back', async () => {
    const { guard } = start({ staleAfter: 0.6 });
    await guard.ready();
    await redis.del(`${key}:seeded`);
    issuer.clock.advance(1000);
    // XREAD replies keep coming, but none proves liveness without the mark.
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(guard.health().revocations.state).toBe('stale');
    expect(await status(guard, issuer.token())).toBe(503);
    await redis.set(`${key}:seeded`, '1');
    await waitFor(() => guard.health().revocations.state === 'live', 2000, 'a reply with the mark set');
    expect(await status(guard, issuer.token())).toBe(200);
  });

  it('reads the whole stream again once the mark is back: republished entries may have lower ids', async () => {
    await revoke('jti', 'before-the-restart');
    const { guard } = start({ staleAfter: 0.6 });
    await guard.ready();
    // Redis loses everything; the server republishes under ids below the guard's last one (a Redis
    // whose clock is behind), then sets the mark.
    await redis.del(key, `${key}:seeded`);
    await waitFor(
      () => /not seeded/.test(guard.health().revocations.lastError ?? ''),
      3000,
      'a reply without the mark',
    );
    await redis.xadd(
      key,
      '1-1',
      'kind',
      'jti',
      'value',
      'republished-low',
      'ver',
      '',
      'exp',
      String(Math.floor(issuer.clock.now() / 1000) + 3600),
    );
    await redis.set(`${key}:seeded`, '1');
    // The entries appear while the snapshot is read; the error clears once the mark is seen after it.
    await waitFor(
      () => guard.health().revocations.entries === 2 && guard.health().revocations.lastError === null,
      3000,
      'the re-read snapshot',
    );
    expect(guard.health().revocations).toMatchObject({ state: 'live', lastError: null });
    expect(await status(guard, issuer.token({ jti: 'republished-low' }))).toBe(401);
    expect(await status(guard, issuer.token({ jti: 'before-the-restart' }))).toBe(401);
  });

  it('ignores malformed entries, logging them without their values', async () => {
    await redis.xadd(key, '*', 'kind', 'bogus', 'value', 'secret-value', 'ver', '', 'exp', '99999999999');
    await redis.xadd(key, '*', 'kind', 'jti', 'value', 'secret-value', 'ver', 'x', 'exp', '99999999999');
    await redis.xadd(key, '*', 'kind', 'jti', 'value', 'secret-value', 'ver', '');
    await revoke('jti', 'good');
    const { guard, logger } = start();
    await guard.ready();
    expect(guard.health().revocations.entries).toBe(1);
    expect(logger.warnings.filter((w) => w.message.includes('malformed'))).toHaveLength(3);
    expect(JSON.stringify(logger.warnings)).not.toContain('secret-value');
  });

  it('reads on a duplicate of a client you pass, and never closes yours', async () => {
    const mine = new Redis(REDIS_URL);
    try {
      const { guard } = start({ revocations: { redis: mine, key } });
      await guard.ready();
      await revoke('sid', 'session-1');
      await waitFor(() => guard.health().revocations.entries === 1, 2000, 'the XREAD');
      expect(await status(guard, issuer.token())).toBe(401);
      await guard.close();
      expect(mine.status).toBe('ready');
      expect(await mine.ping()).toBe('PONG');
    } finally {
      mine.disconnect();
    }
  });

  it('turns stale when Redis is unreachable: 503 failing closed, accepted failing open', async () => {
    const url = `redis://127.0.0.1:${await closedPort()}`;
    const closed = start({ revocations: { redis: url, key }, readyTimeout: 0.3 });
    const open = start({ revocations: { redis: url, key }, onStale: 'fail-open' });
    await expect(closed.guard.ready()).rejects.toThrow(/first revocation snapshot from redis stream/);
    expect(closed.guard.health().revocations.state).toBe('connecting');
    issuer.clock.advance(31_000);
    expect(closed.guard.health().revocations.state).toBe('stale');
    const token = issuer.token();
    const err = await closed.guard.authenticate(bearer(token)).catch((e: unknown) => e as GuardError);
    expect(err).toMatchObject({ status: 503, error: 'temporarily_unavailable' });
    expect((err as GuardError).headers['retry-after']).toBe('5');
    expect(await status(open.guard, token)).toBe(200);
    expect(open.logger.warnings.some((w) => w.message.includes('not current'))).toBe(true);
  });

  it('leaves nothing open when closed while Redis is unreachable', async () => {
    const result = await runCloseAndExit({
      GUARD_ISSUER: issuer.url,
      GUARD_AUDIENCE: AUDIENCE,
      GUARD_REDIS: `redis://127.0.0.1:${await closedPort()}`,
      GUARD_REDIS_KEY: key,
      GUARD_UNREACHABLE: '1',
    });
    expect(result.stderr).toBe('');
    expect(result.stdout).toBe('closed nobody\n');
    expect(result.code).toBe(0);
  });

  it('leaves nothing open: a process that closed its guard exits on its own', async () => {
    await revoke('jti', 'other');
    const result = await runCloseAndExit({
      GUARD_ISSUER: issuer.url,
      GUARD_AUDIENCE: AUDIENCE,
      GUARD_TOKEN: issuer.token({}, { expiresIn: 3600 }),
      GUARD_REDIS: REDIS_URL,
      GUARD_REDIS_KEY: key,
    });
    expect(result.stderr).toBe('');
    expect(result.stdout).toBe('closed user-1\n');
    expect(result.code).toBe(0);
  });
});
