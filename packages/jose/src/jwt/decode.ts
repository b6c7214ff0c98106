import { JwsInvalid, JwtInvalid } from '../errors.js';
import { decodeBase64urlText } from '../lib/base64url.js';
import { type JwsHeaderParameters, parseProtectedHeader } from '../lib/jws_header.js';
import { DEFAULT_MAX_TOKEN_LENGTH, splitCompact } from '../lib/jws_verify.js';
import { type JwtPayload, parseJwtPayload } from '../lib/jwt_claims.js';

/**
 * Reads a JWT's claims WITHOUT verifying anything: no signature, no expiry, no issuer. Never base a
 * decision on the result; use it to display a token or to route it to the right verifier.
 *
 * @example
 * ```ts
 * const { iss } = decodeJwtUnverified(token); // untrusted!
 * ```
 */
export function decodeJwtUnverified<P extends object = JwtPayload>(token: string): P & JwtPayload {
  const parts = splitCompact(token, DEFAULT_MAX_TOKEN_LENGTH);
  const text = decodeBase64urlText(parts.payloadSegment);
  if (text === undefined) throw new JwtInvalid('JWT payload is not canonical base64url of UTF-8 text');
  return parseJwtPayload(text) as P & JwtPayload;
}

/** The name the `jose` package uses for {@link decodeJwtUnverified}. It verifies nothing. */
export const decodeJwt = decodeJwtUnverified;

/**
 * Reads the protected header of a compact JWS or JWT WITHOUT verifying it: for choosing a key or a
 * verifier, never for trusting the token. Tokens longer than 16384 characters are refused, as by
 * {@link decodeJwtUnverified} (`ERR_JWS_INVALID`).
 *
 * @example
 * ```ts
 * const { kid, alg } = decodeProtectedHeader(token); // untrusted!
 * ```
 */
export function decodeProtectedHeader(token: string): JwsHeaderParameters {
  if (typeof token !== 'string') throw new JwtInvalid('a token must be a string');
  if (token.length > DEFAULT_MAX_TOKEN_LENGTH) {
    throw new JwsInvalid(`token is longer than the ${DEFAULT_MAX_TOKEN_LENGTH}-character limit`);
  }
  const first = token.indexOf('.');
  return parseProtectedHeader(first === -1 ? token : token.slice(0, first));
}
