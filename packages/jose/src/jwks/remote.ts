// createRemoteJwks: the public entry of a key set fetched from a URL. It composes the pieces, each
// in its own file (options and URL checks, the HTTP fetch, the document rules, RFC 9111 freshness,
// the held set with stale-if-error, cooldown and single-flight, status), and holds the two lookups
// every verifier calls: `select` (synchronous, from memory) and `resolve` (may wait for a fetch).

import { type JoseError, JwksNoMatchingKey } from '../errors.js';
import type { Key } from '../key/key.js';
import { freshnessLifetime } from '../lib/cache_control.js';
import type { JwsHeaderParameters } from '../lib/jws_header.js';
import type { KeySet } from '../lib/key_input.js';
import { type SkippedKey, selectKeys } from './local.js';
import { type HeldSet, KeySetCache } from './remote_cache.js';
import { parseRemoteKeySet } from './remote_document.js';
import { asFetchFailure, downloadJwks } from './remote_fetch.js';
import { type RemoteJwksOptions, resolveRemoteJwksOptions } from './remote_options.js';
import { KeySetRefresher } from './remote_refresh.js';
import { type RemoteJwksStatus, remoteJwksStatus } from './remote_status.js';
import { checkJwksUrl } from './remote_url.js';

export type { JwksDuration, JwksFetch, RemoteJwksOptions } from './remote_options.js';
export type { RemoteJwksStatus } from './remote_status.js';

/** A key set fetched from a URL and cached; see {@link createRemoteJwks}. */
export interface RemoteJwks extends KeySet {
  /** The origin of the URL, as used in error messages. */
  readonly origin: string;
  /** The keys served now: the last good set while fresh or within `staleIfError`, else none. */
  readonly keys: readonly Key[];
  /** The keys of the last good set that were left out, with the reason. */
  readonly skipped: readonly SkippedKey[];
  /** Whether a set is held and within its freshness lifetime. */
  readonly fresh: boolean;
  /** Whether the set held is past its freshness lifetime but still served (within `staleIfError`). */
  readonly stale: boolean;
  /** Why the last fetch failed, when it did; `undefined` after a success. */
  readonly lastError: JoseError | undefined;
  /** A serialisable snapshot for health checks. */
  status(): RemoteJwksStatus;
  /**
   * Fetches the set now, ignoring freshness and cooldown (joins a fetch already in flight). Rejects
   * with the failure, which is also recorded; the previous set keeps being served as `staleIfError`
   * allows. Call it at start-up to warm the cache for synchronous verification.
   */
  reload(): Promise<void>;
}

/**
 * A key set fetched from a fixed URL (an issuer's `jwks_uri`) and cached in memory. Pass it wherever a
 * key is expected: `verifyJwt`, `compactVerify`, `createVerifier`.
 *
 * **Fetching.** Nothing is fetched until the set is first used (or {@link RemoteJwks.reload} is
 * called). Only `https:` URLs are accepted, except loopback hosts (`localhost`, `127.0.0.0/8`, `::1`)
 * or with `allowInsecureHttp: true`; URLs with user credentials are refused (put them in `headers`).
 * The response must be HTTP 2xx (redirects are not followed) with a JSON body no larger than
 * `maxResponseBytes`, read within `timeout`. The document is imported as `createLocalJwks`
 * does (unique `kid`s, unusable keys skipped) and refused outright if it holds any secret (`oct`)
 * or private key material: secrets never come from a URL. The token's `jku` and `x5u` headers are
 * never used; the URL is the caller's.
 *
 * **Caching.** A set stays fresh for its `Cache-Control` `max-age` or `s-maxage` (the shorter if both,
 * less any `Age`), or `cacheMaxAge` when there is none; `no-cache` and `no-store` mean `minCacheAge`;
 * the result is clamped to [`minCacheAge`, `maxCacheAge`]. `Expires` is ignored. Concurrent callers
 * share one fetch in flight.
 *
 * **`resolve(header)`** (used by `verifyJwt` and `Verifier.verifyAsync`) fetches the set if none is
 * held, refreshes it if expired (serving the old one for up to `staleIfError` past expiry when the
 * refresh fails, else throwing the failure), and picks keys by `kid` and `alg`. When none matches and
 * the last fetch began at least `cooldown` ago, it refetches once and picks again; otherwise it throws
 * `ERR_JWKS_NO_MATCHING_KEY`. A failed fetch is not retried before `cooldown` either.
 *
 * **`select(header)`** (used by the synchronous `Verifier.verify`) answers from memory only. When it
 * finds the set missing or expired, or no key matching, it starts a background fetch under the same
 * rules as `resolve` (never more than one per `cooldown` for misses) whose failure is recorded in
 * `lastError` and otherwise ignored; the current call still answers from memory.
 *
 * Failures are `ERR_JWKS_TIMEOUT` (timeout), `ERR_JWKS_INVALID` (too large, not JSON, not a valid or
 * acceptable JWKS) and `ERR_JOSE_GENERIC` (network error, HTTP status other than 2xx). Messages name
 * the URL's origin and the HTTP status, never the path, query, headers or body.
 *
 * @example
 * ```ts
 * import { createRemoteJwks, createVerifier } from '@tessera/jose';
 *
 * const jwks = createRemoteJwks('https://auth.example.com/.well-known/jwks.json', {
 *   headers: { 'User-Agent': 'orders-api/1.4' },
 * });
 * await jwks.reload(); // optional: warm the cache so synchronous `verify` has keys from the start
 *
 * const verifier = createVerifier({
 *   key: jwks,
 *   algorithms: ['ES256', 'RS256'],
 *   issuer: 'https://auth.example.com',
 *   audience: 'orders-api',
 * });
 * const { payload } = await verifier.verifyAsync(token); // fetches a rotated key when needed
 * console.log(payload.sub, jwks.status().state);
 * ```
 */
