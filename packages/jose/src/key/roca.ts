import { Buffer } from 'node:buffer';
import type { KeyObject } from 'node:crypto';

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

export function isRocaModulus(key: KeyObject): boolean {
  const { n } = key.export({ format: 'jwk' });
  if (typeof n !== 'string') return false;
  const modulus = BigInt(`0x${Buffer.from(n, 'base64url').toString('hex')}`);
  return PRIMES.every((p, i) => POWERS_OF_65537[i]!.has(Number(modulus % BigInt(p))));
}
