import {
  createLocalJwks,
  createRemoteJwks,
  isJoseError,
  type JsonWebKeySet,
  type JwsHeaderParameters,
  type Key,
  type KeySet,
  type RemoteJwks,
  verifyJwt,
} from '@tessera/jose';
import type { ReplayCache } from '../shared/replay_cache.js';

/** RFC 7521 §4.2, RFC 7523 §2.2: the `client_assertion_type` of a JWT client assertion. */
export const JWT_BEARER_CLIENT_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

/**
 * The algorithms a `private_key_jwt` assertion may be signed with, for discovery's
 * `token_endpoint_auth_signing_alg_values_supported`. Asymmetric only (RFC 8725 §3.1): never `none`,
 * and no HS*, since `client_secret_jwt` (an HMAC keyed with the client secret) is not offered.
 */
export const CLIENT_ASSERTION_SIGNING_ALGORITHMS = [
  'RS256',
  'PS256',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
] as const;

/** Which rule an assertion broke: stable, for tests, logs and metrics. */
export type ClientAssertionCheck =
  | 'no_keys'
  | 'jwks_invalid'
  | 'jwks_unavailable'
  | 'malformed'
  | 'alg'
  | 'typ'
  | 'kid'
  | 'signature'
  | 'iss'
  | 'sub'
  | 'aud'
  | 'exp'
  | 'lifetime'
  | 'nbf'
  | 'jti'
  | 'replay';

/**
 * The client assertion does not authenticate the client (RFC 6749 §5.2 `invalid_client`). `reason`
 * says which rule failed in words safe to send back as `error_description`: it never holds the
 * assertion, a key, or a fetch error's details (those are in `cause`, for the log).
 */
export class InvalidClientAssertion extends Error {
  constructor(
    readonly check: ClientAssertionCheck,
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(reason, options);
    this.name = 'InvalidClientAssertion';
  }
}

/** The client as the verifier needs it: its id and the keys it registered (OIDC Registration §2). */
export interface AssertingClient {
  clientId: string;
  jwks?: JsonWebKeySet | undefined;
  jwksUri?: string | undefined;
}

export interface ClientAssertionVerifierOptions {
  /** This server's issuer identifier (RFC 8414 §2). */
  issuer: string;
  /** The token endpoint's URL. */
  tokenEndpoint: string;
  /** Milliseconds since the epoch. */
  clock: () => number;
  /** Where each assertion's `jti` is remembered until it expires. */
  replay: ReplayCache;
  /** Longest wait for a client's `jwks_uri` (default 3000 ms): the token request waits on it. */
  fetchTimeoutMs?: number;
  /**
   * Longest an assertion may still be valid for, in seconds from now (default 300). The replay cache
   * holds every accepted `jti` until its `exp`, so this bounds how much it holds.
   */
  maxLifetimeSeconds?: number;
}

export interface ClientAssertionVerifier {
  /**
   * Verifies a `private_key_jwt` client assertion (OIDC Core §9, RFC 7523 §3) for `client`, and
   * spends its `jti`. Resolves when the assertion authenticates the client; rejects with
   * {@link InvalidClientAssertion}, or with `ReplayCacheUnavailable` when the replay cache cannot
   * answer (a temporary failure, not the client's).
   */
  verify(assertion: string, client: AssertingClient): Promise<void>;
}

/** RFC 7523 §3 items 4–5: clocks differ a little; a minute either way is accepted. */
const CLOCK_TOLERANCE_SECONDS = 60;
const DEFAULT_MAX_LIFETIME_SECONDS = 300;
const DEFAULT_FETCH_TIMEOUT_MS = 3_000;
/** A client's key set holds a few keys; 64 KiB is ample and keeps a hostile `jwks_uri` cheap. */
const MAX_JWKS_BYTES = 64 * 1024;
/**
 * A key the client removes from its `jwks_uri` stops being accepted within this long, whatever the
 * response's `Cache-Control` says.
 */
const MAX_JWKS_CACHE_AGE = '1h';

/**
 * RFC 8725 §3.11: `typ` tells JWT kinds apart. A client assertion is untyped (`JWT`, or no `typ`) or,
 * per the RFC 7523 update (draft-ietf-oauth-rfc7523bis §4), `client-authentication+jwt`. Any other
 * type is another kind of JWT signed with the client's key (a request object, a DPoP proof) and must
 * not pass for an assertion.
 */
const ACCEPTED_TYPES = new Set(['jwt', 'client-authentication+jwt']);

