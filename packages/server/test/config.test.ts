import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, describeConfig, loadConfig } from '../src/config.js';

const MASTER_KEY = '8DFutdaHWD6AYXNMyr-4Dc21vW0IrMm3NXGyktWbLjY';
const OLD_KEY = 'B'.repeat(43);
const METRICS_TOKEN = 'metrics-0123456789-abcdefghijklmnopqrstuvwxyz';

/** The ConfigError thrown by `fn`, or a failure if it does not throw one. */
function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('loadConfig defaults', () => {
  it('listens on 127.0.0.1:4000 with data in ./.tessera, 15-minute ES256 access tokens and hour-long RS256 ID tokens', () => {
    const config = loadConfig({}, {});
    expect(config).toEqual({
      host: '127.0.0.1',
      port: 4000,
      issuer: 'http://127.0.0.1:4000',
      dataDir: resolve('.tessera'),
      databaseUrl: undefined,
      redisUrl: undefined,
      redisPrefix: 'tessera:',
      revocationBroker: undefined,
      masterKey: undefined,
      audience: 'http://127.0.0.1:4000',
      signingAlg: 'ES256',
      idTokenSigningAlg: 'RS256',
      accessTokenTtl: 900,
      idTokenTtl: 3600,
      ssoSessionTtl: 86_400,
      refreshIdleTtl: 14 * 86_400,
      refreshAbsoluteTtl: 30 * 86_400,
      refreshGrace: 5,
      dpopNonce: true,
      keyRotationInterval: 30 * 86_400,
      adminPassword: undefined,
      logLevel: 'info',
      masterKeyring: [],
      trustProxy: [],
      headersTimeout: 10,
      requestTimeout: 30,
      revocationStreamPublic: false,
      deliveryAllowPrivateNetworks: false,
      maxRevocationStreams: 1000,
      maxRevocationStreamsPerAddress: 16,
      metricsToken: undefined,
      metricsPort: undefined,
      metricsHost: '127.0.0.1',
      revocationRateUser: 30,
      revocationRateClient: 1200,
      auditRetention: 90 * 86_400,
      auditUsernameRetention: 7 * 86_400,
      webOrigins: [],
    });
  });

  it('derives the issuer from host and port (IPv6 in brackets)', () => {
    expect(loadConfig({ TESSERA_HOST: '0.0.0.0', TESSERA_PORT: '8080' }).issuer).toBe('http://0.0.0.0:8080');
    expect(loadConfig({ TESSERA_HOST: '::1' }).issuer).toBe('http://[::1]:4000');
  });

  it('treats an empty variable as unset', () => {
    expect(loadConfig({ TESSERA_PORT: '', TESSERA_SIGNING_ALG: '' })).toMatchObject({
      port: 4000,
      signingAlg: 'ES256',
    });
  });
});

