// When a remote key set may fetch, and one fetch at a time. Tokens are attacker-controlled input: a
// stream of made-up `kid`s must not become a stream of requests to the issuer, so a fetch that was
// not caused by expiry waits out the `cooldown`, and concurrent callers join the fetch in flight.
// Each fetch's outcome is recorded here for `lastError` and `status()`.

import type { JoseError } from '../errors.js';
import type { HeldSet, KeySetCache } from './remote_cache.js';

/** Why a fetch is wanted: the held set is missing or expired, or it has no key for a token. */
export type FetchReason = 'refresh' | 'miss';

export interface KeySetRefresherOptions {
  readonly cache: KeySetCache;
  /** Fetches, checks and dates a new set. */
  readonly load: () => Promise<HeldSet>;
  /** Turns whatever `load` rejected with into the error recorded and thrown. */
  readonly failure: (err: unknown) => JoseError;
  readonly clock: () => number;
  readonly cooldown: number;
}

/** A failed background fetch is already recorded in `lastError`; there is nothing else to do with it. */
const recorded = (): void => {};

export class KeySetRefresher {
  readonly #cache: KeySetCache;
  readonly #load: () => Promise<HeldSet>;
  readonly #failure: (err: unknown) => JoseError;
  readonly #clock: () => number;
  readonly #cooldown: number;
  #inflight: Promise<void> | undefined;
  #lastAttemptAt: number | undefined;
  #lastAttemptFailed = false;
  #lastError: JoseError | undefined;
  #lastErrorAt = 0;
  #fetches = 0;
  #consecutiveFailures = 0;

  constructor(options: KeySetRefresherOptions) {
    this.#cache = options.cache;
    this.#load = options.load;
    this.#failure = options.failure;
    this.#clock = options.clock;
    this.#cooldown = options.cooldown;
  }

  /** Whether a fetch is in flight (a caller may join it whatever the cooldown says). */
  get fetching(): boolean {
    return this.#inflight !== undefined;
  }

  /**
   * Whether a new fetch may begin at `now`. The expiry of a good set always allows one (the set was
   * fetched at most once per `minCacheAge`); a miss, or a retry after a failure, waits until
   * `cooldown` has passed since the last fetch began.
   */
  mayFetch(now: number, reason: FetchReason): boolean {
    if (this.#lastAttemptAt === undefined) return true;
    if (reason === 'refresh' && this.#cache.held !== undefined && !this.#lastAttemptFailed) return true;
    return now - this.#lastAttemptAt >= this.#cooldown;
  }

  /** Fetches now, or joins the fetch in flight. Rejects with the failure, which is also recorded. */
  fetch(): Promise<void> {
    this.#inflight ??= this.#fetchOnce().finally(() => {
      this.#inflight = undefined;
    });
    return this.#inflight;
  }

  /** Like {@link fetch}, for a caller that does not wait: a failure is recorded, never unhandled. */
  fetchInBackground(): void {
    this.fetch().catch(recorded);
  }

  async #fetchOnce(): Promise<void> {
    this.#lastAttemptAt = this.#clock();
    this.#fetches++;
    try {
      this.#cache.store(await this.#load());
      this.#lastAttemptFailed = false;
      this.#consecutiveFailures = 0;
      this.#lastError = undefined;
    } catch (err) {
      const error = this.#failure(err);
      this.#lastAttemptFailed = true;
      this.#consecutiveFailures++;
      this.#lastError = error;
      this.#lastErrorAt = this.#clock();
      throw error;
    }
  }

  /** Why the last fetch failed, when it did; `undefined` after a success. */
  get lastError(): JoseError | undefined {
    return this.#lastError;
  }

  /** When `lastError` was recorded (clock milliseconds). */
  get lastErrorAt(): number {
    return this.#lastErrorAt;
  }

  /** When the last fetch began (clock milliseconds). */
  get lastAttemptAt(): number | undefined {
    return this.#lastAttemptAt;
  }

  /** Fetches begun since creation. */
  get fetches(): number {
    return this.#fetches;
  }

  /** Fetches that failed in a row (0 after a success). */
  get consecutiveFailures(): number {
    return this.#consecutiveFailures;
  }
}
