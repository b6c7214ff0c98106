import { afterEach, describe, expect, it } from 'vitest';
import { createMemoryRateLimiter, createRedisRateLimiter } from '../src/http/rate_limit.js';
import { createLogger } from '../src/shared/logger.js';
import { openRedis, type SharedRedis } from '../src/shared/redis.js';
import { eventually } from './helpers.js';
import { deleteKeys, REDIS_URL, redisUnreachable, uniquePrefix } from './redis.js';

/** The per-minute budgets behind the revocation limits: in memory, and shared through Redis. */

const redisSkip = await redisUnreachable();
if (redisSkip && process.env.CI === 'true') throw new Error(`${redisSkip} (required on CI)`);
if (redisSkip) console.warn(`skipping the Redis rate-limit tests: ${redisSkip}`);

const silent = createLogger({ logLevel: 'silent' }, false);

describe('the in-memory budget', () => {
  it('allows `limit` hits per key per minute, says when the next window opens, and renews', async () => {
    let now = 1_000_000;
    const limiter = createMemoryRateLimiter(2, () => now);
    expect(await limiter.hit('user:a')).toEqual({ allowed: true, retryAfter: 0 });
    expect(await limiter.hit('user:a')).toEqual({ allowed: true, retryAfter: 0 });
    now += 15_000;
    expect(await limiter.hit('user:a')).toEqual({ allowed: false, retryAfter: 45 });
    // Another key has its own budget.
    expect((await limiter.hit('user:b')).allowed).toBe(true);
    now += 45_000;
    expect((await limiter.hit('user:a')).allowed).toBe(true);
  });
});

describe.skipIf(redisSkip)('the Redis budget', () => {
  const opened: SharedRedis[] = [];
  let prefix = '';
  afterEach(async () => {
    for (const redis of opened.splice(0)) await redis.close();
    await deleteKeys(prefix);
  });
  function instance(url = REDIS_URL) {
    const redis = openRedis(url, prefix, silent);
    opened.push(redis);
    return createRedisRateLimiter(redis, 'test', 3, silent);
  }

  it('is one budget for every instance sharing the Redis', async () => {
    prefix = uniquePrefix();
    const [a, b] = [instance(), instance()];
    // Commands are not queued while connecting (a hit then counts in memory): wait for both.
    await eventually(() => opened.every((redis) => redis.ready()), 'Redis connected');
    expect((await a.hit('user:u')).allowed).toBe(true);
    expect((await b.hit('user:u')).allowed).toBe(true);
    expect((await a.hit('user:u')).allowed).toBe(true);
    const refused = await b.hit('user:u');
    expect(refused.allowed).toBe(false);
    expect(refused.retryAfter).toBeGreaterThan(0);
    expect(refused.retryAfter).toBeLessThanOrEqual(60);
    expect((await a.hit('user:other')).allowed).toBe(true);
  });

  it('counts on its own while Redis is out of reach, rather than refusing or letting everything through', async () => {
    prefix = uniquePrefix();
    const limiter = instance('redis://127.0.0.1:1');
    const answers = [];
    for (let i = 0; i < 4; i++) answers.push((await limiter.hit('user:u')).allowed);
    expect(answers).toEqual([true, true, true, false]);
  });
});
