import type { Logger } from '../shared/logger.js';
import type { SharedRedis } from '../shared/redis.js';
import { usernameKey } from '../usernames.js';
import { addressBucket } from './address.js';

/**
 * Progressive back-off for password guessing: a few free failures, then each further failure doubles
 * the wait (capped). Three counters see every attempt:
 *
 * - the account at this client address (`PAIR_POLICY`): the lock a guesser runs into. It is per
 *   address so that nobody can keep an account locked for its owner by guessing from elsewhere;
 * - the client address (`ADDRESS_POLICY`), across accounts: one address spraying many accounts;
 * - the account across all addresses (`ACCOUNT_POLICY`), so a guesser spread over many addresses is
 *   still slowed; its wait is short (a minute at most), and it does not apply at an address the
 *   account has logged in from before (`KNOWN_ADDRESS_TTL`), so the owner at home is never held up.
 *
 * In memory on one machine; in Redis when scaled out, so the limits hold across instances.
 */
export interface LoginThrottle {
  /**
   * Called before the password is checked. When a lock applies, returns the seconds to wait and
   * records nothing. Otherwise it counts this attempt as a failure at once, so parallel guesses
   * cannot all slip in before the first one is counted, and returns 0 (`lockStarted` says whether
   * this attempt began a lock).
   */
  begin(username: string, ip: string): Promise<{ retryAfter: number; lockStarted: boolean }>;
  /**
   * The password was right: the account's count at this address starts over, the attempt is given
   * back to the address and the account, and the address becomes one the account is known at.
   */
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
  /** A quiet period after which the count starts over; never shorter than `maxDelay`. */
  window: number;
}

export const PAIR_POLICY: ThrottlePolicy = { free: 5, baseDelay: 1, maxDelay: 900, window: 900 };
export const ADDRESS_POLICY: ThrottlePolicy = { free: 20, baseDelay: 1, maxDelay: 900, window: 900 };
export const ACCOUNT_POLICY: ThrottlePolicy = { free: 20, baseDelay: 1, maxDelay: 60, window: 900 };
/** An address the account logged in from is exempt from the account-wide wait for this long (s). */
export const KNOWN_ADDRESS_TTL = 30 * 86_400;

/** How much one process remembers (the in-memory throttle, and the Redis one while Redis is down). */
export interface ThrottleLimits {
  /** Counters that lock nothing: beyond this many, the least recently failed are forgotten. */
  maxCounters: number;
  /**
   * Counters that lock, or whose next failure locks: never forgotten before their window has passed.
   * When this many are live, an attempt that would add one is refused (429) without being counted,
   * until the oldest window passes: a flood can make the limits stricter, never lift a lock.
   */
  maxLocks: number;
}

export const THROTTLE_LIMITS: ThrottleLimits = { maxCounters: 100_000, maxLocks: 100_000 };

/** The counters' names: the account (as the store keys it) and the address bucket, unambiguous. */
function counterKeys(username: string, ip: string) {
  // A name no account can have is still counted, under itself, like any unknown user.
  const account = usernameKey(username) ?? username;
  const address = addressBucket(ip);
  return { pair: JSON.stringify([account, address]), address, account };
}

/** The counter after one more failure, as a new object (the caller may still decide not to keep it). */
function afterFailure(counter: Counter | undefined, policy: ThrottlePolicy, now: number): Counter {
  const live = counter && now - counter.lastFailure <= policy.window * 1000;
  const failures = (live ? counter.failures : 0) + 1;
  // The `free`-th failure starts the first wait: after 5 free failures the 6th attempt must wait.
  const lockedUntil =
    failures >= policy.free
      ? now + Math.min(policy.maxDelay, policy.baseDelay * 2 ** (failures - policy.free)) * 1000
      : 0;
  return { failures, lockedUntil, lastFailure: now };
}

/**
 * A counter that locks now, or whose next failure would lock: forgetting it would hand a guesser a
 * fresh set of free attempts, so it is held until its window has passed.
 */
function isHeld(counter: Counter, policy: ThrottlePolicy, now: number): boolean {
  return (
    counter.lockedUntil > now ||
    (counter.failures >= policy.free && now - counter.lastFailure <= policy.window * 1000)
  );
}

/**
 * Forgets the oldest entries of an insertion-ordered map once it holds more than `max`, down to nine
 * tenths of it in one pass. (Dropping one entry per insert would walk over every entry deleted before
 * it each time: V8 compacts a Map's holes only when it grows.)
 */
