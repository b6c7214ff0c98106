import { Buffer } from 'node:buffer';
import { createPublicKey, type KeyObject } from 'node:crypto';
import { KeyInvalid } from '../errors.js';

// CVE-2017-15361 (ROCA): Infineon's RSALib built primes as k·M + (65537^a mod M), so every modulus
// it made is, modulo each small prime p, a power of 65537. A random modulus passes that test for all
// of these primes with negligible probability; a ROCA modulus always does. (Nemec et al., CCS 2017.)
const PRIMES = [
  3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89, 97, 101, 103, 107,
  109, 113, 127, 131, 137, 139, 149, 151, 157, 163, 167,
];

/** For each prime, the residues that are powers of 65537 modulo it. */
const POWERS_OF_65537 = PRIMES.map((p) => {
  const residues = new Set<number>();
  for (let r = 1; !residues.has(r); r = (r * (65537 % p)) % p) residues.add(r);
  return residues;
});

/** True when the modulus of an RSA or RSASSA-PSS key has the ROCA fingerprint. */
export function isRocaModulus(key: KeyObject): boolean {
  const modulus = rsaModulus(key);
  return PRIMES.every((p, i) => POWERS_OF_65537[i]!.has(Number(modulus % BigInt(p))));
}

/**
 * The modulus of an `rsa` or `rsa-pss` key. Node 20 cannot export an `rsa-pss` key as a JWK
 * (ERR_CRYPTO_JWK_UNSUPPORTED_KEY_TYPE), so for those the RSAPublicKey (PKCS #1, RFC 8017 A.1.1)
 * is taken out of the key's SubjectPublicKeyInfo (RFC 5280 §4.1) and re-imported as a plain RSA key.
 * Any failure is a `KeyInvalid`.
 */
function rsaModulus(key: KeyObject): bigint {
  try {
    let rsaKey = key;
    if (key.asymmetricKeyType === 'rsa-pss') {
      const spki = (key.type === 'private' ? createPublicKey(key) : key).export({
        format: 'der',
        type: 'spki',
      });
      rsaKey = createPublicKey({ key: subjectPublicKey(spki), format: 'der', type: 'pkcs1' });
    }
    const { n } = rsaKey.export({ format: 'jwk' });
    if (typeof n !== 'string') throw new Error('no modulus');
    return BigInt(`0x${Buffer.from(n, 'base64url').toString('hex')}`);
  } catch (cause) {
    throw new KeyInvalid('could not read the RSA modulus of the key', { cause });
  }
}

/**
 * The contents of the subjectPublicKey BIT STRING of a DER SubjectPublicKeyInfo:
 * SEQUENCE { algorithm AlgorithmIdentifier (a SEQUENCE), subjectPublicKey BIT STRING }.
 */
function subjectPublicKey(spki: Buffer): Buffer {
  const outer = derElement(spki, 0, 0x30);
  const algorithm = derElement(spki, outer.start, 0x30);
  const bits = derElement(spki, algorithm.end, 0x03);
  if (bits.end !== outer.end || spki[bits.start] !== 0) throw new Error('malformed SubjectPublicKeyInfo');
  return spki.subarray(bits.start + 1, bits.end); // after the "unused bits" octet, which must be 0
}

/** One DER element at `offset` with the expected tag: where its contents start and end. */
function derElement(der: Buffer, offset: number, tag: number): { start: number; end: number } {
  if (der[offset] !== tag) throw new Error('unexpected DER tag');
  let length = der[offset + 1];
  let start = offset + 2;
  if (length === undefined) throw new Error('truncated DER');
  if (length > 0x80) {
    const octets = length - 0x80;
    if (octets > 4) throw new Error('DER length too long');
    length = 0;
    for (let i = 0; i < octets; i++) length = length * 256 + (der[start + i] ?? Number.NaN);
    start += octets;
  } else if (length === 0x80) {
    throw new Error('indefinite DER length');
  }
  const end = start + length;
  if (!Number.isInteger(end) || end > der.length) throw new Error('truncated DER');
  return { start, end };
}
