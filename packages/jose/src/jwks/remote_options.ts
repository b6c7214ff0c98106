// The options of createRemoteJwks as callers write them, and the checked settings they become. Every
// option is validated here, once, when the key set is created; nothing downstream re-checks them.

import type { FreshnessBounds } from '../lib/cache_control.js';
import { secondsOf } from '../lib/time.js';

/**
 * The fetch function a remote key set calls: the global `fetch` of Node 20 fits, and so does any
 * function with the same shape (a proxy agent, a test double). It is always called with a string URL
 * and an init carrying `method`, `headers`, `signal` and `redirect: 'manual'`.
 */
export type JwksFetch = (url: string, init: RequestInit) => Promise<Response>;

/**
 * A span of time for {@link RemoteJwksOptions}: a number is **milliseconds** (as `timeout` and `clock`
 * count), a string is a span with a unit (`'30s'`, `'10m'`, `'24h'`, `'7 days'`) rounded to whole
 * seconds. A string without a unit is refused, so `'30'` cannot be mistaken for seconds or milliseconds.
 */
export type JwksDuration = number | string;

/**
 * Options of {@link createRemoteJwks}. Every duration is milliseconds when given as a number, or a
 * span with a unit such as `'10m'` when given as a string.
 */
export interface RemoteJwksOptions {
  /**
   * Longest a fetch may take, headers and body together (default 5000 ms). Past it the request is
   * aborted and the fetch fails with `ERR_JWKS_TIMEOUT`.
   *
   * @example
   * ```ts
   * const jwks = createRemoteJwks('https://auth.example.com/.well-known/jwks.json', { timeout: 2000 });
   * ```
   */
  timeout?: JwksDuration;
  /**
   * Largest response body accepted, in bytes (default 524288, i.e. 512 KiB). A larger
   * `Content-Length` is refused before the body is read, and a body without one is read as a stream
   * and abandoned as soon as it grows past the limit. Either way the fetch fails with
   * `ERR_JWKS_INVALID`.
   *
   * @example
   * ```ts
   * const jwks = createRemoteJwks('https://auth.example.com/.well-known/jwks.json', {
   *   maxResponseBytes: 64 * 1024,
   * });
   * ```
   */
  maxResponseBytes?: number;
  /**
   * How long a fetched set stays fresh when the response has no usable `Cache-Control` freshness
   * (default 10 minutes). Clamped to [`minCacheAge`, `maxCacheAge`].
   *
   * @example
   * ```ts
   * const jwks = createRemoteJwks('https://auth.example.com/.well-known/jwks.json', { cacheMaxAge: '5m' });
   * ```
   */
  cacheMaxAge?: JwksDuration;
  /**
   * Shortest freshness lifetime (default 30 s). `Cache-Control: no-cache` or `no-store`, and a
   * `max-age` / `s-maxage` below this, are raised to it, so a server cannot make the set refetch on
   * every request.
   *
   * @example
   * ```ts
   * const jwks = createRemoteJwks('https://auth.example.com/.well-known/jwks.json', { minCacheAge: '1m' });
   * ```
   */
  minCacheAge?: JwksDuration;
  /**
   * Longest freshness lifetime (default 24 h). A `max-age` / `s-maxage` above this is lowered to it,
   * so a set is re-read at least this often.
   *
   * @example
   * ```ts
   * const jwks = createRemoteJwks('https://auth.example.com/.well-known/jwks.json', { maxCacheAge: '1h' });
   * ```
   */
  maxCacheAge?: JwksDuration;
  /**
   * Least time between two fetches that were not due to expiry (default 30 s). A token whose `kid`
   * (or `alg`) matches no key held triggers a refetch only if the last fetch began at least this
   * long ago, so tokens with made-up `kid`s cannot force a fetch per request; a failed fetch is
   * likewise retried only after this long.
   *
   * @example
   * ```ts
   * const jwks = createRemoteJwks('https://auth.example.com/.well-known/jwks.json', { cooldown: '1m' });
   * ```
   */
  cooldown?: JwksDuration;
  /**
   * How long past its expiry the last good set keeps being served while refreshes fail (default
   * 24 h). Network errors, timeouts, HTTP errors, bodies that are not JSON and invalid sets all
   * count as failures; each is recorded in `lastError`. Past this window the set holds no keys
   * until a fetch succeeds. `0` disables serving stale keys.
   *
   * @example
   * ```ts
   * const jwks = createRemoteJwks('https://auth.example.com/.well-known/jwks.json', { staleIfError: '1h' });
   * ```
   */
  staleIfError?: JwksDuration;
  /**
   * Allow a plain `http:` URL to a host other than the loopback (default `false`). Key sets fetched
   * over plain HTTP can be swapped by anyone on the path; use this only inside a trusted network.
   * Loopback hosts (`localhost`, `127.0.0.0/8`, `::1`) are always allowed over `http:`.
   *
   * @example
   * ```ts
   * const jwks = createRemoteJwks('http://auth.internal:8080/jwks.json', { allowInsecureHttp: true });
   * ```
   */
  allowInsecureHttp?: boolean;
  /**
   * The fetch function (default the global `fetch`): route through a proxy, add mTLS, or observe
   * requests in tests.
   *
   * @example
   * ```ts
   * const jwks = createRemoteJwks('https://auth.example.com/.well-known/jwks.json', {
   *   fetch: (url, init) => {
   *     console.log('fetching', new URL(url).origin);
   *     return fetch(url, init);
   *   },
   * });
   * ```
   */
  fetch?: JwksFetch;
  /**
   * Extra request headers, such as `User-Agent` or an API key. They replace the defaults of the
   * same name (`Accept: application/jwk-set+json, application/json`). Header values never appear
   * in errors.
   *
   * @example
   * ```ts
   * const jwks = createRemoteJwks('https://auth.example.com/.well-known/jwks.json', {
   *   headers: { 'User-Agent': 'orders-api/1.4' },
   * });
   * ```
   */
  headers?: Record<string, string>;
  /**
   * Milliseconds since the epoch (default `Date.now`). Drives freshness, cooldown and stale-if-error;
   * for tests and simulations. The `timeout` always runs on real time.
   *
   * @example
   * ```ts
   * let now = Date.now();
   * const jwks = createRemoteJwks('https://auth.example.com/.well-known/jwks.json', { clock: () => now });
   * now += 15 * 60_000; // the set is now past its default 10-minute freshness
   * ```
   */
  clock?: () => number;
}

