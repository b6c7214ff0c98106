import { JweInvalid } from '../../errors.js';
import type { Key } from '../../key/key.js';
import { isJsonObject } from '../../lib/json.js';
import { createJwePolicy, decryptParts, type JweDecryptOptions } from '../../lib/jwe_decrypt.js';
import type { JweHeaderParameters } from '../../lib/jwe_encrypt.js';
import type { VerificationKey } from '../../lib/key_input.js';
import type { FlattenedJwe } from './encrypt.js';

export interface FlattenedDecryptResult {
  plaintext: Uint8Array;
  protectedHeader: JweHeaderParameters | undefined;
  sharedUnprotectedHeader: JweHeaderParameters | undefined;
  unprotectedHeader: JweHeaderParameters | undefined;
  additionalAuthenticatedData: Uint8Array | undefined;
  key: Key;
}

/**
 * Decrypts a Flattened JWE JSON Serialization (RFC 7516 §7.2.2).
 *
 * @example
 * ```ts
 * const { plaintext, additionalAuthenticatedData } = await flattenedDecrypt(jwe, secret, {
 *   keyManagementAlgorithms: ['A256KW'],
 *   contentEncryptionAlgorithms: ['A256GCM'],
 * });
 * ```
 */
export async function flattenedDecrypt(
  jwe: FlattenedJwe,
  key: VerificationKey,
  options: JweDecryptOptions,
): Promise<FlattenedDecryptResult> {
  const policy = createJwePolicy(options);
  if (!isJsonObject(jwe)) throw new JweInvalid('a flattened JWE must be a JSON object');
  if (Object.hasOwn(jwe, 'recipients')) throw new JweInvalid('this is a general JWE; use generalDecrypt');
  if (Object.hasOwn(jwe, 'payload')) throw new JweInvalid('this is a JWS, not a JWE');
  const protectedSegment = optionalString(jwe.protected, 'protected');
  const decrypted = await decryptParts(
    {
      protectedSegment,
      sharedUnprotectedHeader: jwe.unprotected,
      recipients: [{ header: jwe.header, encryptedKey: jwe.encrypted_key }],
      iv: jwe.iv,
      ciphertext: jwe.ciphertext,
      tag: jwe.tag,
      aad: jwe.aad,
    },
    key,
    policy,
  );
  return resultOf(decrypted, jwe, jwe.header);
}

export function resultOf(
  decrypted: Awaited<ReturnType<typeof decryptParts>>,
  jwe: { unprotected?: JweHeaderParameters; aad?: string },
  recipientHeader: JweHeaderParameters | undefined,
): FlattenedDecryptResult {
  return {
    plaintext: decrypted.plaintext,
    protectedHeader: decrypted.protectedHeader,
    sharedUnprotectedHeader: jwe.unprotected,
    unprotectedHeader: recipientHeader,
    additionalAuthenticatedData: jwe.aad === undefined ? undefined : Buffer.from(jwe.aad, 'base64url'),
    key: decrypted.key,
  };
}

export function optionalString(value: unknown, name: string): string | undefined {
  if (value !== undefined && typeof value !== 'string')
    throw new JweInvalid(`JWE "${name}" must be a string`);
  return value;
}