export function createRemoteJwks(url: string | URL, options: RemoteJwksOptions = {}): RemoteJwks {
  const target = checkJwksUrl(url, options.allowInsecureHttp === true);
  const origin = target.origin;
  const { http, freshness, cooldown, staleIfError, clock } = resolveRemoteJwksOptions(options);
  const cache = new KeySetCache(staleIfError);

  /** One fetch: download, check, date. Freshness counts from when the set was checked. */
  async function load(): Promise<HeldSet> {
    const response = await downloadJwks(target, http);
    const { keys, skipped } = parseRemoteKeySet(response.text, origin);
    const now = clock();
    return { keys, skipped, fetchedAt: now, expiresAt: now + freshnessLifetime(response.headers, freshness) };
  }

  const refresher = new KeySetRefresher({
    cache,
    load,
    failure: (err) => asFetchFailure(err, origin),
    clock,
    cooldown,
  });

  function noMatch(): JwksNoMatchingKey {
    return new JwksNoMatchingKey(`no key in the JWKS from ${origin} matches the token's "kid" and "alg"`);
  }

  return {
    origin,
    get keys() {
      return cache.current(clock());
    },
    get skipped() {
      return cache.held?.skipped ?? [];
    },
    get fresh() {
      return cache.state(clock()) === 'fresh';
    },
    get stale() {
      return cache.state(clock()) === 'stale';
    },
    get lastError() {
      return refresher.lastError;
    },
    status() {
      return remoteJwksStatus(origin, clock(), cache, refresher);
    },
    reload() {
      return refresher.fetch();
    },
    // The hot path: with a set held and a key matching, this is one clock read and `selectKeys`.
    select(header: JwsHeaderParameters) {
      const now = clock();
      const found = selectKeys(cache.current(now), header);
      const reason = cache.due(now) ? 'refresh' : found.length === 0 ? 'miss' : undefined;
      if (reason !== undefined && !refresher.fetching && refresher.mayFetch(now, reason))
        refresher.fetchInBackground();
      return found;
    },
    async resolve(header: JwsHeaderParameters) {
      let now = clock();
      let fetched = false;
      if (cache.due(now)) {
        if (refresher.fetching || refresher.mayFetch(now, 'refresh')) {
          fetched = true;
          try {
            await refresher.fetch();
          } catch (err) {
            // Serve the last good set while within staleIfError; otherwise the failure is the answer.
            if (!cache.serving(clock())) throw err;
          }
        } else if (!cache.serving(now)) {
          throw refresher.lastError ?? noMatch();
        }
        now = clock();
      }
      let found = selectKeys(cache.current(now), header);
      if (found.length > 0) return found;
      if (!fetched && (refresher.fetching || refresher.mayFetch(now, 'miss'))) {
        await refresher.fetch();
        found = selectKeys(cache.current(clock()), header);
      }
      if (found.length === 0) throw noMatch();
      return found;
    },
  };
}
