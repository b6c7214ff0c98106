import { type Check, createAuthentication } from './authentication.js';
import type { AuthenticatableRequest } from './bearer.js';
import { createTokenDecryption, createUndecryptableRefusal } from './decryption.js';
import { createProofCheck } from './dpop/proof_check.js';
import { createGuardErrors } from './errors.js';
import { type GuardHealth, guardHealth } from './health.js';
import { type GuardOptions, resolveOptions } from './options.js';
import type { Principal } from './principal.js';
import { createReadiness } from './readiness.js';
import { createRefusalLog } from './refusal_log.js';
import type { Requirements } from './requirements.js';
import { createRevocationFollowing } from './revocation/following.js';
import { startUp } from './startup.js';

export interface Guard {
  /** Resolves once discovery, the JWKS and the first revocation snapshot are in; rejects after `readyTimeout`. */
  ready(): Promise<void>;
  /**
   * Authenticates a request by its `Authorization: Bearer` header, or `Authorization: DPoP` with a
   * `DPoP` proof (RFC 9449 §7.1): decrypts the token when it is an encrypted token (with
   * `decryptionKeys`), verifies it (signature, `typ`, `iss`, `aud`, `exp`, `nbf`), checks it against
   * the revocations, and for DPoP checks the proof (`htm`, `htu`, `ath`, the key of `cnf.jkt`, `iat`,
   * and `jti` replay when enabled). A DPoP-bound token sent as Bearer is refused (§7.2).
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
  const errors = createGuardErrors(config.realm, config.dpop);
  const dpop = config.dpop && createProofCheck(config.dpop, errors, config.clock);
  const revocations = createRevocationFollowing(config, errors);
  const startup = startUp(config, revocations);
  const readiness = createReadiness(startup, revocations, config, errors);
  const authentication = createAuthentication({
    errors,
    startup,
    revocations,
    notReady: readiness.notReady,
    logRefusal: createRefusalLog(config),
    decryption: config.decryption && createTokenDecryption(config.decryption, config, errors),
    undecryptable: createUndecryptableRefusal(config, errors),
    dpop,
    bearer: config.dpop?.required !== true,
  });

  const guard: Guard = {
    ready: readiness.ready,
    async authenticate(request) {
      return authentication.authenticateNow(request);
    },
    authorize(principal, requirements) {
      authentication.authorizerFor(requirements)(principal);
    },
    require(requirements = {}) {
      const check = authentication.checkFor(requirements);
      return async (request) => check(request);
    },
    health() {
      return guardHealth(startup, revocations, config);
    },
    async close() {
      if (startup.closed) return;
      startup.stop();
      await Promise.all([revocations.close(), dpop?.close()]);
      await startup.settled.catch(() => {});
    },
  };
  synchronousChecks.set(guard, authentication.checkFor);
  return guard;
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
