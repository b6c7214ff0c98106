// Project Wycheproof conformance: the primitive vectors behind each JWS algorithm (ECDSA P1363,
// EdDSA, RSASSA-PSS, RSASSA-PKCS1-v1_5, HMAC).
//
// A JWS signs ASCII(BASE64URL(header) '.' payload), and even the RFC 7797 unencoded form
// (b64:false) signs BASE64URL(header) '.' payload-bytes, so no token can make the signed bytes
// equal a vector's arbitrary `msg`. The vectors are therefore run at the algorithm layer the verify
// functions use (`JWS_ALGORITHMS`), in the same order as `verifyWithKeys` in src/lib/jws_verify.ts:
// the key is imported through the library (importJwk / importPem / importSecret), checked with
// `assertUsable(alg, 'verify')`, and the signature must have the exact length for the algorithm and
// key before `spec.verify` sees it.
//
// Expectations: `valid` must verify, `invalid` must not (a key the library refuses counts as a
// rejection), `acceptable` may go either way (the outcome is recorded). The only deliberate
// differences are listed in DOCUMENTED_EXCEPTIONS.

import { Buffer } from 'node:buffer';
import { afterAll, describe, expect, it } from 'vitest';
import {
  type AnyJoseError,
  importJwk,
  importPem,
  importSecret,
  isJoseError,
  type Key,
} from '../../src/index.js';
import { JWS_ALGORITHMS, type JwsAlgorithmSpec } from '../../src/lib/jws_algorithms.js';
import {
  caseTitle,
  countAcceptable,
  type DocumentedExceptionBase,
  exceptionsByTcId,
  expectExceptionsNameCases,
  loadVectors,
  logSummary,
  newTally,
  type Tally,
  type VectorFile,
  type VectorTest,
} from './wycheproof.js';

interface PrimitiveTest extends VectorTest {
  msg: string;
  /** Signature (hex); HMAC files call it `tag`. */
  sig?: string;
  tag?: string;
  /** HMAC key (hex). */
  key?: string;
}

interface PrimitiveGroup {
  type: string;
  sha?: string;
  mgf?: string;
  mgfSha?: string;
  sLen?: number;
  keySize?: number;
  tagSize?: number;
  publicKeyJwk?: Record<string, unknown>;
  keyJwk?: Record<string, unknown>;
  publicKeyPem?: string;
  tests: PrimitiveTest[];
}

type PrimitiveFile = VectorFile<PrimitiveGroup>;

type Family = 'ecdsa' | 'eddsa' | 'rsa-pss' | 'rsa' | 'hmac';

const SHA_BITS: Record<string, number> = { 'SHA-256': 256, 'SHA-384': 384, 'SHA-512': 512 };

/** Each file, the family of its JWS algorithm(s), and (where the file fixes it) the algorithm. */
const FILES: readonly { file: string; family: Family; alg?: string }[] = [
  { file: 'ecdsa_secp256r1_sha256_p1363_test.json', family: 'ecdsa', alg: 'ES256' },
  { file: 'ecdsa_secp384r1_sha384_p1363_test.json', family: 'ecdsa', alg: 'ES384' },
  { file: 'ecdsa_secp521r1_sha512_p1363_test.json', family: 'ecdsa', alg: 'ES512' },
  { file: 'ecdsa_secp256k1_sha256_p1363_test.json', family: 'ecdsa', alg: 'ES256K' },
  { file: 'ed25519_test.json', family: 'eddsa', alg: 'EdDSA' },
  { file: 'ed448_test.json', family: 'eddsa', alg: 'EdDSA' },
  { file: 'rsa_pss_2048_sha256_mgf1_32_test.json', family: 'rsa-pss' },
  { file: 'rsa_pss_3072_sha256_mgf1_32_test.json', family: 'rsa-pss' },
  { file: 'rsa_pss_4096_sha256_mgf1_32_test.json', family: 'rsa-pss' },
  { file: 'rsa_pss_2048_sha384_mgf1_48_test.json', family: 'rsa-pss' },
  { file: 'rsa_pss_4096_sha384_mgf1_48_test.json', family: 'rsa-pss' },
  { file: 'rsa_pss_4096_sha512_mgf1_64_test.json', family: 'rsa-pss' },
  { file: 'rsa_signature_2048_sha256_test.json', family: 'rsa' },
  { file: 'rsa_signature_2048_sha384_test.json', family: 'rsa' },
  { file: 'rsa_signature_2048_sha512_test.json', family: 'rsa' },
  { file: 'rsa_signature_3072_sha256_test.json', family: 'rsa' },
  { file: 'rsa_signature_3072_sha384_test.json', family: 'rsa' },
  { file: 'rsa_signature_3072_sha512_test.json', family: 'rsa' },
  { file: 'rsa_signature_4096_sha256_test.json', family: 'rsa' },
  { file: 'rsa_signature_4096_sha384_test.json', family: 'rsa' },
  { file: 'rsa_signature_4096_sha512_test.json', family: 'rsa' },
  { file: 'hmac_sha256_test.json', family: 'hmac', alg: 'HS256' },
  { file: 'hmac_sha384_test.json', family: 'hmac', alg: 'HS384' },
  { file: 'hmac_sha512_test.json', family: 'hmac', alg: 'HS512' },
];