/**
 * Builds the verifier of `private_key_jwt` client assertions. Keys come from the client's inline
 * `jwks`, else from its `jwks_uri` (fetched and cached per client id and URL, with the timeout, the
 * size cap and the refetch cooldown of `createRemoteJwks`); never from the assertion's `jwk`, `jku`,
 * `x5u` or `x5c` headers.
 *
 * @example
 * ```ts
 * const assertions = createClientAssertionVerifier({
 *   issuer: config.issuer,
 *   tokenEndpoint: `${config.issuer}/token`,
 *   clock: services.clock,
 *   replay: services.redis ? createRedisReplayCache(services.redis) : createMemoryReplayCache(services.clock),
 * });
 * await assertions.verify(body.client_assertion, client); // throws InvalidClientAssertion
 * ```
 */
export function createClientAssertionVerifier(
  options: ClientAssertionVerifierOptions,
): ClientAssertionVerifier {
  const { issuer, tokenEndpoint, clock, replay } = options;
  const fetchTimeout = options.fetchTimeoutMs ?? DEFAULT_FETCH_TIMEOUT_MS;
  const maxLifetime = options.maxLifetimeSeconds ?? DEFAULT_MAX_LIFETIME_SECONDS;
  if (!(Number.isFinite(maxLifetime) && maxLifetime > 0))
    throw new TypeError('maxLifetimeSeconds must be a positive number');
  // RFC 7523 §3 item 3 and OIDC Core §9 name the token endpoint's URL as the audience; the RFC 7523
  // update (draft-ietf-oauth-rfc7523bis, 2025) makes the issuer identifier the value clients should
  // send, and servers accept both while clients move over.
  const audience = [issuer, tokenEndpoint];
  const algorithms = [...CLIENT_ASSERTION_SIGNING_ALGORITHMS];

  /** One remote set per client, replaced when the client's `jwks_uri` changes. */
  const remoteSets = new Map<string, { uri: string; jwks: RemoteJwks }>();

  function remoteKeySet(clientId: string, uri: string): RemoteJwks {
    const held = remoteSets.get(clientId);
    if (held?.uri === uri) return held.jwks;
    let jwks: RemoteJwks;
    try {
      jwks = createRemoteJwks(uri, {
        timeout: fetchTimeout,
        maxResponseBytes: MAX_JWKS_BYTES,
        maxCacheAge: MAX_JWKS_CACHE_AGE,
        clock,
      });
    } catch (err) {
      throw new InvalidClientAssertion('jwks_invalid', "the client's jwks_uri cannot be used", {
        cause: err,
      });
    }
    remoteSets.set(clientId, { uri, jwks });
    return jwks;
  }

  function keySetOf(client: AssertingClient): KeySet {
    if (client.jwks !== undefined) {
      try {
        return createLocalJwks(client.jwks);
      } catch (err) {
        throw new InvalidClientAssertion('jwks_invalid', "the client's registered jwks is invalid", {
          cause: err,
        });
      }
    }
    if (client.jwksUri !== undefined) return remoteKeySet(client.clientId, client.jwksUri);
    throw new InvalidClientAssertion('no_keys', 'client has no registered keys');
  }

  /**
   * The client's keys for this header. OIDC Core §10.1: with several keys a `kid` must say which;
   * without one the assertion is accepted only when a single key of the set can serve its `alg`.
   */
  function keyResolver(keys: KeySet) {
    return async (header: JwsHeaderParameters): Promise<readonly Key[]> => {
      let found: readonly Key[];
      try {
        found = await keys.resolve(header);
      } catch (err) {
        throw keySetFailure(err);
      }
      if (header.kid === undefined && found.length > 1)
        throw new InvalidClientAssertion('kid', 'the assertion needs a "kid": the client has several keys');
      return found;
    };
  }

  return {
    async verify(assertion, client) {
      const keys = keySetOf(client);
      const now = clock();
      let payload: Record<string, unknown>;
      let header: JwsHeaderParameters;
      try {
        const verified = await verifyJwt(assertion, keyResolver(keys), {
          algorithms,
          // RFC 7523 §3 items 1–2: the client is both the issuer and the subject of its assertion.
          issuer: client.clientId,
          subject: client.clientId,
          // RFC 7523 §3 item 3: the server must find itself among the audiences.
          audience,
          // RFC 7523 §3 item 4 (`exp` required, checked by jose) and item 7 (`jti`, for the replay cache).
          requiredClaims: ['jti'],
          clockTolerance: CLOCK_TOLERANCE_SECONDS,
          currentDate: new Date(now),
        });
        payload = verified.payload;
        header = verified.protectedHeader;
      } catch (err) {
        throw asInvalidAssertion(err);
      }
      if (header.typ !== undefined && !ACCEPTED_TYPES.has(mediaType(header.typ)))
        throw new InvalidClientAssertion(
          'typ',
          `"typ" ${JSON.stringify(header.typ)} is not a client assertion`,
        );
      if (payload.jti === '') throw new InvalidClientAssertion('jti', 'the "jti" claim must not be empty');
      const exp = payload.exp as number;
      // Every accepted jti is kept until exp: a far-off exp would fill the replay cache.
      if (exp > now / 1000 + maxLifetime + CLOCK_TOLERANCE_SECONDS)
        throw new InvalidClientAssertion('lifetime', `"exp" must be at most ${maxLifetime} seconds from now`);
      // RFC 7523 §3 item 7: a jti is used once. It is kept as long as the assertion could be accepted,
      // that is until exp plus the clock tolerance.
      const first = await replay.firstUse(
        `client_assertion:${client.clientId}`,
        payload.jti as string,
        (exp + CLOCK_TOLERANCE_SECONDS) * 1000,
      );
      if (!first) throw new InvalidClientAssertion('replay', 'the assertion was already used (same "jti")');
    },
  };
}

