import type { Logger } from '../shared/logger.js';
import type { SharedRedis } from '../shared/redis.js';
import { addressBucket } from './address.js';

/**
 * Progressive back-off for password guessing, per account and per client address: a few free
 * failures, then each further failure doubles the wait (capped). Success clears the account's count.
 * In memory on one machine; in Redis when scaled out, so the limits hold across instances.
 */
export interface LoginThrottle {
  /**
   * Called before the password is checked. When the account or address is locked, returns the
   * seconds to wait and records nothing. Otherwise it counts this attempt as a failure at once, so
   * parallel guesses cannot all slip in before the first one is counted, and returns 0 (`lockStarted`
   * says whether this attempt began a lock).
   */
  begin(username: string, ip: string): Promise<{ retryAfter: number; lockStarted: boolean }>;
  /** The password was right: the account's count starts over and this attempt is taken back from the address. */
  succeeded(username: string, ip: string): Promise<void>;
}

interface Counter {
  failures: number;
  lockedUntil: number;
  lastFailure: number;
}

export interface ThrottlePolicy {
  /** Failures allowed before any wait. */
  free: number;
  /** First wait, in seconds; it doubles with each further failure. */
  baseDelay: number;
  maxDelay: number;
  /** A quiet period after which the count starts over. */
  window: number;
}

export const ACCOUNT_POLICY: ThrottlePolicy = { free: 5, baseDelay: 1, maxDelay: 900, window: 900 };
export const ADDRESS_POLICY: ThrottlePolicy = { free: 20, baseDelay: 1, maxDelay: 900, window: 900 };
const MAX_TRACKED = 100_000;

export function createLoginThrottle(clock: () => number = Date.now): LoginThrottle {
  const accounts = new Map<string, Counter>();
  const addresses = new Map<string, Counter>();

  function wait(map: Map<string, Counter>, key: string, now: number): number {
    const counter = map.get(key);
    return counter && counter.lockedUntil > now ? Math.ceil((counter.lockedUntil - now) / 1000) : 0;
  }

  function fail(map: Map<string, Counter>, key: string, policy: ThrottlePolicy, now: number): boolean {
    let counter = map.get(key);
    if (!counter || now - counter.lastFailure > policy.window * 1000)
      counter = { failures: 0, lockedUntil: 0, lastFailure: now };
    counter.failures++;
    counter.lastFailure = now;
    const locked = counter.failures >= policy.free;
    // The `free`-th failure starts the first wait: after 5 free failures the 6th attempt must wait.
    if (locked) {
      const delay = Math.min(policy.maxDelay, policy.baseDelay * 2 ** (counter.failures - policy.free));
      counter.lockedUntil = now + delay * 1000;
    }
    map.delete(key);
    map.set(key, counter);
    // Bounded memory: forget the oldest counters first (a flood of usernames cannot grow this forever).
    if (map.size > MAX_TRACKED) map.delete(map.keys().next().value as string);
    return locked;
  }

  return {
    async begin(username, ip) {
      const now = clock();
      const account = username.toLowerCase();
      const address = addressBucket(ip);
      const retryAfter = Math.max(wait(accounts, account, now), wait(addresses, address, now));
      if (retryAfter > 0) return { retryAfter, lockStarted: false };
      const accountLocked = fail(accounts, account, ACCOUNT_POLICY, now);
      const addressLocked = fail(addresses, address, ADDRESS_POLICY, now);
      return { retryAfter: 0, lockStarted: accountLocked || addressLocked };
    },
    async succeeded(username, ip) {
      accounts.delete(username.toLowerCase());
      const counter = addresses.get(addressBucket(ip));
      if (counter) {
        counter.failures = Math.max(0, counter.failures - 1);
        if (counter.failures < ADDRESS_POLICY.free) counter.lockedUntil = 0;
      }
    },
  };
}

/**
 * The same policy as {@link createLoginThrottle}, with the counters in Redis: one script per attempt,
 * so parallel guesses on different instances are counted one by one. While Redis is unreachable each
 * instance falls back to its own counters (limits then hold per instance, not across them).
 */
