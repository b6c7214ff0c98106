import { JwsInvalid, JwsSignatureVerificationFailed, JwtInvalid } from '../errors.js';
import type { Key } from '../key/key.js';
import { decodeBase64urlText, isBase64url } from '../lib/base64url.js';
import { deepFreeze, type JsonObject } from '../lib/json.js';
import type { JwsAlgorithmSpec } from '../lib/jws_algorithms.js';
import {
  type AlgorithmOptions,
  checkHeader,
  createHeaderPolicy,
  type JwsHeaderParameters,
  parseProtectedHeader,
} from '../lib/jws_header.js';
import {
  createSignatureCheck,
  DEFAULT_MAX_TOKEN_LENGTH,
  decodeSignature,
  splitCompact,
} from '../lib/jws_verify.js';
import {
  createClaimsValidator,
  type JwtClaimsOptions,
  type JwtPayload,
  parseJwtPayload,
} from '../lib/jwt_claims.js';
import { isKeySet, type KeyInput, type KeySet, toKey, usableKeys } from '../lib/key_input.js';
import { LruCache } from '../lib/lru.js';
import { secondsOf } from '../lib/time.js';
import type { VerifyJwtResult } from './verify.js';

export interface VerifierCacheOptions {
  /** Most tokens remembered (default 1000). */
  max?: number;
  /** Longest a verified token is remembered, seconds or a span (default 600). Never past its `exp`. */
  ttl?: number | string;
}

export interface VerifierOptions extends AlgorithmOptions, Omit<JwtClaimsOptions, 'currentDate'> {
  /** A key, or a key set (`createLocalJwks` / `createRemoteJwks`). */
  key: KeyInput | KeySet;
  /**
   * Remember verified tokens (keyed on the whole token) so a repeat costs one map lookup. Entries
   * never outlive the token's `exp` (or `maxTokenAge`), failures are never cached, and cached
   * results are deeply frozen (payload and header, nested members included): treat them as read-only.
   */
  cache?: boolean | VerifierCacheOptions;
  /** Longest token accepted, in characters (default 16384). */
  maxTokenLength?: number;
  /** Milliseconds since the epoch (default `Date.now`); for tests and simulations. */
  clock?: () => number;
}

export interface Verifier<P extends object = JwtPayload> {
  /**
   * Verifies synchronously. With a remote key set, a token whose key is not in memory yet fails with
   * `ERR_JWKS_NO_MATCHING_KEY`; use {@link Verifier.verifyAsync} to let the set fetch it.
   */
  verify(token: string): VerifyJwtResult<P>;
  /** Verifies, letting a key set fetch keys it does not hold yet. */
  verifyAsync(token: string): Promise<VerifyJwtResult<P>>;
}

interface PreparedHeader {
  readonly header: JwsHeaderParameters;
  readonly spec: JwsAlgorithmSpec;
  /** Whether it went into the header cache (after a token carrying it verified). */
  remembered: boolean;
}

/**
 * Distinct headers remembered, least recently used first out; a verifier normally sees one or two.
 * Only headers of tokens that verified are remembered, so forged tokens cannot fill the cache.
 */
const HEADER_CACHE_SIZE = 64;

/**
 * Prepares a JWT verifier: options, algorithm policy, claim checks and keys are settled once, and
 * the decoded headers of tokens that verified are remembered (a bounded LRU), so each `verify` is a
 * synchronous run of signature and claim checks. With `cache`, a token verified before costs a map
 * lookup until it expires.
 *
 * @example
 * ```ts
 * const verifier = createVerifier({ key: jwks, algorithms: ['ES256'], issuer: 'https://auth.example.com',
 *   audience: 'api', typ: 'at+jwt', cache: { max: 10_000 } });
 * const { payload } = verifier.verify(token);
 * ```
 */
