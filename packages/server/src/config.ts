import { isIP } from 'node:net';
import { resolve } from 'node:path';
import { parseTimeSpan } from '@tessera/jose';
import { brokerUrlProblem } from './revocation/broker_url.js';
import { webOriginProblem } from './store/web_origin.js';

/** The server's settings, validated. Durations are seconds. */
export interface Config {
  host: string;
  port: number;
  /** The issuer URL (`iss`), without a trailing slash. */
  issuer: string;
  /** Where the SQLite database and the development master key live. */
  dataDir: string;
  /** PostgreSQL instead of SQLite when set. */
  databaseUrl: string | undefined;
  /**
   * Redis for what every instance must share at once (revocation stream, denylist, login counters).
   * Without it one process keeps these in memory: fine on one machine, wrong for several instances.
   */
  redisUrl: string | undefined;
  /** Prefix of every Redis key, so several deployments can share one Redis. */
  redisPrefix: string;
  /**
   * A message broker that carries revocations between instances instead of Redis's stream (Redis, if
   * also set, stays for rate limits and replay caches). Its URL's scheme picks it
   * (revocation/broker_url.ts): `amqp://`, `amqps://` a RabbitMQ stream queue; `nats://`, `tls://` a
   * NATS JetStream stream; `?stream=` names the stream on either. May hold credentials: never printed.
   */
  revocationBroker: string | undefined;
  /** 32 bytes, base64url. Without it a key file in the data directory is used (development only). */
  masterKey: string | undefined;
  /**
   * Previous master keys, only to open what they sealed until `tessera keys reseal` has sealed it all
   * again under `masterKey`. Same format, comma-separated.
   */
  masterKeyring: string[];
  /** Default audience of access tokens (clients may narrow it). */
  audience: string;
  /** Signs access tokens. */
  signingAlg: SigningAlg;
  /**
   * Signs ID tokens: RS256 by default, which OpenID Connect Discovery 1.0 §3 requires every provider
   * to support (`id_token_signing_alg_values_supported`), whatever signs the access tokens.
   */
  idTokenSigningAlg: SigningAlg;
  accessTokenTtl: number;
  /** How long an ID token is valid (its `exp`). */
  idTokenTtl: number;
  /**
   * How long a browser stays signed in at the provider (the SSO session): within it, an authorization
   * request needs no password. Never beyond `refreshAbsoluteTtl`, or signing in again through the
   * browser would outlast the session limit that forces a new login.
   */
  ssoSessionTtl: number;
  refreshIdleTtl: number;
  refreshAbsoluteTtl: number;
  /** A duplicate refresh of the immediate predecessor inside this window gets the same successor. */
  refreshGrace: number;
  /**
   * RFC 9449 §8: DPoP proofs at the token endpoint and `/login` must carry a nonce this server
   * issued (`use_dpop_nonce` and a `DPoP-Nonce` header otherwise). On by default: a proof made in
   * advance, or taken from a compromised client, stops working within minutes.
   */
  dpopNonce: boolean;
  keyRotationInterval: number;
  adminPassword: string | undefined;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /**
   * Proxies whose `X-Forwarded-For` is believed (addresses or CIDRs). Empty: the socket's peer is the
   * client, so behind a load balancer every client would share one per-address login budget.
   */
  trustProxy: string[];
  /** Longest time to receive a request's headers (slow-header clients are cut off). */
  headersTimeout: number;
  /** Longest time to receive a whole request, headers and body (slow-body clients are cut off). */
  requestTimeout: number;
  /**
   * `GET /revocations` without resource-server credentials. Off by default: the stream is for guards,
   * which authenticate as confidential clients.
   */
  revocationStreamPublic: boolean;
  /**
   * Outbox deliveries (back-channel logout) may reach private network addresses (RFC 1918, CGNAT,
   * IPv6 ULA), and clients may register URIs with such literals. Off by default: a registered URI is
   * the registrant's choice, and the server's own network is not theirs to reach (SSRF). Link-local
   * (cloud metadata) stays refused either way.
   */
  deliveryAllowPrivateNetworks: boolean;
  /** Open revocation streams at once, in all and per client address. */
  maxRevocationStreams: number;
  maxRevocationStreamsPerAddress: number;
  /** A bearer token that unlocks `GET /metrics` on the main listener. */
  metricsToken: string | undefined;
  /** A separate listener (on `metricsHost`) serving only `/metrics`, without a token. */
  metricsPort: number | undefined;
  metricsHost: string;
  /** Revocation-producing requests (revoke, logout) allowed per minute for one user, and for one client. */
  revocationRateUser: number;
  revocationRateClient: number;
  /** Audit rows older than this are deleted. */
  auditRetention: number;
  /** Usernames in failed-login audit rows (possibly a mistyped password) are erased after this. */
  auditUsernameRetention: number;
  /**
   * Browser origins of the built-in web client besides those registered with `tessera client update
   * web --web-origin`: CORS with credentials and the cookie logins (http/cors.ts). For development
   * servers and examples that start without a setup step.
   */
  webOrigins: string[];
}

