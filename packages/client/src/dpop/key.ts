import { read, readOrWrite } from '../lib/idb.js';

/** A DPoP key: the non-extractable ES256 pair and its public JWK (RFC 9449 §4.2 `jwk`). */
export interface DpopKey {
  keyPair: CryptoKeyPair;
  publicJwk: { kty: 'EC'; crv: 'P-256'; x: string; y: string };
}

/**
 * The browser's DPoP key for this issuer and client: the one in IndexedDB, or a new ES256 pair.
 * The private key is generated with `extractable: false`, so no script (not even this one) can read
 * it; IndexedDB stores the CryptoKey by structured clone, which keeps it so, and a reload finds the
 * same key — the key the refresh tokens are bound to. When two tabs start at once, the first pair
 * stored wins (one transaction reads then writes) and both use it.
 */
export async function loadDpopKey(name: string): Promise<DpopKey> {
  const keyPair =
    (await read<CryptoKeyPair>(name)) ??
    (await readOrWrite<CryptoKeyPair>(
      name,
      await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign', 'verify']),
    ));
  // The public half is always extractable (WebCrypto), whatever `extractable` said.
  const { kty, crv, x, y } = await crypto.subtle.exportKey('jwk', keyPair.publicKey);
  return { keyPair, publicJwk: { kty: kty as 'EC', crv: crv as 'P-256', x: x!, y: y! } };
}
