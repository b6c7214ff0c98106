import { checkRedisOption, type RedisLikeClient } from '../revocation/redis.js';

/**
 * DPoP (RFC 9449) at this API. With the option (`true` for the defaults below), a guard accepts both
 * `Authorization: Bearer` and `Authorization: DPoP`, or DPoP alone with `required`; without it
 * (or `false`), Bearer only. Either way a DPoP-bound token (`cnf.jkt`) sent as Bearer is refused
 * (§7.2): its binding cannot be waived.
 */
export interface DpopOptions {
  /** Refuse Bearer tokens altogether: every request must use DPoP (default `false`). */
  required?: boolean;
  /**
   * Proof algorithms accepted, advertised in the challenge's `algs` (§7.1). Asymmetric only.
   * Default ES256, ES384, ES512, EdDSA, Ed25519, PS256, RS256.
   */
  algorithms?: readonly string[];
  /** Oldest proof accepted, seconds after its `iat` (§11.1; default 300). */
  maxAge?: number;
  /**
   * Clock skew allowed around a proof's `iat`, seconds (default 30). The `iat` comes from the
   * client's clock, which may be off by more than the server's.
   */
  clockTolerance?: number;
  /**
   * One-time use of each proof (`jti`, §11.1), for the window in which `iat` is accepted:
   * `'off'` (default: a proof is still bound to its method, URI, token and key, within the
   * `iat` window), `'memory'` (this process; `{ memory: { maxEntries } }` to size it, default
   * 1,000,000), or `{ redis }`, shared by every instance of the API (a URL, which needs
   * `ioredis`, or your ioredis client, which the guard duplicates and never closes).
   */
  replay?: DpopReplayOption;
  /**
   * This API's public base URL, as clients call it (`https://api.example.com`, or with the path
   * prefix a reverse proxy strips: `https://example.com/api`). The `htu` a proof must carry is
   * this followed by the request's path. Without it, the URL is built from the request: its
   * scheme (TLS or not) and its Host header; set it whenever a proxy sits in front.
   */
  publicUrl?: string;
  /**
   * Build the URL from `X-Forwarded-Proto` and `X-Forwarded-Host` (default `false`). Only when every
   * request comes through a proxy that sets both: a client could set them otherwise.
   */
  trustForwardedHeaders?: boolean;
}

export type DpopReplayOption =
  | 'off'
  | 'memory'
  | { memory: { maxEntries?: number } }
  | { redis: string | RedisLikeClient; prefix?: string };

export type ResolvedReplay =
  | { mode: 'off' }
  | { mode: 'memory'; maxEntries: number }
  | { mode: 'redis'; redis: string | RedisLikeClient; prefix: string };

export interface ResolvedDpop {
  required: boolean;
  algorithms: readonly string[];
  maxAge: number;
  clockTolerance: number;
  replay: ResolvedReplay;
  /** `publicUrl` without a trailing slash. */
  publicUrl: string | undefined;
  trustForwardedHeaders: boolean;
}

/** RFC 9449 §4.3 point 5: asymmetric signature algorithms. */
const DPOP_ALGORITHMS: ReadonlySet<string> = new Set([
  'ES256',
  'ES384',
  'ES512',
  'ES256K',
  'EdDSA',
  'Ed25519',
  'Ed448',
  'PS256',
  'PS384',
  'PS512',
  'RS256',
  'RS384',
  'RS512',
]);
const DEFAULT_ALGORITHMS = Object.freeze(['ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519', 'PS256', 'RS256']);
const DEFAULT_MAX_AGE = 300;
const DEFAULT_CLOCK_TOLERANCE = 30;
const DEFAULT_REPLAY_ENTRIES = 1_000_000;
const KNOWN = new Set([
  'required',
  'algorithms',
  'maxAge',
  'clockTolerance',
  'replay',
  'publicUrl',
  'trustForwardedHeaders',
]);

