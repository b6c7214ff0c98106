import { JweInvalid } from '../../errors.js';
import type { Key } from '../../key/key.js';
import { createJwePolicy, decryptParts, type JweDecryptOptions } from '../../lib/jwe_decrypt.js';
import type { JweHeaderParameters } from '../../lib/jwe_encrypt.js';
import { DEFAULT_MAX_TOKEN_LENGTH } from '../../lib/jws_verify.js';
import type { VerificationKey } from '../../lib/key_input.js';

export interface CompactDecryptOptions extends JweDecryptOptions {
  /** Longest token accepted, in characters (default 16384). */
  maxTokenLength?: number;
}

export interface CompactDecryptResult {
  plaintext: Uint8Array;
  protectedHeader: JweHeaderParameters;
  key: Key;
}

/** Splits a compact JWE (RFC 7516 §7.1) into its five parts, refusing JWSs and oversize input. */
export function splitCompactJwe(jwe: unknown, maxLength: number): string[] {
  if (typeof jwe !== 'string') throw new JweInvalid('a compact JWE must be a string');
  if (jwe.length > maxLength) throw new JweInvalid(`token is longer than the ${maxLength}-character limit`);
  const parts = jwe.split('.');
  if (parts.length === 3) throw new JweInvalid('this is a JWS, not a JWE');
  if (parts.length !== 5) throw new JweInvalid('a compact JWE has five parts separated by dots');
  if (parts[0] === '') throw new JweInvalid('the protected header is empty');
  return parts;
}

/**
 * Decrypts a JWE Compact Serialization (RFC 7516 §5.2). The caller lists the accepted `alg` and
 * `enc` values; compressed content is refused unless `allowCompression` is set.
 *
 * @example
 * ```ts
 * const { plaintext, protectedHeader } = await compactDecrypt(jwe, privateKey, {
 *   keyManagementAlgorithms: ['ECDH-ES+A256KW'],
 *   contentEncryptionAlgorithms: ['A256GCM'],
 * });
 * ```
 */
export async function compactDecrypt(
  jwe: string,
  key: VerificationKey,
  options: CompactDecryptOptions,
): Promise<CompactDecryptResult> {
  const policy = createJwePolicy(options);
  const [protectedSegment, encryptedKey, iv, ciphertext, tag] = splitCompactJwe(
    jwe,
    options.maxTokenLength ?? DEFAULT_MAX_TOKEN_LENGTH,
  );
  const decrypted = await decryptParts(
    { protectedSegment, recipients: [{ encryptedKey }], iv, ciphertext, tag },
    key,
    policy,
  );
  return { plaintext: decrypted.plaintext, protectedHeader: decrypted.header, key: decrypted.key };
}
