import {
  createSecretKey,
  type KeyObject,
  generateKeyPair as nodeGenerateKeyPair,
  randomBytes,
} from 'node:crypto';
import { promisify } from 'node:util';
import { JoseNotSupported } from '../errors.js';
import { JWS_ALGORITHMS } from '../lib/jws_algorithms.js';
import { Key } from './key.js';

const generate = promisify(nodeGenerateKeyPair) as (
  type: string,
  options: Record<string, unknown>,
) => Promise<{ publicKey: KeyObject; privateKey: KeyObject }>;

export interface GenerateKeyPairOptions {
  /** RSA modulus size in bits (default 2048; at least 2048). */
  modulusLength?: number;
  /** For `EdDSA`: which curve (default `Ed25519`). */
  crv?: 'Ed25519' | 'Ed448';
  /** Key ID to attach to both halves. */
  kid?: string;
}

export interface GeneratedKeyPair {
  publicKey: Key;
  privateKey: Key;
}

/**
 * Generates a key pair for a JWS algorithm. Both halves are pinned to `alg`.
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
  const spec = JWS_ALGORITHMS.get(alg);
  if (!spec || spec.family === 'hmac') {
    throw new JoseNotSupported(
      `cannot generate a key pair for ${JSON.stringify(alg)}${spec ? '; use generateSecret' : ''}`,
    );
  }
  let pair: { publicKey: KeyObject; privateKey: KeyObject };
  switch (spec.family) {
    case 'rsa':
    case 'rsa-pss':
      pair = await generate('rsa', { modulusLength: options.modulusLength ?? 2048, publicExponent: 0x10001 });
      break;
    case 'ecdsa':
      pair = await generate('ec', {
        namedCurve: { ES256: 'P-256', ES384: 'P-384', ES512: 'P-521', ES256K: 'secp256k1' }[alg],
      });
      break;
    default: {
      const crv = alg === 'EdDSA' ? (options.crv ?? 'Ed25519') : alg;
      if (crv !== 'Ed25519' && crv !== 'Ed448')
        throw new JoseNotSupported(`unsupported EdDSA curve ${JSON.stringify(crv)}`);
      pair = await generate(crv.toLowerCase(), {});
    }
  }
  const keyOptions = { alg, kid: options.kid };
  return { publicKey: new Key(pair.publicKey, keyOptions), privateKey: new Key(pair.privateKey, keyOptions) };
}

/**
 * Generates a random HMAC secret as long as the algorithm's hash output (RFC 7518 §3.2).
 *
 * @example
 * ```ts
 * const secret = generateSecret('HS256');
 * ```
 */
export function generateSecret(alg: string, options: { kid?: string } = {}): Key {
  const spec = JWS_ALGORITHMS.get(alg);
  if (spec?.family !== 'hmac')
    throw new JoseNotSupported(`cannot generate a secret for ${JSON.stringify(alg)}`);
  const bytes = { HS256: 32, HS384: 48, HS512: 64 }[alg as 'HS256' | 'HS384' | 'HS512'];
  return new Key(createSecretKey(randomBytes(bytes)), { alg, kid: options.kid });
}
