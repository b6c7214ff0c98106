import {
  createRemoteJwks,
  createVerifier,
  isJoseError,
  type RemoteJwks,
  type RemoteJwksStatus,
  type Verifier,
} from '@tessera/jose';
import { createBackoff, sleep } from './backoff.js';
import { type AuthenticatableRequest, assertTokenSyntax, bearerTokenOf } from './bearer.js';
import { type AuthorizationServerMetadata, DiscoveryError, fetchMetadata, metadataUrl } from './discovery.js';
import { createGuardErrors, type GuardError, RETRY_AFTER } from './errors.js';
import { describeFailure } from './logger.js';
import {
  ASYMMETRIC_ALGORITHMS,
  DEFAULT_ALGORITHMS,
  type GuardOptions,
  isAllowedUrl,
  resolveOptions,
} from './options.js';
import { type AccessTokenClaims, MalformedClaim, type Principal, principalOf } from './principal.js';
import { type Authorizer, compileRequirements, type Requirements } from './requirements.js';
import type { RevocationFeed } from './revocation/feed.js';
import { createLiveness, type Liveness, type RevocationState } from './revocation/liveness.js';
import { createRedisFeed } from './revocation/redis.js';
import { createRevocationSet } from './revocation/set.js';
import { createStreamFeed, type GuardFetch } from './revocation/stream.js';

/** What `guard.health()` reports, for the API's readiness probe. */
export interface GuardHealth {
  /**
   * Whether the guard can accept tokens now: started (discovery, keys, first snapshot), keys held,
   * and, when failing closed, the revocation set current.
   */
  ready: boolean;
  revocations: {
    mode: 'stream' | 'redis' | 'off';
    state: RevocationState;
    /** Where the feed resumes from (SSE last event ID or Redis stream id). */
    lastEventId: string | null;
    /** Last proof of liveness, milliseconds since the epoch. */
    lastLiveAt: number | null;
    /** Revocation entries in force. */
    entries: number;
    /** Why the feed is not live, when it last failed (no tokens or secrets in it); `null` otherwise. */
    lastError: string | null;
  };
  /** The key set's status (`createRemoteJwks().status()`), or `null` before discovery. */
  jwks: RemoteJwksStatus | null;
}

export interface Guard {
  /** Resolves once discovery, the JWKS and the first revocation snapshot are in; rejects after `readyTimeout`. */
  ready(): Promise<void>;
  /**
   * Authenticates a request by its `Authorization: Bearer` header: verifies the access token
   * (signature, `typ`, `iss`, `aud`, `exp`, `nbf`), then checks it against the revocations.
   * Rejects with a {@link GuardError} (400, 401 or 503).
   */
  authenticate(request: AuthenticatableRequest): Promise<Principal>;
  /** Throws a 403 {@link GuardError} unless the principal has every scope, role and permission listed. */
  authorize(principal: Principal, requirements: Requirements): void;
  /** `authenticate` then `authorize`, prepared once for a route. */
  require(requirements?: Requirements): (request: AuthenticatableRequest) => Promise<Principal>;
  /** The state of keys and revocations, for a readiness probe. */
  health(): GuardHealth;
  /** Stops the revocation feed, timers and fetches. The guard answers 503 afterwards. */
  close(): Promise<void>;
}

/** RFC 9068 §2.2: the claims every access token carries (`exp` is required by the verifier anyway). */
const REQUIRED_CLAIMS = ['iss', 'exp', 'aud', 'sub', 'client_id', 'iat', 'jti'];
/** Expired revocation entries are dropped this often (they match no live token once expired anyway). */
const PRUNE_INTERVAL_MS = 60_000;
/** Failures of key retrieval, not of the token: answered with 503. */
const KEY_RETRIEVAL_CODES = new Set(['ERR_JWKS_TIMEOUT', 'ERR_JOSE_GENERIC', 'ERR_JWKS_INVALID']);

/**
 * Creates a guard for one API: access tokens of `issuer` for `audience`, verified locally with the
 * issuer's published keys, checked against the revocations the issuer publishes. Discovery, the key
 * set and the revocation feed start at once; `await guard.ready()` before serving.
 *
 * @example
 * ```ts
 * const guard = createGuard({ issuer: 'https://auth.example.com', audience: 'https://api.example.com' });
 * await guard.ready();
 * const principal = await guard.authenticate(request);
 * guard.authorize(principal, { scopes: ['orders:read'] });
 * ```
 */