/**
 * A case where Tessera deliberately refuses what Wycheproof calls valid. `refusal` must match the
 * message of the KeyInvalid error the library raises when importing the key.
 */
interface DocumentedException extends DocumentedExceptionBase {
  readonly file: string;
  /** What Tessera does. */
  readonly tessera: string;
  readonly refusal: RegExp;
}

const SHORT_HMAC_KEY =
  'HMAC itself is defined for any key length, but RFC 7518 §3.2 says "A key of the same size as ' +
  'the hash output ... or larger MUST be used with this algorithm", so Tessera refuses the key.';

function shortHmacKey(file: string, tcId: number, alg: string, bytes: number): DocumentedException {
  return {
    file,
    tcId,
    wycheproof: 'valid',
    tessera: `refuses the ${bytes * 8}-bit key for ${alg} at import (KeyInvalid)`,
    refusal: new RegExp(`^${alg} needs a secret of at least ${bytes} bytes`),
    why: SHORT_HMAC_KEY,
  };
}

/** The one place where Tessera deliberately differs from Wycheproof. Keep it small. */
const DOCUMENTED_EXCEPTIONS: readonly DocumentedException[] = [
  // Group keySize 128 / tagSize 256, comment "short key".
  shortHmacKey('hmac_sha256_test.json', 163, 'HS256', 32),
  shortHmacKey('hmac_sha256_test.json', 164, 'HS256', 32),
  shortHmacKey('hmac_sha256_test.json', 165, 'HS256', 32),
  // Group keySize 192 / tagSize 384.
  shortHmacKey('hmac_sha384_test.json', 163, 'HS384', 48),
  shortHmacKey('hmac_sha384_test.json', 164, 'HS384', 48),
  shortHmacKey('hmac_sha384_test.json', 165, 'HS384', 48),
  // Group keySize 256 / tagSize 512.
  shortHmacKey('hmac_sha512_test.json', 163, 'HS512', 64),
  shortHmacKey('hmac_sha512_test.json', 164, 'HS512', 64),
  shortHmacKey('hmac_sha512_test.json', 165, 'HS512', 64),
];

/**
 * The JWS algorithm a group's parameters correspond to, or `undefined` when they match none
 * (truncated HMAC tags; PSS with another MGF hash or salt length).
 */
function groupAlgorithm(
  family: Family,
  fixed: string | undefined,
  group: PrimitiveGroup,
): string | undefined {
  const bits = group.sha === undefined ? undefined : SHA_BITS[group.sha];
  switch (family) {
    case 'ecdsa':
    case 'eddsa':
      return fixed;
    case 'hmac':
      // RFC 7518 §3.2: HS* use the full HMAC output.
      return group.tagSize === Number(fixed!.slice(2)) ? fixed : undefined;
    case 'rsa':
      return bits === undefined ? undefined : `RS${bits}`;
    case 'rsa-pss':
      // RFC 7518 §3.5: MGF1 with the same hash, salt as long as the hash output.
      return bits !== undefined &&
        group.mgf === 'MGF1' &&
        group.mgfSha === group.sha &&
        group.sLen === bits / 8
        ? `PS${bits}`
        : undefined;
  }
}

// ---------------------------------------------------------------------------------------------

type KeyImport = { readonly key: Key } | { readonly error: AnyJoseError };

function attempt(build: () => Key): KeyImport {
  try {
    return { key: build() };
  } catch (err) {
    if (isJoseError(err)) return { error: err };
    throw err;
  }
}

/** The group's public key: from its JWK when it has one, else from its PEM. */
function importGroupKey(group: PrimitiveGroup): { primary: KeyImport; pem: KeyImport | undefined } {
  const jwk = group.publicKeyJwk ?? group.keyJwk;
  const pem = group.publicKeyPem;
  if (jwk !== undefined) {
    return {
      primary: attempt(() => importJwk(jwk)),
      pem: pem === undefined ? undefined : attempt(() => importPem(pem)),
    };
  }
  if (pem === undefined) throw new Error('group has neither a JWK nor a PEM public key');
  return { primary: attempt(() => importPem(pem)), pem: undefined };
}

