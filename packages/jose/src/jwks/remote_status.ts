// `status()` of a remote key set: a snapshot of its health, safe to serialise (for a readiness
// endpoint or a log line), so it carries the URL's origin and error codes, never keys or the path.

import type { KeySetCache } from './remote_cache.js';
import type { KeySetRefresher } from './remote_refresh.js';

/** A snapshot of a remote key set's health, safe to serialise (e.g. for a readiness endpoint). */
export interface RemoteJwksStatus {
  /** The origin of the URL (never its path or query, which may carry credentials). */
  readonly origin: string;
  /**
   * `empty`: never fetched successfully. `fresh`: within its freshness lifetime. `stale`: past it but
   * still served (a refresh is due or failing, within `staleIfError`). `expired`: past `staleIfError`;
   * no keys are served.
   */
  readonly state: 'empty' | 'fresh' | 'stale' | 'expired';
  /** Number of keys served now. */
  readonly keys: number;
  /** The `kid`s of the keys served now. */
  readonly kids: readonly string[];
  /** Number of keys of the last good set that were left out as unusable. */
  readonly skipped: number;
  /** When the last good set was fetched (clock milliseconds). */
  readonly fetchedAt: number | undefined;
  /** When the last good set stops being fresh (clock milliseconds). */
  readonly expiresAt: number | undefined;
  /** When the last fetch began (clock milliseconds). */
  readonly lastAttemptAt: number | undefined;
  /** Fetches begun since creation. */
  readonly fetches: number;
  /** Fetches that failed in a row (0 after a success). */
  readonly consecutiveFailures: number;
  /** Why the last fetch failed, when it did (cleared by a success). */
  readonly lastError: { readonly code: string; readonly message: string; readonly at: number } | undefined;
}

/** The snapshot at `now`. */
export function remoteJwksStatus(
  origin: string,
  now: number,
  cache: KeySetCache,
  refresher: KeySetRefresher,
): RemoteJwksStatus {
  const keys = cache.current(now);
  const held = cache.held;
  const lastError = refresher.lastError;
  return {
    origin,
    state: cache.state(now),
    keys: keys.length,
    kids: keys.flatMap((key) => (key.kid === undefined ? [] : [key.kid])),
    skipped: held?.skipped.length ?? 0,
    fetchedAt: held?.fetchedAt,
    expiresAt: held?.expiresAt,
    lastAttemptAt: refresher.lastAttemptAt,
    fetches: refresher.fetches,
    consecutiveFailures: refresher.consecutiveFailures,
    lastError: lastError && { code: lastError.code, message: lastError.message, at: refresher.lastErrorAt },
  };
}