/** A failure of the client's key set, as the reason the client sees. */
function keySetFailure(err: unknown): InvalidClientAssertion {
  if (err instanceof InvalidClientAssertion) return err;
  if (isJoseError(err, 'ERR_JWKS_NO_MATCHING_KEY'))
    return new InvalidClientAssertion(
      'signature',
      'no key of the client matches the assertion\'s "kid" and "alg"',
      {
        cause: err,
      },
    );
  if (isJoseError(err, 'ERR_JWKS_INVALID'))
    return new InvalidClientAssertion('jwks_invalid', "the client's jwks_uri does not serve a usable JWKS", {
      cause: err,
    });
  // Timeouts, network errors and HTTP errors: the cause has the origin and status, for the log.
  return new InvalidClientAssertion('jwks_unavailable', "the client's jwks_uri could not be fetched", {
    cause: err,
  });
}

/** Maps what `verifyJwt` threw to the rule the assertion broke. */
function asInvalidAssertion(err: unknown): unknown {
  if (err instanceof InvalidClientAssertion || !isJoseError(err)) return err;
  const because = { cause: err };
  switch (err.code) {
    case 'ERR_JOSE_ALG_NOT_ALLOWED':
      return new InvalidClientAssertion(
        'alg',
        `"alg" must be one of ${CLIENT_ASSERTION_SIGNING_ALGORITHMS.join(', ')}`,
        because,
      );
    case 'ERR_JWKS_NO_MATCHING_KEY':
      return keySetFailure(err);
    case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED':
      return new InvalidClientAssertion(
        'signature',
        "the signature is not by a key of the client's",
        because,
      );
    case 'ERR_JWT_EXPIRED':
      return new InvalidClientAssertion('exp', 'the assertion has expired', because);
    case 'ERR_JWT_CLAIM_VALIDATION_FAILED':
      return claimFailure(err.claim, err.reason, because);
    default:
      // ERR_JWS_INVALID, ERR_JWT_INVALID, ERR_JOSE_NOT_SUPPORTED (unknown `crit`), ERR_KEY_INVALID.
      return new InvalidClientAssertion(
        'malformed',
        'client_assertion is not a well-formed signed JWT',
        because,
      );
  }
}

function claimFailure(claim: string, reason: string, because: { cause: unknown }): InvalidClientAssertion {
  const quoted = `"${claim}"`;
  if (reason === 'missing') {
    const check = claim === 'iss' || claim === 'sub' || claim === 'aud' || claim === 'exp' || claim === 'jti';
    return new InvalidClientAssertion(
      check ? claim : 'malformed',
      `the ${quoted} claim is required`,
      because,
    );
  }
  if (reason === 'invalid')
    return new InvalidClientAssertion('malformed', `the ${quoted} claim is malformed`, because);
  switch (claim) {
    case 'iss':
      return new InvalidClientAssertion('iss', '"iss" must be the client_id', because);
    case 'sub':
      return new InvalidClientAssertion('sub', '"sub" must be the client_id', because);
    case 'aud':
      return new InvalidClientAssertion('aud', '"aud" must name the issuer or the token endpoint', because);
    case 'nbf':
      return new InvalidClientAssertion('nbf', 'the assertion is not valid yet ("nbf")', because);
    default:
      return new InvalidClientAssertion('malformed', `the ${quoted} claim is not acceptable`, because);
  }
}

/** RFC 7515 §4.1.9: media types compare case-insensitively, and `application/` may be left out. */
function mediaType(typ: string): string {
  const lower = typ.toLowerCase();
  return lower.startsWith('application/') ? lower.slice('application/'.length) : lower;
}
