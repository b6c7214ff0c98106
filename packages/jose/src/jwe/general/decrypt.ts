import { JweInvalid } from '../../errors.js';
import { isJsonObject } from '../../lib/json.js';
import { createJwePolicy, decryptParts, type JweDecryptOptions } from '../../lib/jwe_decrypt.js';
import type { VerificationKey } from '../../lib/key_input.js';
import { type FlattenedDecryptResult, optionalString, resultOf } from '../flattened/decrypt.js';
import type { GeneralJwe } from './encrypt.js';

export type GeneralDecryptResult = FlattenedDecryptResult;

/** Default for {@link GeneralDecryptOptions.maxRecipients}. */
export const DEFAULT_MAX_RECIPIENTS = 16;

export interface GeneralDecryptOptions extends JweDecryptOptions {
  /**
   * Most recipients a General JWE may list (default 16). Each recipient the key can serve costs a
   * key unwrap (an RSA private-key operation for RSA-OAEP), so a JWE over the limit is refused with
   * `ERR_JWE_INVALID` before any cryptography.
   */
  maxRecipients?: number;
}

/**
 * Decrypts a General JWE JSON Serialization (RFC 7516 §7.2.1) with the first recipient the caller's
 * key (or key set) and allowed algorithms can serve. At most `maxRecipients` recipients (default 16)
 * are accepted.
 *
 * @example
 * ```ts
 * const { plaintext, unprotectedHeader } = await generalDecrypt(jwe, myPrivateKey, {
 *   keyManagementAlgorithms: ['RSA-OAEP-256'],
 *   contentEncryptionAlgorithms: ['A256GCM'],
 * });
 * ```
 */
export async function generalDecrypt(
  jwe: GeneralJwe,
  key: VerificationKey,
  options: GeneralDecryptOptions,
): Promise<GeneralDecryptResult> {
  const policy = createJwePolicy(options);
  const maxRecipients = options.maxRecipients ?? DEFAULT_MAX_RECIPIENTS;
  if (!Number.isInteger(maxRecipients) || maxRecipients < 1) {
    throw new TypeError('options.maxRecipients must be a positive integer');
  }
  if (!isJsonObject(jwe)) throw new JweInvalid('a general JWE must be a JSON object');
  if (!Array.isArray(jwe.recipients) || jwe.recipients.length === 0) {
    throw new JweInvalid('a general JWE needs a non-empty "recipients" array');
  }
  // RFC 7516 §7.2.1 sets no bound; the recipient does, before any key is used (see maxRecipients).
  if (jwe.recipients.length > maxRecipients) {
    throw new JweInvalid(`the JWE has more than ${maxRecipients} recipients (options.maxRecipients)`);
  }
  if (!jwe.recipients.every(isJsonObject)) throw new JweInvalid('each JWE recipient must be an object');
  const decrypted = await decryptParts(
    {
      protectedSegment: optionalString(jwe.protected, 'protected'),
      sharedUnprotectedHeader: jwe.unprotected,
      recipients: jwe.recipients.map((r) => ({ header: r.header, encryptedKey: r.encrypted_key })),
      iv: jwe.iv,
      ciphertext: jwe.ciphertext,
      tag: jwe.tag,
      aad: jwe.aad,
    },
    key,
    policy,
  );
  return resultOf(decrypted, jwe, jwe.recipients[decrypted.recipientIndex]!.header);
}
