import { isLoopbackHost, parseTimeSpan } from '@tessera/jose';
import { type ClientCredentials, type ClientOption, checkClientOption } from './client_credentials.js';
import { type DecryptionKey, type ResolvedDecryption, resolveDecryption } from './decryption_keys.js';
import { type DpopOptions, type ResolvedDpop, resolveDpop } from './dpop/options.js';
import {
  consoleLogger,
  type GuardLog,
  type GuardLogger,
  guardLogOf,
  LOG_LEVELS,
  type LogLevel,
} from './logger.js';
import {
  checkNatsOption,
  checkNatsStream,
  DEFAULT_NATS_STREAM,
  type NatsConnectionLike,
} from './revocation/nats.js';
import {
  type AmqpConnectionLike,
  checkRabbitMqOption,
  checkRabbitMqStream,
  DEFAULT_RABBITMQ_STREAM,
} from './revocation/rabbitmq.js';
import { checkRedisOption, type RedisLikeClient } from './revocation/redis.js';
import type { GuardFetch } from './revocation/stream.js';

/** Where revocations come from. */
export type RevocationsOption =
  /** The issuer's Server-Sent Events stream, its URL from discovery (`revocation_events_endpoint`). */
  | 'stream'
  /** That stream at an explicit URL. */
  | { url: string }
  /** The server's Redis stream, read directly: a URL (needs `ioredis`) or your ioredis client. */
  | { redis: string | RedisLikeClient; key?: string }
  /**
   * The server's RabbitMQ stream (`revocationBroker: amqp://…`), read directly: a URL (needs
   * `amqplib`) or your amqplib connection; `stream` defaults to `tessera.revocations`.
   */
  | { rabbitmq: string | AmqpConnectionLike; stream?: string }
  /**
   * The server's NATS JetStream stream (`revocationBroker: nats://…`), read directly: a nats:// or
   * tls:// URL (needs the `nats` package) or your NatsConnection; `stream` defaults to
   * `TESSERA_REVOCATIONS`.
   */
  | { nats: string | NatsConnectionLike; stream?: string }
  /** No revocation checks: tokens stay valid until `exp` (keep their lifetime short). */
  | 'off';