/** The JWS algorithms Tessera signs with (RFC 7518 §3.1, RFC 8037 §3.1). */
export type SigningAlg = 'ES256' | 'ES384' | 'ES512' | 'EdDSA' | 'RS256' | 'PS256';

/** A setting with a bad value. The server does not start; the message names the setting. */
export class ConfigError extends Error {
  constructor(
    readonly setting: string,
    message: string,
  ) {
    // Name the setting as the operator sets it, too: `port (TESSERA_PORT, --port): …`.
    const where = Object.hasOwn(SETTINGS, setting) ? SETTINGS[setting as keyof Config] : undefined;
    const names = where ? [where.env, where.flag && `--${where.flag}`].filter(Boolean).join(', ') : '';
    super(`${setting}${names ? ` (${names})` : ''}: ${message}`);
    this.name = 'ConfigError';
  }
}

/**
 * How an operator sets one setting, and what `tessera --help` says about it. The command line's
 * options and help are made from this table (cli/args.ts, cli/help.ts), so a setting added here is
 * a flag at once.
 */
export interface SettingSpec {
  /** The environment variable. */
  env: string;
  /** The flag, without `--`; undefined for secrets, which stay out of the process list (`ps`). */
  flag: string | undefined;
  /** One line for `--help`: what the setting is, with a derived default in words where it has one. */
  help: string;
  /** The placeholder of the flag's value in `--help` (`--port <number>`). */
  value?: string;
  /** The default, as an operator would write it (a test checks it is the default loadConfig applies). */
  default?: string;
}

