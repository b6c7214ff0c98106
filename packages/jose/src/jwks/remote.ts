import {
  isJoseError,
  type JoseError,
  JoseGenericError,
  JwksInvalid,
  JwksNoMatchingKey,
  JwksTimeout,
} from '../errors.js';
import type { Key } from '../key/key.js';
import { isJsonObject } from '../lib/json.js';
import type { JwsHeaderParameters } from '../lib/jws_header.js';
import type { KeySet } from '../lib/key_input.js';
import { secondsOf } from '../lib/time.js';
import { importKeySet, type SkippedKey, selectKeys } from './local.js';

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

const DEFAULT_TIMEOUT = 5000;
const DEFAULT_MAX_RESPONSE_BYTES = 512 * 1024;
const DEFAULT_CACHE_MAX_AGE = 10 * 60_000;
const DEFAULT_MIN_CACHE_AGE = 30_000;
const DEFAULT_MAX_CACHE_AGE = 24 * 3600_000;
const DEFAULT_COOLDOWN = 30_000;
const DEFAULT_STALE_IF_ERROR = 24 * 3600_000;

interface HeldSet {
  readonly keys: readonly Key[];
  readonly skipped: readonly SkippedKey[];
  readonly fetchedAt: number;
  readonly expiresAt: number;
}

