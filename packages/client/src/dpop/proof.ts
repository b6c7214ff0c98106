import { base64url, randomString, sha256 } from '../lib/base64url.js';
import type { DpopKey } from './key.js';

export interface DpopProofOptions {
  /** RFC 9449 §4.2 `htm`: the request's method. */
  htm: string;
  /** The request's URL; `htu` is it without query and fragment (RFC 9449 §4.2). */
  url: string;
  /** RFC 9449 §4.2 `ath`: the access token the request presents, when it presents one. */
  accessToken?: string | undefined;
  /** RFC 9449 §8: the server's latest nonce, when it gave one. */
  nonce?: string | undefined;
}

/**
 * A DPoP proof JWT (RFC 9449 §4.2): header `typ: dpop+jwt`, `alg: ES256` and the public `jwk`;
 * claims `jti` (fresh), `htm`, `htu`, `iat`, and `ath`/`nonce` when given. One per request.
 */
export async function createDpopProof(key: DpopKey, options: DpopProofOptions): Promise<string> {
  const target = new URL(options.url);
  target.search = '';
  target.hash = '';
  const header = { typ: 'dpop+jwt', alg: 'ES256', jwk: key.publicJwk };
  const payload: Record<string, unknown> = {
    jti: randomString(16),
    htm: options.htm.toUpperCase(),
    htu: target.href,
    iat: Math.floor(Date.now() / 1000),
  };
  if (options.accessToken !== undefined) payload.ath = await sha256(options.accessToken);
  if (options.nonce !== undefined) payload.nonce = options.nonce;
  const input = `${base64url(JSON.stringify(header))}.${base64url(JSON.stringify(payload))}`;
  // WebCrypto's ECDSA signature is already the raw R‖S that JWS wants (RFC 7518 §3.4).
  const signature = await crypto.subtle.sign(
    { name: 'ECDSA', hash: 'SHA-256' },
    key.keyPair.privateKey,
    new TextEncoder().encode(input),
  );
  return `${input}.${base64url(signature)}`;
}
