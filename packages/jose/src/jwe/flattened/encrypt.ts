import { JweInvalid } from '../../errors.js';
import type { KeyManagementParameters } from '../../lib/jwe_algorithms.js';
import { encryptParts, type JweHeaderParameters } from '../../lib/jwe_encrypt.js';
import type { KeyInput } from '../../lib/key_input.js';

/** The Flattened JWE JSON Serialization (RFC 7516 §7.2.2). */
export interface FlattenedJwe {
  protected?: string;
  unprotected?: JweHeaderParameters;
  header?: JweHeaderParameters;
  encrypted_key?: string;
  iv: string;
  ciphertext: string;
  tag: string;
  aad?: string;
}

export interface FlattenedEncryptOptions {
  protectedHeader?: JweHeaderParameters;
  /** Shared unprotected header (`unprotected`). */
  sharedUnprotectedHeader?: JweHeaderParameters;
  /** Per-recipient unprotected header (`header`). */
  unprotectedHeader?: JweHeaderParameters;
  /** Additional authenticated data (`aad`). */
  aad?: Uint8Array | string;
  parameters?: KeyManagementParameters;
  cek?: Uint8Array;
  iv?: Uint8Array;
}

/**
 * Encrypts `plaintext` into the Flattened JWE JSON Serialization. `alg` and `enc` may sit in any of
 * the three headers; key-management parameters join the protected header.
 *
 * @example
 * ```ts
 * const jwe = flattenedEncrypt('hello', secret, {
 *   protectedHeader: { enc: 'A256GCM' },
 *   unprotectedHeader: { alg: 'A256KW', kid: 'kw-1' },
 *   aad: 'context',
 * });
 * ```
 */
export function flattenedEncrypt(
  plaintext: Uint8Array | string,
  key: KeyInput,
  options: FlattenedEncryptOptions,
): FlattenedJwe {
  if (!options) throw new JweInvalid('flattenedEncrypt needs options with headers carrying "alg" and "enc"');
  const parts = encryptParts(
    {
      plaintext,
      protectedHeader: options.protectedHeader,
      sharedUnprotectedHeader: options.sharedUnprotectedHeader,
      aad: options.aad,
      recipients: [{ key, unprotectedHeader: options.unprotectedHeader, parameters: options.parameters }],
      cek: options.cek,
      iv: options.iv,
    },
    true,
  );
  const recipient = parts.recipients[0]!;
  const jwe: FlattenedJwe = { iv: parts.iv, ciphertext: parts.ciphertext, tag: parts.tag };
  if (parts.protectedSegment) jwe.protected = parts.protectedSegment;
  if (options.sharedUnprotectedHeader) jwe.unprotected = { ...options.sharedUnprotectedHeader };
  if (recipient.header) jwe.header = recipient.header;
  if (recipient.encryptedKey) jwe.encrypted_key = recipient.encryptedKey;
  if (parts.aad !== undefined) jwe.aad = parts.aad;
  return jwe;
}
