import { JwsInvalid } from '../errors.js';
import type { Key } from '../key/key.js';
import { type AlgorithmOptions, createHeaderPolicy, type JwsHeaderParameters } from '../lib/jws_header.js';
import { DEFAULT_MAX_TOKEN_LENGTH, splitCompact, verifyJws } from '../lib/jws_verify.js';
import {
  createClaimsValidator,
  type JwtClaimsOptions,
  type JwtPayload,
  nowSeconds,
  parseJwtPayload,
} from '../lib/jwt_claims.js';
import type { VerificationKey } from '../lib/key_input.js';

export interface VerifyJwtOptions extends AlgorithmOptions, JwtClaimsOptions {
  /** Longest token accepted, in characters (default 16384). */
  maxTokenLength?: number;
}

export interface VerifyJwtResult<P = JwtPayload> {
  payload: P & JwtPayload;
  protectedHeader: JwsHeaderParameters;
  /** The key that verified the signature (useful with key sets). */
  key: Key;
}

/**
 * Verifies a JWT: signature (with an allowed algorithm and a key that may serve it), then the claims
 * (RFC 7519 §7.2): `exp` (required unless `requireExp: false`), `nbf`, `iat`/`maxTokenAge`, `iss`,
 * `aud`, `sub`, `typ` and `requiredClaims`. Headers `jwk`, `jku`, `x5u` and `x5c` are never used
 * to find a key.
 *
 * @example
 * ```ts
 * const { payload } = await verifyJwt<{ scope: string }>(token, jwks, {
 *   algorithms: ['ES256'], issuer: 'https://auth.example.com', audience: 'api', typ: 'at+jwt',
 * });
 * ```
 */
export async function verifyJwt<P extends object = JwtPayload>(
  token: string,
  key: VerificationKey,
  options: VerifyJwtOptions,
): Promise<VerifyJwtResult<P>> {
  const policy = createHeaderPolicy(options);
  const validate = createClaimsValidator(options);
  const parts = splitCompact(token, options.maxTokenLength ?? DEFAULT_MAX_TOKEN_LENGTH);
  const verified = await verifyJws(parts, key, policy);
  // RFC 7797 §7: a JWT payload is always base64url-encoded.
  if (verified.header.b64 === false) throw new JwsInvalid('"b64": false cannot be used with JWTs');
  const payload = parseJwtPayload(verified.payload);
  validate(payload, verified.header, nowSeconds(options));
  return { payload: payload as P & JwtPayload, protectedHeader: verified.header, key: verified.key };
}
