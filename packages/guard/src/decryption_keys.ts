import { importJwk, isJoseError, type Jwk, Key } from '@tessera/jose';
import type { GuardOptions } from './options.js';

/** A private key that decrypts encrypted access tokens: a `Key` of @tessera/jose, or a private JWK. */
export type DecryptionKey = Key | Jwk;

/** The decryption options, checked: everything decided once about encrypted access tokens. */
export interface ResolvedDecryption {
  /** Private keys, each with a unique `kid`, each able to serve an accepted key-management algorithm. */
  readonly keys: readonly Key[];
  readonly keyManagementAlgorithms: readonly string[];
  readonly contentEncryptionAlgorithms: readonly string[];
  /** Plain (unencrypted) access tokens are refused. */
  readonly required: boolean;
}

/**
 * RFC 8725 §3.1: the key-management algorithms (`alg`, RFC 7516 §4.1.1) a guard may accept. Only
 * those that decrypt with the API's private key: `dir`, AES key wrap and PBES2 would need a secret
 * shared with the issuer, and RSA1_5 is not offered at all (RFC 8725 §3.2).
 */
export const KEY_MANAGEMENT_ALGORITHMS: ReadonlySet<string> = new Set([
  'RSA-OAEP',
  'RSA-OAEP-256',
  'RSA-OAEP-384',
  'RSA-OAEP-512',
  'ECDH-ES',
  'ECDH-ES+A128KW',
  'ECDH-ES+A192KW',
  'ECDH-ES+A256KW',
]);

/** The content-encryption algorithms (`enc`, RFC 7516 §4.1.2, RFC 7518 §5) a guard may accept. */
export const CONTENT_ENCRYPTION_ALGORITHMS: ReadonlySet<string> = new Set([
  'A128GCM',
  'A192GCM',
  'A256GCM',
  'A128CBC-HS256',
  'A192CBC-HS384',
  'A256CBC-HS512',
]);

/** What Tessera's server encrypts with: RSA-OAEP-256 to an RSA key, ECDH-ES(+A256KW) to an EC key. */
export const DEFAULT_KEY_MANAGEMENT_ALGORITHMS: readonly string[] = [
  'RSA-OAEP-256',
  'ECDH-ES+A256KW',
  'ECDH-ES',
];
export const DEFAULT_CONTENT_ENCRYPTION_ALGORITHMS: readonly string[] = [
  'A256GCM',
  'A128GCM',
  'A256CBC-HS512',
];

/**
 * Checks the options for encrypted access tokens at createGuard: a key that could never decrypt, an
 * algorithm the guard will not accept, or encryption required without a key is a `TypeError` at
 * start-up. Undefined when no decryption key is configured.
 */
export function resolveDecryption(options: GuardOptions): ResolvedDecryption | undefined {
  const { decryptionKeys, requireEncryption } = options;
  if (requireEncryption !== undefined && typeof requireEncryption !== 'boolean')
    throw new TypeError('options.requireEncryption must be a boolean');
  if (decryptionKeys === undefined) {
    if (requireEncryption === true)
      throw new TypeError(
        'options.requireEncryption needs options.decryptionKeys: without a key no encrypted token can be accepted',
      );
    for (const name of ['keyManagementAlgorithms', 'contentEncryptionAlgorithms'] as const) {
      if (options[name] !== undefined)
        throw new TypeError(
          `options.${name} applies to encrypted tokens only; set options.decryptionKeys too`,
        );
    }
    return undefined;
  }
  if (!Array.isArray(decryptionKeys) || decryptionKeys.length === 0)
    throw new TypeError('options.decryptionKeys must be a non-empty array of private keys (Key or JWK)');

  const keyManagementAlgorithms = algorithmList(
    options.keyManagementAlgorithms,
    'keyManagementAlgorithms',
    KEY_MANAGEMENT_ALGORITHMS,
    DEFAULT_KEY_MANAGEMENT_ALGORITHMS,
    ' (the guard decrypts with its private keys: "dir", AES key wrap and PBES2 would need a secret shared with the issuer)',
  );
  const contentEncryptionAlgorithms = algorithmList(
    options.contentEncryptionAlgorithms,
    'contentEncryptionAlgorithms',
    CONTENT_ENCRYPTION_ALGORITHMS,
    DEFAULT_CONTENT_ENCRYPTION_ALGORITHMS,
  );

  const kids = new Set<string>();
  const keys = decryptionKeys.map((entry, index) => {
    const name = `options.decryptionKeys[${index}]`;
    const key = keyOf(entry, name);
    if (key.type !== 'private')
      throw new TypeError(`${name} is a ${key.type} key: decrypting needs the API's private key`);
    // The issuer names the key it encrypted to in the JWE's "kid" (RFC 7516 §4.1.6); a key without
    // one could never be chosen for such a token, and two with the same one make the choice ambiguous.
    if (typeof key.kid !== 'string' || key.kid.length === 0)
      throw new TypeError(`${name} needs a "kid": the kid of this key as registered with the issuer`);
    if (kids.has(key.kid)) throw new TypeError(`${name} repeats the "kid" ${JSON.stringify(key.kid)}`);
    kids.add(key.kid);
    if (!keyManagementAlgorithms.some((alg) => key.canServe(alg, 'decrypt')))
      throw new TypeError(
        `${name} (kid ${JSON.stringify(key.kid)}) serves none of the accepted key-management algorithms ` +
          `(${keyManagementAlgorithms.join(', ')}): a JWK needs "use": "enc" or an "alg" such as RSA-OAEP-256, ` +
          'a Key must be imported or generated for one of them',
      );
    return key;
  });

  return {
    keys: Object.freeze(keys),
    keyManagementAlgorithms,
    contentEncryptionAlgorithms,
    required: requireEncryption === true,
  };
}

function keyOf(entry: unknown, name: string): Key {
  if (entry instanceof Key) return entry;
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry))
    throw new TypeError(`${name} must be a Key of @tessera/jose or a private JWK`);
  try {
    return importJwk(entry as Jwk);
  } catch (err) {
    // The message names the member at fault, never its value: no key material reaches the error.
    if (isJoseError(err)) throw new TypeError(`${name} is not a usable JWK: ${err.message}`);
    throw err;
  }
}

/** RFC 8725 §3.1: an explicit allow-list, from the supported set; the default when not given. */
function algorithmList(
  value: unknown,
  name: string,
  supported: ReadonlySet<string>,
  fallback: readonly string[],
  why = '',
): readonly string[] {
  if (value === undefined) return fallback;
  if (!Array.isArray(value) || value.length === 0)
    throw new TypeError(`options.${name} must be a non-empty array, e.g. ["${fallback[0]}"]`);
  for (const alg of value) {
    if (alg === 'RSA1_5')
      throw new TypeError(
        'RSA1_5 is refused: RSAES-PKCS1-v1_5 invites padding-oracle attacks (RFC 8725 §3.2); use RSA-OAEP-256',
      );
    if (typeof alg !== 'string' || !supported.has(alg))
      throw new TypeError(
        `options.${name}: ${JSON.stringify(alg)} is not accepted; use one of ${[...supported].join(', ')}${why}`,
      );
  }
  return Object.freeze([...value]);
}