export interface GuardOptions {
  /** The issuer, exactly as in the tokens' `iss` (RFC 7519 §4.1.1) and the discovery document. */
  issuer: string;
  /** This API's identifier(s): a token's `aud` must contain one (RFC 7519 §4.1.3, RFC 9068 §4). */
  audience: string | readonly string[];
  /**
   * Accepted signature algorithms (RFC 8725 §3.1). Default: the issuer's
   * `access_token_signing_alg_values_supported`, else ES256, ES384, ES512, EdDSA, PS256, RS256.
   * Asymmetric only: `HS*` and `none` are refused.
   */
  algorithms?: readonly string[];
  /** The JWKS URL (default: `jwks_uri` from discovery). */
  jwksUri?: string;
  /**
   * This API's private keys, to accept encrypted access tokens: nested JWTs (RFC 7519 §5.2, §11.2),
   * a JWE encrypted to the API's public key around the signed access token. Each a `Key` of
   * @tessera/jose or a private JWK, with the `kid` registered at the issuer and able to serve an
   * accepted key-management algorithm (a JWK with `"use": "enc"` or an `alg` such as RSA-OAEP-256).
   * Several keys for a rotation. Default: none, and encrypted tokens are refused (401).
   */
  decryptionKeys?: readonly DecryptionKey[];
  /**
   * Accepted JWE key-management algorithms (`alg`, RFC 8725 §3.1), only with `decryptionKeys`.
   * Default RSA-OAEP-256, ECDH-ES+A256KW, ECDH-ES. Private-key algorithms only: RSA-OAEP(-256/384/512),
   * ECDH-ES(+A128KW/A192KW/A256KW); `dir`, AES key wrap, PBES2 and RSA1_5 are refused.
   */
  keyManagementAlgorithms?: readonly string[];
  /**
   * Accepted JWE content-encryption algorithms (`enc`), only with `decryptionKeys`. Default A256GCM,
   * A128GCM, A256CBC-HS512; any of A128GCM, A192GCM, A256GCM, A128CBC-HS256, A192CBC-HS384, A256CBC-HS512.
   */
  contentEncryptionAlgorithms?: readonly string[];
  /** Refuse access tokens that are not encrypted (default `false`); needs `decryptionKeys`. */
  requireEncryption?: boolean;
  /** Where revocations come from (default `'stream'`). */
  revocations?: RevocationsOption;
  /**
   * DPoP (RFC 9449): accept `Authorization: DPoP <token>` with a `DPoP` proof, alongside Bearer
   * (`true` or an object of {@link DpopOptions}), or instead of it (`{ required: true }`). Default
   * `false`: Bearer only. A DPoP-bound token (`cnf.jkt`) sent as Bearer is refused either way.
   */
  dpop?: DpopOptions | boolean;
  /**
   * The guard's own client at the issuer (a confidential client registered for this API). The
   * revocation stream requires it: it is sent as HTTP Basic (RFC 6749 §2.3.1) on every connection.
   * Only with the `'stream'` / `{ url }` revocation modes; over https, or plain http only where
   * `allowInsecureHttp` allows it.
   */
  client?: ClientOption;
  /** What to do with a valid token while the revocation set is stale (default `'fail-closed'`: 503). */
  onStale?: 'fail-closed' | 'fail-open';
  /** Seconds without proof of liveness before the revocation set counts as stale (default 30). */
  staleAfter?: number;
  /** Seconds of clock skew allowed on `exp`, `nbf` and `iat` (default 0). */
  clockTolerance?: number;
  /**
   * Oldest token accepted, measured from its `iat` (RFC 7519 §4.1.6): seconds or a span (`'15m'`,
   * `'1h'`). An older token is refused as expired, whatever its `exp` (default: no limit but `exp`).
   */
  maxTokenAge?: number | string;
  /** Seconds `ready()` waits before rejecting (default 10). */
  readyTimeout?: number;
  /** The `realm` of `WWW-Authenticate` challenges (default: the first audience). */
  realm?: string;
  /**
   * Verified tokens remembered until their `exp`, so a repeat costs a map lookup (default 5000; `false`
   * to disable). With `decryptionKeys`, as many encrypted tokens are remembered with the signed token
   * each holds, so a repeat is not decrypted again.
   */
  tokenCache?: false | { max?: number };
  /** Allow plain `http:` URLs to hosts other than the loopback (default `false`). */
  allowInsecureHttp?: boolean;
  /** The fetch function for discovery, the JWKS and the event stream (default the global `fetch`). */
  fetch?: typeof fetch;
  /**
   * Where the guard logs (default: errors and warnings to the console, nothing else). pino fits.
   * Never given a token, an Authorization header or a client secret.
   */
  logger?: GuardLogger;
  /**
   * The level of the line logged for each refused request. `refusal` (default `'debug'`): the
   * client's doing, routine for an API (400, 401, 403: no, malformed, invalid, expired or revoked
   * token, a missing scope). `unavailable` (default `'warn'`): a 503 an operator must act on
   * (revocation set stale, keys unavailable, guard not started), at most once a minute per cause;
   * the repeats go at the `refusal` level. `'silent'` logs none.
   */
  logLevels?: { refusal?: LogLevel | 'silent'; unavailable?: LogLevel | 'silent' };
  /** Milliseconds since the epoch (default `Date.now`); for tests and simulations. */
  clock?: () => number;
}

/** RFC 8725 §3.1: the algorithms a guard may accept, all asymmetric (it holds public keys only). */
export const ASYMMETRIC_ALGORITHMS: ReadonlySet<string> = new Set([
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'ES256K',
  'EdDSA',
  'Ed25519',
  'Ed448',
]);

export const DEFAULT_ALGORITHMS: readonly string[] = ['ES256', 'ES384', 'ES512', 'EdDSA', 'PS256', 'RS256'];
const DEFAULT_TOKEN_CACHE = 5000;

