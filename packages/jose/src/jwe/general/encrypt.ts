import type { JweRecipient } from '../../lib/jwe_encrypt.js';
import { encryptParts, type JweHeaderParameters } from '../../lib/jwe_encrypt.js';

/** The General JWE JSON Serialization (RFC 7516 §7.2.1): one ciphertext, several recipients. */
export interface GeneralJwe {
  protected?: string;
  unprotected?: JweHeaderParameters;
  recipients: { header?: JweHeaderParameters; encrypted_key?: string }[];
  iv: string;
  ciphertext: string;
  tag: string;
  aad?: string;
}

export interface GeneralEncryptOptions {
  protectedHeader?: JweHeaderParameters;
  sharedUnprotectedHeader?: JweHeaderParameters;
  aad?: Uint8Array | string;
  cek?: Uint8Array;
  iv?: Uint8Array;
}

/**
 * Encrypts `plaintext` once for several recipients, each with its own key and `alg` (in its
 * per-recipient header); all share one `enc`. Each recipient's key-management parameters go into its
 * own header. `dir` and `ECDH-ES` (direct agreement) allow a single recipient only.
 *
 * @example
 * ```ts
 * const jwe = generalEncrypt('hello', [
 *   { key: rsaPublicKey, unprotectedHeader: { alg: 'RSA-OAEP-256', kid: 'rsa' } },
 *   { key: kwSecret, unprotectedHeader: { alg: 'A256KW', kid: 'kw' } },
 * ], { protectedHeader: { enc: 'A256GCM' } });
 * ```
 */
export function generalEncrypt(
  plaintext: Uint8Array | string,
  recipients: readonly JweRecipient[],
  options: GeneralEncryptOptions = {},
): GeneralJwe {
  const parts = encryptParts({ plaintext, recipients, ...options }, false);
  const jwe: GeneralJwe = {
    recipients: parts.recipients.map((r) => {
      const recipient: { header?: JweHeaderParameters; encrypted_key?: string } = {};
      if (r.header) recipient.header = r.header;
      if (r.encryptedKey) recipient.encrypted_key = r.encryptedKey;
      return recipient;
    }),
    iv: parts.iv,
    ciphertext: parts.ciphertext,
    tag: parts.tag,
  };
  if (parts.protectedSegment) jwe.protected = parts.protectedSegment;
  if (options.sharedUnprotectedHeader) jwe.unprotected = { ...options.sharedUnprotectedHeader };
  if (parts.aad !== undefined) jwe.aad = parts.aad;
  return jwe;
}
