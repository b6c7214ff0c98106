/**
 * Every error this library throws on purpose is a {@link JoseError} with a stable `code`.
 * The codes match the `jose` package where the meaning is the same, so error handling written
 * for `jose` keeps working. Messages say what was expected and what was found; they never contain
 * key material or a whole token.
 *
 * @example
 * ```ts
 * try {
 *   await verifyJwt(token, key, { algorithms: ['ES256'] });
 * } catch (err) {
 *   if (isJoseError(err, 'ERR_JWT_EXPIRED')) console.log('expired at', err.expiredAt);
 *   else throw err;
 * }
 * ```
 */
export abstract class JoseError extends Error {
  abstract readonly code: JoseErrorCode;

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** The protected header, when a failure happened after it was parsed. */
type JwtFacts = { readonly payload: Record<string, unknown> | undefined };

/** Something generic went wrong, such as a remote key set answering with an HTTP error. */
export class JoseGenericError extends JoseError {
  readonly code = 'ERR_JOSE_GENERIC' as const;
}

/** The token's algorithm is not in the caller's allow-list, or not one the key may serve. */
export class JoseAlgNotAllowed extends JoseError {
  readonly code = 'ERR_JOSE_ALG_NOT_ALLOWED' as const;
  constructor(
    message: string,
    readonly alg: string | undefined,
  ) {
    super(message);
  }
}

/** A feature, algorithm or header that this library does not implement (or refuses to, e.g. `RSA1_5`). */
export class JoseNotSupported extends JoseError {
  readonly code = 'ERR_JOSE_NOT_SUPPORTED' as const;
}

/** A key that cannot be used: wrong type or curve, too short, not permitted for the operation. */
export class KeyInvalid extends JoseError {
  readonly code = 'ERR_KEY_INVALID' as const;
}

/** A malformed JWS: structure, encoding, header, `crit`, or size. */
export class JwsInvalid extends JoseError {
  readonly code = 'ERR_JWS_INVALID' as const;
}

/** The signature did not verify with the selected key. Deliberately carries no further detail. */
export class JwsSignatureVerificationFailed extends JoseError {
  readonly code = 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED' as const;
  constructor(message = 'signature verification failed') {
    super(message);
  }
}

/** A malformed JWT: the payload is not a JSON object, or a claim has the wrong type. */
export class JwtInvalid extends JoseError {
  readonly code = 'ERR_JWT_INVALID' as const;
}

/** A JWT claim or the `typ` header failed validation. `claim` names it; `reason` says how. */
export class JwtClaimValidationFailed extends JoseError implements JwtFacts {
  readonly code = 'ERR_JWT_CLAIM_VALIDATION_FAILED' as const;
  constructor(
    message: string,
    readonly payload: Record<string, unknown> | undefined,
    readonly claim: string,
    readonly reason: ClaimFailureReason,
  ) {
    super(message);
  }
}

/** The JWT's `exp` has passed (allowing for the clock tolerance). */
export class JwtExpired extends JoseError implements JwtFacts {
  readonly code = 'ERR_JWT_EXPIRED' as const;
  readonly reason = 'check_failed' as const;
  constructor(
    message: string,
    readonly payload: Record<string, unknown> | undefined,
    /** When the token expired. */
    readonly expiredAt: Date,
    /** The claim that expired it: `exp`, or `iat` when `maxTokenAge` was exceeded (RFC 7519 §4.1.6). */
    readonly claim: 'exp' | 'iat' = 'exp',
  ) {
    super(message);
  }
}

/** A malformed JWE: structure, encoding, header, `crit`, limits (`p2c`, sizes), or a JWS where a JWE belongs. */
export class JweInvalid extends JoseError {
  readonly code = 'ERR_JWE_INVALID' as const;
}

/**
 * Decryption failed. One error for every cryptographic step (key unwrap, agreement, tag, padding),
 * with one message, so that failures cannot be told apart: an oracle needs a difference to observe.
 */
export class JweDecryptionFailed extends JoseError {
  readonly code = 'ERR_JWE_DECRYPTION_FAILED' as const;
  constructor(message = 'decryption operation failed') {
    super(message);
  }
}

/** A malformed JWK, or one whose `use` / `key_ops` / `alg` forbid what was asked of it. */
export class JwkInvalid extends JoseError {
  readonly code = 'ERR_JWK_INVALID' as const;
}

/** A malformed JSON Web Key Set. */
export class JwksInvalid extends JoseError {
  readonly code = 'ERR_JWKS_INVALID' as const;
}

/** No key in the set matches the token's header. */
export class JwksNoMatchingKey extends JoseError {
  readonly code = 'ERR_JWKS_NO_MATCHING_KEY' as const;
  constructor(message = 'no applicable key found in the JSON Web Key Set') {
    super(message);
  }
}

/** Fetching a remote key set took longer than its timeout. */
export class JwksTimeout extends JoseError {
  readonly code = 'ERR_JWKS_TIMEOUT' as const;
  constructor(message = 'request timed out') {
    super(message);
  }
}

/** Why a DPoP proof was refused: the RFC 9449 §4.3 check it failed, as a short machine word. */
export type DpopFailureReason =
  | 'syntax'
  | 'typ'
  | 'alg'
  | 'jwk'
  | 'signature'
  | 'htm'
  | 'htu'
  | 'iat'
  | 'ath'
  | 'nonce'
  | 'jkt';

/**
 * A DPoP proof (RFC 9449 §4) failed one of the §4.3 checks. `reason` names the check; a server
 * answers `invalid_dpop_proof` (§5, §7.1), or `use_dpop_nonce` (§8, §9) when `reason` is `nonce`.
 * The message never repeats the proof, the access token or the key.
 */
export class DpopProofInvalid extends JoseError {
  readonly code = 'ERR_DPOP_PROOF_INVALID' as const;
  constructor(
    message: string,
    readonly reason: DpopFailureReason,
  ) {
    super(message);
  }
}

export type ClaimFailureReason = 'missing' | 'invalid' | 'check_failed' | 'unexpected';

/** All error classes, as a union discriminated on `code`. */
export type AnyJoseError =
  | JoseGenericError
  | JoseAlgNotAllowed
  | JoseNotSupported
  | KeyInvalid
  | JwsInvalid
  | JwsSignatureVerificationFailed
  | JwtInvalid
  | JwtClaimValidationFailed
  | JwtExpired
  | JweInvalid
  | JweDecryptionFailed
  | JwkInvalid
  | JwksInvalid
  | JwksNoMatchingKey
  | JwksTimeout
  | DpopProofInvalid;

export type JoseErrorCode = AnyJoseError['code'];

/**
 * Narrows `err` to a Tessera JOSE error, optionally of one code.
 *
 * @example
 * ```ts
 * if (isJoseError(err, 'ERR_JWT_CLAIM_VALIDATION_FAILED')) console.log(err.claim, err.reason);
 * ```
 */
export function isJoseError<C extends JoseErrorCode>(
  err: unknown,
  code?: C,
): err is Extract<AnyJoseError, { code: C }> {
  return err instanceof JoseError && (code === undefined || err.code === code);
}
