import {
  createSecretKey,
  type KeyObject,
  generateKeyPair as nodeGenerateKeyPair,
  randomBytes,
} from 'node:crypto';
import { promisify } from 'node:util';
import { JoseNotSupported } from '../errors.js';
import { CONTENT_ENCRYPTION, KEY_MANAGEMENT } from '../lib/jwe_algorithms.js';
import { JWS_ALGORITHMS } from '../lib/jws_algorithms.js';
import { Key } from './key.js';

const generate = promisify(nodeGenerateKeyPair) as (
  type: string,
  options: Record<string, unknown>,
) => Promise<{ publicKey: KeyObject; privateKey: KeyObject }>;

export interface GenerateKeyPairOptions {
  /** RSA modulus size in bits (default 2048; at least 2048). */
  modulusLength?: number;
  /** For `EdDSA`: `Ed25519` (default) or `Ed448`. For `ECDH-ES*`: `P-256` (default), `P-384`, `P-521`, `X25519`, `X448`. */
  crv?: 'Ed25519' | 'Ed448' | 'P-256' | 'P-384' | 'P-521' | 'X25519' | 'X448';
  /** Key ID to attach to both halves. */
  kid?: string;
}

export interface GeneratedKeyPair {
  publicKey: Key;
  privateKey: Key;
}

/**
 * Generates a key pair for a JWS algorithm or an asymmetric JWE key-management algorithm
 * (`RSA-OAEP*`, `ECDH-ES*`). Both halves are pinned to `alg`.
 *
 * @example
 * ```ts
 * const { publicKey, privateKey } = await generateKeyPair('ES256', { kid: 'k1' });
 * ```
 */
export async function generateKeyPair(
  alg: string,
  options: GenerateKeyPairOptions = {},
): Promise<GeneratedKeyPair> {
  const pair = await generateFor(alg, options);
  const keyOptions = { alg, kid: options.kid };
  return { publicKey: new Key(pair.publicKey, keyOptions), privateKey: new Key(pair.privateKey, keyOptions) };
}

function generateFor(
  alg: string,
  options: GenerateKeyPairOptions,
): Promise<{ publicKey: KeyObject; privateKey: KeyObject }> {
  const family = JWS_ALGORITHMS.get(alg)?.family;
  if (family === 'rsa' || family === 'rsa-pss' || alg.startsWith('RSA-OAEP')) {
    return generate('rsa', { modulusLength: options.modulusLength ?? 2048, publicExponent: 0x10001 });
  }
  if (family === 'ecdsa') {
    return generate('ec', {
      namedCurve: { ES256: 'P-256', ES384: 'P-384', ES512: 'P-521', ES256K: 'secp256k1' }[alg],
    });
  }
  if (family === 'eddsa') {
    const crv = alg === 'EdDSA' ? (options.crv ?? 'Ed25519') : alg;
    if (crv !== 'Ed25519' && crv !== 'Ed448')
      throw new JoseNotSupported(`unsupported EdDSA curve ${JSON.stringify(crv)}`);
    return generate(crv.toLowerCase(), {});
  }
  if (alg.startsWith('ECDH-ES')) {
    // RFC 7518 §4.6 and RFC 8037 §3.2: P-256 by default, or the curve asked for.
    const crv = options.crv ?? 'P-256';
    if (crv === 'X25519' || crv === 'X448') return generate(crv.toLowerCase(), {});
    if (crv !== 'P-256' && crv !== 'P-384' && crv !== 'P-521')
      throw new JoseNotSupported(`unsupported ECDH curve ${JSON.stringify(crv)}`);
    return generate('ec', { namedCurve: crv });
  }
  throw new JoseNotSupported(
    `cannot generate a key pair for ${JSON.stringify(alg)}${family === 'hmac' || KEY_MANAGEMENT.has(alg) ? '; use generateSecret' : ''}`,
  );
}

/**
 * Generates a random secret for an HMAC, AES key-wrap or direct-encryption algorithm, pinned to it.
 * For direct encryption name the content encryption: `generateSecret('A256GCM')` serves `dir` with
 * `enc: 'A256GCM'`.
 *
 * @example
 * ```ts
 * const macKey = generateSecret('HS256'); // 32 bytes
 * const wrapKey = generateSecret('A256KW'); // 32 bytes
 * const cek = generateSecret('A256GCM'); // for alg "dir"
 * ```
 */
export function generateSecret(alg: string, options: { kid?: string } = {}): Key {
  // Own members only: 'toString', 'constructor' or '__proto__' must not find Object.prototype's.
  const length =
    typeof alg === 'string' && Object.hasOwn(SECRET_LENGTHS, alg) ? SECRET_LENGTHS[alg] : undefined;
  if (length === undefined) throw new JoseNotSupported(`cannot generate a secret for ${JSON.stringify(alg)}`);
  return new Key(createSecretKey(randomBytes(length)), { alg, kid: options.kid });
}

/**
 * Secret sizes: the hash output for HMAC (RFC 7518 §3.2), the AES key for key wrapping, and the CEK
 * for direct encryption, where the key is named by its content encryption (`A256GCM` → `dir`).
 */
const SECRET_LENGTHS: Record<string, number> = {
  HS256: 32,
  HS384: 48,
  HS512: 64,
  A128KW: 16,
  A192KW: 24,
  A256KW: 32,
  A128GCMKW: 16,
  A192GCMKW: 24,
  A256GCMKW: 32,
  ...Object.fromEntries([...CONTENT_ENCRYPTION.values()].map((spec) => [spec.enc, spec.keyLength])),
};