/** Each setting: its environment variable, its flag, its help, and its default as written. */
export const SETTINGS = {
  host: { env: 'TESSERA_HOST', flag: 'host', help: 'listen address', value: 'address', default: '127.0.0.1' },
  port: { env: 'TESSERA_PORT', flag: 'port', help: 'listen port', value: 'number', default: '4000' },
  issuer: {
    env: 'TESSERA_ISSUER',
    flag: 'issuer',
    help: "issuer URL, the tokens' iss (default http://<host>:<port>)",
    value: 'url',
  },
  dataDir: {
    env: 'TESSERA_DATA_DIR',
    flag: 'data-dir',
    help: 'data directory: the SQLite database and the development master key',
    value: 'dir',
    default: '.tessera',
  },
  databaseUrl: {
    env: 'DATABASE_URL',
    flag: 'database-url',
    help: 'PostgreSQL instead of SQLite',
    value: 'postgres://…',
  },
  redisUrl: {
    env: 'REDIS_URL',
    flag: 'redis-url',
    help: 'Redis shared by every instance (6.2 or later); unset, one process keeps revocations in memory',
    value: 'redis://…',
  },
  redisPrefix: {
    env: 'TESSERA_REDIS_PREFIX',
    flag: 'redis-prefix',
    help: 'prefix of every Redis key',
    value: 'prefix',
    default: 'tessera:',
  },
  revocationBroker: {
    env: 'TESSERA_REVOCATION_BROKER',
    flag: 'revocation-broker',
    help: 'message broker carrying revocations between instances: amqp(s)://… (RabbitMQ ≥ 3.9 stream) or nats://… / tls://… (JetStream), ?stream=<name>; unset, Redis or memory',
    value: 'amqp://…|nats://…',
  },
  masterKey: {
    env: 'TESSERA_MASTER_KEY',
    flag: undefined,
    help: 'master key, 32 bytes base64url (tessera keygen --master); unset, a key file in the data directory (development only)',
  },
  masterKeyring: {
    env: 'TESSERA_MASTER_KEYRING',
    flag: undefined,
    help: 'previous master keys, comma-separated, to open what they sealed until `tessera keys reseal`',
  },
  audience: {
    env: 'TESSERA_AUDIENCE',
    flag: 'audience',
    help: 'access-token audience (aud) for clients without audiences of their own (default the issuer)',
    value: 'uri',
  },
  signingAlg: {
    env: 'TESSERA_SIGNING_ALG',
    flag: 'signing-alg',
    help: 'access-token signing algorithm: ES256, ES384, ES512, EdDSA, RS256 or PS256',
    value: 'alg',
    default: 'ES256',
  },
  idTokenSigningAlg: {
    env: 'TESSERA_ID_TOKEN_SIGNING_ALG',
    flag: 'id-token-signing-alg',
    help: 'ID-token signing algorithm: ES256, ES384, ES512, EdDSA, RS256 or PS256',
    value: 'alg',
    default: 'RS256',
  },
  accessTokenTtl: {
    env: 'TESSERA_ACCESS_TOKEN_TTL',
    flag: 'access-token-ttl',
    help: 'access-token lifetime',
    value: 'span',
    default: '15m',
  },
  idTokenTtl: {
    env: 'TESSERA_ID_TOKEN_TTL',
    flag: 'id-token-ttl',
    help: 'ID-token lifetime',
    value: 'span',
    default: '1h',
  },
  ssoSessionTtl: {
    env: 'TESSERA_SSO_SESSION_TTL',
    flag: 'sso-session-ttl',
    help: 'a browser stays signed in at the provider this long (at most refresh-absolute-ttl)',
    value: 'span',
    default: '1d',
  },
  refreshIdleTtl: {
    env: 'TESSERA_REFRESH_IDLE_TTL',
    flag: 'refresh-idle-ttl',
    help: 'a refresh token unused this long expires',
    value: 'span',
    default: '14d',
  },
  refreshAbsoluteTtl: {
    env: 'TESSERA_REFRESH_ABSOLUTE_TTL',
    flag: 'refresh-absolute-ttl',
    help: 'a session (refresh-token family) ends this long after its login',
    value: 'span',
    default: '30d',
  },
  refreshGrace: {
    env: 'TESSERA_REFRESH_GRACE',
    flag: 'refresh-grace',
    help: 'a repeated refresh of the previous token within this gets the same successor',
    value: 'span',
    default: '5s',
  },
  dpopNonce: {
    env: 'TESSERA_DPOP_NONCE',
    flag: 'dpop-nonce',
    help: 'DPoP proofs at /token and /login must carry a server nonce (RFC 9449 §8)',
    value: 'true|false',
    default: 'true',
  },
  keyRotationInterval: {
    env: 'TESSERA_KEY_ROTATION_INTERVAL',
    flag: 'key-rotation-interval',
    help: 'signing keys rotate this often',
    value: 'span',
    default: '30d',
  },
  adminPassword: {
    env: 'TESSERA_ADMIN_PASSWORD',
    flag: undefined,
    help: "the first admin's password (default generated, printed once)",
  },
  logLevel: {
    env: 'TESSERA_LOG_LEVEL',
    flag: 'log-level',
    help: 'log level: fatal, error, warn, info, debug, trace or silent',
    value: 'level',
    default: 'info',
  },
  trustProxy: {
    env: 'TESSERA_TRUST_PROXY',
    flag: 'trust-proxy',
    help: 'proxies whose X-Forwarded-For is believed: addresses or CIDR blocks, comma-separated',
    value: 'cidrs',
  },
  headersTimeout: {
    env: 'TESSERA_HEADERS_TIMEOUT',
    flag: 'headers-timeout',
    help: "longest time to receive a request's headers",
    value: 'span',
    default: '10s',
  },
  requestTimeout: {
    env: 'TESSERA_REQUEST_TIMEOUT',
    flag: 'request-timeout',
    help: 'longest time to receive a whole request, headers and body',
    value: 'span',
    default: '30s',
  },
  deliveryAllowPrivateNetworks: {
    env: 'TESSERA_DELIVERY_ALLOW_PRIVATE_NETWORKS',
    flag: 'delivery-allow-private-networks',
    help: 'let back-channel logout reach private network addresses (10/8, 172.16/12, 192.168/16, 100.64/10, fc00::/7)',
    value: 'true|false',
    default: 'false',
  },
  revocationStreamPublic: {
    env: 'TESSERA_REVOCATION_STREAM_PUBLIC',
    flag: 'revocation-stream-public',
    help: 'serve GET /revocations without resource-server credentials',
    value: 'true|false',
    default: 'false',
  },
  maxRevocationStreams: {
    env: 'TESSERA_MAX_REVOCATION_STREAMS',
    flag: 'max-revocation-streams',
    help: 'open revocation streams at most, in all',
    value: 'number',
    default: '1000',
  },
  maxRevocationStreamsPerAddress: {
    env: 'TESSERA_MAX_REVOCATION_STREAMS_PER_ADDRESS',
    flag: 'max-revocation-streams-per-address',
    help: 'open revocation streams at most, per client address',
    value: 'number',
    default: '16',
  },
  metricsToken: {
    env: 'TESSERA_METRICS_TOKEN',
    flag: undefined,
    help: 'bearer token (32 characters or more) that unlocks GET /metrics on the main listener',
  },
  metricsPort: {
    env: 'TESSERA_METRICS_PORT',
    flag: 'metrics-port',
    help: 'a separate listener serving only /metrics, without a token',
    value: 'number',
  },
  metricsHost: {
    env: 'TESSERA_METRICS_HOST',
    flag: 'metrics-host',
    help: 'address of the metrics listener',
    value: 'address',
    default: '127.0.0.1',
  },
  revocationRateUser: {
    env: 'TESSERA_REVOCATION_RATE_USER',
    flag: 'revocation-rate-user',
    help: 'revoke and logout requests allowed per minute for one user',
    value: 'number',
    default: '30',
  },
  revocationRateClient: {
    env: 'TESSERA_REVOCATION_RATE_CLIENT',
    flag: 'revocation-rate-client',
    help: 'revoke and logout requests allowed per minute for one client',
    value: 'number',
    default: '1200',
  },
  auditRetention: {
    env: 'TESSERA_AUDIT_RETENTION',
    flag: 'audit-retention',
    help: 'audit rows older than this are deleted',
    value: 'span',
    default: '90d',
  },
  auditUsernameRetention: {
    env: 'TESSERA_AUDIT_USERNAME_RETENTION',
    flag: 'audit-username-retention',
    help: 'usernames in failed-login audit rows are erased after this',
    value: 'span',
    default: '7d',
  },
  webOrigins: {
    env: 'TESSERA_WEB_ORIGINS',
    flag: 'web-origins',
    help: 'browser origins of the built-in web client (CORS with credentials), comma-separated, besides the registered ones',
    value: 'origins',
  },
} as const satisfies Record<keyof Config, SettingSpec>;