function trim<K, V>(map: Map<K, V>, max: number): void {
  if (map.size <= max) return;
  let excess = map.size - Math.floor(max * 0.9);
  for (const key of map.keys()) {
    if (excess-- <= 0) break;
    map.delete(key);
  }
}

const waitOf = (counter: Counter | undefined, now: number) =>
  counter && counter.lockedUntil > now ? Math.ceil((counter.lockedUntil - now) / 1000) : 0;

/**
 * Counters in bounded memory. Those that lock nothing live in an LRU map and are forgotten oldest
 * first; held ones (see {@link isHeld}) live apart, ordered by their last failure, and leave only
 * when their window has passed, so no amount of traffic can evict a lock.
 */
class CounterTable {
  private readonly loose = new Map<string, Counter>();
  private readonly held = new Map<string, { counter: Counter; releasedAt: number }>();

  constructor(private readonly limits: ThrottleLimits) {}

  get(key: string): Counter | undefined {
    return this.held.get(key)?.counter ?? this.loose.get(key);
  }

  has(key: string): boolean {
    return this.held.has(key);
  }

  put(key: string, counter: Counter, policy: ThrottlePolicy, now: number): void {
    this.delete(key);
    if (isHeld(counter, policy, now)) {
      this.held.set(key, { counter, releasedAt: counter.lastFailure + policy.window * 1000 });
      return;
    }
    this.loose.set(key, counter);
    trim(this.loose, this.limits.maxCounters);
  }

  delete(key: string): void {
    this.held.delete(key);
    this.loose.delete(key);
  }

  /** Whether `count` more held counters fit, after letting go of those whose window has passed. */
  roomFor(count: number, now: number): boolean {
    if (this.held.size + count <= this.limits.maxLocks) return true;
    // Oldest first: held counters are re-inserted at each failure, so the front is released first.
    for (const [key, { releasedAt }] of this.held) {
      if (releasedAt > now) break;
      this.held.delete(key);
    }
    return this.held.size + count <= this.limits.maxLocks;
  }

  /** Seconds until the oldest held counter is let go (when the table is full). */
  secondsUntilRoom(now: number): number {
    const oldest = this.held.values().next().value;
    return Math.max(1, Math.ceil(((oldest?.releasedAt ?? now) - now) / 1000));
  }
}

export function createLoginThrottle(
  clock: () => number = Date.now,
  options: { log?: Logger; limits?: ThrottleLimits } = {},
): LoginThrottle {
  const limits = options.limits ?? THROTTLE_LIMITS;
  const counters = new CounterTable(limits);
  // Pairs (account, address) that logged in: the account-wide wait does not apply to them.
  const known = new Map<string, number>();
  let full = false;

  return {
    async begin(username, ip) {
      const now = clock();
      const keys = counterKeys(username, ip);
      const knownAddress = (known.get(keys.pair) ?? 0) > now;
      const checks = [
        { key: `pair:${keys.pair}`, policy: PAIR_POLICY, applies: true },
        { key: `address:${keys.address}`, policy: ADDRESS_POLICY, applies: true },
        { key: `account:${keys.account}`, policy: ACCOUNT_POLICY, applies: !knownAddress },
      ];
      const retryAfter = Math.max(
        ...checks.map((check) => (check.applies ? waitOf(counters.get(check.key), now) : 0)),
      );
      if (retryAfter > 0) return { retryAfter, lockStarted: false };

      const next = checks.map((check) => ({
        ...check,
        counter: afterFailure(counters.get(check.key), check.policy, now),
      }));
      const newlyHeld = next.filter(
        ({ key, counter, policy }) => isHeld(counter, policy, now) && !counters.has(key),
      ).length;
      if (!counters.roomFor(newlyHeld, now)) {
        // Refused rather than counted: forgetting any lock to make room would lift it.
        if (!full)
          options.log?.warn(
            { maxLocks: limits.maxLocks },
            'login lock table full: attempts that would start a lock are refused until locks expire',
          );
        full = true;
        return { retryAfter: counters.secondsUntilRoom(now), lockStarted: false };
      }
      full = false;
      for (const { key, counter, policy } of next) counters.put(key, counter, policy, now);
      return { retryAfter: 0, lockStarted: next.some(({ counter }) => counter.lockedUntil > now) };
    },

    async succeeded(username, ip) {
      const now = clock();
      const keys = counterKeys(username, ip);
      counters.delete(`pair:${keys.pair}`);
      for (const [key, policy] of [
        [`address:${keys.address}`, ADDRESS_POLICY],
        [`account:${keys.account}`, ACCOUNT_POLICY],
      ] as const) {
        const counter = counters.get(key);
        if (!counter) continue;
        const failures = Math.max(0, counter.failures - 1);
        counters.put(
          key,
          { ...counter, failures, lockedUntil: failures < policy.free ? 0 : counter.lockedUntil },
          policy,
          now,
        );
      }
      known.delete(keys.pair);
      known.set(keys.pair, now + KNOWN_ADDRESS_TTL * 1000);
      trim(known, limits.maxCounters);
    },
  };
}