export function createVerifier<P extends object = JwtPayload>(options: VerifierOptions): Verifier<P> {
  const policy = createHeaderPolicy(options);
  const validate = createClaimsValidator(options);
  const maxTokenLength = options.maxTokenLength ?? DEFAULT_MAX_TOKEN_LENGTH;
  const clock = options.clock ?? Date.now;
  const keySet = isKeySet(options.key) ? options.key : undefined;
  const singleKey = keySet ? undefined : [toKey(options.key as KeyInput)];
  const tolerance =
    options.clockTolerance === undefined ? 0 : secondsOf(options.clockTolerance, 'clockTolerance');
  const maxAge =
    options.maxTokenAge === undefined ? undefined : secondsOf(options.maxTokenAge, 'maxTokenAge');

  const cacheOptions = options.cache === true ? {} : options.cache || undefined;
  const cache = cacheOptions ? new LruCache<string, CachedResult<P>>(cacheOptions.max ?? 1000) : undefined;
  const cacheTtl = cacheOptions ? secondsOf(cacheOptions.ttl ?? 600, 'cache.ttl') * 1000 : 0;

  const headers = new LruCache<string, PreparedHeader>(HEADER_CACHE_SIZE);
  /**
   * A header seen in a token that verified, or else parsed and checked for this call alone: it is
   * remembered only once its token verifies (in `finish`). Were it remembered on sight, unsigned
   * junk headers would take the cache's places (and, in a bounded map, keep them for good).
   */
  function prepareHeader(segment: string): PreparedHeader {
    const known = headers.get(segment);
    if (known) return known;
    const { header, spec, b64 } = checkHeader(parseProtectedHeader(segment), undefined, policy);
    // RFC 7797 §7: a JWT payload is always base64url-encoded.
    if (!b64) throw new JwsInvalid('"b64": false cannot be used with JWTs');
    // Deeply frozen: once cached, every result with this header shares the object.
    return { header: deepFreeze(header), spec, remembered: false };
  }

  function finish(
    token: string,
    keys: readonly Key[] | undefined,
    now: number,
    preparedHeader?: PreparedHeader,
  ): VerifyJwtResult<P> {
    // Locate the separators once; anything unusual goes through splitCompact for its precise error.
    const first = typeof token === 'string' && token.length <= maxTokenLength ? token.indexOf('.') : -1;
    const second = first > 0 ? token.indexOf('.', first + 1) : -1;
    if (second === -1 || token.indexOf('.', second + 1) !== -1) splitCompact(token, maxTokenLength);
    const prepared = preparedHeader ?? prepareHeader(token.slice(0, first));
    const candidates = keys ?? usableKeys(keySet!.select(prepared.header), prepared.header.alg!);
    const signingInput = token.slice(0, second);
    const signature = token.slice(second + 1);
    let key: Key | undefined;
    for (const candidate of candidates) {
      if (signatureCheck(prepared.spec, candidate)(signingInput, signature)) {
        key = candidate;
        break;
      }
    }
    if (key === undefined) {
      decodeSignature(signature); // a malformed segment is ERR_JWS_INVALID, not a failed signature
      throw new JwsSignatureVerificationFailed();
    }
    const payloadSegment = token.slice(first + 1, second);
    const text = decodeBase64urlText(payloadSegment);
    if (text === undefined) {
      // RFC 7519 §7.2 step 10: a well-encoded claims set that is not UTF-8 is ERR_JWT_INVALID, as in verifyJwt.
      if (isBase64url(payloadSegment)) throw new JwtInvalid('JWT claims set is not valid UTF-8 JSON');
      throw new JwsInvalid('payload is not canonical base64url');
    }
    const payload = parseJwtPayload(text);
    validate(payload, prepared.header, Math.floor(now / 1000));
    if (!prepared.remembered) {
      prepared.remembered = true;
      headers.set(token.slice(0, first), prepared);
    }
    const result = { payload: payload as P & JwtPayload, protectedHeader: prepared.header, key };
    if (cache) remember(token, result, payload, now);
    return result;
  }

  function remember(token: string, result: VerifyJwtResult<P>, payload: JsonObject, now: number): void {
    let validUntil = now + cacheTtl;
    if (typeof payload.exp === 'number') validUntil = Math.min(validUntil, (payload.exp + tolerance) * 1000);
    if (maxAge !== undefined)
      validUntil = Math.min(validUntil, ((payload.iat as number) + maxAge + tolerance) * 1000);
    // Deeply: a hit hands every caller the same objects, so `payload.roles.push(…)` by one caller
    // must not change what the next one sees. (The header was deeply frozen when it was parsed.)
    deepFreeze(payload);
    cache!.set(fingerprintOf(token), { token, result: Object.freeze(result), validUntil });
  }

  function cached(token: string, now: number): VerifyJwtResult<P> | undefined {
    if (typeof token !== 'string') return undefined;
    const fingerprint = fingerprintOf(token);
    const hit = cache!.get(fingerprint);
    // The whole token must match: a token that merely ends like a cached one is verified in full.
    if (hit === undefined || hit.token !== token) return undefined;
    if (now < hit.validUntil) return hit.result;
    cache!.delete(fingerprint);
    return undefined;
  }

  return {
    verify(token) {
      const now = clock();
      if (cache) {
        const hit = cached(token, now);
        if (hit) return hit;
      }
      return finish(token, singleKey, now);
    },
    async verifyAsync(token) {
      const now = clock();
      if (cache) {
        const hit = cached(token, now);
        if (hit) return hit;
      }
      if (singleKey) return finish(token, singleKey, now);
      const prepared = prepareHeader(splitCompact(token, maxTokenLength).protectedSegment);
      const keys = usableKeys(await keySet!.resolve(prepared.header), prepared.header.alg!);
      return finish(token, keys, now, prepared);
    },
  };
}

/**
 * Characters at the end of a token (its signature) that key the token cache. A token arrives as a
 * fresh string with every request, so a Map keyed on the whole token would hash all of it (hundreds
 * of characters, most of a cache hit's cost); the tail of a signature is as distinctive (32
 * base64url characters: 192 bits), and a hit is confirmed by comparing the whole token.
 */
const FINGERPRINT_LENGTH = 32;

function fingerprintOf(token: string): string {
  return token.length <= FINGERPRINT_LENGTH ? token : token.slice(token.length - FINGERPRINT_LENGTH);
}

interface CachedResult<P extends object> {
  /** The whole token, compared on every hit. */
  readonly token: string;
  readonly result: VerifyJwtResult<P>;
  readonly validUntil: number;
}

type SignatureCheck = (signingInput: string, segment: string) => boolean;
const signatureChecks = new WeakMap<Key, Map<string, SignatureCheck>>();

/** The prepared signature check for a key and algorithm, built on first use and kept with the key. */
function signatureCheck(spec: JwsAlgorithmSpec, key: Key): SignatureCheck {
  let checks = signatureChecks.get(key);
  if (!checks) {
    checks = new Map();
    signatureChecks.set(key, checks);
  }
  let check = checks.get(spec.alg);
  if (!check) {
    check = createSignatureCheck(spec, key);
    checks.set(spec.alg, check);
  }
  return check;
}
