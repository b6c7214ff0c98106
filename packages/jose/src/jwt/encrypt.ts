import { JwtInvalid } from '../errors.js';
import { type CompactDecryptOptions, compactDecrypt } from '../jwe/compact/decrypt.js';
import { compactEncrypt } from '../jwe/compact/encrypt.js';
import type { Key } from '../key/key.js';
import type { JsonObject } from '../lib/json.js';
import type { KeyManagementParameters } from '../lib/jwe_algorithms.js';
import type { JweHeaderParameters } from '../lib/jwe_encrypt.js';
import {
  createClaimsBuilder,
  createClaimsValidator,
  type JwtClaimsOptions,
  type JwtIssueOptions,
  type JwtPayload,
  normalizeMediaType,
  nowSeconds,
  parseJwtPayload,
} from '../lib/jwt_claims.js';
import type { KeyInput, VerificationKey } from '../lib/key_input.js';
import { epochSeconds } from '../lib/time.js';

export interface EncryptJwtOptions extends JwtIssueOptions {
  /** Key management algorithm, e.g. `ECDH-ES+A256KW`, `RSA-OAEP-256`, `A256KW`, `dir`. */
  alg: string;
  /** Content encryption algorithm, e.g. `A256GCM`. */
  enc: string;
  kid?: string;
  /** `typ` header (default `JWT`). */
  typ?: string;
  /** Compress the claims with DEFLATE (`zip: "DEF"`). Off by default; see RFC 8725 §3.6. */
  zip?: boolean;
  /** Further protected header parameters. */
  header?: JweHeaderParameters;
  parameters?: KeyManagementParameters;
}

/**
 * Encrypts a JWT claims set into a compact JWE (RFC 7519 §5, §7.1). The claims are confidential but
 * not signed: anyone holding the encryption key (for `dir`/AES key wrap) or anyone at all (for public
 * key algorithms) can make such a token. When the issuer must be authenticated, use
 * `signAndEncryptJwt`.
 *
 * @example
 * ```ts
 * const token = await encryptJwt({ sub: 'user-1', ssn: '…' }, secret, {
 *   alg: 'dir', enc: 'A256GCM', issuer: 'https://auth.example.com', expiresIn: '5m',
 * });
 * ```
 */
export async function encryptJwt(
  claims: JwtPayload,
  key: KeyInput,
  options: EncryptJwtOptions,
): Promise<string> {
  const payload = createClaimsBuilder(options)(claims as JsonObject, epochSeconds(options.currentDate));
  return compactEncrypt(JSON.stringify(payload), key, {
    protectedHeader: protectedHeaderFor(options, options.typ ?? 'JWT'),
    parameters: options.parameters,
  });
}

export function protectedHeaderFor(
  options: Pick<EncryptJwtOptions, 'alg' | 'enc' | 'kid' | 'zip' | 'header'>,
  typ: string,
  cty?: string,
): JweHeaderParameters {
  const header: JweHeaderParameters = { ...options.header, alg: options.alg, enc: options.enc, typ };
  if (cty !== undefined) header.cty = cty;
  if (options.kid !== undefined) header.kid = options.kid;
  if (options.zip) header.zip = 'DEF';
  return header;
}

export interface DecryptJwtOptions extends CompactDecryptOptions, JwtClaimsOptions {}

export interface DecryptJwtResult<P = JwtPayload> {
  payload: P & JwtPayload;
  protectedHeader: JweHeaderParameters;
  key: Key;
}

/**
 * Decrypts a JWT encrypted with `encryptJwt` and validates its claims as `verifyJwt` does. A nested
 * JWT (`cty: "JWT"`, a signed token inside) is refused here: decrypting proves nothing about who
 * signed it, so use `decryptAndVerifyJwt`.
 *
 * @example
 * ```ts
 * const { payload } = await decryptJwt(token, secret, {
 *   keyManagementAlgorithms: ['dir'], contentEncryptionAlgorithms: ['A256GCM'],
 *   issuer: 'https://auth.example.com',
 * });
 * ```
 */
export async function decryptJwt<P extends object = JwtPayload>(
  token: string,
  key: VerificationKey,
  options: DecryptJwtOptions,
): Promise<DecryptJwtResult<P>> {
  const validate = createClaimsValidator(options);
  const { plaintext, protectedHeader, key: usedKey } = await compactDecrypt(token, key, options);
  if (isNestedJwt(protectedHeader)) {
    throw new JwtInvalid(
      'this JWE holds a signed JWT ("cty": "JWT"); use decryptAndVerifyJwt to verify its signature',
    );
  }
  const payload = parseJwtPayload(plaintext);
  validate(payload, protectedHeader, nowSeconds(options));
  return { payload: payload as P & JwtPayload, protectedHeader, key: usedKey };
}

/**
 * RFC 7519 §5.2: "cty": "JWT" marks a nested JWT. Per RFC 7515 §4.1.10 media type names compare
 * case-insensitively and "application/" may be omitted, so `application/JWT` is the same value.
 */
export function isNestedJwt(header: JweHeaderParameters): boolean {
  return typeof header.cty === 'string' && normalizeMediaType(header.cty) === 'jwt';
}