describe('loadConfig sources', () => {
  it('reads every setting from the environment', () => {
    const config = loadConfig({
      TESSERA_HOST: '0.0.0.0',
      TESSERA_PORT: '8443',
      TESSERA_ISSUER: 'https://auth.example.com/',
      TESSERA_DATA_DIR: '/var/lib/tessera',
      DATABASE_URL: 'postgresql://tessera@db/tessera',
      REDIS_URL: 'redis://:secret@cache:6379/2',
      TESSERA_REDIS_PREFIX: 'auth-prod:',
      TESSERA_MASTER_KEY: MASTER_KEY,
      TESSERA_AUDIENCE: 'https://api.example.com',
      TESSERA_SIGNING_ALG: 'EdDSA',
      TESSERA_ID_TOKEN_SIGNING_ALG: 'PS256',
      TESSERA_ACCESS_TOKEN_TTL: '600',
      TESSERA_ID_TOKEN_TTL: '10m',
      TESSERA_SSO_SESSION_TTL: '8h',
      TESSERA_REFRESH_IDLE_TTL: '7d',
      TESSERA_REFRESH_ABSOLUTE_TTL: '90 days',
      TESSERA_REFRESH_GRACE: '10s',
      TESSERA_DPOP_NONCE: 'false',
      TESSERA_KEY_ROTATION_INTERVAL: '1w',
      TESSERA_ADMIN_PASSWORD: 'correct horse battery',
      TESSERA_LOG_LEVEL: 'warn',
      TESSERA_MASTER_KEYRING: `${OLD_KEY}, ${OLD_KEY.replace('B', 'C')}`,
      TESSERA_TRUST_PROXY: '10.0.0.0/8, 2001:db8::/32,192.0.2.7',
      TESSERA_HEADERS_TIMEOUT: '5s',
      TESSERA_REQUEST_TIMEOUT: '1m',
      TESSERA_REVOCATION_STREAM_PUBLIC: 'true',
      TESSERA_DELIVERY_ALLOW_PRIVATE_NETWORKS: 'true',
      TESSERA_MAX_REVOCATION_STREAMS: '50',
      TESSERA_MAX_REVOCATION_STREAMS_PER_ADDRESS: '4',
      TESSERA_METRICS_TOKEN: METRICS_TOKEN,
      TESSERA_METRICS_PORT: '9464',
      TESSERA_METRICS_HOST: '10.0.0.5',
      TESSERA_REVOCATION_RATE_USER: '10',
      TESSERA_REVOCATION_RATE_CLIENT: '100',
      TESSERA_AUDIT_RETENTION: '30d',
      TESSERA_AUDIT_USERNAME_RETENTION: '1d',
      TESSERA_WEB_ORIGINS: 'http://localhost:5173, https://app.example.com',
    });
    expect(config).toEqual({
      host: '0.0.0.0',
      port: 8443,
      issuer: 'https://auth.example.com', // trailing slash dropped
      dataDir: '/var/lib/tessera',
      databaseUrl: 'postgresql://tessera@db/tessera',
      redisUrl: 'redis://:secret@cache:6379/2',
      redisPrefix: 'auth-prod:',
      masterKey: MASTER_KEY,
      audience: 'https://api.example.com',
      signingAlg: 'EdDSA',
      idTokenSigningAlg: 'PS256',
      accessTokenTtl: 600,
      idTokenTtl: 600,
      ssoSessionTtl: 8 * 3600,
      refreshIdleTtl: 7 * 86_400,
      refreshAbsoluteTtl: 90 * 86_400,
      refreshGrace: 10,
      dpopNonce: false,
      keyRotationInterval: 7 * 86_400,
      adminPassword: 'correct horse battery',
      logLevel: 'warn',
      masterKeyring: [OLD_KEY, OLD_KEY.replace('B', 'C')],
      trustProxy: ['10.0.0.0/8', '2001:db8::/32', '192.0.2.7'],
      headersTimeout: 5,
      requestTimeout: 60,
      revocationStreamPublic: true,
      deliveryAllowPrivateNetworks: true,
      maxRevocationStreams: 50,
      maxRevocationStreamsPerAddress: 4,
      metricsToken: METRICS_TOKEN,
      metricsPort: 9464,
      metricsHost: '10.0.0.5',
      revocationRateUser: 10,
      revocationRateClient: 100,
      auditRetention: 30 * 86_400,
      auditUsernameRetention: 86_400,
      webOrigins: ['http://localhost:5173', 'https://app.example.com'],
    });
  });

  it('lets flags win over the environment', () => {
    const config = loadConfig(
      { TESSERA_PORT: '5000', TESSERA_ACCESS_TOKEN_TTL: '5m', TESSERA_LOG_LEVEL: 'debug', TESSERA_HOST: 'a' },
      { port: '6000', 'access-token-ttl': '1h', 'log-level': 'error' },
    );
    expect(config).toMatchObject({
      host: 'a', // no flag: the environment
      port: 6000,
      issuer: 'http://a:6000',
      accessTokenTtl: 3600,
      logLevel: 'error',
    });
  });

  it('lets overrides win over flags and skips their validation', () => {
    const config = loadConfig({ TESSERA_PORT: 'abc' }, { port: 'abc' }, { port: 0, dataDir: '/tmp/x' });
    expect(config.port).toBe(0);
    expect(config.dataDir).toBe('/tmp/x');
  });

  it('resolves a relative data directory against the working directory', () => {
    expect(loadConfig({}, { 'data-dir': 'var/data' }).dataDir).toBe(resolve('var/data'));
  });
});

