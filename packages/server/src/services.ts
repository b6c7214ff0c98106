import type { LookupFunction } from 'node:net';
import type { Config } from './config.js';
import { type ClientAssertionVerifier, createClientAssertionVerifier } from './http/client_assertion.js';
import { createDpopProofs, type DpopProofs } from './http/dpop/proofs.js';
import { createSealer, loadMasterKey, type MasterKeySource, type Sealer } from './keys/master_key.js';
import { createSigningKeys, type SigningKeys } from './keys/signing_keys.js';
import { createOutbox, type Outbox } from './outbox/outbox.js';
import { createBrokerFeed } from './revocation/broker_feed.js';
import { createLocalFeed } from './revocation/feed.js';
import { createRedisFeed } from './revocation/redis_feed.js';
import { createRevocations, type Revocations } from './revocation/revocations.js';
import { createSecurityEvents, type SecurityEvents } from './security_events/emitter.js';
import { createSecurityEventTokens, type SecurityEventTokens } from './security_events/set.js';
import { createLogger, type Logger } from './shared/logger.js';
import { openRedis, type SharedRedis } from './shared/redis.js';
import { createMemoryReplayCache, createRedisReplayCache, type ReplayCache } from './shared/replay_cache.js';
import { type Audit, createAudit } from './store/audit.js';
import { type AuthorizationCodes, createAuthorizationCodes } from './store/authorization_codes.js';
import { type Clients, createClients } from './store/clients.js';
import { type Consents, createConsents } from './store/consents.js';
import { type Db, openDatabase } from './store/database.js';
import { createImpersonations, type Impersonations } from './store/impersonations.js';
import { createReceivers, type Receivers } from './store/receivers.js';
import { createResources, type Resources } from './store/resources.js';
import { createSsoSessions, type SsoSessions } from './store/sso_sessions.js';
import { createUsers, type Users } from './store/users.js';
import { type AccessTokens, createAccessTokens } from './tokens/access_tokens.js';
import type { ExtraClaimsHook } from './tokens/extra_claims.js';
import { createIdTokens, type IdTokens } from './tokens/id_tokens.js';
import { type AccessTokenLifetimes, createAccessTokenLifetimes } from './tokens/lifetimes.js';
import { createRefreshTokens, type RefreshTokens } from './tokens/refresh_tokens.js';

/** Everything the routes and the command line work with, built once from the configuration. */
export interface Services {
  config: Config;
  db: Db;
  masterKey: Pick<MasterKeySource, 'origin'>;
  /** Seals and opens secrets at rest under the master key (and opens under the keyring). */
  sealer: Sealer;
  keys: SigningKeys;
  users: Users;
  clients: Clients;
  /** RFC 8707 resources: the APIs clients may ask tokens for by name. */
  resources: Resources;
  audit: Audit;
  revocations: Revocations;
  lifetimes: AccessTokenLifetimes;
  refreshTokens: RefreshTokens;
  accessTokens: AccessTokens;
  idTokens: IdTokens;
  /** The deployment's own claims for tokens and userinfo (ServerHooks). */
  extraClaims: ExtraClaimsHook | undefined;
  /** One-time identifiers (client assertion `jti`s), shared by every instance through Redis. */
  replayCache: ReplayCache;
  /** `private_key_jwt` client authentication (RFC 7523). */
  clientAssertions: ClientAssertionVerifier;
  /** RFC 9449 DPoP proofs: checks, `jti` replay (a replay cache of their own in memory), server nonces. */
  dpop: DpopProofs;
  /** Browser sign-ins at the provider (single sign-on). */
  ssoSessions: SsoSessions;
  authorizationCodes: AuthorizationCodes;
  /** Admins acting as users through token exchange, open until each token expires or is revoked. */
  impersonations: Impersonations;
  consents: Consents;
  /**
   * Deliveries to other servers (back-channel logout tokens), written in the transaction that decided
   * them; every server instance delivers them (outbox/delivery.ts, started by server.ts).
   */
  outbox: Outbox;
  /** Receivers of security event tokens (RFC 8417) pushed to them (RFC 8935). */
  receivers: Receivers;
  /** Security event tokens: their claims and signatures (the ID-token key, typ secevent+jwt). */
  securityEventTokens: SecurityEventTokens;
  /** Writes the SETs an event causes to the outbox, in the transaction of the cause. */
  securityEvents: SecurityEvents;
  /** Shared state for several instances; undefined on one machine. */
  redis: SharedRedis | undefined;
  log: Logger;
  clock: () => number;
  close(): Promise<void>;
}

