import { createHash } from 'node:crypto';

/**
 * The `ath` claim of a DPoP proof sent with an access token (RFC 9449 §4.2): the base64url-encoded
 * SHA-256 hash of the ASCII encoding of the access token's value.
 *
 * @example
 * ```ts
 * accessTokenHash('Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU'); // 'fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo'
 * ```
 */
export function accessTokenHash(accessToken: string): string {
  if (typeof accessToken !== 'string' || accessToken.length === 0) {
    throw new TypeError('accessToken must be a non-empty string');
  }
  // An access token is token68 (RFC 6750 §2.1, RFC 9449 §7.1): ASCII, for which UTF-8 is the same bytes.
  return createHash('sha256').update(accessToken, 'utf8').digest('base64url');
}
