import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../src/shared/logger.js';
import { openRedis, type SharedRedis } from '../src/shared/redis.js';
import {
  createMemoryReplayCache,
  createRedisReplayCache,
  type ReplayCache,
  ReplayCacheUnavailable,
} from '../src/shared/replay_cache.js';
import { eventually } from './helpers.js';
import { deleteKeys, REDIS_URL, redisUnreachable, uniquePrefix } from './redis.js';

/** One-time identifiers (`jti`) for client assertions and DPoP proofs: in memory, and shared through Redis. */

const redisSkip = await redisUnreachable();
if (redisSkip && process.env.CI === 'true') throw new Error(`${redisSkip} (required on CI)`);
if (redisSkip) console.warn(`skipping the Redis replay-cache tests: ${redisSkip}`);

const silent = createLogger({ logLevel: 'silent' }, false);

describe('the in-memory replay cache', () => {
  it('accepts an id once, refuses it until it expires, then forgets it', async () => {
    let now = 1_000_000;
    const cache = createMemoryReplayCache(() => now);
    expect(await cache.firstUse('client_assertion:a', 'jti-1', now + 60_000)).toBe(true);
    now += 59_999;
    expect(await cache.firstUse('client_assertion:a', 'jti-1', now + 60_000)).toBe(false);
    now += 1;
    expect(await cache.firstUse('client_assertion:a', 'jti-1', now + 60_000)).toBe(true);
  });

  it('keeps namespaces apart, even when a namespace holds colons', async () => {
    const now = 1_000_000;
    const cache = createMemoryReplayCache(() => now);
    expect(await cache.firstUse('client_assertion:a', 'x', now + 60_000)).toBe(true);
    expect(await cache.firstUse('client_assertion:b', 'x', now + 60_000)).toBe(true);
    expect(await cache.firstUse('dpop', 'x', now + 60_000)).toBe(true);
    // "client_assertion:a" + "b:x" must not be the key of "client_assertion:a:b" + "x".
    expect(await cache.firstUse('client_assertion:a:b', 'x', now + 60_000)).toBe(true);
    expect(await cache.firstUse('client_assertion:a', 'b:x', now + 60_000)).toBe(true);
    expect(await cache.firstUse('client_assertion:b', 'x', now + 60_000)).toBe(false);
  });

  it('does not remember an id that has already expired', async () => {
    const now = 1_000_000;
    const cache = createMemoryReplayCache(() => now, { maxEntries: 1 });
    expect(await cache.firstUse('ns', 'old', now)).toBe(true);
    expect(await cache.firstUse('ns', 'old', now)).toBe(true);
    // Nothing was kept, so the one place is still free.
    expect(await cache.firstUse('ns', 'live', now + 1)).toBe(true);
  });

  it('refuses new ids when full of live ones, rather than forget one and allow its replay', async () => {
    let now = 1_000_000;
    const cache = createMemoryReplayCache(() => now, { maxEntries: 2 });
    expect(await cache.firstUse('ns', 'a', now + 10_000)).toBe(true);
    expect(await cache.firstUse('ns', 'b', now + 20_000)).toBe(true);
    const full = await cache.firstUse('ns', 'c', now + 20_000).catch((err: unknown) => err);
    expect(full).toBeInstanceOf(ReplayCacheUnavailable);
    expect((full as ReplayCacheUnavailable).reason).toBe('full');
    // The live ids are still refused.
    expect(await cache.firstUse('ns', 'a', now + 10_000)).toBe(false);
    expect(await cache.firstUse('ns', 'b', now + 20_000)).toBe(false);
    // Once "a" expires its place is free again.
    now += 10_000;
    expect(await cache.firstUse('ns', 'c', now + 20_000)).toBe(true);
    expect(await cache.firstUse('ns', 'b', now + 20_000)).toBe(false);
  });

  it('drops expired ids in expiry order, whatever order they came in', async () => {
    let now = 0;
    const cache = createMemoryReplayCache(() => now, { maxEntries: 50 });
    const expiries = Array.from({ length: 50 }, (_, i) => ((i * 37) % 50) + 1);
    for (const [i, expiresAt] of expiries.entries())
      expect(await cache.firstUse('ns', `id-${i}`, expiresAt * 1000)).toBe(true);
    for (let second = 1; second <= 50; second++) {
      now = second * 1000;
      // Exactly one id expired this second, so exactly one new id fits.
      expect(await cache.firstUse('ns', `new-${second}`, 1_000_000)).toBe(true);
      await expect(cache.firstUse('ns', `extra-${second}`, 1_000_000)).rejects.toThrow(
        ReplayCacheUnavailable,
      );
      for (const [i, expiresAt] of expiries.entries())
        if (expiresAt > second) expect(await cache.firstUse('ns', `id-${i}`, expiresAt * 1000)).toBe(false);
    }
  });

  it('refuses an expiry that is not a finite number', async () => {
    const cache = createMemoryReplayCache(() => 0);
    await expect(cache.firstUse('ns', 'a', Number.NaN)).rejects.toThrow(TypeError);
    await expect(cache.firstUse('ns', 'a', Number.POSITIVE_INFINITY)).rejects.toThrow(TypeError);
  });
});