export function createRedisLoginThrottle(
  redis: SharedRedis,
  log: Logger,
  clock: () => number = Date.now,
): LoginThrottle {
  const fallback = createLoginThrottle(clock);
  const client = redis.client as SharedRedis['client'] & {
    tesseraLoginBegin(...args: (string | number)[]): Promise<[number, number]>;
    tesseraLoginSucceeded(...args: (string | number)[]): Promise<number>;
  };
  client.defineCommand('tesseraLoginBegin', { numberOfKeys: 2, lua: BEGIN });
  client.defineCommand('tesseraLoginSucceeded', { numberOfKeys: 2, lua: SUCCEEDED });
  const keys = (username: string, ip: string) => [
    `${redis.prefix}login:account:${username.toLowerCase()}`,
    `${redis.prefix}login:address:${addressBucket(ip)}`,
  ];
  const policy = (p: ThrottlePolicy) => [p.free, p.baseDelay, p.maxDelay, p.window];
  let degraded = false;
  const degrade = (err: unknown) => {
    if (!degraded)
      log.warn({ reason: (err as Error).message }, 'login limits are per instance until redis is back');
    degraded = true;
  };
  return {
    async begin(username, ip) {
      if (!redis.ready()) return fallback.begin(username, ip);
      try {
        const [retryAfter, lockStarted] = await client.tesseraLoginBegin(
          ...keys(username, ip),
          clock(),
          ...policy(ACCOUNT_POLICY),
          ...policy(ADDRESS_POLICY),
        );
        degraded = false;
        return { retryAfter, lockStarted: lockStarted === 1 };
      } catch (err) {
        degrade(err);
        return fallback.begin(username, ip);
      }
    },
    async succeeded(username, ip) {
      await fallback.succeeded(username, ip);
      if (!redis.ready()) return;
      try {
        await client.tesseraLoginSucceeded(...keys(username, ip), ADDRESS_POLICY.free);
      } catch (err) {
        degrade(err);
      }
    },
  };
}

/**
 * KEYS: account counter, address counter. ARGV: now (ms), then free, base delay, max delay and window
 * (s) for the account, then the same for the address. Returns {seconds to wait, 1 if a lock began}.
 * Counters are hashes {failures, last, locked} that expire after their window (or lock) has passed.
 */
const BEGIN = `
local now = tonumber(ARGV[1])
local function wait(key)
  local locked = tonumber(redis.call('HGET', key, 'locked') or '0')
  if locked > now then return math.ceil((locked - now) / 1000) end
  return 0
end
local function fail(key, free, base, max, window)
  local failures = tonumber(redis.call('HGET', key, 'failures') or '0')
  local last = tonumber(redis.call('HGET', key, 'last') or '0')
  if now - last > window * 1000 then failures = 0 end
  failures = failures + 1
  local locked = 0
  if failures >= free then
    locked = now + math.min(max, base * 2 ^ (failures - free)) * 1000
  end
  redis.call('HSET', key, 'failures', failures, 'last', string.format('%.0f', now), 'locked', string.format('%.0f', locked))
  redis.call('PEXPIRE', key, string.format('%.0f', math.max(window * 1000, locked - now) + 1000))
  return failures >= free
end
local retry = math.max(wait(KEYS[1]), wait(KEYS[2]))
if retry > 0 then return {retry, 0} end
local accountLocked = fail(KEYS[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]))
local addressLocked = fail(KEYS[2], tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9]))
if accountLocked or addressLocked then return {0, 1} end
return {0, 0}
`;

/** KEYS: account counter, address counter. ARGV: the address's free failures. */
const SUCCEEDED = `
redis.call('DEL', KEYS[1])
local failures = tonumber(redis.call('HGET', KEYS[2], 'failures') or '0')
if failures > 0 then
  failures = failures - 1
  redis.call('HSET', KEYS[2], 'failures', failures)
  if failures < tonumber(ARGV[1]) then redis.call('HSET', KEYS[2], 'locked', '0') end
end
return 1
`;