export type ResolvedRevocations =
  | { mode: 'off' }
  | { mode: 'stream'; url: string | undefined }
  | { mode: 'redis'; redis: string | RedisLikeClient; key: string }
  | { mode: 'rabbitmq'; rabbitmq: string | AmqpConnectionLike; stream: string }
  | { mode: 'nats'; nats: string | NatsConnectionLike; stream: string };

/** The options, checked and with defaults applied: everything a guard decides once. */
export interface ResolvedOptions {
  issuer: string;
  audience: string | readonly string[];
  algorithms: readonly string[] | undefined;
  jwksUri: string | undefined;
  /** Encrypted access tokens: undefined when the guard has no decryption key. */
  decryption: ResolvedDecryption | undefined;
  revocations: ResolvedRevocations;
  /** DPoP: undefined when the guard takes Bearer tokens only. */
  dpop: ResolvedDpop | undefined;
  /** The Basic credentials for the revocation stream; they print as the client id alone. */
  client: ClientCredentials | undefined;
  failOpen: boolean;
  staleAfterMs: number;
  clockTolerance: number;
  /** Seconds, or undefined for no limit. */
  maxTokenAge: number | undefined;
  readyTimeoutMs: number;
  realm: string;
  tokenCache: number;
  allowInsecureHttp: boolean;
  fetch: GuardFetch;
  logger: GuardLog;
  logLevels: ResolvedLogLevels;
  clock: () => number;
}

export interface ResolvedLogLevels {
  refusal: LogLevel | 'silent';
  unavailable: LogLevel | 'silent';
}

