import { JwsInvalid } from '../errors.js';
import type { JsonObject } from '../lib/json.js';
import type { JwsHeaderParameters } from '../lib/jws_header.js';
import { signParts } from '../lib/jws_sign.js';
import { createClaimsBuilder, type JwtIssueOptions, type JwtPayload } from '../lib/jwt_claims.js';
import type { KeyInput } from '../lib/key_input.js';
import { epochSeconds } from '../lib/time.js';

export interface SignJwtOptions extends JwtIssueOptions {
  /** Algorithm; may be left out when the key serves exactly one. */
  alg?: string;
  /** `kid` header. Precedence: this, then `header.kid`, then the key's own `kid`. */
  kid?: string;
  /** `typ` header, e.g. `at+jwt` for RFC 9068 access tokens (default `JWT`). */
  typ?: string;
  /** Further protected header parameters (`cty`, `crit`, …). `b64: false` is refused for JWTs. */
  header?: JwsHeaderParameters;
}

/**
 * Signs a JWT (RFC 7519) and returns its compact form. `iat` defaults to now; `expiresIn`,
 * `notBefore`, `jti`, `issuer`, `subject` and `audience` set the matching claims.
 *
 * @example
 * ```ts
 * const token = await signJwt({ scope: 'read' }, privateKey, {
 *   alg: 'ES256', issuer: 'https://auth.example.com', audience: 'api', subject: 'user-1',
 *   expiresIn: '15m', jti: true, typ: 'at+jwt',
 * });
 * ```
 */
export async function signJwt(
  claims: JwtPayload,
  key: KeyInput,
  options: SignJwtOptions = {},
): Promise<string> {
  return signJwtSync(claims, key, options);
}

/** The synchronous core of {@link signJwt}. */
export function signJwtSync(claims: JwtPayload, key: KeyInput, options: SignJwtOptions = {}): string {
  const payload = createClaimsBuilder(options)(claims as JsonObject, epochSeconds(options.currentDate));
  const header: JwsHeaderParameters = { ...options.header };
  if (options.alg !== undefined) header.alg = options.alg;
  // RFC 7797 §7: JWTs always use the base64url-encoded payload.
  if (header.b64 !== undefined) throw new JwsInvalid('"b64" cannot be used with JWTs (RFC 7797 §7)');
  // An explicit kid (option, then header.kid) wins over the key's own.
  const kid =
    options.kid ??
    options.header?.kid ??
    (typeof key === 'object' && 'kid' in key ? (key.kid as string | undefined) : undefined);
  if (kid !== undefined) header.kid = kid;
  header.typ = options.typ ?? header.typ ?? 'JWT';
  const parts = signParts(JSON.stringify(payload), key, header);
  return `${parts.protectedSegment}.${parts.payloadSegment}.${parts.signatureSegment}`;
}
