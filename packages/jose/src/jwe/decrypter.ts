import { Buffer } from 'node:buffer';
import { JweInvalid } from '../errors.js';
import { deepFreeze } from '../lib/json.js';
import {
  bytes,
  type CheckedJweHeader,
  checkJweHeader,
  checkLengths,
  createJwePolicy,
  decryptWithKeys,
  type JweDecryptOptions,
} from '../lib/jwe_decrypt.js';
import { parseProtectedHeader } from '../lib/jws_header.js';
import { DEFAULT_MAX_TOKEN_LENGTH } from '../lib/jws_verify.js';
import { isKeySet, type KeyInput, type KeySet, toKey, usableKeys } from '../lib/key_input.js';
import { LruCache } from '../lib/lru.js';
import type { CompactDecryptResult } from './compact/decrypt.js';
import { splitCompactJwe } from './compact/decrypt.js';

export interface DecrypterOptions extends JweDecryptOptions {
  /** The decryption key, or a key set holding `use: "enc"` keys. */
  key: KeyInput | KeySet;
  /** Longest token accepted, in characters (default 16384). */
  maxTokenLength?: number;
}

export interface Decrypter {
  /** Decrypts a compact JWE synchronously (a remote key set must already hold the key). */
  decrypt(jwe: string): CompactDecryptResult;
  /** Decrypts, letting a key set fetch a key it does not hold yet. */
  decryptAsync(jwe: string): Promise<CompactDecryptResult>;
}

/**
 * Distinct protected headers remembered, least recently used first out; a decrypter normally sees a
 * handful. Only headers of JWEs that decrypted are remembered, so forged JWEs cannot fill the cache.
 */
const HEADER_CACHE_SIZE = 64;

/**
 * Prepares a compact-JWE decrypter: the algorithm policy and key are settled once, and each distinct
 * protected header of a JWE that decrypted is remembered parsed and checked (a bounded LRU), so
 * `decrypt` is a synchronous run of key unwrap and content decryption. The checks are exactly those
 * of `compactDecrypt`.
 *
 * @example
 * ```ts
 * const decrypter = createDecrypter({ key: cek, keyManagementAlgorithms: ['dir'], contentEncryptionAlgorithms: ['A256GCM'] });
 * const { plaintext } = decrypter.decrypt(jwe);
 * ```
 */
export function createDecrypter(options: DecrypterOptions): Decrypter {
  const policy = createJwePolicy(options);
  const maxTokenLength = options.maxTokenLength ?? DEFAULT_MAX_TOKEN_LENGTH;
  const keySet = isKeySet(options.key) ? options.key : undefined;
  const singleKey = keySet ? undefined : [toKey(options.key as KeyInput)];
  const headers = new LruCache<string, CheckedJweHeader>(HEADER_CACHE_SIZE);

  /** Parses and checks a protected header for this call alone; `decrypted` may remember it after. */
  function check(segment: string): CheckedJweHeader {
    // Deeply frozen ("epk" included): once remembered, every result with this header shares it.
    const header = deepFreeze(parseProtectedHeader(segment, JweInvalid));
    return checkJweHeader(header, header, policy);
  }

  /**
   * Remembers a header once a JWE carrying it decrypted (the tag verified). Were it remembered on
   * sight, forged headers would take the cache's places.
   */
  function decrypted(segment: string, checked: CheckedJweHeader, known: boolean): void {
    if (!known) headers.set(segment, checked);
  }

  function run(
    parts: string[],
    checked: CheckedJweHeader,
    keys: CompactDecryptResult['key'][],
  ): CompactDecryptResult {
    const [protectedSegment, encryptedKey, iv, ciphertext, tag] = parts as [
      string,
      string,
      string,
      string,
      string,
    ];
    const ivBytes = bytes(iv, 'iv');
    const tagBytes = bytes(tag, 'tag');
    checkLengths(checked, ivBytes, tagBytes);
    const { plaintext, key } = decryptWithKeys(
      checked,
      keys,
      bytes(encryptedKey, 'encrypted_key'),
      ivBytes,
      bytes(ciphertext, 'ciphertext'),
      tagBytes,
      Buffer.from(protectedSegment, 'ascii'),
      policy,
    );
    return { plaintext, protectedHeader: checked.header, key };
  }

  return {
    decrypt(jwe) {
      const parts = splitCompactJwe(jwe, maxTokenLength);
      const known = headers.get(parts[0]!);
      const checked = known ?? check(parts[0]!);
      const result = run(parts, checked, [
        ...(singleKey ?? usableKeys(keySet!.select(checked.header), checked.header.alg!)),
      ]);
      decrypted(parts[0]!, checked, known !== undefined);
      return result;
    },
    async decryptAsync(jwe) {
      const parts = splitCompactJwe(jwe, maxTokenLength);
      const known = headers.get(parts[0]!);
      const checked = known ?? check(parts[0]!);
      const keys = singleKey ?? usableKeys(await keySet!.resolve(checked.header), checked.header.alg!);
      const result = run(parts, checked, [...keys]);
      decrypted(parts[0]!, checked, known !== undefined);
      return result;
    },
  };
}