/** Checks `options.dpop` at createGuard: undefined when the guard takes Bearer tokens only. */
export function resolveDpop(value: DpopOptions | boolean | undefined): ResolvedDpop | undefined {
  if (value === undefined || value === false) return undefined;
  const options = value === true ? {} : value;
  if (typeof options !== 'object' || options === null)
    throw new TypeError('options.dpop must be true, false or an object of DPoP options');
  for (const name of Object.keys(options)) {
    if (!KNOWN.has(name))
      throw new TypeError(`options.dpop has no "${name}"; it takes ${[...KNOWN].join(', ')}`);
  }
  const required = options.required ?? false;
  if (typeof required !== 'boolean') throw new TypeError('options.dpop.required must be a boolean');
  let algorithms: readonly string[] = DEFAULT_ALGORITHMS;
  if (options.algorithms !== undefined) {
    if (!Array.isArray(options.algorithms) || options.algorithms.length === 0)
      throw new TypeError('options.dpop.algorithms must be a non-empty array, e.g. ["ES256"]');
    for (const alg of options.algorithms) {
      if (!DPOP_ALGORITHMS.has(alg))
        throw new TypeError(
          `options.dpop.algorithms: ${JSON.stringify(alg)} is not an asymmetric signature algorithm (RFC 9449 §4.3); use ${[...DPOP_ALGORITHMS].join(', ')}`,
        );
    }
    algorithms = Object.freeze([...options.algorithms]);
  }
  const maxAge = seconds(options.maxAge, DEFAULT_MAX_AGE, 'maxAge', false);
  const clockTolerance = seconds(options.clockTolerance, DEFAULT_CLOCK_TOLERANCE, 'clockTolerance', true);
  const trustForwardedHeaders = options.trustForwardedHeaders ?? false;
  if (typeof trustForwardedHeaders !== 'boolean')
    throw new TypeError('options.dpop.trustForwardedHeaders must be a boolean');
  const publicUrl = options.publicUrl === undefined ? undefined : checkPublicUrl(options.publicUrl);
  if (publicUrl !== undefined && trustForwardedHeaders)
    throw new TypeError(
      'options.dpop: give publicUrl or trustForwardedHeaders, not both (publicUrl already says what clients call)',
    );
  return {
    required,
    algorithms,
    maxAge,
    clockTolerance,
    replay: resolveReplay(options.replay),
    publicUrl,
    trustForwardedHeaders,
  };
}

function seconds(value: unknown, fallback: number, name: string, zeroAllowed: boolean): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || (!zeroAllowed && value === 0))
    throw new TypeError(
      `options.dpop.${name} must be a ${zeroAllowed ? 'non-negative' : 'positive'} number of seconds`,
    );
  return value;
}

function checkPublicUrl(value: unknown): string {
  let url: URL;
  try {
    url = new URL(value as string);
  } catch {
    throw new TypeError('options.dpop.publicUrl must be an absolute URL, e.g. "https://api.example.com"');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:')
    throw new TypeError('options.dpop.publicUrl must be an http or https URL');
  if (
    url.username !== '' ||
    url.password !== '' ||
    url.search !== '' ||
    url.hash !== '' ||
    /[?#]/.test(value as string)
  )
    throw new TypeError('options.dpop.publicUrl must have no credentials, query or fragment');
  // The origin (normalised by the URL parser) and the path prefix, without a trailing slash.
  return url.origin + url.pathname.replace(/\/+$/, '');
}

function resolveReplay(value: DpopReplayOption | undefined): ResolvedReplay {
  if (value === undefined || value === 'off') return { mode: 'off' };
  if (value === 'memory') return { mode: 'memory', maxEntries: DEFAULT_REPLAY_ENTRIES };
  if (typeof value === 'object' && value !== null) {
    if ('memory' in value) {
      const maxEntries = value.memory?.maxEntries ?? DEFAULT_REPLAY_ENTRIES;
      if (!Number.isSafeInteger(maxEntries) || maxEntries <= 0)
        throw new TypeError('options.dpop.replay.memory.maxEntries must be a positive integer');
      return { mode: 'memory', maxEntries };
    }
    if ('redis' in value) {
      const { redis, prefix = 'tessera:dpop:' } = value;
      checkRedisOption(redis, 'options.dpop.replay.redis');
      if (typeof prefix !== 'string') throw new TypeError('options.dpop.replay.prefix must be a string');
      return { mode: 'redis', redis, prefix };
    }
  }
  throw new TypeError(
    "options.dpop.replay must be 'off', 'memory', { memory: { maxEntries } } or { redis, prefix? }",
  );
}
