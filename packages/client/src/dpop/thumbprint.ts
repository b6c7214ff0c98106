import { sha256 } from '../lib/base64url.js';
import type { DpopKey } from './key.js';

/**
 * RFC 7638 JWK thumbprint of the public key (members in lexicographic order, no spaces): the
 * `dpop_jkt` of an authorization request (RFC 9449 §10), binding the code to this key.
 */
export function jwkThumbprint(key: DpopKey): Promise<string> {
  const { crv, kty, x, y } = key.publicJwk;
  return sha256(JSON.stringify({ crv, kty, x, y }));
}