describe('loadConfig refuses bad values, naming the setting', () => {
  const cases: [string, Record<string, string>, string][] = [
    ['port abc', { TESSERA_PORT: 'abc' }, 'port'],
    ['port 70000', { TESSERA_PORT: '70000' }, 'port'],
    ['negative port', { TESSERA_PORT: '-1' }, 'port'],
    ['fractional port', { TESSERA_PORT: '80.5' }, 'port'],
    ['access token ttl "forever"', { TESSERA_ACCESS_TOKEN_TTL: 'forever' }, 'accessTokenTtl'],
    ['access token ttl below 30 s', { TESSERA_ACCESS_TOKEN_TTL: '10' }, 'accessTokenTtl'],
    ['access token ttl above a day', { TESSERA_ACCESS_TOKEN_TTL: '2d' }, 'accessTokenTtl'],
    ['issuer with a query', { TESSERA_ISSUER: 'https://auth.example.com/?tenant=1' }, 'issuer'],
    ['issuer with an empty query', { TESSERA_ISSUER: 'https://auth.example.com/?' }, 'issuer'],
    ['issuer with a fragment', { TESSERA_ISSUER: 'https://auth.example.com/#x' }, 'issuer'],
    ['issuer with an ftp scheme', { TESSERA_ISSUER: 'ftp://auth.example.com' }, 'issuer'],
    ['issuer with a javascript scheme', { TESSERA_ISSUER: 'javascript:alert(1)' }, 'issuer'],
    ['relative issuer', { TESSERA_ISSUER: 'auth.example.com' }, 'issuer'],
    ['DATABASE_URL for mysql', { DATABASE_URL: 'mysql://u@db/tessera' }, 'databaseUrl'],
    ['DATABASE_URL that is a path', { DATABASE_URL: '/var/lib/tessera.db' }, 'databaseUrl'],
    ['REDIS_URL over http', { REDIS_URL: 'http://cache:6379' }, 'redisUrl'],
    ['REDIS_URL with a space', { REDIS_URL: 'redis://cache :6379' }, 'redisUrl'],
    ['TESSERA_REDIS_PREFIX with a space', { TESSERA_REDIS_PREFIX: 'a b' }, 'redisPrefix'],
    ['a revocation broker over http', { TESSERA_REVOCATION_BROKER: 'http://mq:5672' }, 'revocationBroker'],
    ['a revocation broker that is no URL', { TESSERA_REVOCATION_BROKER: 'mq:5672' }, 'revocationBroker'],
    ['a revocation broker without a host', { TESSERA_REVOCATION_BROKER: 'amqp://' }, 'revocationBroker'],
    [
      'a revocation stream name with a slash',
      { TESSERA_REVOCATION_BROKER: 'amqp://mq:5672?stream=a/b' },
      'revocationBroker',
    ],
    ['a NATS broker without a host', { TESSERA_REVOCATION_BROKER: 'nats://' }, 'revocationBroker'],
    [
      'a NATS stream name with a dot',
      { TESSERA_REVOCATION_BROKER: 'nats://nats:4222?stream=a.b' },
      'revocationBroker',
    ],
    [
      'a NATS subject with a wildcard',
      { TESSERA_REVOCATION_BROKER: 'tls://nats:4222?subject=a.*' },
      'revocationBroker',
    ],
    ['TESSERA_REDIS_PREFIX too long', { TESSERA_REDIS_PREFIX: 'p'.repeat(65) }, 'redisPrefix'],
    ['a keyring key too short', { TESSERA_MASTER_KEYRING: `${MASTER_KEY},abc` }, 'masterKeyring'],
    ['a trusted proxy that is a host name', { TESSERA_TRUST_PROXY: 'lb.internal' }, 'trustProxy'],
    ['a trusted proxy with a /33 mask', { TESSERA_TRUST_PROXY: '10.0.0.0/33' }, 'trustProxy'],
    ['a trusted proxy with two masks', { TESSERA_TRUST_PROXY: '10.0.0.0/8/8' }, 'trustProxy'],
    ['headers timeout of 0', { TESSERA_HEADERS_TIMEOUT: '0' }, 'headersTimeout'],
    ['request timeout of an hour', { TESSERA_REQUEST_TIMEOUT: '1h' }, 'requestTimeout'],
    [
      'headers timeout longer than the request timeout',
      { TESSERA_HEADERS_TIMEOUT: '20s', TESSERA_REQUEST_TIMEOUT: '10s' },
      'headersTimeout',
    ],
    ['revocation stream public "yes"', { TESSERA_REVOCATION_STREAM_PUBLIC: 'yes' }, 'revocationStreamPublic'],
    ['no revocation streams at all', { TESSERA_MAX_REVOCATION_STREAMS: '0' }, 'maxRevocationStreams'],
    ['a metrics token of 31 characters', { TESSERA_METRICS_TOKEN: 'm'.repeat(31) }, 'metricsToken'],
    ['a metrics token with a space', { TESSERA_METRICS_TOKEN: `${'m'.repeat(32)} x` }, 'metricsToken'],
    ['metrics port 70000', { TESSERA_METRICS_PORT: '70000' }, 'metricsPort'],
    ['a revocation rate of 0', { TESSERA_REVOCATION_RATE_USER: '0' }, 'revocationRateUser'],
    ['audit retention of an hour', { TESSERA_AUDIT_RETENTION: '1h' }, 'auditRetention'],
    [
      'usernames kept longer than the audit',
      { TESSERA_AUDIT_RETENTION: '2d', TESSERA_AUDIT_USERNAME_RETENTION: '3d' },
      'auditUsernameRetention',
    ],
    ['master key too short', { TESSERA_MASTER_KEY: MASTER_KEY.slice(1) }, 'masterKey'],
    ['master key too long', { TESSERA_MASTER_KEY: `${MASTER_KEY}A` }, 'masterKey'],
    ['master key in standard base64', { TESSERA_MASTER_KEY: `${MASTER_KEY.slice(0, 42)}+` }, 'masterKey'],
    ['signing alg HS256', { TESSERA_SIGNING_ALG: 'HS256' }, 'signingAlg'],
    ['signing alg none', { TESSERA_SIGNING_ALG: 'none' }, 'signingAlg'],
    ['signing alg in lower case', { TESSERA_SIGNING_ALG: 'es256' }, 'signingAlg'],
    ['log level loud', { TESSERA_LOG_LEVEL: 'loud' }, 'logLevel'],
    ['refresh idle ttl bad', { TESSERA_REFRESH_IDLE_TTL: 'soon' }, 'refreshIdleTtl'],
    [
      'refresh idle longer than absolute',
      { TESSERA_REFRESH_IDLE_TTL: '31d', TESSERA_REFRESH_ABSOLUTE_TTL: '30d' },
      'refreshIdleTtl',
    ],
    ['refresh absolute ttl bad', { TESSERA_REFRESH_ABSOLUTE_TTL: '-1d' }, 'refreshAbsoluteTtl'],
    ['refresh grace above a minute', { TESSERA_REFRESH_GRACE: '2m' }, 'refreshGrace'],
    ['DPoP nonce neither true nor false', { TESSERA_DPOP_NONCE: 'sometimes' }, 'dpopNonce'],
    [
      'key rotation equal to the access token ttl',
      { TESSERA_KEY_ROTATION_INTERVAL: '1h', TESSERA_ACCESS_TOKEN_TTL: '1h' },
      'keyRotationInterval',
    ],
    [
      'key rotation shorter than the access token ttl',
      { TESSERA_KEY_ROTATION_INTERVAL: '2h', TESSERA_ACCESS_TOKEN_TTL: '3h' },
      'keyRotationInterval',
    ],
    ['key rotation below an hour', { TESSERA_KEY_ROTATION_INTERVAL: '10m' }, 'keyRotationInterval'],
    ['ID-token signing alg HS256', { TESSERA_ID_TOKEN_SIGNING_ALG: 'HS256' }, 'idTokenSigningAlg'],
    ['ID-token signing alg none', { TESSERA_ID_TOKEN_SIGNING_ALG: 'none' }, 'idTokenSigningAlg'],
    ['ID-token ttl below a minute', { TESSERA_ID_TOKEN_TTL: '30s' }, 'idTokenTtl'],
    ['ID-token ttl above a day', { TESSERA_ID_TOKEN_TTL: '2d' }, 'idTokenTtl'],
    [
      'ID-token ttl longer than the key rotation',
      { TESSERA_KEY_ROTATION_INTERVAL: '2h', TESSERA_ID_TOKEN_TTL: '3h' },
      'idTokenTtl',
    ],
    ['SSO session below five minutes', { TESSERA_SSO_SESSION_TTL: '4m' }, 'ssoSessionTtl'],
    ['SSO session "forever"', { TESSERA_SSO_SESSION_TTL: 'forever' }, 'ssoSessionTtl'],
    [
      'SSO session longer than the absolute session',
      { TESSERA_SSO_SESSION_TTL: '31d', TESSERA_REFRESH_ABSOLUTE_TTL: '30d' },
      'ssoSessionTtl',
    ],
    ['short admin password', { TESSERA_ADMIN_PASSWORD: 'hunter2' }, 'adminPassword'],
  ];

  it.each(cases)('%s', (_name, env, setting) => {
    const err = configError(() => loadConfig(env));
    expect(err.setting).toBe(setting);
    expect(err.name).toBe('ConfigError');
    expect(err.message.startsWith(`${setting} `)).toBe(true);
  });

  it('names the environment variable and the flag in the message', () => {
    expect(configError(() => loadConfig({ TESSERA_PORT: 'abc' })).message).toBe(
      'port (TESSERA_PORT, --port): expected an integer from 0 to 65535, got "abc"',
    );
    // The master key and admin password have no flag (secrets do not belong in `ps` output).
    expect(configError(() => loadConfig({ TESSERA_MASTER_KEY: 'x' })).message).toMatch(
      /^masterKey \(TESSERA_MASTER_KEY\): .*tessera keygen --master/,
    );
  });

  it('keeps the ID-token lifetime within the rotation interval, equal included', () => {
    // An hour is the shortest rotation and the ID-token default: a retired key outlives its tokens.
    expect(loadConfig({ TESSERA_KEY_ROTATION_INTERVAL: '1h' })).toMatchObject({
      keyRotationInterval: 3600,
      idTokenTtl: 3600,
    });
  });

  it('shortens the default SSO session to a shorter absolute session, but refuses one set longer', () => {
    // A browser signed in longer than the session limit would get new sessions without a password.
    expect(
      loadConfig({ TESSERA_REFRESH_ABSOLUTE_TTL: '2h', TESSERA_REFRESH_IDLE_TTL: '1h' }).ssoSessionTtl,
    ).toBe(7200);
    expect(
      configError(() =>
        loadConfig({
          TESSERA_REFRESH_ABSOLUTE_TTL: '2h',
          TESSERA_REFRESH_IDLE_TTL: '1h',
          TESSERA_SSO_SESSION_TTL: '1d',
        }),
      ).message,
    ).toBe(
      'ssoSessionTtl (TESSERA_SSO_SESSION_TTL, --sso-session-ttl): must not exceed refreshAbsoluteTtl (7200 s)',
    );
  });

  it('validates a flag the same way', () => {
    expect(configError(() => loadConfig({}, { port: '70000' })).setting).toBe('port');
    expect(configError(() => loadConfig({}, { 'signing-alg': 'HS256' })).setting).toBe('signingAlg');
    expect(configError(() => loadConfig({}, { 'id-token-signing-alg': 'HS256' })).setting).toBe(
      'idTokenSigningAlg',
    );
    expect(configError(() => loadConfig({}, { issuer: 'https://a.example?x' })).setting).toBe('issuer');
  });

  it('does not echo a bad secret back', () => {
    const key = `${MASTER_KEY}xyz`;
    expect(configError(() => loadConfig({ TESSERA_MASTER_KEY: key })).message).not.toContain(key);
    const password = 'short-pw';
    expect(configError(() => loadConfig({ TESSERA_ADMIN_PASSWORD: password })).message).not.toContain(
      password,
    );
    const url = 'mysql://root:s3cret@db/tessera';
    expect(configError(() => loadConfig({ DATABASE_URL: url })).message).not.toContain('s3cret');
    for (const broker of [
      'http://mq:mq-pass-1@mq',
      'amqp://mq:mq-pass-1@mq?stream=a b',
      'amqp//mq:mq-pass-1@',
      'nats://mq:mq-pass-1@mq?stream=a.b',
      'tls://mq-pass-1@mq/path',
    ])
      expect(configError(() => loadConfig({ TESSERA_REVOCATION_BROKER: broker })).message).not.toContain(
        'mq-pass-1',
      );
  });
});

