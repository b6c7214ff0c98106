// The last good key set a remote JWKS fetched, and which keys it serves at a given time: all of
// them while fresh, and past expiry for up to `staleIfError` more (in the spirit of RFC 5861 §4), so
// that an issuer's outage does not stop verification of tokens signed with keys already known.

import type { Key } from '../key/key.js';
import type { SkippedKey } from './local.js';

/** A set fetched successfully, with when (clock milliseconds) it was fetched and stops being fresh. */
export interface HeldSet {
  readonly keys: readonly Key[];
  readonly skipped: readonly SkippedKey[];
  readonly fetchedAt: number;
  readonly expiresAt: number;
}

/**
 * `empty`: nothing fetched yet. `fresh`: within the freshness lifetime. `stale`: past it, still
 * served. `expired`: past `staleIfError` too; nothing served.
 */
export type HeldSetState = 'empty' | 'fresh' | 'stale' | 'expired';

/**
 * The held set. Every method takes `now` from the caller, so one call of the clock answers a whole
 * `select`; none allocates while a set is served (the hot path).
 */
export class KeySetCache {
  #held: HeldSet | undefined;

  constructor(readonly staleIfError: number) {}

  get held(): HeldSet | undefined {
    return this.#held;
  }

  /** Replaces the held set with a newly fetched one. */
  store(set: HeldSet): void {
    this.#held = set;
  }

  /** The keys served at `now`: the held set while fresh or within `staleIfError` past expiry. */
  current(now: number): readonly Key[] {
    const held = this.#held;
    return held && now < held.expiresAt + this.staleIfError ? held.keys : [];
  }

  /** Whether a fetch is due: nothing is held, or the held set is past its freshness lifetime. */
  due(now: number): boolean {
    return this.#held === undefined || now >= this.#held.expiresAt;
  }

  /** Whether a set is held and still served at `now` (fresh, or stale within `staleIfError`). */
  serving(now: number): boolean {
    return this.#held !== undefined && now < this.#held.expiresAt + this.staleIfError;
  }

  state(now: number): HeldSetState {
    const held = this.#held;
    if (held === undefined) return 'empty';
    if (now < held.expiresAt) return 'fresh';
    if (now < held.expiresAt + this.staleIfError) return 'stale';
    return 'expired';
  }
}
