import {
  type AuthenticatableRequest,
  assertTokenSyntax,
  authorizationOf,
  schemeOf,
  tokenAfterScheme,
} from './bearer.js';
import { isCompactJwe, type TokenDecryption } from './decryption.js';
import type { ProofCheck } from './dpop/proof_check.js';
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
  /** DPoP proofs (RFC 9449 §7.1); undefined when the guard takes Bearer tokens only. */
  readonly dpop: ProofCheck | undefined;
  /** Whether Bearer tokens are accepted (false with `dpop: { required: true }`). */
  readonly bearer: boolean;
}

/**
 * A request's way to a principal: the token of the Authorization header, Bearer (RFC 6750 §2.1) or
 * DPoP (RFC 9449 §7.1), the verifier (from memory, or waiting for the key set), the principal, the
 * revocation set, which sees only tokens that verified, and for DPoP the proof. Every refusal is
 * logged here, once, on its way out.
 */
export function createAuthentication(deps: AuthenticationDeps): Authentication {
  const { errors, startup, revocations, notReady, logRefusal, decryption, undecryptable, dpop, bearer } =
    deps;

  function authenticateNow(request: AuthenticatableRequest): Principal | Promise<Principal> {
    let outcome: Principal | Promise<Principal>;
    // No cost when nothing throws: the accepted request allocates nothing for this.
    try {
      outcome = principalNow(request);
    } catch (err) {
      logRefusal(err);
      throw err;
    }
    if (!isPending(outcome)) return outcome;
    return outcome.then(undefined, (err: unknown) => {
      logRefusal(err);
      throw err;
    });
  }

  function principalNow(request: AuthenticatableRequest): Principal | Promise<Principal> {
    const value = authorizationOf(request, errors);
    const scheme = schemeOf(value);
    if (scheme === 'Bearer' && bearer)
      return principalOfToken(tokenAfterScheme(value, 'Bearer', errors), undefined);
    if (scheme !== 'DPoP' || dpop === undefined)
      throw errors.missingToken(
        scheme === 'Bearer'
          ? 'a Bearer token, and only DPoP is accepted'
          : 'the Authorization header uses another scheme',
      );
    // RFC 9449 §7.1: every refusal of a DPoP request carries a DPoP challenge.
    let outcome: Principal | Promise<Principal>;
    try {
      outcome = principalOfToken(tokenAfterScheme(value, 'DPoP', errors), request);
    } catch (err) {
      throw errors.inDpopScheme(err);
    }
    if (!isPending(outcome)) return outcome;
    return outcome.then(undefined, (err: unknown) => {
      throw errors.inDpopScheme(err);
    });
  }

  /** `dpopRequest` is the request when the token came with the DPoP scheme, else undefined. */
  function principalOfToken(
    token: string,
    dpopRequest: AuthenticatableRequest | undefined,
  ): Principal | Promise<Principal> {
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
      if (needsKeyFetch(err)) return authenticateFetchingKeys(token, signed, dpopRequest);
      throw refusal(token, err);
    }
    return admit(payload, protectedHeader.kid, token, signed, dpopRequest);
  }

  async function authenticateFetchingKeys(
    token: string,
    signed: string,
    dpopRequest: AuthenticatableRequest | undefined,
  ): Promise<Principal> {
    let payload: AccessTokenClaims;
    let protectedHeader: { kid?: unknown };
    try {
      ({ payload, protectedHeader } = await startup.verifier!.verifyAsync(signed));
    } catch (err) {
      throw refusal(token, err);
    }
    return admit(payload, protectedHeader.kid, token, signed, dpopRequest);
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
   * withdrawn signing key) or the set is stale (fail-closed). `token` is the token as sent, `signed`
   * the token that verified: the same string unless `token` was encrypted. A DPoP-bound token
   * (`cnf.jkt`) is admitted only with the DPoP scheme and a proof made with its key; a DPoP request
   * only with a bound token.
   */
  function admit(
    payload: AccessTokenClaims,
    kid: unknown,
    token: string,
    signed: string,
    dpopRequest: AuthenticatableRequest | undefined,
  ): Principal | Promise<Principal> {
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
    const jkt = principal.jkt;
    if (dpopRequest === undefined) {
      // RFC 9449 §7.2: a bound token must not be accepted as a bearer token; the holder of a stolen
      // copy has no key to prove.
      if (jkt !== undefined) throw errors.boundTokenAsBearer('a DPoP-bound token (cnf.jkt) sent as Bearer');
      revocations.check(principal.claims, kid);
      return principal;
    }
    // RFC 9449 §7.1: the DPoP scheme carries a DPoP-bound access token.
    if (jkt === undefined)
      throw errors.invalidToken('the DPoP scheme with a token that is not DPoP-bound (no cnf.jkt)');
    revocations.check(principal.claims, kid);
    const proved = dpop!.check(dpopRequest, token, jkt);
    return proved === undefined ? principal : proved.then(() => principal);
  }

  /**
   * The compiled requirements, logging a 403 on its way out. A bound principal (`jkt`) came with the
   * DPoP scheme, so its 403 carries a DPoP challenge (RFC 9449 §7.1).
   */
  function compile(requirements: Requirements): Authorizer {
    const authorize = compileRequirements(requirements, errors);
    return (principal) => {
      try {
        authorize(principal);
      } catch (err) {
        const refused = principal.jkt === undefined ? err : errors.inDpopScheme(err);
        logRefusal(refused);
        throw refused;
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
