import { JweInvalid } from '../../errors.js';
import type { KeyManagementParameters } from '../../lib/jwe_algorithms.js';
import { encryptParts, type JweHeaderParameters } from '../../lib/jwe_encrypt.js';
import type { KeyInput } from '../../lib/key_input.js';

export interface CompactEncryptOptions {
  /** The protected header: `alg` and `enc` at least, e.g. `{ alg: 'ECDH-ES+A256KW', enc: 'A256GCM' }`. */
  protectedHeader: JweHeaderParameters;
  /** Fixed key-management inputs (ephemeral key, PBES2 salt/count, GCMKW IV, CEK); random by default. */
  parameters?: KeyManagementParameters;
  /** Fixed content encryption key and IV, for reproducing test vectors only; random by default. */
  cek?: Uint8Array;
  iv?: Uint8Array;
}

/**
 * Encrypts `plaintext` into the JWE Compact Serialization (RFC 7516 §7.1). Key-management header
 * parameters (`epk`, `p2s`, `p2c`, `iv`, `tag`) are added to the protected header.
 *
 * @example
 * ```ts
 * const jwe = compactEncrypt('secret message', recipientPublicKey, {
 *   protectedHeader: { alg: 'ECDH-ES+A256KW', enc: 'A256GCM', kid: 'enc-1' },
 * });
 * ```
 */
export function compactEncrypt(
  plaintext: Uint8Array | string,
  key: KeyInput,
  options: CompactEncryptOptions,
): string {
  if (!options?.protectedHeader)
    throw new JweInvalid('compactEncrypt needs a protected header with "alg" and "enc"');
  const parts = encryptParts(
    {
      plaintext,
      protectedHeader: options.protectedHeader,
      recipients: [{ key, parameters: options.parameters }],
      cek: options.cek,
      iv: options.iv,
    },
    true,
  );
  return [
    parts.protectedSegment,
    parts.recipients[0]!.encryptedKey,
    parts.iv,
    parts.ciphertext,
    parts.tag,
  ].join('.');
}