/** What `verifyWithKeys` does for one key: usable for `alg`, exact signature length, then verify. */
function verifyAsTheLibraryDoes(spec: JwsAlgorithmSpec, key: Key, msg: Buffer, sig: Buffer): boolean {
  key.assertUsable(spec.alg, 'verify');
  const keyObject = key.verificationKey;
  return sig.length === spec.signatureLength(keyObject) && spec.verify(keyObject, msg, sig);
}

type Outcome = { readonly accepted: true } | { readonly accepted: false; readonly reason: string };

function verdict(outcome: Outcome): string {
  return outcome.accepted ? 'accepted' : `rejected: ${outcome.reason}`;
}

// ---------------------------------------------------------------------------------------------

for (const { file, family, alg: fixedAlg } of FILES) {
  const vectors = loadVectors<PrimitiveFile>(file);
  const exceptions = exceptionsByTcId(DOCUMENTED_EXCEPTIONS.filter((entry) => entry.file === file));
  const tally: Tally & { notApplicable: number } = { ...newTally(), notApplicable: 0 };

  describe(`Wycheproof ${file}`, () => {
    afterAll(() =>
      logSummary(
        file,
        tally,
        tally.notApplicable > 0 ? [`${tally.notApplicable} cases in groups no JWS algorithm uses`] : [],
      ),
    );

    it('the documented exceptions name runnable cases of this file, each once', () => {
      expectExceptionsNameCases(vectors, exceptions.values(), ({ group }, entry) => {
        expect(groupAlgorithm(family, fixedAlg, group), `tcId ${entry.tcId} maps to JWS`).toBeDefined();
      });
    });

    vectors.testGroups.forEach((group, index) => {
      const alg = groupAlgorithm(family, fixedAlg, group);
      if (alg === undefined) {
        tally.notApplicable += group.tests.length;
        return;
      }
      const spec = JWS_ALGORITHMS.get(alg)!;
      let groupKey: ReturnType<typeof importGroupKey> | undefined;
      const label = [
        alg,
        group.keySize === undefined ? undefined : `keySize ${group.keySize}`,
        group.tagSize === undefined ? undefined : `tagSize ${group.tagSize}`,
        family === 'hmac' ? undefined : group.publicKeyJwk || group.keyJwk ? 'JWK' : 'PEM',
      ].filter(Boolean);

      describe(`group ${index} (${label.join(', ')})`, () => {
        for (const test of group.tests) {
          it(caseTitle(test), () => {
            tally.run++;
            const msg = Buffer.from(test.msg, 'hex');
            const sig = Buffer.from(test.sig ?? test.tag ?? '', 'hex');

            let imported: KeyImport;
            if (family === 'hmac') {
              imported = attempt(() => importSecret(Buffer.from(test.key!, 'hex'), { alg }));
            } else {
              groupKey ??= importGroupKey(group);
              imported = groupKey.primary;
              // Both encodings of the same public key must import to the same key, or both fail.
              if (groupKey.pem !== undefined) {
                const pem = groupKey.pem;
                expect('key' in pem, 'PEM and JWK imports agree').toBe('key' in imported);
                if ('key' in pem && 'key' in imported)
                  expect(pem.key.keyObject.equals(imported.key.keyObject)).toBe(true);
              }
            }

            const exception = exceptions.get(test.tcId);
            if (exception !== undefined) {
              expect('error' in imported ? imported.error.code : 'imported', exception.why).toBe(
                'ERR_KEY_INVALID',
              );
              if ('error' in imported) expect(imported.error.message).toMatch(exception.refusal);
              tally.exceptions++;
              return;
            }

            let outcome: Outcome;
            if ('error' in imported) {
              outcome = {
                accepted: false,
                reason: `key refused at import: ${imported.error.code} (${imported.error.message})`,
              };
            } else {
              try {
                outcome = verifyAsTheLibraryDoes(spec, imported.key, msg, sig)
                  ? { accepted: true }
                  : { accepted: false, reason: 'signature did not verify' };
              } catch (err) {
                // Only JoseErrors are deliberate; anything else fails the test.
                if (!isJoseError(err)) throw err;
                outcome = { accepted: false, reason: `${err.code} (${err.message})` };
              }
            }

            switch (test.result) {
              case 'valid':
                expect(verdict(outcome)).toBe('accepted');
                break;
              case 'invalid':
                expect(outcome.accepted, verdict(outcome)).toBe(false);
                break;
              case 'acceptable':
                countAcceptable(tally, outcome.accepted);
                break;
            }
            tally.passed++;
          });
        }
      });
    });
  });
}