describe('the Redis replay cache', () => {
  const opened: SharedRedis[] = [];
  const prefixes: string[] = [];
  afterEach(async () => {
    for (const redis of opened.splice(0)) await redis.close();
    for (const prefix of prefixes.splice(0)) await deleteKeys(prefix);
  });

  async function instance(
    prefix: string,
    url = REDIS_URL,
  ): Promise<{ redis: SharedRedis; cache: ReplayCache }> {
    const redis = openRedis(url, prefix, silent);
    opened.push(redis);
    return { redis, cache: createRedisReplayCache(redis) };
  }

  it.skipIf(redisSkip)(
    'is one cache for every instance sharing the Redis, and forgets ids when they expire',
    async () => {
      const prefix = uniquePrefix();
      prefixes.push(prefix);
      const a = await instance(prefix);
      const b = await instance(prefix);
      // Commands are not queued while connecting: wait for both connections.
      await eventually(() => a.redis.ready() && b.redis.ready(), 'Redis connected');
      const expiresAt = Date.now() + 60_000;
      expect(await a.cache.firstUse('client_assertion:c1', 'jti-1', expiresAt)).toBe(true);
      expect(await b.cache.firstUse('client_assertion:c1', 'jti-1', expiresAt)).toBe(false);
      expect(await a.cache.firstUse('client_assertion:c1', 'jti-1', expiresAt)).toBe(false);
      expect(await b.cache.firstUse('client_assertion:c2', 'jti-1', expiresAt)).toBe(true);

      // One key per id under the configured prefix, expiring when the id does.
      const keys = await a.redis.client.keys(`${prefix}*`);
      expect(keys).toHaveLength(2);
      for (const key of keys) {
        expect(key.startsWith(`${prefix}replay:client_assertion:c`)).toBe(true);
        const ttl = await a.redis.client.pttl(key);
        expect(ttl).toBeGreaterThan(0);
        expect(ttl).toBeLessThanOrEqual(60_000);
      }

      const soon = Date.now() + 200;
      expect(await a.cache.firstUse('dpop', 'short-lived', soon)).toBe(true);
      expect(await b.cache.firstUse('dpop', 'short-lived', soon)).toBe(false);
      // After its expiry Redis forgets the id, and it counts as new again.
      await eventually(
        () => b.cache.firstUse('dpop', 'short-lived', Date.now() + 60_000),
        'the id to expire',
      );
    },
  );

  it.skipIf(redisSkip)('does not remember an id that has already expired', async () => {
    const prefix = uniquePrefix();
    prefixes.push(prefix);
    const { redis, cache } = await instance(prefix);
    await eventually(() => redis.ready(), 'Redis connected');
    const past = Date.now() - 1_000;
    expect(await cache.firstUse('ns', 'old', past)).toBe(true);
    expect(await cache.firstUse('ns', 'old', past)).toBe(true);
    expect(await redis.client.keys(`${prefix}*`)).toEqual([]);
  });

  it('fails closed while Redis is out of reach, rather than guess', async () => {
    const { cache } = await instance(uniquePrefix(), 'redis://127.0.0.1:1');
    const failure = await cache.firstUse('ns', 'a', Date.now() + 60_000).catch((err: unknown) => err);
    expect(failure).toBeInstanceOf(ReplayCacheUnavailable);
    expect((failure as ReplayCacheUnavailable).reason).toBe('unreachable');
  });
});