const noop = (): void => {};

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
  const target = checkUrl(url, options.allowInsecureHttp === true);
  const href = target.href;
  const origin = target.origin;
  const timeout = durationOf(options.timeout, DEFAULT_TIMEOUT, 'timeout');
  if (timeout <= 0) throw new TypeError('timeout must be positive');
  const maxResponseBytes = options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
  if (!Number.isSafeInteger(maxResponseBytes) || maxResponseBytes <= 0)
    throw new TypeError('maxResponseBytes must be a positive integer');
  const minCacheAge = durationOf(options.minCacheAge, DEFAULT_MIN_CACHE_AGE, 'minCacheAge');
  const maxCacheAge = durationOf(options.maxCacheAge, DEFAULT_MAX_CACHE_AGE, 'maxCacheAge');
  if (minCacheAge > maxCacheAge) throw new TypeError('minCacheAge must not exceed maxCacheAge');
  const cacheMaxAge = durationOf(options.cacheMaxAge, DEFAULT_CACHE_MAX_AGE, 'cacheMaxAge');
  const cooldown = durationOf(options.cooldown, DEFAULT_COOLDOWN, 'cooldown');
  const staleIfError = durationOf(options.staleIfError, DEFAULT_STALE_IF_ERROR, 'staleIfError');
  const clock = options.clock ?? Date.now;
  const fetchFn: JwksFetch = options.fetch ?? ((input, init) => fetch(input, init));
  const requestHeaders = new Headers({ accept: 'application/jwk-set+json, application/json' });
  for (const [name, value] of Object.entries(options.headers ?? {})) requestHeaders.set(name, value);

  let held: HeldSet | undefined;
  let inflight: Promise<void> | undefined;
  let lastAttemptAt: number | undefined;
  let lastAttemptFailed = false;
  let lastError: JoseError | undefined;
  let lastErrorAt = 0;
  let fetches = 0;
  let consecutiveFailures = 0;

  /** The keys served at `now`: the held set while fresh or within `staleIfError` past expiry. */
  function current(now: number): readonly Key[] {
    return held && now < held.expiresAt + staleIfError ? held.keys : [];
  }

  function due(now: number): boolean {
    return held === undefined || now >= held.expiresAt;
  }

  /** Whether a new fetch may begin: expiry of a good set always allows one; anything else waits out the cooldown. */
  function mayFetch(now: number, reason: 'refresh' | 'miss'): boolean {
    if (lastAttemptAt === undefined) return true;
    if (reason === 'refresh' && held !== undefined && !lastAttemptFailed) return true;
    return now - lastAttemptAt >= cooldown;
  }

  function fetchShared(): Promise<void> {
    inflight ??= fetchOnce().finally(() => {
      inflight = undefined;
    });
    return inflight;
  }

  async function fetchOnce(): Promise<void> {
    lastAttemptAt = clock();
    fetches++;
    try {
      const response = await download();
      const { keys, skipped } = parseSet(response.text);
      const now = clock();
      held = { keys, skipped, fetchedAt: now, expiresAt: now + lifetimeOf(response.headers) };
      lastAttemptFailed = false;
      consecutiveFailures = 0;
      lastError = undefined;
    } catch (err) {
      const error = normalise(err);
      lastAttemptFailed = true;
      consecutiveFailures++;
      lastError = error;
      lastErrorAt = clock();
      throw error;
    }
  }

  /** GETs the URL within `timeout`, enforcing status and size; resolves to the body text and headers. */
  async function download(): Promise<{ text: string; headers: Headers }> {
    const controller = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, timeout);
    // Races the work against the timer too, so a custom fetch that ignores the signal still times out.
    const aborted = new Promise<never>((_, reject) => {
      controller.signal.addEventListener('abort', () => reject(controller.signal.reason), { once: true });
    });
    aborted.catch(noop);
    const work = request(controller.signal);
    work.catch(noop);
    try {
      return await Promise.race([work, aborted]);
    } catch (err) {
      if (timedOut) throw new JwksTimeout(`fetching the JWKS from ${origin} timed out after ${timeout} ms`);
      throw err;
    } finally {
      clearTimeout(timer);
      controller.abort(); // releases the connection if the body was not read to the end
    }
  }

  async function request(signal: AbortSignal): Promise<{ text: string; headers: Headers }> {
    let response: Response;
    try {
      response = await fetchFn(href, {
        method: 'GET',
        headers: new Headers(requestHeaders),
        signal,
        redirect: 'manual',
      });
    } catch (err) {
      throw new JoseGenericError(`could not fetch the JWKS from ${origin} (${describeFailure(err)})`);
    }
    if (response.status < 200 || response.status > 299) {
      discard(response);
      throw new JoseGenericError(`the JWKS endpoint ${origin} answered HTTP ${response.status}`);
    }
    const declared = response.headers.get('content-length');
    if (declared !== null && /^\s*\d+\s*$/.test(declared) && Number(declared) > maxResponseBytes) {
      discard(response);
      throw new JwksInvalid(
        `the JWKS from ${origin} is ${Number(declared)} bytes, more than maxResponseBytes (${maxResponseBytes})`,
      );
    }
    const bytes = await readBody(response);
    let text: string;
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    } catch {
      throw new JwksInvalid(`the JWKS from ${origin} is not valid UTF-8`);
    }
    return { text, headers: response.headers };
  }

  async function readBody(response: Response): Promise<Uint8Array> {
    const body = response.body;
    if (body === null) return new Uint8Array(0);
    const reader = body.getReader();
    const chunks: Uint8Array[] = [];
    let total = 0;
    for (;;) {
      const chunk = await reader.read().catch((err: unknown) => {
        throw new JoseGenericError(`reading the JWKS from ${origin} failed (${describeFailure(err)})`);
      });
      if (chunk.done) break;
      total += chunk.value.byteLength;
      if (total > maxResponseBytes) {
        reader.cancel().catch(noop);
        throw new JwksInvalid(
          `the JWKS from ${origin} is larger than maxResponseBytes (${maxResponseBytes})`,
        );
      }
      chunks.push(chunk.value);
    }
    const bytes = new Uint8Array(total);
    let offset = 0;
    for (const chunk of chunks) {
      bytes.set(chunk, offset);
      offset += chunk.byteLength;
    }
    return bytes;
  }

  function parseSet(text: string): { keys: Key[]; skipped: SkippedKey[] } {
    let document: unknown;
    try {
      document = JSON.parse(text);
    } catch {
      // The parser's message quotes the body; leave it out.
      throw new JwksInvalid(`the response from ${origin} is not valid JSON`);
    }
    if (isJsonObject(document) && Array.isArray(document.keys)) {
      for (const jwk of document.keys as unknown[]) {
        if (!isJsonObject(jwk)) continue;
        if (jwk.kty === 'oct' || 'k' in jwk)
          throw new JwksInvalid(
            `the JWKS from ${origin} holds secret keys; secrets are never accepted from a URL`,
          );
        if ('d' in jwk)
          throw new JwksInvalid(
            `the JWKS from ${origin} publishes private key material; refusing it (anyone could sign with it)`,
          );
      }
    }
    let imported: { keys: Key[]; skipped: SkippedKey[] };
    try {
      imported = importKeySet(document);
    } catch (err) {
      if (isJoseError(err, 'ERR_JWKS_INVALID'))
        throw new JwksInvalid(`the JWKS from ${origin} is invalid: ${err.message}`);
      throw err;
    }
    // Belt and braces: whatever the members said, no secret or private key is ever served.
    if (imported.keys.some((key) => key.type !== 'public'))
      throw new JwksInvalid(`the JWKS from ${origin} holds non-public keys; only public keys are accepted`);
    return imported;
  }

  /** Freshness lifetime in milliseconds from the response headers (RFC 9111 §4.2.1), clamped. */
  function lifetimeOf(headers: Headers): number {
    const directives = parseCacheControl(headers.get('cache-control'));
    let lifetime: number;
    if (directives.has('no-store') || directives.has('no-cache')) {
      lifetime = minCacheAge;
    } else {
      const ages = [directives.get('max-age'), directives.get('s-maxage')]
        .filter((value) => value !== undefined)
        .map(deltaSeconds);
      if (ages.length === 0) {
        lifetime = cacheMaxAge;
      } else {
        const age = deltaSeconds(headers.get('age') ?? '0');
        lifetime = Math.max(0, Math.min(...ages) - age) * 1000;
      }
    }
    return Math.min(maxCacheAge, Math.max(minCacheAge, lifetime));
  }

  function normalise(err: unknown): JoseError {
    if (isJoseError(err)) return err;
    return new JoseGenericError(`could not fetch the JWKS from ${origin} (${describeFailure(err)})`);
  }

  function noMatch(): JwksNoMatchingKey {
    return new JwksNoMatchingKey(`no key in the JWKS from ${origin} matches the token's "kid" and "alg"`);
  }

  return {
    origin,
    get keys() {
      return current(clock());
    },
    get skipped() {
      return held?.skipped ?? [];
    },
    get fresh() {
      return held !== undefined && clock() < held.expiresAt;
    },
    get stale() {
      const now = clock();
      return held !== undefined && now >= held.expiresAt && now < held.expiresAt + staleIfError;
    },
    get lastError() {
      return lastError;
    },
    status() {
      const now = clock();
      const keys = current(now);
      let state: RemoteJwksStatus['state'];
      if (held === undefined) state = 'empty';
      else if (now < held.expiresAt) state = 'fresh';
      else if (now < held.expiresAt + staleIfError) state = 'stale';
      else state = 'expired';
      return {
        origin,
        state,
        keys: keys.length,
        kids: keys.flatMap((key) => (key.kid === undefined ? [] : [key.kid])),
        skipped: held?.skipped.length ?? 0,
        fetchedAt: held?.fetchedAt,
        expiresAt: held?.expiresAt,
        lastAttemptAt,
        fetches,
        consecutiveFailures,
        lastError: lastError && { code: lastError.code, message: lastError.message, at: lastErrorAt },
      };
    },
    reload() {
      return fetchShared();
    },
    select(header: JwsHeaderParameters) {
      const now = clock();
      const found = selectKeys(current(now), header);
      const reason = due(now) ? 'refresh' : found.length === 0 ? 'miss' : undefined;
      // A background fetch: its failure is recorded in lastError and must not surface as an unhandled rejection.
      if (reason !== undefined && inflight === undefined && mayFetch(now, reason)) fetchShared().catch(noop);
      return found;
    },
    async resolve(header: JwsHeaderParameters) {
      let now = clock();
      let fetched = false;
      if (due(now)) {
        if (inflight !== undefined || mayFetch(now, 'refresh')) {
          fetched = true;
          try {
            await fetchShared();
          } catch (err) {
            // Serve the last good set while within staleIfError; otherwise the failure is the answer.
            if (!held || clock() >= held.expiresAt + staleIfError) throw err;
          }
        } else if (!held || now >= held.expiresAt + staleIfError) {
          throw lastError ?? noMatch();
        }
        now = clock();
      }
      let found = selectKeys(current(now), header);
      if (found.length > 0) return found;
      if (!fetched && (inflight !== undefined || mayFetch(now, 'miss'))) {
        await fetchShared();
        found = selectKeys(current(clock()), header);
      }
      if (found.length === 0) throw noMatch();
      return found;
    },
  };
}