/** What a deployment plugs into the server in code (createServer's options). */
export interface ServerHooks {
  /**
   * Claims of your own (a tenant, a department) for access tokens, ID tokens and userinfo. Names the
   * server or the standards use are refused (tokens/extra_claims.ts RESERVED_CLAIMS).
   */
  extraClaims?: ExtraClaimsHook;
  /**
   * How outbox deliveries resolve host names (node:dns lookup by default): a deployment's own
   * resolver, or a test's. Every address it returns is still checked (outbox/delivery_address.ts).
   */
  deliveryLookup?: LookupFunction;
}

export async function createServices(
  config: Config,
  clock: () => number = Date.now,
  log: Logger = createLogger(config),
  hooks: ServerHooks = {},
): Promise<Services> {
  const db = await openDatabase(config);
  const redis = config.redisUrl ? openRedis(config.redisUrl, config.redisPrefix, log) : undefined;
  try {
    const masterKey = loadMasterKey(config);
    const sealer = createSealer(masterKey.key, masterKey.keyring);
    // The longest access-token lifetime (clients', kinds', resources', every instance's) decides how
    // long retired access-token keys and revocation entries live: read it before the keys.
    const lifetimes = createAccessTokenLifetimes(db, config.accessTokenTtl, clock);
    await lifetimes.refresh();
    const keys = createSigningKeys(db, sealer, config, clock, lifetimes);
    await keys.ensure();
    const users = createUsers(db, clock);
    // Clients without audiences of their own get this process's setting, read at issue time.
    const clients = createClients(db, config.audience, clock, {
      allowPrivateNetworks: config.deliveryAllowPrivateNetworks,
    });
    await clients.ensureBuiltIn();
    // Between instances revocations travel on the broker when one is set (Redis, if set too, keeps
    // the rest of the shared state), else on Redis's stream; on one machine in memory. Stream
    // entries outlive the longest access token they could match (see record()).
    const retentionMs = () => lifetimes.retentionMs();
    const revocations = createRevocations(
      db,
      lifetimes,
      (entries) =>
        config.revocationBroker
          ? createBrokerFeed(config.revocationBroker, log, { db, retentionMs, clock })
          : redis
            ? createRedisFeed(redis, log, { retentionMs, clock })
            : createLocalFeed(entries, clock),
      clock,
    );
    await revocations.load();
    if (revocations.feed.shared) {
      // Seeds the shared stream now if it was lost (or never there), so the first subscribers get
      // it whole; if Redis or the broker is unreachable the server starts anyway and the sync loop
      // retries.
      await revocations.sync().catch((err: unknown) => {
        log.warn(
          { reason: (err as Error).message },
          'the revocation feed is not reachable at start; retrying every second',
        );
      });
    }
    const replayCache = redis ? createRedisReplayCache(redis) : createMemoryReplayCache(clock);
    const outbox = createOutbox(db, config.databaseUrl ? 'postgres' : 'sqlite', clock);
    const receivers = createReceivers(db, sealer, clock);
    const securityEventTokens = createSecurityEventTokens(() => keys.idTokenSigner(), config.issuer, clock);
    return {
      config,
      db,
      masterKey: { origin: masterKey.origin },
      sealer,
      keys,
      users,
      clients,
      resources: createResources(db, clock),
      audit: createAudit(db, clock),
      revocations,
      lifetimes,
      refreshTokens: createRefreshTokens(db, sealer, config, clock),
      accessTokens: createAccessTokens(config, keys, revocations, users, clock, lifetimes),
      idTokens: createIdTokens(
        () => keys.idTokenSigner(),
        () => keys.jwks(),
        config,
        clock,
      ),
      extraClaims: hooks.extraClaims,
      replayCache,
      clientAssertions: createClientAssertionVerifier({
        issuer: config.issuer,
        tokenEndpoint: `${config.issuer}/token`,
        clock,
        replay: replayCache,
      }),
      // Nonces are keyed from the master key, so every instance issues and accepts the same ones.
      // In memory the proofs' jti cache is their own: anyone can make valid proofs (keys cost
      // nothing and proofs are checked first), and a flood of them filling the cache client
      // assertions use would lock every private_key_jwt client out. Redis has no such cap.
      dpop: createDpopProofs(
        config,
        masterKey.key,
        redis ? replayCache : createMemoryReplayCache(clock),
        clock,
      ),
      ssoSessions: createSsoSessions(db, clock),
      authorizationCodes: createAuthorizationCodes(db, clock),
      impersonations: createImpersonations(db),
      consents: createConsents(db, clock),
      outbox,
      receivers,
      securityEventTokens,
      // Published to the broker too when the revocation feed runs on one that carries SETs.
      securityEvents: createSecurityEvents({
        db,
        receivers,
        tokens: securityEventTokens,
        outbox,
        broker: revocations.feed.securityEvents,
      }),
      redis,
      log,
      clock,
      async close() {
        await revocations.feed.close();
        await redis?.close();
        await db.destroy();
      },
    };
  } catch (err) {
    await redis?.close();
    await db.destroy();
    throw err;
  }
}
