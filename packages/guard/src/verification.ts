import { createVerifier, isJoseError, type RemoteJwks, type Verifier } from '@tessera/jose';
import { type AuthorizationServerMetadata, DiscoveryError } from './discovery.js';
import { type GuardError, type GuardErrors, RETRY_AFTER } from './errors.js';
import { ASYMMETRIC_ALGORITHMS, DEFAULT_ALGORITHMS, type ResolvedOptions } from './options.js';
import { type AccessTokenClaims, MalformedClaim } from './principal.js';

/** RFC 9068 §2.2: the claims every access token carries (`exp` is required by the verifier anyway). */
const REQUIRED_CLAIMS = ['iss', 'exp', 'aud', 'sub', 'client_id', 'iat', 'jti'];
/** Failures of key retrieval, not of the token: answered with 503. */
const KEY_RETRIEVAL_CODES = new Set(['ERR_JWKS_TIMEOUT', 'ERR_JOSE_GENERIC', 'ERR_JWKS_INVALID']);

/**
 * The prepared verifier of this API's access tokens: every check RFC 9068 §4 asks of a resource
 * server, decided once, verifying with the keys `jwks` holds.
 */
export function createAccessTokenVerifier(
  jwks: RemoteJwks,
  algorithms: readonly string[],
  config: ResolvedOptions,
): Verifier<AccessTokenClaims> {
  return createVerifier<AccessTokenClaims>({
    key: jwks,
    // RFC 8725 §3.1: the allowed algorithms are pinned here, never taken from the token.
    algorithms: [...algorithms],
    // RFC 7519 §4.1.1 and RFC 9068 §4: `iss` must be exactly the issuer.
    issuer: config.issuer,
    // RFC 7519 §4.1.3 and RFC 9068 §4: `aud` must contain this API.
    audience: config.audience,
    // RFC 9068 §2.1, §4: typ is at+jwt (application/at+jwt matches too), so that no other JWT of
    // the issuer (an ID token, say) passes for an access token (RFC 8725 §3.11).
    typ: 'at+jwt',
    // RFC 9068 §2.2; `exp` (RFC 7519 §4.1.4) and `nbf` (§4.1.5) are checked against the clock.
    requiredClaims: REQUIRED_CLAIMS,
    clockTolerance: config.clockTolerance,
    // RFC 7519 §4.1.6: `iat` tells the token's age; with maxTokenAge an older token is refused as
    // expired (ERR_JWT_EXPIRED on "iat", as in jose), and the cache forgets it at that age too.
    maxTokenAge: config.maxTokenAge,
    // Entries never outlive the token's exp, and failures are never cached.
    cache: config.tokenCache > 0 ? { max: config.tokenCache } : false,
    clock: config.clock,
  });
}

/**
 * The algorithms to accept: the configured ones, else the asymmetric ones the issuer advertises,
 * else the defaults. RFC 8725 §3.1: symmetric algorithms and `none` are never taken from a document.
 */
export function acceptedAlgorithms(
  config: ResolvedOptions,
  metadata: AuthorizationServerMetadata | undefined,
): readonly string[] {
  if (config.algorithms !== undefined) return config.algorithms;
  const advertised = metadata?.access_token_signing_alg_values_supported;
  if (advertised === undefined || advertised.length === 0) return DEFAULT_ALGORITHMS;
  const usable = advertised.filter((alg) => ASYMMETRIC_ALGORITHMS.has(alg));
  if (usable.length === 0)
    throw new DiscoveryError(
      `the metadata of ${config.issuer} advertises no asymmetric signing algorithm (${advertised.join(', ')}); the guard accepts none of them`,
      true,
    );
  return usable;
}

/** Whether verification failed only because the key set does not hold the token's key yet. */
export function needsKeyFetch(err: unknown): boolean {
  return isJoseError(err) && err.code === 'ERR_JWKS_NO_MATCHING_KEY';
}

/** Maps a verification failure: the token's fault is a 401, the key set's a 503. */
export function verificationFailure(err: unknown, errors: GuardErrors): GuardError {
  if (isJoseError(err)) {
    if (KEY_RETRIEVAL_CODES.has(err.code))
      return errors.unavailable(`the signing keys cannot be fetched: ${err.message}`, RETRY_AFTER.keys, err);
    if (err.code === 'ERR_JWT_EXPIRED') return errors.expiredToken(`${err.code}: ${err.message}`, err);
    return errors.invalidToken(`${err.code}: ${err.message}`, err);
  }
  if (err instanceof MalformedClaim) return errors.invalidToken(err.message, err);
  throw err;
}
