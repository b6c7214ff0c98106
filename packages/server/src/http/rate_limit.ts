import type { Logger } from '../shared/logger.js';
import type { SharedRedis } from '../shared/redis.js';

/**
 * A fixed-window request budget per key (`user:<id>`, `client:<id>`): at most `limit` hits per
 * window. In memory on one machine; in Redis when scaled out, so the budget holds across instances.
 */
export interface RateLimiter {
  /** Counts a hit now; when the key's budget is spent, says so with the seconds until it renews. */
  hit(key: string): Promise<{ allowed: boolean; retryAfter: number }>;
}

const WINDOW_MS = 60_000;
/** Keys tracked at once in memory; beyond, windows that have ended go first, then the oldest. */
const MAX_KEYS = 100_000;

export function createMemoryRateLimiter(limit: number, clock: () => number = Date.now): RateLimiter {
  const windows = new Map<string, { start: number; count: number }>();
  return {
    async hit(key) {
      const now = clock();
      let window = windows.get(key);
      if (!window || now - window.start >= WINDOW_MS) {
        windows.delete(key);
        if (windows.size >= MAX_KEYS) {
          for (const [other, { start }] of windows) if (now - start >= WINDOW_MS) windows.delete(other);
          if (windows.size >= MAX_KEYS) windows.delete(windows.keys().next().value as string);
        }
        window = { start: now, count: 0 };
        windows.set(key, window);
      }
      window.count++;
      const allowed = window.count <= limit;
      return { allowed, retryAfter: allowed ? 0 : Math.ceil((window.start + WINDOW_MS - now) / 1000) };
    },
  };
}

/** INCR, and start the window's expiry on its first hit; answers the count and the window's time left. */
const HIT_SCRIPT = `
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]); ttl = tonumber(ARGV[1]) end
return {count, ttl}`;

/**
 * The shared budget. While Redis is out of reach each instance counts on its own (the limit then
 * holds per instance), rather than refusing revocations or letting them through uncounted.
 */
export function createRedisRateLimiter(
  redis: SharedRedis,
  name: string,
  limit: number,
  log: Logger,
  clock: () => number = Date.now,
): RateLimiter {
  const fallback = createMemoryRateLimiter(limit, clock);
  // Sent once and run by its digest (EVALSHA), like the server's other scripts.
  const client = redis.client as typeof redis.client & {
    tesseraRateHit(key: string, windowMs: number): Promise<[number, number]>;
  };
  client.defineCommand('tesseraRateHit', { numberOfKeys: 1, lua: HIT_SCRIPT });
  let degraded = false;
  return {
    async hit(key) {
      try {
        const [count, ttl] = await client.tesseraRateHit(`${redis.prefix}rate:${name}:${key}`, WINDOW_MS);
        degraded = false;
        const allowed = count <= limit;
        return { allowed, retryAfter: allowed ? 0 : Math.max(1, Math.ceil(ttl / 1000)) };
      } catch (err) {
        if (!degraded)
          log.warn({ reason: (err as Error).message }, `rate limit "${name}" counted per instance`);
        degraded = true;
        return fallback.hit(key);
      }
    },
  };
}