describe('describeConfig', () => {
  const secrets = {
    masterKey: MASTER_KEY,
    adminPassword: 'a very secret admin password',
    databaseUrl: 'postgres://tessera:db-pass-123@db.internal:5432/tessera',
    redisUrl: 'rediss://default:redis-pass-456@cache.internal:6380',
    revocationBroker: 'amqps://tessera:mq-pass-789@mq.internal:5671?stream=auth.revocations',
  };

  it('redacts the master key, the admin password, the database, Redis and broker URLs', () => {
    const described = describeConfig(
      loadConfig({
        TESSERA_MASTER_KEY: secrets.masterKey,
        TESSERA_ADMIN_PASSWORD: secrets.adminPassword,
        DATABASE_URL: secrets.databaseUrl,
        REDIS_URL: secrets.redisUrl,
        TESSERA_REVOCATION_BROKER: secrets.revocationBroker,
      }),
    );
    const text = JSON.stringify(described);
    for (const value of Object.values(secrets)) expect(text).not.toContain(value);
    expect(text).not.toContain('db-pass-123');
    expect(text).not.toContain('redis-pass-456');
    expect(text).not.toContain('mq-pass-789');
    expect(described).toMatchObject({
      masterKey: '[redacted]',
      adminPassword: '[redacted]',
      databaseUrl: '[redacted]',
      redisUrl: '[redacted]',
      revocationBroker: '[redacted]',
      redisPrefix: 'tessera:',
    });
  });

  it('shows the other settings and leaves unset ones out', () => {
    const described = describeConfig(loadConfig({}, { port: '4100' }));
    expect(described).toMatchObject({
      host: '127.0.0.1',
      port: 4100,
      issuer: 'http://127.0.0.1:4100',
      signingAlg: 'ES256',
      accessTokenTtl: 900,
      refreshGrace: 5,
      logLevel: 'info',
    });
    expect(described).not.toHaveProperty('masterKey');
    expect(described).not.toHaveProperty('databaseUrl');
    expect(described).not.toHaveProperty('adminPassword');
  });
});