/** Checks every option at `createGuard`, so a misconfiguration is a `TypeError` at start-up, not a 500 later. */
export function resolveOptions(options: GuardOptions): ResolvedOptions {
  if (typeof options !== 'object' || options === null)
    throw new TypeError('createGuard needs an options object');
  const allowInsecureHttp = options.allowInsecureHttp === true;
  const issuer = options.issuer;
  if (typeof issuer !== 'string' || issuer.length === 0)
    throw new TypeError('options.issuer is required: the exact "iss" of the tokens');
  const issuerUrl = checkUrl(issuer, 'options.issuer', allowInsecureHttp);
  // RFC 8414 §2: an issuer identifier has no query or fragment.
  if (issuerUrl.search !== '' || issuerUrl.hash !== '' || issuer.includes('?') || issuer.includes('#'))
    throw new TypeError('options.issuer must not have a query or fragment (RFC 8414 §2)');

  const audience = options.audience;
  const audiences = typeof audience === 'string' ? [audience] : audience;
  if (
    !Array.isArray(audiences) ||
    audiences.length === 0 ||
    !audiences.every((value) => typeof value === 'string' && value.length > 0)
  ) {
    throw new TypeError("options.audience is required: this API's identifier, or a non-empty array of them");
  }

  let algorithms: readonly string[] | undefined;
  if (options.algorithms !== undefined) {
    if (!Array.isArray(options.algorithms) || options.algorithms.length === 0)
      throw new TypeError('options.algorithms must be a non-empty array, e.g. ["ES256"]');
    for (const alg of options.algorithms) checkAlgorithm(alg);
    algorithms = Object.freeze([...options.algorithms]);
  }

  const jwksUri = options.jwksUri;
  if (jwksUri !== undefined) checkUrl(jwksUri, 'options.jwksUri', allowInsecureHttp);
  const decryption = resolveDecryption(options);

  const staleAfter = positiveSeconds(options.staleAfter, 30, 'staleAfter');
  const clockTolerance = options.clockTolerance ?? 0;
  if (typeof clockTolerance !== 'number' || !Number.isFinite(clockTolerance) || clockTolerance < 0)
    throw new TypeError('options.clockTolerance must be a non-negative number of seconds');
  const readyTimeout = positiveSeconds(options.readyTimeout, 10, 'readyTimeout');
  const maxTokenAge = options.maxTokenAge === undefined ? undefined : positiveSpan(options.maxTokenAge);
  const revocations = resolveRevocations(options.revocations, allowInsecureHttp);
  const dpop = resolveDpop(options.dpop);
  let client: ClientCredentials | undefined;
  if (options.client !== undefined) {
    client = checkClientOption(options.client);
    // Only the event stream authenticates the guard: a secret that would never be sent is a
    // misunderstanding (Redis is authenticated by its URL or client), better said now.
    if (revocations.mode !== 'stream')
      throw new TypeError(
        `options.client is sent to the issuer's revocation stream only; with revocations ${revocations.mode === 'off' ? "'off'" : `{ ${revocations.mode} }`} it would never be used`,
      );
  }

  const onStale = options.onStale ?? 'fail-closed';
  if (onStale !== 'fail-closed' && onStale !== 'fail-open')
    throw new TypeError("options.onStale must be 'fail-closed' or 'fail-open'");

  const realm = options.realm ?? audiences[0]!;
  // RFC 9110 §5.6.4: a quoted-string holds no control characters.
  if (typeof realm !== 'string' || /[\x00-\x1F\x7F]/.test(realm))
    throw new TypeError('options.realm must be a string without control characters');

  let tokenCache = DEFAULT_TOKEN_CACHE;
  if (options.tokenCache === false) tokenCache = 0;
  else if (options.tokenCache !== undefined) {
    const max = options.tokenCache.max ?? DEFAULT_TOKEN_CACHE;
    if (!Number.isSafeInteger(max) || max < 0)
      throw new TypeError('options.tokenCache.max must be a non-negative integer');
    tokenCache = max;
  }

  const fetchFn = options.fetch ?? globalThis.fetch;
  if (typeof fetchFn !== 'function') throw new TypeError('options.fetch must be a function');
  const logger = options.logger ?? consoleLogger;
  if (typeof logger !== 'object' || logger === null || typeof logger.warn !== 'function')
    throw new TypeError('options.logger must have a warn(fields, message) method');
  for (const level of LOG_LEVELS) {
    if (logger[level] !== undefined && typeof logger[level] !== 'function')
      throw new TypeError(`options.logger.${level} must be a method (fields, message), or absent`);
  }
  const clock = options.clock ?? Date.now;
  if (typeof clock !== 'function') throw new TypeError('options.clock must be a function');

  return {
    issuer,
    audience: typeof audience === 'string' ? audience : Object.freeze([...audiences]),
    algorithms,
    jwksUri,
    decryption,
    revocations,
    dpop,
    client,
    failOpen: onStale === 'fail-open',
    staleAfterMs: staleAfter * 1000,
    clockTolerance,
    maxTokenAge,
    readyTimeoutMs: readyTimeout * 1000,
    realm,
    tokenCache,
    allowInsecureHttp,
    fetch: (url, init) => fetchFn(url, init),
    logger: guardLogOf(logger),
    logLevels: resolveLogLevels(options.logLevels),
    clock,
  };
}

const DEFAULT_LOG_LEVELS: ResolvedLogLevels = { refusal: 'debug', unavailable: 'warn' };

function resolveLogLevels(value: GuardOptions['logLevels']): ResolvedLogLevels {
  if (value === undefined) return DEFAULT_LOG_LEVELS;
  if (typeof value !== 'object' || value === null)
    throw new TypeError('options.logLevels must be an object: { refusal?, unavailable? }');
  const levels = { ...DEFAULT_LOG_LEVELS };
  for (const [name, level] of Object.entries(value)) {
    if (name !== 'refusal' && name !== 'unavailable')
      throw new TypeError(`options.logLevels has no "${name}": use refusal and unavailable`);
    if (level === undefined) continue;
    if (level !== 'silent' && !LOG_LEVELS.includes(level as LogLevel))
      throw new TypeError(`options.logLevels.${name} must be one of ${[...LOG_LEVELS, 'silent'].join(', ')}`);
    levels[name] = level as LogLevel | 'silent';
  }
  return levels;
}

/**
 * RFC 8725 §2.1, §3.1: a guard verifies with the issuer's public keys, so only asymmetric
 * algorithms make sense. Listing HS256 would invite the classic confusion where a public key is
 * used as an HMAC secret; `none` would accept unsigned tokens.
 */