export function createGuard(options: GuardOptions): Guard {
  const config = resolveOptions(options);
  const { clock, logger, issuer } = config;
  const errors = createGuardErrors(config.realm);
  const closing = new AbortController();
  const revocations = createRevocationSet();
  const revocationMode = config.revocations.mode;

  // A fetch that close() can cancel, whoever started it (discovery, the key set, the stream).
  const fetchFn: GuardFetch = (url, init) =>
    config.fetch(url, Object.assign({}, init, { signal: combine(init.signal, closing.signal) }));

  let verifier: Verifier<AccessTokenClaims> | undefined;
  let jwks: RemoteJwks | undefined;
  let feed: RevocationFeed | undefined;
  let liveness: Liveness | undefined;
  let started = false;
  let closed = false;
  /** What start-up waits for now, and the last error met, for the message of a ready() timeout. */
  let waitingFor = `the metadata at ${metadataUrl(issuer)}`;
  let lastStartupError: unknown;
  /** A configuration error found after createGuard (in the discovery document): nothing will work. */
  let fatal: Error | undefined;
  /** The stale period last logged (fail-open logs once per period; see Liveness.livePeriods). */
  let staleLogged = -1;

  const pruning = setInterval(() => revocations.prune(clock()), PRUNE_INTERVAL_MS);
  pruning.unref();

  const startup = start();
  startup.then(
    () => {
      started = true;
    },
    (err: unknown) => {
      if (!closed) {
        fatal = err as Error;
        logger.warn({ error: describeFailure(err) }, 'the guard cannot start');
      }
    },
  );

  async function start(): Promise<void> {
    const { revocations: revocationConfig } = config;
    const needsDiscovery =
      config.algorithms === undefined ||
      config.jwksUri === undefined ||
      (revocationConfig.mode === 'stream' && revocationConfig.url === undefined);
    let metadata: AuthorizationServerMetadata | undefined;
    if (needsDiscovery) metadata = await retry(() => fetchMetadata(issuer, fetchFn, closing.signal));

    const algorithms = config.algorithms ?? algorithmsOf(metadata);
    const jwksUri = config.jwksUri ?? metadata?.jwks_uri;
    if (jwksUri === undefined)
      throw new Error(`the metadata of ${issuer} has no jwks_uri; set options.jwksUri`);
    if (!isAllowedUrl(jwksUri, config.allowInsecureHttp))
      throw new Error(
        'the jwks_uri in the metadata must use https (or allowInsecureHttp on a trusted network)',
      );
    jwks = createRemoteJwks(jwksUri, { fetch: fetchFn, allowInsecureHttp: config.allowInsecureHttp, clock });
    verifier = createVerifier<AccessTokenClaims>({
      key: jwks,
      // RFC 8725 §3.1: the allowed algorithms are pinned here, never taken from the token.
      algorithms: [...algorithms],
      // RFC 7519 §4.1.1 and RFC 9068 §4: `iss` must be exactly the issuer.
      issuer,
      // RFC 7519 §4.1.3 and RFC 9068 §4: `aud` must contain this API.
      audience: config.audience,
      // RFC 9068 §2.1, §4: typ is at+jwt (application/at+jwt matches too), so that no other JWT of
      // the issuer (an ID token, say) passes for an access token (RFC 8725 §3.11).
      typ: 'at+jwt',
      // RFC 9068 §2.2; `exp` (RFC 7519 §4.1.4) and `nbf` (§4.1.5) are checked against the clock.
      requiredClaims: REQUIRED_CLAIMS,
      clockTolerance: config.clockTolerance,
      // Entries never outlive the token's exp, and failures are never cached.
      cache: config.tokenCache > 0 ? { max: config.tokenCache } : false,
      clock,
    });

    let loaded: Promise<void> = Promise.resolve();
    if (revocationConfig.mode !== 'off') {
      liveness = createLiveness(clock, config.staleAfterMs);
      const context = { set: revocations, liveness, clock, logger, staleAfterMs: config.staleAfterMs };
      if (revocationConfig.mode === 'redis') {
        feed = createRedisFeed({ ...context, redis: revocationConfig.redis, key: revocationConfig.key });
      } else {
        const url = revocationConfig.url ?? metadata?.revocation_events_endpoint;
        if (url === undefined)
          throw new Error(
            `the metadata of ${issuer} has no revocation_events_endpoint; set options.revocations ({ url }, { redis } or 'off')`,
          );
        if (!isAllowedUrl(url, config.allowInsecureHttp))
          throw new Error(
            'the revocation_events_endpoint must use https (or allowInsecureHttp on a trusted network)',
          );
        feed = createStreamFeed({ ...context, url, fetch: fetchFn });
      }
      loaded = feed.loaded;
    }
    const keySet = jwks;
    waitingFor = `the JWKS at ${jwksUri}`;
    await retry(() => keySet.reload());
    if (feed !== undefined) waitingFor = `the first revocation snapshot from ${feed.source}`;
    await loaded;
  }

  /** Runs a start-up step until it succeeds, backing off between attempts; permanent errors end it. */
  async function retry<T>(step: () => Promise<T>): Promise<T> {
    const backoff = createBackoff();
    for (;;) {
      try {
        const result = await step();
        lastStartupError = undefined;
        return result;
      } catch (err) {
        if (closing.signal.aborted) throw new Error('the guard was closed');
        if (err instanceof DiscoveryError && err.permanent) throw err;
        lastStartupError = err;
        await sleep(backoff.next(), closing.signal);
      }
    }
  }

  function algorithmsOf(metadata: AuthorizationServerMetadata | undefined): readonly string[] {
    const advertised = metadata?.access_token_signing_alg_values_supported;
    if (advertised === undefined || advertised.length === 0) return DEFAULT_ALGORITHMS;
    // RFC 8725 §3.1: symmetric algorithms and `none` are never taken from a document.
    const usable = advertised.filter((alg) => ASYMMETRIC_ALGORITHMS.has(alg));
    if (usable.length === 0)
      throw new DiscoveryError(
        `the metadata of ${issuer} advertises no asymmetric signing algorithm (${advertised.join(', ')}); the guard accepts none of them`,
        true,
      );
    return usable;
  }

  /** Maps a verification failure: the token's fault is a 401, the key set's a 503. */
  function tokenFailure(err: unknown): GuardError {
    if (isJoseError(err)) {
      if (KEY_RETRIEVAL_CODES.has(err.code))
        return errors.unavailable(
          `the signing keys cannot be fetched: ${err.message}`,
          RETRY_AFTER.keys,
          err,
        );
      if (err.code === 'ERR_JWT_EXPIRED') return errors.expiredToken(`${err.code}: ${err.message}`, err);
      return errors.invalidToken(`${err.code}: ${err.message}`, err);
    }
    if (err instanceof MalformedClaim) return errors.invalidToken(err.message, err);
    throw err;
  }

  function notReady(): GuardError {
    if (closed) return errors.unavailable('the guard is closed', RETRY_AFTER.startup);
    if (fatal !== undefined)
      return errors.unavailable(`the guard cannot start: ${fatal.message}`, RETRY_AFTER.startup);
    return errors.unavailable(`the guard is not ready: waiting for ${waitingFor}`, RETRY_AFTER.startup);
  }

  /**
   * Authenticates, synchronously whenever the signing key is in memory (nearly every request): an
   * API pays no promise and no extra turn of the event loop per request. Only a token whose key the
   * set does not hold yet (a rotation, the first request after start) waits for the key set.
   */
  function authenticateNow(request: AuthenticatableRequest): Principal | Promise<Principal> {
    const token = bearerTokenOf(request, errors);
    // A guard that failed to start never answers for tokens, whatever onStale says.
    if (verifier === undefined || closed || fatal !== undefined) throw notReady();
    let payload: AccessTokenClaims;
    try {
      // From memory only: the token cache, else the held keys (an expired set is refreshed in the
      // background meanwhile; past staleIfError it holds no keys and the token goes the slow way).
      payload = verifier.verify(token).payload;
    } catch (err) {
      if (isJoseError(err) && err.code === 'ERR_JWKS_NO_MATCHING_KEY') return authenticateFetchingKeys(token);
      throw refusal(token, err);
    }
    return admit(payload, token);
  }

  async function authenticateFetchingKeys(token: string): Promise<Principal> {
    let payload: AccessTokenClaims;
    try {
      payload = (await verifier!.verifyAsync(token)).payload;
    } catch (err) {
      throw refusal(token, err);
    }
    return admit(payload, token);
  }

  /** Why a token that failed verification is refused: malformed (400), invalid (401) or keys unavailable (503). */
  function refusal(token: string, err: unknown): GuardError {
    assertTokenSyntax(token, errors);
    return tokenFailure(err);
  }

  /** The principal of a verified token, unless a revocation matches it or the set is stale (fail-closed). */
  function admit(payload: AccessTokenClaims, token: string): Principal {
    let principal: Principal;
    try {
      principal = principalOf(payload, token);
    } catch (err) {
      throw tokenFailure(err);
    }
    // Only a token whose signature and claims verified reaches the revocation set, so a forged
    // token learns nothing about it.
    if (liveness !== undefined) {
      const handle = revocations.match(principal.claims);
      if (handle !== undefined) throw errors.invalidToken(`revoked (${handle})`);
      if (!liveness.isLive(clock())) staleRevocations();
    }
    return principal;
  }

  async function authenticate(request: AuthenticatableRequest): Promise<Principal> {
    return authenticateNow(request);
  }

  /** `authenticate` then `authorize`, synchronous when authentication is. */
  function requireNow(requirements: Requirements = {}): Check {
    const authorize = compileRequirements(requirements, errors);
    return (request) => {
      const principal = authenticateNow(request);
      if (!isPending(principal)) {
        authorize(principal);
        return principal;
      }
      return principal.then((found) => {
        authorize(found);
        return found;
      });
    };
  }

  /** The set may be missing revocations: refuse (fail-closed) or accept and say so once. */
  function staleRevocations(): void {
    const state = liveness!.state(clock());
    if (!config.failOpen)
      throw errors.unavailable(`the revocation set is ${state} (${feed!.source})`, RETRY_AFTER.revocations);
    if (staleLogged !== liveness!.livePeriods) {
      staleLogged = liveness!.livePeriods;
      logger.warn(
        { source: feed!.source, state },
        'the revocation set is not current; accepting tokens on signature and claims alone (onStale: fail-open)',
      );
    }
  }

  const compiled = new WeakMap<Requirements, Authorizer>();
  function authorizerFor(requirements: Requirements): Authorizer {
    let authorizer = compiled.get(requirements);
    if (authorizer === undefined) {
      authorizer = compileRequirements(requirements, errors);
      compiled.set(requirements, authorizer);
    }
    return authorizer;
  }

  const guard: Guard = {
    ready() {
      if (started) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          const lastError =
            lastStartupError === undefined ? feed?.lastError : describeFailure(lastStartupError);
          const cause = lastError === undefined ? '' : ` (last error: ${lastError})`;
          reject(
            new Error(
              `@tessera/guard was not ready after ${config.readyTimeoutMs / 1000} s: waiting for ${waitingFor}${cause}`,
              { cause: lastStartupError },
            ),
          );
        }, config.readyTimeoutMs);
        startup.then(
          () => {
            clearTimeout(timer);
            resolve();
          },
          (err: unknown) => {
            clearTimeout(timer);
            reject(
              closed
                ? new Error('the guard was closed before it was ready')
                : new Error(`@tessera/guard cannot start: ${(err as Error).message}`, { cause: err }),
            );
          },
        );
      });
    },
    authenticate,
    authorize(principal, requirements) {
      authorizerFor(requirements)(principal);
    },
    require(requirements = {}) {
      const check = requireNow(requirements);
      return async (request) => check(request);
    },
    health() {
      const now = clock();
      const state: RevocationState =
        liveness === undefined ? (revocationMode === 'off' ? 'off' : 'connecting') : liveness.state(now);
      const keys = jwks?.status() ?? null;
      const keysHeld = keys !== null && keys.keys > 0;
      const revocationsOk = revocationMode === 'off' || config.failOpen || state === 'live';
      return {
        ready: started && !closed && keysHeld && revocationsOk,
        revocations: {
          mode: revocationMode,
          state,
          lastEventId: feed?.lastEventId ?? null,
          lastLiveAt: liveness?.lastLiveAt ?? null,
          entries: revocations.size,
          lastError: feed?.lastError ?? null,
        },
        jwks: keys,
      };
    },
    async close() {
      if (closed) return;
      closed = true;
      closing.abort();
      clearInterval(pruning);
      await feed?.close();
      await startup.catch(() => {});
    },
  };
  synchronousChecks.set(guard, requireNow);
  return guard;
}

/** What an adapter runs per request: the principal, or a promise of it when keys must be fetched. */
export type Check = (request: AuthenticatableRequest) => Principal | PromiseLike<Principal>;

/** Whether a check answered with a promise (of any kind: a test double's may not be native). */
export function isPending(outcome: Principal | PromiseLike<Principal>): outcome is PromiseLike<Principal> {
  return typeof (outcome as { then?: unknown }).then === 'function';
}

/** The synchronous form of `require` of each guard made by createGuard, for the adapters. */
const synchronousChecks = new WeakMap<Guard, (requirements?: Requirements) => Check>();

/**
 * The check an adapter runs for a route: synchronous for a guard from {@link createGuard} whenever
 * the keys are in memory, so the framework can go on without waiting for a promise; any other
 * object with the Guard interface (a test double, say) through its `require`. Throws (or rejects
 * with) a GuardError.
 */
export function prepareCheck(guard: Guard, requirements?: Requirements): Check {
  const synchronous = synchronousChecks.get(guard);
  return synchronous === undefined ? guard.require(requirements) : synchronous(requirements);
}

function combine(signal: AbortSignal | null | undefined, closing: AbortSignal): AbortSignal {
  return signal ? AbortSignal.any([signal, closing]) : closing;
}