const SECRET_SETTINGS: ReadonlySet<keyof Config> = new Set([
  'masterKey',
  'masterKeyring',
  'adminPassword',
  'databaseUrl',
  'redisUrl',
  'revocationBroker',
  'metricsToken',
]);
const SIGNING_ALGS: readonly SigningAlg[] = ['ES256', 'ES384', 'ES512', 'EdDSA', 'RS256', 'PS256'];
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/**
 * Reads the configuration from flags (`--port 4000`), then the environment (`TESSERA_PORT`), then
 * defaults, and validates every value. A bad value throws {@link ConfigError} naming the setting.
 */
export function loadConfig(
  env: Record<string, string | undefined> = process.env,
  flags: Record<string, string | undefined> = {},
  overrides: Partial<Config> = {},
): Config {
  const raw = (key: keyof Config): string | undefined => {
    const { env: name, flag } = SETTINGS[key];
    const value = (flag !== undefined ? flags[flag] : undefined) ?? env[name];
    return value === '' ? undefined : value;
  };
  /** The setting as given, else its default as the settings table writes it (one place for both). */
  const given = (key: keyof Config): string => {
    const value = raw(key) ?? (SETTINGS[key] as SettingSpec).default;
    if (value === undefined) throw new Error(`setting ${key} has no default`);
    return value;
  };
  const host = overrides.host ?? given('host');
  const port = overrides.port ?? integer('port', given('port'), 0, 65535);
  const issuer =
    overrides.issuer ??
    url('issuer', raw('issuer') ?? `http://${host.includes(':') ? `[${host}]` : host}:${port}`);
  const accessTokenTtl =
    overrides.accessTokenTtl ?? span('accessTokenTtl', given('accessTokenTtl'), 30, 86_400);
  const refreshAbsoluteTtl =
    overrides.refreshAbsoluteTtl ??
    span('refreshAbsoluteTtl', given('refreshAbsoluteTtl'), 60, 3 * 365 * 86_400);
  const ssoSessionGiven =
    overrides.ssoSessionTtl ?? span('ssoSessionTtl', given('ssoSessionTtl'), 300, 365 * 86_400);
  // Left unset, the default gives way to a shorter refreshAbsoluteTtl, so a configuration that worked
  // before SSO sessions existed keeps working; set, it must fit (checked below).
  const ssoSessionTtl =
    overrides.ssoSessionTtl === undefined && raw('ssoSessionTtl') === undefined
      ? Math.min(ssoSessionGiven, refreshAbsoluteTtl)
      : ssoSessionGiven;
  const config: Config = {
    host,
    port,
    issuer,
    dataDir: resolve(overrides.dataDir ?? given('dataDir')),
    databaseUrl: overrides.databaseUrl ?? databaseUrl(raw('databaseUrl')),
    redisUrl: overrides.redisUrl ?? redisUrl(raw('redisUrl')),
    redisPrefix: overrides.redisPrefix ?? redisPrefix(given('redisPrefix')),
    revocationBroker: overrides.revocationBroker ?? revocationBroker(raw('revocationBroker')),
    masterKey: overrides.masterKey ?? masterKey(raw('masterKey')),
    masterKeyring:
      overrides.masterKeyring ??
      (raw('masterKeyring') ?? '')
        .split(',')
        .map((key) => key.trim())
        .filter(Boolean)
        .map((key) => masterKey(key, 'masterKeyring') as string),
    audience: overrides.audience ?? raw('audience') ?? issuer,
    signingAlg: overrides.signingAlg ?? oneOf('signingAlg', given('signingAlg'), SIGNING_ALGS),
    idTokenSigningAlg:
      overrides.idTokenSigningAlg ?? oneOf('idTokenSigningAlg', given('idTokenSigningAlg'), SIGNING_ALGS),
    accessTokenTtl,
    idTokenTtl: overrides.idTokenTtl ?? span('idTokenTtl', given('idTokenTtl'), 60, 86_400),
    ssoSessionTtl,
    refreshIdleTtl:
      overrides.refreshIdleTtl ?? span('refreshIdleTtl', given('refreshIdleTtl'), 60, 365 * 86_400),
    refreshAbsoluteTtl,
    refreshGrace: overrides.refreshGrace ?? span('refreshGrace', given('refreshGrace'), 0, 60),
    dpopNonce: overrides.dpopNonce ?? boolean('dpopNonce', given('dpopNonce')),
    keyRotationInterval:
      overrides.keyRotationInterval ??
      span('keyRotationInterval', given('keyRotationInterval'), 3600, 365 * 86_400),
    adminPassword: overrides.adminPassword ?? raw('adminPassword'),
    logLevel: overrides.logLevel ?? oneOf('logLevel', given('logLevel'), LOG_LEVELS),
    trustProxy: overrides.trustProxy ?? proxies(raw('trustProxy')),
    headersTimeout: overrides.headersTimeout ?? span('headersTimeout', given('headersTimeout'), 1, 600),
    requestTimeout: overrides.requestTimeout ?? span('requestTimeout', given('requestTimeout'), 1, 600),
    revocationStreamPublic:
      overrides.revocationStreamPublic ?? boolean('revocationStreamPublic', given('revocationStreamPublic')),
    deliveryAllowPrivateNetworks:
      overrides.deliveryAllowPrivateNetworks ??
      boolean('deliveryAllowPrivateNetworks', given('deliveryAllowPrivateNetworks')),
    maxRevocationStreams:
      overrides.maxRevocationStreams ??
      integer('maxRevocationStreams', given('maxRevocationStreams'), 1, 1_000_000),
    maxRevocationStreamsPerAddress:
      overrides.maxRevocationStreamsPerAddress ??
      integer('maxRevocationStreamsPerAddress', given('maxRevocationStreamsPerAddress'), 1, 1_000_000),
    metricsToken: overrides.metricsToken ?? metricsToken(raw('metricsToken')),
    metricsPort:
      overrides.metricsPort ??
      (raw('metricsPort') === undefined ? undefined : integer('metricsPort', raw('metricsPort')!, 0, 65535)),
    metricsHost: overrides.metricsHost ?? given('metricsHost'),
    revocationRateUser:
      overrides.revocationRateUser ??
      integer('revocationRateUser', given('revocationRateUser'), 1, 1_000_000),
    revocationRateClient:
      overrides.revocationRateClient ??
      integer('revocationRateClient', given('revocationRateClient'), 1, 10_000_000),
    auditRetention:
      overrides.auditRetention ?? span('auditRetention', given('auditRetention'), 86_400, 10 * 365 * 86_400),
    auditUsernameRetention:
      overrides.auditUsernameRetention ??
      span('auditUsernameRetention', given('auditUsernameRetention'), 3600, 10 * 365 * 86_400),
    webOrigins: overrides.webOrigins ?? webOrigins(raw('webOrigins')),
  };
  if (config.refreshIdleTtl > config.refreshAbsoluteTtl) {
    throw new ConfigError(
      'refreshIdleTtl',
      `must not exceed refreshAbsoluteTtl (${config.refreshAbsoluteTtl} s)`,
    );
  }
  // A signed-in browser gets new sessions without a password: a longer SSO session would outlast the
  // absolute session limit, which exists to make users log in again.
  if (config.ssoSessionTtl > config.refreshAbsoluteTtl) {
    throw new ConfigError(
      'ssoSessionTtl',
      `must not exceed refreshAbsoluteTtl (${config.refreshAbsoluteTtl} s)`,
    );
  }
  // Keys rotate every interval and a retired key stays published until the tokens it signed have
  // expired: with tokens shorter than the interval, an algorithm has at most one retired key (two
  // for the few minutes of RETIRED_KEY_MARGIN) beside its current and next. (Per-client lifetimes,
  // up to a day, may exceed it: the JWKS then holds a few more retired keys, which is harmless.)
  if (config.keyRotationInterval <= config.accessTokenTtl) {
    throw new ConfigError('keyRotationInterval', 'must be longer than accessTokenTtl');
  }
  // The equal case is allowed: an hour is both the shortest rotation and the ID-token default.
  if (config.idTokenTtl > config.keyRotationInterval) {
    throw new ConfigError(
      'idTokenTtl',
      `must not exceed keyRotationInterval (${config.keyRotationInterval} s)`,
    );
  }
  if (config.headersTimeout > config.requestTimeout) {
    throw new ConfigError('headersTimeout', `must not exceed requestTimeout (${config.requestTimeout} s)`);
  }
  if (config.auditUsernameRetention > config.auditRetention) {
    throw new ConfigError(
      'auditUsernameRetention',
      `must not exceed auditRetention (${config.auditRetention} s)`,
    );
  }
  if (config.adminPassword !== undefined && config.adminPassword.length < 12) {
    throw new ConfigError('adminPassword', 'must be at least 12 characters');
  }
  return config;
}