/** Validates the URL: https, or http to a loopback host (or with `allowInsecureHttp`); no credentials. */
function checkUrl(url: string | URL, allowInsecureHttp: boolean): URL {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new TypeError('the JWKS URL is not a valid absolute URL');
  }
  if (parsed.username !== '' || parsed.password !== '')
    throw new TypeError('the JWKS URL must not contain credentials; pass them in `headers`');
  if (parsed.protocol === 'https:') return parsed;
  if (parsed.protocol === 'http:') {
    if (allowInsecureHttp || isLoopback(parsed.hostname)) return parsed;
    throw new TypeError(
      `the JWKS URL ${parsed.origin} uses plain http; use https (or allowInsecureHttp: true on a trusted network)`,
    );
  }
  throw new TypeError(`the JWKS URL must use https, not ${parsed.protocol}`);
}

function isLoopback(hostname: string): boolean {
  const host = hostname.toLowerCase();
  return host === 'localhost' || host === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

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

/** Cache-Control directives, lower-cased, first occurrence wins; values unquoted. */
function parseCacheControl(header: string | null): Map<string, string> {
  const directives = new Map<string, string>();
  if (header === null) return directives;
  for (const part of header.split(',')) {
    const eq = part.indexOf('=');
    const name = (eq === -1 ? part : part.slice(0, eq)).trim().toLowerCase();
    if (name === '' || directives.has(name)) continue;
    const value = eq === -1 ? '' : part.slice(eq + 1).trim();
    directives.set(
      name,
      value.length >= 2 && value.startsWith('"') && value.endsWith('"') ? value.slice(1, -1) : value,
    );
  }
  return directives;
}

/** A delta-seconds value (RFC 9111 §1.2.2); anything malformed counts as 0, i.e. already stale. */
function deltaSeconds(value: string): number {
  return /^\d+$/.test(value.trim()) ? Number(value.trim()) : 0;
}

/** A short, secret-free description of a transport failure: its code (ECONNREFUSED, ...) or its name. */
function describeFailure(err: unknown): string {
  const cause = typeof err === 'object' && err !== null ? (err as { cause?: unknown }).cause : undefined;
  return codeOf(cause) ?? codeOf(err) ?? (err instanceof Error ? err.name : 'unknown error');
}

function codeOf(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const code = (value as { code?: unknown }).code;
  return typeof code === 'string' && /^[A-Za-z0-9_]{1,64}$/.test(code) ? code : undefined;
}

function discard(response: Response): void {
  response.body?.cancel().catch(noop);
}
