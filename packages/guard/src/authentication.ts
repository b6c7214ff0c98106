import { type AuthenticatableRequest, assertTokenSyntax, bearerTokenOf } from './bearer.js';
import { isCompactJwe, type TokenDecryption } from './decryption.js';
import type { GuardError, GuardErrors } from './errors.js';
import { type AccessTokenClaims, type Principal, principalOf, principalOfEncrypted } from './principal.js';
import { type Authorizer, compileRequirements, type Requirements } from './requirements.js';
import type { RevocationFollowing } from './revocation/following.js';
import type { Startup } from './startup.js';
import { needsKeyFetch, verificationFailure } from './verification.js';

/** What an adapter runs per request: the principal, or a promise of it when keys must be fetched. */
export type Check = (request: AuthenticatableRequest) => Principal | PromiseLike<Principal>;

/** Whether a check answered with a promise (of any kind: a test double's may not be native). */
export function isPending(outcome: Principal | PromiseLike<Principal>): outcome is PromiseLike<Principal> {
  return typeof (outcome as { then?: unknown }).then === 'function';
}

export interface Authentication {
  /**
   * Authenticates, synchronously whenever the signing key is in memory (nearly every request): an
   * API pays no promise and no extra turn of the event loop per request. Only a token whose key the
   * set does not hold yet (a rotation, the first request after start) waits for the key set.
   * Throws (or rejects with) a GuardError.
   */
  authenticateNow(request: AuthenticatableRequest): Principal | Promise<Principal>;
  /** `authenticateNow` then the requirements, compiled once: synchronous when authentication is. */
  checkFor(requirements?: Requirements): Check;
  /** The compiled requirements, remembered per requirements object. */
  authorizerFor(requirements: Requirements): Authorizer;
}

export interface AuthenticationDeps {
  readonly errors: GuardErrors;
  readonly startup: Startup;
  readonly revocations: RevocationFollowing;
  /** The 503 for a guard that is not started, cannot start, or is closed. */
  readonly notReady: () => GuardError;
  /** Logs a refusal (see refusal_log.ts). */
  readonly logRefusal: (err: unknown) => void;
  /** Opens encrypted tokens; undefined when the guard has no decryption key. */
  readonly decryption: TokenDecryption | undefined;
  /** The refusal of an encrypted token by a guard without decryption keys (see decryption.ts). */
  readonly undecryptable: () => GuardError;
}

/**
 * A request's way to a principal: the bearer token (RFC 6750 §2.1), the verifier (from memory, or
 * waiting for the key set), the principal, then the revocation set, which sees only tokens that
 * verified. Every refusal is logged here, once, on its way out.
 */
export function createAuthentication(deps: AuthenticationDeps): Authentication {
  const { errors, startup, revocations, notReady, logRefusal, decryption, undecryptable } = deps;

  function authenticateNow(request: AuthenticatableRequest): Principal | Promise<Principal> {
    // No cost when nothing throws: the accepted request allocates nothing for this.
    try {
      return principalNow(request);
    } catch (err) {
      logRefusal(err);
      throw err;
    }
  }

  function principalNow(request: AuthenticatableRequest): Principal | Promise<Principal> {
    const token = bearerTokenOf(request, errors);
    const verifier = startup.verifier;
    // A guard that failed to start never answers for tokens, whatever onStale says.
    if (verifier === undefined || startup.closed || startup.fatal !== undefined) throw notReady();
    // The signed token to verify: the token itself, or, with decryption keys, the one inside an
    // encrypted token. Without keys (decided at createGuard) a plain token pays nothing for this.
    const signed = decryption === undefined ? token : decryption.signedTokenOf(token);
    let payload: AccessTokenClaims;
    let protectedHeader: { kid?: unknown };
    try {
      // From memory only: the token cache, else the held keys (an expired set is refreshed in the
      // background meanwhile; past staleIfError it holds no keys and the token goes the slow way).
      ({ payload, protectedHeader } = verifier.verify(signed));
    } catch (err) {
      if (needsKeyFetch(err)) return authenticateFetchingKeys(token, signed);
      throw refusal(token, err);
    }
    return admit(payload, protectedHeader.kid, token, signed);
  }

  async function authenticateFetchingKeys(token: string, signed: string): Promise<Principal> {
    try {
      let payload: AccessTokenClaims;
      let protectedHeader: { kid?: unknown };
      try {
        ({ payload, protectedHeader } = await startup.verifier!.verifyAsync(signed));
      } catch (err) {
        throw refusal(token, err);
      }
      return admit(payload, protectedHeader.kid, token, signed);
    } catch (err) {
      logRefusal(err);
      throw err;
    }
  }

  /** Why a token that failed verification is refused: malformed (400), invalid (401) or keys unavailable (503). */
  function refusal(token: string, err: unknown): GuardError {
    assertTokenSyntax(token, errors);
    // Found only once verification failed, so plain tokens never pay for the check.
    if (decryption === undefined && isCompactJwe(token)) return undecryptable();
    return verificationFailure(err, errors);
  }

  /**
   * The principal of a verified token, unless a revocation matches it (its claims, or the `kid` of a
   * withdrawn signing key) or the set is stale (fail-closed). `token` is the bearer token as sent,
   * `signed` the token that verified: the same string unless `token` was encrypted.
   */
  function admit(payload: AccessTokenClaims, kid: unknown, token: string, signed: string): Principal {
    let principal: Principal;
    try {
      if (signed === token) principal = principalOf(payload, token);
      else {
        decryption!.verified(token, signed);
        principal = principalOfEncrypted(payload, token);
      }
    } catch (err) {
      throw verificationFailure(err, errors);
    }
    revocations.check(principal.claims, kid);
    return principal;
  }

  /** The compiled requirements, logging a 403 on its way out. */
  function compile(requirements: Requirements): Authorizer {
    const authorize = compileRequirements(requirements, errors);
    return (principal) => {
      try {
        authorize(principal);
      } catch (err) {
        logRefusal(err);
        throw err;
      }
    };
  }

  function checkFor(requirements: Requirements = {}): Check {
    const authorize = compile(requirements);
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

  const compiled = new WeakMap<Requirements, Authorizer>();
  function authorizerFor(requirements: Requirements): Authorizer {
    let authorizer = compiled.get(requirements);
    if (authorizer === undefined) {
      authorizer = compile(requirements);
      compiled.set(requirements, authorizer);
    }
    return authorizer;
  }

  return { authenticateNow, checkFor, authorizerFor };
}