/** The effective configuration for printing: secrets redacted, each with where to set it. */
export function describeConfig(config: Config): Record<string, string | number> {
  const out: Record<string, string | number> = {};
  for (const key of Object.keys(SETTINGS) as (keyof Config)[]) {
    const value = config[key];
    if (value === undefined) continue;
    out[key] = SECRET_SETTINGS.has(key)
      ? '[redacted]'
      : Array.isArray(value)
        ? value.join(',')
        : typeof value === 'boolean'
          ? String(value)
          : value;
  }
  return out;
}

function integer(setting: string, value: string, min: number, max: number): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < min || n > max)
    throw new ConfigError(setting, `expected an integer from ${min} to ${max}, got ${JSON.stringify(value)}`);
  return n;
}

function span(setting: string, value: string, min: number, max: number): number {
  let seconds: number;
  try {
    seconds = parseTimeSpan(/^\d+$/.test(value) ? Number(value) : value, setting);
  } catch {
    throw new ConfigError(
      setting,
      `expected seconds or a span like '15m', '14d', got ${JSON.stringify(value)}`,
    );
  }
  if (seconds < min || seconds > max)
    throw new ConfigError(setting, `must be from ${min} to ${max} seconds, got ${seconds}`);
  return seconds;
}

function url(setting: string, value: string): string {
  let parsed: URL;
  try {
    parsed = new URL(value);
  } catch {
    throw new ConfigError(setting, `expected an absolute URL, got ${JSON.stringify(value)}`);
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:')
    throw new ConfigError(setting, 'must be an http(s) URL');
  // RFC 8414 §2: the issuer has no query or fragment.
  // An empty `?` or `#` leaves search and hash empty but is still a query or fragment.
  if (parsed.search || parsed.hash || /[?#]/.test(value))
    throw new ConfigError(setting, 'must not have a query or fragment');
  return value.replace(/\/+$/, '');
}

function oneOf<T extends string>(setting: string, value: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(value)) {
    throw new ConfigError(setting, `expected one of ${allowed.join(', ')}, got ${JSON.stringify(value)}`);
  }
  return value as T;
}

function redisUrl(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (!/^rediss?:\/\/[^\s]+$/.test(value))
    throw new ConfigError('redisUrl', 'must be a redis:// or rediss:// URL');
  return value;
}

function revocationBroker(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  // The reason never repeats the URL: it may carry a password or a token.
  const problem = brokerUrlProblem(value);
  if (problem !== undefined) throw new ConfigError('revocationBroker', problem);
  return value;
}

function redisPrefix(value: string): string {
  if (!/^[A-Za-z0-9:_{}.-]{1,64}$/.test(value))
    throw new ConfigError('redisPrefix', 'expected 1 to 64 letters, digits or : _ { } . -');
  return value;
}

function databaseUrl(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (!/^postgres(ql)?:\/\//.test(value)) throw new ConfigError('databaseUrl', 'must be a postgres:// URL');
  return value;
}

function masterKey(value: string | undefined, setting = 'masterKey'): string | undefined {
  if (value === undefined) return undefined;
  if (!/^[\w-]{43}$/.test(value) || Buffer.from(value, 'base64url').length !== 32) {
    throw new ConfigError(
      setting,
      'expected 32 random bytes in base64url (43 characters); make one with `tessera keygen --master`',
    );
  }
  return value;
}

function boolean(setting: string, value: string): boolean {
  if (value === 'true' || value === '1') return true;
  if (value === 'false' || value === '0') return false;
  throw new ConfigError(setting, `expected true or false, got ${JSON.stringify(value)}`);
}

/** A comma-separated list of IPv4/IPv6 addresses or CIDR blocks (`10.0.0.0/8, ::1`). */
function proxies(value: string | undefined): string[] {
  if (value === undefined) return [];
  const list = value
    .split(',')
    .map((part) => part.trim())
    .filter(Boolean);
  for (const entry of list) {
    const [address, bits, extra] = entry.split('/');
    const family = isIP(address ?? '');
    const max = family === 6 ? 128 : 32;
    if (
      family === 0 ||
      extra !== undefined ||
      (bits !== undefined && !(/^\d{1,3}$/.test(bits) && Number(bits) <= max))
    )
      throw new ConfigError(
        'trustProxy',
        `expected IP addresses or CIDR blocks, got ${JSON.stringify(entry)}`,
      );
  }
  return list;
}

/** A comma-separated list of exact browser origins (`http://localhost:5173,https://app.example`). */
function webOrigins(value: string | undefined): string[] {
  if (value === undefined) return [];
  const list = value
    .split(',')
    .map((part) => part.trim())
    .filter(Boolean);
  for (const origin of list) {
    const problem = webOriginProblem(origin);
    if (problem) throw new ConfigError('webOrigins', problem);
  }
  return [...new Set(list)];
}

function metricsToken(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  // A bearer secret an attacker could guess would open the metrics to anyone.
  if (value.length < 32 || !/^[\x21-\x7e]+$/.test(value))
    throw new ConfigError('metricsToken', 'expected at least 32 printable characters without spaces');
  return value;
}
