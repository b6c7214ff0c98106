import { JwtInvalid } from '../errors.js';
import { type CompactDecryptOptions, compactDecrypt } from '../jwe/compact/decrypt.js';
import { compactEncrypt } from '../jwe/compact/encrypt.js';
import type { JweHeaderParameters } from '../lib/jwe_encrypt.js';
import type { JwtPayload } from '../lib/jwt_claims.js';
import type { KeyInput, VerificationKey } from '../lib/key_input.js';
import { type EncryptJwtOptions, isNestedJwt, protectedHeaderFor } from './encrypt.js';
import { type SignJwtOptions, signJwtSync } from './sign.js';
import { type VerifyJwtOptions, type VerifyJwtResult, verifyJwt } from './verify.js';

export type NestedEncryptionOptions = Pick<
  EncryptJwtOptions,
  'alg' | 'enc' | 'kid' | 'zip' | 'header' | 'parameters'
>;

/**
 * Signs a JWT, then encrypts the signed token (RFC 7519 §5.2, §11.2: sign first, so the signature
 * covers the claims and the recipient can prove who issued them). The outer header carries
 * `cty: "JWT"`.
 *
 * @example
 * ```ts
 * const token = await signAndEncryptJwt({ sub: 'user-1' }, issuerPrivateKey, { alg: 'ES256', expiresIn: '5m' },
 *   recipientPublicKey, { alg: 'ECDH-ES+A256KW', enc: 'A256GCM' });
 * ```
 */
export async function signAndEncryptJwt(
  claims: JwtPayload,
  signingKey: KeyInput,
  signing: SignJwtOptions,
  encryptionKey: KeyInput,
  encryption: NestedEncryptionOptions,
): Promise<string> {
  const signed = signJwtSync(claims, signingKey, signing);
  return compactEncrypt(signed, encryptionKey, {
    protectedHeader: protectedHeaderFor(encryption, 'JWT', 'JWT'),
    parameters: encryption.parameters,
  });
}

export interface DecryptAndVerifyJwtResult<P = JwtPayload> extends VerifyJwtResult<P> {
  /** The outer (JWE) protected header. */
  encryptionHeader: JweHeaderParameters;
}

/**
 * Decrypts a nested JWT, then verifies the signed JWT inside with `verifyJwt` and `verification`. The
 * inner token is never trusted because it decrypted: its signature, algorithm and claims are checked
 * like any other. The outer header must say `cty: "JWT"`.
 *
 * @example
 * ```ts
 * const { payload } = await decryptAndVerifyJwt(token, recipientPrivateKey,
 *   { keyManagementAlgorithms: ['ECDH-ES+A256KW'], contentEncryptionAlgorithms: ['A256GCM'] },
 *   issuerJwks, { algorithms: ['ES256'], issuer: 'https://auth.example.com' });
 * ```
 */
export async function decryptAndVerifyJwt<P extends object = JwtPayload>(
  token: string,
  decryptionKey: VerificationKey,
  decryption: CompactDecryptOptions,
  verificationKey: VerificationKey,
  verification: VerifyJwtOptions,
): Promise<DecryptAndVerifyJwtResult<P>> {
  const { plaintext, protectedHeader } = await compactDecrypt(token, decryptionKey, decryption);
  if (!isNestedJwt(protectedHeader))
    throw new JwtInvalid('expected a nested JWT: the JWE header lacks "cty": "JWT"');
  const inner = Buffer.from(plaintext).toString('utf8');
  const verified = await verifyJwt<P>(inner, verificationKey, verification);
  return { ...verified, encryptionHeader: protectedHeader };
}