const DEFAULT_TIMEOUT = 5000;
const DEFAULT_MAX_RESPONSE_BYTES = 512 * 1024;
const DEFAULT_CACHE_MAX_AGE = 10 * 60_000;
const DEFAULT_MIN_CACHE_AGE = 30_000;
const DEFAULT_MAX_CACHE_AGE = 24 * 3600_000;
const DEFAULT_COOLDOWN = 30_000;
const DEFAULT_STALE_IF_ERROR = 24 * 3600_000;

/** What the HTTP request needs: see `remote_fetch.ts`. */
export interface JwksHttpSettings {
  readonly fetch: JwksFetch;
  /** The request headers: the `Accept` default overlaid with the caller's. */
  readonly headers: Headers;
  /** Milliseconds, positive. */
  readonly timeout: number;
  readonly maxResponseBytes: number;
}

/** {@link RemoteJwksOptions} checked, defaulted and converted to milliseconds. */
export interface RemoteJwksSettings {
  readonly http: JwksHttpSettings;
  /** `cacheMaxAge`, `minCacheAge` and `maxCacheAge`. */
  readonly freshness: FreshnessBounds;
  readonly cooldown: number;
  readonly staleIfError: number;
  readonly clock: () => number;
}

/** Validates every option (throwing a `TypeError` naming the first bad one) and applies the defaults. */
export function resolveRemoteJwksOptions(options: RemoteJwksOptions): RemoteJwksSettings {
  const timeout = durationOf(options.timeout, DEFAULT_TIMEOUT, 'timeout');
  if (timeout <= 0) throw new TypeError('timeout must be positive');
  const maxResponseBytes = options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
  if (!Number.isSafeInteger(maxResponseBytes) || maxResponseBytes <= 0)
    throw new TypeError('maxResponseBytes must be a positive integer');
  const minLifetime = durationOf(options.minCacheAge, DEFAULT_MIN_CACHE_AGE, 'minCacheAge');
  const maxLifetime = durationOf(options.maxCacheAge, DEFAULT_MAX_CACHE_AGE, 'maxCacheAge');
  if (minLifetime > maxLifetime) throw new TypeError('minCacheAge must not exceed maxCacheAge');
  const defaultLifetime = durationOf(options.cacheMaxAge, DEFAULT_CACHE_MAX_AGE, 'cacheMaxAge');
  const cooldown = durationOf(options.cooldown, DEFAULT_COOLDOWN, 'cooldown');
  const staleIfError = durationOf(options.staleIfError, DEFAULT_STALE_IF_ERROR, 'staleIfError');
  const clock = options.clock ?? Date.now;
  // The global is looked up at each call, so a `fetch` replaced after creation (instrumentation, a
  // test stub) is the one called.
  const fetchFn: JwksFetch = options.fetch ?? ((input, init) => fetch(input, init));
  const headers = new Headers({ accept: 'application/jwk-set+json, application/json' });
  for (const [name, value] of Object.entries(options.headers ?? {})) headers.set(name, value);
  return {
    http: { fetch: fetchFn, headers, timeout, maxResponseBytes },
    freshness: { defaultLifetime, minLifetime, maxLifetime },
    cooldown,
    staleIfError,
    clock,
  };
}

/**
 * A {@link JwksDuration} in milliseconds. A string must carry a unit: a bare `'30'` is refused, since
 * a reader could not tell whether it meant seconds or milliseconds.
 */
function durationOf(value: JwksDuration | undefined, fallback: number, what: string): number {
  if (value === undefined) return fallback;
  if (typeof value === 'number') {
    if (!Number.isFinite(value) || value < 0)
      throw new TypeError(`${what} must be a non-negative number of milliseconds`);
    return value;
  }
  if (typeof value !== 'string' || /^\s*\d+(?:\.\d+)?\s*$/.test(value))
    throw new TypeError(`${what} must be milliseconds (a number) or a span with a unit such as '30s'`);
  return secondsOf(value, what) * 1000;
}
