/**
 * Progressive back-off for password guessing, per account and per client address: a few free
 * failures, then each further failure doubles the wait (capped). Success clears the account's count.
 * In memory on one machine; the scale-out issue moves the counters to Redis.
 */
export interface LoginThrottle {
  /**
   * Called before the password is checked. When the account or address is locked, returns the
   * seconds to wait and records nothing. Otherwise it counts this attempt as a failure at once, so
   * parallel guesses cannot all slip in before the first one is counted, and returns 0 (`lockStarted`
   * says whether this attempt began a lock).
   */
  begin(username: string, ip: string): { retryAfter: number; lockStarted: boolean };
  /** The password was right: the account's count starts over and this attempt is taken back from the address. */
  succeeded(username: string, ip: string): void;
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
    begin(username, ip) {
      const now = clock();
      const account = username.toLowerCase();
      const retryAfter = Math.max(wait(accounts, account, now), wait(addresses, ip, now));
      if (retryAfter > 0) return { retryAfter, lockStarted: false };
      const accountLocked = fail(accounts, account, ACCOUNT_POLICY, now);
      const addressLocked = fail(addresses, ip, ADDRESS_POLICY, now);
      return { retryAfter: 0, lockStarted: accountLocked || addressLocked };
    },
    succeeded(username, ip) {
      accounts.delete(username.toLowerCase());
      const counter = addresses.get(ip);
      if (counter) {
        counter.failures = Math.max(0, counter.failures - 1);
        if (counter.failures < ADDRESS_POLICY.free) counter.lockedUntil = 0;
      }
    },
  };
}
