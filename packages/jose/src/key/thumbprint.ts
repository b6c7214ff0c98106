import { createHash } from 'node:crypto';
import { JoseNotSupported, JwkInvalid } from '../errors.js';
import { isJsonObject } from '../lib/json.js';
import { exportJwk } from './export.js';
import type { Jwk } from './import.js';
import { Key } from './key.js';

export type ThumbprintDigest = 'sha256' | 'sha384' | 'sha512';

const DIGESTS: ReadonlySet<unknown> = new Set<ThumbprintDigest>(['sha256', 'sha384', 'sha512']);

/** Only the SHA-2 digests: createHash would accept 'md5' (and throw a plain Error for 'nope'). */
function checkDigest(digest: unknown): asserts digest is ThumbprintDigest {
  if (!DIGESTS.has(digest)) {
    throw new TypeError(
      `thumbprint digest must be 'sha256', 'sha384' or 'sha512' (got ${JSON.stringify(digest)})`,
    );
  }
}

// RFC 7638 §3.2: exactly the required members, in lexicographic order, no whitespace.
const REQUIRED_MEMBERS: Record<string, readonly string[]> = {
  EC: ['crv', 'kty', 'x', 'y'],
  OKP: ['crv', 'kty', 'x'],
  RSA: ['e', 'kty', 'n'],
  oct: ['k', 'kty'],
};

/**
 * The RFC 7638 JWK thumbprint (base64url of the digest of the canonical JSON). The thumbprint of a
 * private key equals that of its public key.
 *
 * @example
 * ```ts
 * const kid = jwkThumbprint(publicKey); // e.g. 'NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs'
 * ```
 */
export function jwkThumbprint(key: Key | Jwk, digest: ThumbprintDigest = 'sha256'): string {
  checkDigest(digest);
  const jwk = key instanceof Key ? exportJwk(key, { public: key.type === 'private' }) : key;
  if (!isJsonObject(jwk) || typeof jwk.kty !== 'string') throw new JwkInvalid('a JWK needs a "kty"');
  const members = Object.hasOwn(REQUIRED_MEMBERS, jwk.kty) ? REQUIRED_MEMBERS[jwk.kty] : undefined;
  if (!members) throw new JoseNotSupported(`unsupported JWK "kty" ${JSON.stringify(jwk.kty)}`);
  const canonical: Record<string, unknown> = {};
  for (const name of members) {
    if (typeof jwk[name] !== 'string')
      throw new JwkInvalid(`"${name}" is required to compute the thumbprint`);
    canonical[name] = jwk[name];
  }
  return createHash(digest).update(JSON.stringify(canonical)).digest('base64url');
}

/**
 * The RFC 9278 JWK thumbprint URI, `urn:ietf:params:oauth:jwk-thumbprint:sha-256:<thumbprint>`.
 *
 * @example
 * ```ts
 * jwkThumbprintUri(publicKey); // 'urn:ietf:params:oauth:jwk-thumbprint:sha-256:NzbLsXh8…'
 * ```
 */
export function jwkThumbprintUri(key: Key | Jwk, digest: ThumbprintDigest = 'sha256'): string {
  checkDigest(digest);
  return `urn:ietf:params:oauth:jwk-thumbprint:sha-${digest.slice(3)}:${jwkThumbprint(key, digest)}`;
}