/**
 * The same policy as {@link createLoginThrottle}, with the counters in Redis: one script per attempt,
 * so parallel guesses on different instances are counted one by one. While Redis is unreachable each
 * instance falls back to its own counters (limits then hold per instance, not across them). Redis
 * keeps every counter until it expires, so its `maxmemory-policy` must be `noeviction` (an evicted
 * lock is a lifted lock; see docs/scaling-out.md).
 */
export function createRedisLoginThrottle(
  redis: SharedRedis,
  log: Logger,
  clock: () => number = Date.now,
): LoginThrottle {
  const fallback = createLoginThrottle(clock, { log });
  const client = redis.client as SharedRedis['client'] & {
    tesseraLoginBegin(...args: (string | number)[]): Promise<[number, number]>;
    tesseraLoginSucceeded(...args: (string | number)[]): Promise<number>;
  };
  client.defineCommand('tesseraLoginBegin', { numberOfKeys: 4, lua: BEGIN });
  client.defineCommand('tesseraLoginSucceeded', { numberOfKeys: 4, lua: SUCCEEDED });
  const keys = (username: string, ip: string) => {
    const { pair, address, account } = counterKeys(username, ip);
    return [
      `${redis.prefix}login:pair:${pair}`,
      `${redis.prefix}login:address:${address}`,
      `${redis.prefix}login:account:${account}`,
      `${redis.prefix}login:known:${pair}`,
    ];
  };
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
          ...policy(PAIR_POLICY),
          ...policy(ADDRESS_POLICY),
          ...policy(ACCOUNT_POLICY),
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
        await client.tesseraLoginSucceeded(
          ...keys(username, ip),
          ADDRESS_POLICY.free,
          ACCOUNT_POLICY.free,
          KNOWN_ADDRESS_TTL * 1000,
        );
      } catch (err) {
        degrade(err);
      }
    },
  };
}

/**
 * KEYS: the pair (account at address), address and account counters, and the pair's "logged in
 * here before" mark. ARGV: now (ms), then free, base delay, max delay and window (s) for the pair,
 * the address and the account. Returns {seconds to wait, 1 if a lock began}. Counters are hashes
 * {failures, last, locked} that expire after their window (or lock) has passed.
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
-- The account-wide wait spares an address the account has logged in from.
if redis.call('EXISTS', KEYS[4]) == 0 then retry = math.max(retry, wait(KEYS[3])) end
if retry > 0 then return {retry, 0} end
local started = 0
for i = 1, 3 do
  local p = 2 + (i - 1) * 4
  if fail(KEYS[i], tonumber(ARGV[p]), tonumber(ARGV[p + 1]), tonumber(ARGV[p + 2]), tonumber(ARGV[p + 3])) then
    started = 1
  end
end
return {0, started}
`;

/**
 * KEYS: as for BEGIN. ARGV: the address's and the account's free failures, how long the address
 * stays known (ms).
 */
const SUCCEEDED = `
redis.call('DEL', KEYS[1])
local function giveBack(key, free)
  local failures = tonumber(redis.call('HGET', key, 'failures') or '0')
  if failures > 0 then
    failures = failures - 1
    redis.call('HSET', key, 'failures', failures)
    if failures < free then redis.call('HSET', key, 'locked', '0') end
  end
end
giveBack(KEYS[2], tonumber(ARGV[1]))
giveBack(KEYS[3], tonumber(ARGV[2]))
redis.call('SET', KEYS[4], '1', 'PX', ARGV[3])
return 1
`;
