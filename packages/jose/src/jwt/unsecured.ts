import { JwtInvalid } from '../errors.js';
import { decodeBase64urlText, encodeBase64url } from '../lib/base64url.js';
import { parseProtectedHeader } from '../lib/jws_header.js';
import { DEFAULT_MAX_TOKEN_LENGTH, splitCompact } from '../lib/jws_verify.js';
import {
  createClaimsBuilder,
  createClaimsValidator,
  type JwtClaimsOptions,
  type JwtIssueOptions,
  type JwtPayload,
  nowSeconds,
  parseJwtPayload,
} from '../lib/jwt_claims.js';
import { epochSeconds } from '../lib/time.js';

const UNSECURED_HEADER = encodeBase64url('{"alg":"none","typ":"JWT"}');

/**
 * Encodes an Unsecured JWT (RFC 7519 §6: `alg: "none"`, empty signature). Such a token proves
 * nothing; no verify function of this library accepts one. Use only where integrity is provided
 * another way.
 *
 * @example
 * ```ts
 * const token = encodeUnsecuredJwt({ sub: 'test' }, { expiresIn: '5m' }); // 'eyJhbGciOiJub25lIi….'
 * ```
 */
export function encodeUnsecuredJwt(claims: JwtPayload, options: JwtIssueOptions = {}): string {
  const payload = createClaimsBuilder(options)(claims, epochSeconds(options.currentDate));
  return `${UNSECURED_HEADER}.${encodeBase64url(JSON.stringify(payload))}.`;
}

/**
 * Decodes an Unsecured JWT (`alg: "none"`), validating its claims as `verifyJwt` would. Refuses any
 * token that has a signature or another `alg`.
 *
 * @example
 * ```ts
 * const { payload } = decodeUnsecuredJwt(token, { issuer: 'test' });
 * ```
 */
export function decodeUnsecuredJwt<P extends object = JwtPayload>(
  token: string,
  options: JwtClaimsOptions = {},
): { payload: P & JwtPayload; header: { alg: 'none'; [k: string]: unknown } } {
  const parts = splitCompact(token, DEFAULT_MAX_TOKEN_LENGTH);
  const header = parseProtectedHeader(parts.protectedSegment);
  if (header.alg !== 'none' || parts.signatureSegment !== '') throw new JwtInvalid('not an unsecured JWT');
  if (header.crit !== undefined) throw new JwtInvalid('an unsecured JWT cannot carry "crit"');
  const text = decodeBase64urlText(parts.payloadSegment);
  if (text === undefined) throw new JwtInvalid('JWT payload is not canonical base64url of UTF-8 text');
  const payload = parseJwtPayload(text);
  createClaimsValidator(options)(payload, header, nowSeconds(options));
  return { payload: payload as P & JwtPayload, header: header as { alg: 'none' } };
}
