/**
 * Encrypted access tokens already decrypted, each with the signed token inside, so a repeated JWE
 * skips the private-key operation (RSA-OAEP or ECDH, the costliest step of its check) and goes
 * straight to the verifier, whose own cache answers for the signed token.
 *
 * Only the decryption is remembered, never a verdict: the signed token is verified on every request
 * (expiry, revocations), so an entry can never outlive its token's validity. Entries are added once
 * the signed token verified, since anyone holding the API's public key can make JWEs that decrypt,
 * and those must not take the cache's places. Bounded: the least recently used entry goes first.
 */
export interface DecryptedTokens {
  /** The signed token `jwe` decrypted to before, if remembered. */
  get(jwe: string): string | undefined;
  remember(jwe: string, signed: string): void;
}

/**
 * Characters at the end of a JWE (its authentication tag) that key the map. A token arrives as a new
 * string with every request, and a Map keyed on the whole token would hash all of it; the tag is as
 * distinctive (at least 128 bits), and a hit is confirmed by comparing the whole token.
 */
const FINGERPRINT_LENGTH = 32;

interface Entry {
  readonly jwe: string;
  readonly signed: string;
}

export function createDecryptedTokens(max: number): DecryptedTokens {
  const entries = new Map<string, Entry>();
  return {
    get(jwe) {
      const fingerprint = jwe.slice(-FINGERPRINT_LENGTH);
      const entry = entries.get(fingerprint);
      if (entry === undefined || entry.jwe !== jwe) return undefined;
      // Most recently used goes last: a Map iterates in insertion order.
      entries.delete(fingerprint);
      entries.set(fingerprint, entry);
      return entry.signed;
    },
    remember(jwe, signed) {
      if (max === 0) return;
      const fingerprint = jwe.slice(-FINGERPRINT_LENGTH);
      entries.delete(fingerprint);
      if (entries.size >= max) entries.delete(entries.keys().next().value!);
      entries.set(fingerprint, { jwe, signed });
    },
  };
}