export function checkAlgorithm(alg: unknown): void {
  if (typeof alg !== 'string') throw new TypeError('options.algorithms must hold strings');
  if (alg.toLowerCase() === 'none')
    throw new TypeError('algorithm "none" is refused: the guard accepts signed tokens only (RFC 8725 §3.1)');
  if (/^HS\d+$/i.test(alg))
    throw new TypeError(
      `algorithm ${JSON.stringify(alg)} is refused: the guard verifies with the issuer's public keys, so only asymmetric algorithms are accepted (RFC 8725 §2.1, §3.1)`,
    );
  if (!ASYMMETRIC_ALGORITHMS.has(alg))
    throw new TypeError(
      `unsupported algorithm ${JSON.stringify(alg)}; use one of ${[...ASYMMETRIC_ALGORITHMS].join(', ')}`,
    );
}

function resolveRevocations(
  value: RevocationsOption | undefined,
  allowInsecureHttp: boolean,
): ResolvedRevocations {
  if (value === undefined || value === 'stream') return { mode: 'stream', url: undefined };
  if (value === 'off') return { mode: 'off' };
  if (typeof value === 'object' && value !== null) {
    if ('url' in value) {
      checkUrl(value.url, 'options.revocations.url', allowInsecureHttp);
      return { mode: 'stream', url: value.url };
    }
    if ('redis' in value) {
      const { redis, key = 'tessera:revocations' } = value;
      checkRedisOption(redis, 'options.revocations.redis');
      if (typeof key !== 'string' || key.length === 0)
        throw new TypeError('options.revocations.key must be a non-empty string');
      return { mode: 'redis', redis, key };
    }
    // `stream` is the server's `?stream=` on its revocationBroker URL, each broker's names checked
    // by the server's own rule.
    if ('rabbitmq' in value) {
      const { rabbitmq, stream = DEFAULT_RABBITMQ_STREAM } = value;
      checkRabbitMqOption(rabbitmq, 'options.revocations.rabbitmq');
      checkRabbitMqStream(stream, 'options.revocations.stream');
      return { mode: 'rabbitmq', rabbitmq, stream };
    }
    if ('nats' in value) {
      const { nats, stream = DEFAULT_NATS_STREAM } = value;
      checkNatsOption(nats, 'options.revocations.nats');
      checkNatsStream(stream, 'options.revocations.stream');
      return { mode: 'nats', nats, stream };
    }
  }
  throw new TypeError(
    "options.revocations must be 'stream', 'off', { url }, { redis, key? }, { rabbitmq, stream? } or { nats, stream? }",
  );
}

function checkUrl(value: unknown, name: string, allowInsecureHttp: boolean): URL {
  let url: URL;
  try {
    url = new URL(value as string);
  } catch {
    throw new TypeError(`${name} must be an absolute URL`);
  }
  if (url.username !== '' || url.password !== '') throw new TypeError(`${name} must not contain credentials`);
  if (url.protocol === 'https:') return url;
  if (url.protocol === 'http:' && (allowInsecureHttp || isLoopbackHost(url.hostname))) return url;
  throw new TypeError(
    `${name} must use https (plain http only to the loopback, or with allowInsecureHttp: true on a trusted network)`,
  );
}

export function isAllowedUrl(value: string, allowInsecureHttp: boolean): boolean {
  try {
    checkUrl(value, 'url', allowInsecureHttp);
    return true;
  } catch {
    return false;
  }
}

/**
 * `maxTokenAge` as whole seconds, parsed as @tessera/jose parses every span (so `'15m'` means the
 * same here as in verifyJwt). Zero would refuse nearly every token, so it must be positive.
 */
function positiveSpan(value: number | string): number {
  if (typeof value !== 'number' && typeof value !== 'string')
    throw new TypeError("options.maxTokenAge must be seconds or a span like '15m'");
  const seconds = parseTimeSpan(value, 'options.maxTokenAge');
  if (seconds === 0) throw new TypeError('options.maxTokenAge must be at least one second');
  return seconds;
}

function positiveSeconds(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0)
    throw new TypeError(`options.${name} must be a positive number of seconds`);
  return value;
}
