// Project Wycheproof conformance: the primitive vectors behind each JWE algorithm (RFC 7518 §4, §5):
// AES-GCM, AES-CBC-HMAC-SHA2, AES Key Wrap, RSAES-OAEP, ECDH on P-256/384/521, X25519, X448, PBKDF2.
//
// A JWE's content is encrypted under a random CEK with the protected header as AAD, and its key is
// wrapped or agreed from key material no token can fix to a vector's value, so the vectors are run at
// the algorithm layer the decrypt functions use (`CONTENT_ENCRYPTION`, `KEY_MANAGEMENT`), as
// `decryptWithKeys` in src/lib/jwe_decrypt.ts calls it: keys are imported through the library
// (importJwk / importPem / importSecret) and checked with `assertUsable(alg, 'decrypt')`, `unwrap`
// recovers the CEK, and `decrypt` authenticates and decrypts (after `checkLengths` has fixed the IV
// and tag lengths, which the AEAD groups used here always have).
//
// Expectations: `valid` must give Wycheproof's output, `invalid` must be refused (a key the library
// refuses counts as a refusal), `acceptable` may go either way (the outcome is recorded). Vectors that
// no JOSE algorithm can express (other IV sizes, OAEP labels, …) are counted, not hidden, and what
// the library does with them is asserted where it can be. Deliberate differences would be listed in
// DOCUMENTED_EXCEPTIONS; there are none.

import { Buffer } from 'node:buffer';
import { constants, createCipheriv, type KeyObject, pbkdf2Sync, privateDecrypt } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import {
  importJwk,
  importPem,
  importSecret,
  isJoseError,
  JweDecryptionFailed,
  type Key,
} from '../../src/index.js';
import {
  CONTENT_ENCRYPTION,
  type ContentEncryptionSpec,
  concatKdf,
  DEFAULT_MAX_PBES2_COUNT,
  KEY_MANAGEMENT,
  type KeyManagementSpec,
  MIN_PBES2_COUNT,
} from '../../src/lib/jwe_algorithms.js';
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
  // AEAD (aead_test_schema_v1): hex.
  key?: string;
  iv?: string;
  aad?: string;
  msg?: string;
  ct?: string;
  tag?: string;
  // RSAES-OAEP: hex.
  label?: string;
  // ECDH webcrypto / XDH JWK: JWKs and the shared secret (hex).
  public?: Record<string, unknown>;
  private?: Record<string, unknown>;
  shared?: string;
  // PBKDF2: hex, except the numbers.
  password?: string;
  salt?: string;
  iterationCount?: number;
  dkLen?: number;
  dk?: string;
}

interface PrimitiveGroup {
  type: string;
  keySize?: number;
  ivSize?: number;
  tagSize?: number;
  sha?: string;
  mgfSha?: string;
  curve?: string;
  privateKeyPem?: string;
  privateKeyJwk?: Record<string, unknown>;
  tests: PrimitiveTest[];
}

type PrimitiveFile = VectorFile<PrimitiveGroup>;

type Family = 'gcm' | 'cbc-hmac' | 'aes-kw' | 'rsa-oaep' | 'ecdh' | 'xdh' | 'pbkdf2';

/** Each file, its family, and (where the file fixes it) the JOSE algorithm. */
const FILES: readonly { file: string; family: Family; alg?: string }[] = [
  { file: 'aes_gcm_test.json', family: 'gcm' },
  { file: 'a128cbc_hs256_test.json', family: 'cbc-hmac', alg: 'A128CBC-HS256' },
  { file: 'a192cbc_hs384_test.json', family: 'cbc-hmac', alg: 'A192CBC-HS384' },
  { file: 'a256cbc_hs512_test.json', family: 'cbc-hmac', alg: 'A256CBC-HS512' },
  { file: 'aes_wrap_test.json', family: 'aes-kw' },
  { file: 'rsa_oaep_2048_sha1_mgf1sha1_test.json', family: 'rsa-oaep', alg: 'RSA-OAEP' },
  { file: 'rsa_oaep_2048_sha256_mgf1sha256_test.json', family: 'rsa-oaep', alg: 'RSA-OAEP-256' },
  { file: 'rsa_oaep_2048_sha384_mgf1sha384_test.json', family: 'rsa-oaep', alg: 'RSA-OAEP-384' },
  { file: 'rsa_oaep_2048_sha512_mgf1sha512_test.json', family: 'rsa-oaep', alg: 'RSA-OAEP-512' },
  { file: 'ecdh_secp256r1_webcrypto_test.json', family: 'ecdh', alg: 'ECDH-ES' },
  { file: 'ecdh_secp384r1_webcrypto_test.json', family: 'ecdh', alg: 'ECDH-ES' },
  { file: 'ecdh_secp521r1_webcrypto_test.json', family: 'ecdh', alg: 'ECDH-ES' },
  { file: 'x25519_jwk_test.json', family: 'xdh', alg: 'ECDH-ES' },
  { file: 'x448_jwk_test.json', family: 'xdh', alg: 'ECDH-ES' },
  { file: 'pbkdf2_hmacsha256_test.json', family: 'pbkdf2', alg: 'PBES2-HS256+A128KW' },
  { file: 'pbkdf2_hmacsha384_test.json', family: 'pbkdf2', alg: 'PBES2-HS384+A192KW' },
  { file: 'pbkdf2_hmacsha512_test.json', family: 'pbkdf2', alg: 'PBES2-HS512+A256KW' },
];

/** A case where Tessera deliberately refuses what Wycheproof calls valid; the refusal is asserted. */
interface DocumentedException extends DocumentedExceptionBase {
  readonly file: string;
  /** What Tessera does. */
  readonly tessera: string;
}

/**
 * Where Tessera deliberately differs from Wycheproof. Empty: every case runs as Wycheproof says, or is
 * counted as not applicable to JOSE. (The valid AES-KW cases with a 384-byte key, aes_wrap tcIds 10,
 * 52 and 107, unwrap correctly; that JOSE cannot use such a key as a CEK is asserted alongside.)
 */
const DOCUMENTED_EXCEPTIONS: readonly DocumentedException[] = [];

const hex = (value: string | undefined): Buffer => Buffer.from(value ?? '', 'hex');
const LIMITS = { maxPbes2Count: DEFAULT_MAX_PBES2_COUNT };

/** The content encryption with a `keyLength`-byte CEK, preferring AES-GCM. */
function contentSpecFor(keyLength: number): ContentEncryptionSpec | undefined {
  return [...CONTENT_ENCRYPTION.values()].find((spec) => spec.keyLength === keyLength);
}

/**
 * The JOSE algorithm a group's parameters correspond to, or `undefined` when no JOSE algorithm uses
 * them (AES-GCM with another IV or key size: RFC 7518 §5.3 fixes a 96-bit IV and a 128-bit tag).
 */
function groupAlgorithm(
  family: Family,
  fixed: string | undefined,
  group: PrimitiveGroup,
): string | undefined {
  switch (family) {
    case 'gcm':
      return group.ivSize === 96 && group.tagSize === 128 && [128, 192, 256].includes(group.keySize!)
        ? `A${group.keySize}GCM`
        : undefined;
    case 'aes-kw':
      return `A${group.keySize}KW`;
    default:
      return fixed;
  }
}

// ---------------------------------------------------------------------------------------------

/**
 * What one case came to. `accepted`: the library produced Wycheproof's output; `rejected`: it refused
 * (with why); `notApplicable`: JOSE cannot express the case (why), and what the library does with it
 * was asserted instead.
 */
type Outcome =
  | { readonly kind: 'accepted'; readonly note?: string }
  | { readonly kind: 'rejected'; readonly reason: string }
  | { readonly kind: 'notApplicable'; readonly reason: string };

/** Runs `step`; a JoseError becomes a rejection, anything else fails the test. */
function refusal(step: () => void): Outcome | undefined {
  try {
    step();
    return undefined;
  } catch (err) {
    if (isJoseError(err)) return { kind: 'rejected', reason: `${err.code} (${err.message})` };
    throw err;
  }
}

/** A rejection must be the library's one decryption error: failures must not be told apart. */
function expectDecryptionFailed(outcome: Outcome): void {
  if (outcome.kind === 'rejected') expect(outcome.reason).toMatch(/^ERR_JWE_DECRYPTION_FAILED /);
}

/** AES-GCM (A128GCM/A192GCM/A256GCM) and AES-CBC-HMAC-SHA2: encrypt with the test IV, then decrypt. */
function runAead(enc: string, test: PrimitiveTest): Outcome {
  const spec = CONTENT_ENCRYPTION.get(enc)!;
  const [key, iv, aad, msg, ct, tag] = [test.key, test.iv, test.aad, test.msg, test.ct, test.tag].map(hex);
  // The lengths checkLengths fixes as structure (ERR_JWE_INVALID) before anything is decrypted.
  expect(key!.length, 'CEK length').toBe(spec.keyLength);
  expect(iv!.length, 'IV length').toBe(spec.ivLength);
  expect(tag!.length, 'tag length').toBe(spec.tagLength);
  if (test.result === 'valid') {
    const sealed = spec.encrypt(key!, iv!, msg!, aad!);
    expect(sealed.ciphertext.toString('hex'), 'ciphertext').toBe(test.ct);
    expect(sealed.tag.toString('hex'), 'tag').toBe(test.tag);
  }
  let plaintext: Buffer | undefined;
  const refused = refusal(() => {
    plaintext = spec.decrypt(key!, iv!, ct!, tag!, aad!);
  });
  if (refused) {
    expectDecryptionFailed(refused);
    return refused;
  }
  expect(plaintext!.toString('hex'), 'plaintext').toBe(test.msg);
  return { kind: 'accepted' };
}

/** `unwrap` as decryptWithKeys calls it, with the default PBES2 bound. */
function unwrap(
  management: KeyManagementSpec,
  key: KeyObject,
  content: ContentEncryptionSpec,
  encryptedKey: Buffer,
  header: Record<string, unknown> = {},
): Buffer {
  return management.unwrap(key, content, encryptedKey, header as never, LIMITS);
}

/**
 * AES Key Wrap (A128KW/A192KW/A256KW): unwrap every case with the content encryption whose CEK is as
 * long as the wrapped key, and wrap the valid ones. AES-KW wraps keys of any multiple of 64 bits, but
 * JOSE only wraps CEKs: a wrapped key of no CEK length (empty, 8 or 384 bytes here) is unwrapped with
 * the spec of the key-wrapping key's own size, and for the valid 384-byte ones the test asserts that
 * JOSE cannot use them (RFC 7516 §5.2 step 9: wrap() refuses them, and every content encryption
 * refuses them as a key, since each needs a CEK of exactly its own length).
 */
function runKeyWrap(alg: string, test: PrimitiveTest): Outcome {
  const management = KEY_MANAGEMENT.get(alg)!;
  const [kek, msg, ct] = [test.key, test.msg, test.ct].map(hex);
  let key: Key;
  const refused = refusal(() => {
    key = importSecret(kek!, { alg });
    key.assertUsable(alg, 'decrypt');
  });
  if (refused) return refused;
  const content = contentSpecFor(msg!.length) ?? contentSpecFor(kek!.length)!;
  const isCek = msg!.length === content.keyLength;

  if (test.result === 'valid' && isCek) {
    const wrapped = management.wrap(key!.keyObject, content, { cek: msg! });
    expect(wrapped.encryptedKey.toString('hex'), 'wrap').toBe(test.ct);
    expect(wrapped.cek.equals(msg!)).toBe(true);
  }
  let cek: Buffer | undefined;
  const unwrapRefused = refusal(() => {
    cek = unwrap(management, key!.keyObject, content, ct!);
  });
  if (unwrapRefused) {
    expectDecryptionFailed(unwrapRefused);
    return unwrapRefused;
  }
  expect(cek!.toString('hex'), 'unwrapped key').toBe(test.msg);
  if (isCek) return { kind: 'accepted' };
  for (const enc of CONTENT_ENCRYPTION.values()) {
    expect(() => management.wrap(key!.keyObject, enc, { cek: msg! }), enc.enc).toThrow(
      /needs a \d+-byte CEK/,
    );
    const [iv, tag] = [Buffer.alloc(enc.ivLength), Buffer.alloc(enc.tagLength)];
    expect(() => enc.decrypt(cek!, iv, Buffer.alloc(16), tag, Buffer.alloc(0)), enc.enc).toThrow(
      JweDecryptionFailed,
    );
  }
  return {
    kind: 'accepted',
    note: `wrapped keys of no CEK length (unwrapped right; JOSE refuses them as a CEK)`,
  };
}

/** RSAES-OAEP (RSA-OAEP, -256, -384, -512), through the group's imported private key. */
function runRsaOaep(alg: string, key: Key, test: PrimitiveTest): Outcome {
  const management = KEY_MANAGEMENT.get(alg)!;
  const [msg, ct, label] = [test.msg, test.ct, test.label].map(hex);
  const content = contentSpecFor(msg!.length) ?? CONTENT_ENCRYPTION.get('A128GCM')!;
  const unwrapCek = () => management.unwrap(key.keyObject, content, ct!, {}, LIMITS);
  // RFC 7516 §11.5: the library never reports an RSA failure; it goes on with a random CEK, so the
  // content decryption fails like any other. A substituted CEK is fresh on every call; a decrypted
  // one is always the same, so two calls tell the two apart.
  const substituted = (): boolean => {
    let first: Buffer | undefined;
    const refused = refusal(() => {
      first = unwrapCek();
    });
    // Only a ciphertext of the wrong length (structure, not a secret) is refused outright.
    if (refused) {
      expect(ct!.length, 'only wrong-length ciphertexts are refused').not.toBe(256);
      expectDecryptionFailed(refused);
      return true;
    }
    expect(first!.length).toBe(content.keyLength);
    const second = unwrapCek();
    return !first!.equals(second) && !first!.equals(msg!) && !second.equals(msg!);
  };
  // What the library asks node:crypto for, with the same options.
  const oaepHash =
    { 'RSA-OAEP': 'sha1', 'RSA-OAEP-256': 'sha256', 'RSA-OAEP-384': 'sha384' }[alg] ?? 'sha512';
  const nodeDecrypt = () =>
    privateDecrypt({ key: key.keyObject, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash }, ct!);

  if (test.result !== 'valid') {
    expect(nodeDecrypt, 'node:crypto refuses the OAEP padding').toThrow();
    return substituted()
      ? { kind: 'rejected', reason: 'random CEK substituted (RFC 7516 §11.5)' }
      : { kind: 'accepted' };
  }
  if (label!.length > 0) {
    // JOSE never uses an OAEP label (RFC 7518 §4.3 encrypts with the default, empty one).
    expect(substituted(), 'a labelled ciphertext does not decrypt without its label').toBe(true);
    return { kind: 'notApplicable', reason: 'OAEP label' };
  }
  if (msg!.length === content.keyLength) {
    expect(unwrapCek().toString('hex'), 'unwrapped CEK').toBe(test.msg);
    expect(unwrapCek().toString('hex'), 'deterministic').toBe(test.msg);
    return { kind: 'accepted' };
  }
  // A message of no CEK length: the padding is checked where the library checks it (node:crypto, same
  // options), and the library turns the wrong-length result into a random CEK of the right length.
  expect(nodeDecrypt().toString('hex'), 'OAEP decryption').toBe(test.msg);
  expect(substituted(), `a ${msg!.length}-byte message is no ${content.enc} CEK`).toBe(true);
  return {
    kind: 'accepted',
    note: "valid messages of no CEK length checked through node:crypto with the library's options",
  };
}

const privateKeys = new Map<string, Key>();

/**
 * ECDH-ES on P-256/384/521, X25519 and X448: the vector's public key is the `epk` header, the private
 * key is imported and pinned to ECDH-ES, and the derived CEK must be the Concat KDF (RFC 7518 §4.6.2)
 * of Wycheproof's shared secret.
 */
function runAgreement(test: PrimitiveTest): Outcome {
  const management = KEY_MANAGEMENT.get('ECDH-ES')!;
  const importPrivate = (): Key => {
    // Many ECDH cases share a private key, and P-384/P-521 imports are slow: import each one once.
    const text = JSON.stringify(test.private);
    const key = privateKeys.get(text) ?? importJwk(test.private!, { alg: 'ECDH-ES' });
    privateKeys.set(text, key);
    return key;
  };
  // A256CBC-HS512: a 512-bit CEK takes two rounds of the Concat KDF.
  const content = CONTENT_ENCRYPTION.get('A256CBC-HS512')!;
  let cek: Buffer | undefined;
  const refused = refusal(() => {
    const key = importPrivate();
    key.assertUsable('ECDH-ES', 'decrypt');
    cek = unwrap(management, key.keyObject, content, Buffer.alloc(0), { epk: test.public });
  });
  if (refused) {
    // A bad ephemeral key is malformed input or a failed agreement, nothing else.
    expect(refused.kind === 'rejected' && refused.reason).toMatch(/^ERR_JWE_(INVALID|DECRYPTION_FAILED) /);
    return refused;
  }
  const expected = concatKdf(hex(test.shared), 512, content.enc, Buffer.alloc(0), Buffer.alloc(0));
  expect(cek!.toString('hex'), 'derived CEK').toBe(expected.toString('hex'));
  return { kind: 'accepted' };
}

/** RFC 7518 §4.8: the PBKDF2 hash and the AES-KW key size of each PBES2 algorithm. */
const PBES2_PARAMETERS: Record<string, { hash: string; bits: 128 | 192 | 256 }> = {
  'PBES2-HS256+A128KW': { hash: 'sha256', bits: 128 },
  'PBES2-HS384+A192KW': { hash: 'sha384', bits: 192 },
  'PBES2-HS512+A256KW': { hash: 'sha512', bits: 256 },
};

/**
 * PBKDF2. PBES2 derives its key-wrapping key as PBKDF2(password, UTF8(alg) ‖ 0x00 ‖ p2s, p2c) (RFC
 * 7518 §4.8.1.1), so no "p2s" gives a vector's raw salt. Each vector is checked in two parts:
 *  1. the primitive, called as the library calls it: node's pbkdf2Sync with the alg's hash and key
 *     length (16/24/32 bytes), compared with `dk` on the bytes both have (PBKDF2's output for a
 *     shorter length is a prefix of the longer one, RFC 8018 §5.2);
 *  2. the library's own PBES2 with the vector's password, salt (as p2s) and count: unwrap must
 *     recover a CEK wrapped under the key RFC 7518 §4.8.1.1 derives, and wrap must produce it. Where the
 *     library's limits refuse the parameters (p2s < 8 bytes, p2c outside 1,000..10,000, an empty
 *     password) the refusal is asserted instead.
 */
function runPbkdf2(alg: string, test: PrimitiveTest): Outcome {
  const management = KEY_MANAGEMENT.get(alg)!;
  const { hash, bits } = PBES2_PARAMETERS[alg]!;
  const [password, salt, dk] = [test.password, test.salt, test.dk].map(hex);
  const c = test.iterationCount!;
  expect(pbkdf2Sync(password!, salt!, c, test.dkLen!, hash).toString('hex'), 'PBKDF2').toBe(test.dk);
  const common = Math.min(bits / 8, test.dkLen!);
  const asTheLibraryCallsIt = pbkdf2Sync(password!, salt!, c, bits / 8, hash);
  expect(asTheLibraryCallsIt.subarray(0, common).equals(dk!.subarray(0, common)), 'PBKDF2 prefix').toBe(true);

  const content = contentSpecFor(bits / 8)!;
  const cek = Buffer.alloc(content.keyLength, 0xa5);
  const kek = pbkdf2Sync(
    password!,
    Buffer.concat([Buffer.from(alg, 'ascii'), Buffer.of(0), salt!]),
    c,
    bits / 8,
    hash,
  );
  const wrap = createCipheriv(`id-aes${bits}-wrap`, kek, Buffer.from('A6A6A6A6A6A6A6A6', 'hex'));
  const encryptedKey = Buffer.concat([wrap.update(cek), wrap.final()]);
  const header = { p2s: salt!.toString('base64url'), p2c: c };

  const withinLimits =
    salt!.length >= 8 && c >= MIN_PBES2_COUNT && c <= LIMITS.maxPbes2Count && password!.length > 0;
  let unwrapped: Buffer | undefined;
  const refused = refusal(() => {
    const key = importSecret(password!, { alg });
    key.assertUsable(alg, 'decrypt');
    unwrapped = unwrap(management, key.keyObject, content, encryptedKey, header);
    const wrapped = management.wrap(key.keyObject, content, { cek, p2s: salt!, p2c: c });
    expect(wrapped.encryptedKey.equals(encryptedKey), 'PBES2 wrap').toBe(true);
  });
  if (!withinLimits) {
    expect(refused, 'the library refuses parameters outside its PBES2 limits').toBeDefined();
    expect(refused!.kind === 'rejected' && refused!.reason).toMatch(/^ERR_(JWE_INVALID|KEY_INVALID) /);
    return {
      kind: 'accepted',
      note: `with parameters the library's PBES2 refuses (${refused!.kind === 'rejected' ? refused!.reason : ''})`,
    };
  }
  expect(refused, 'PBES2 with these parameters').toBeUndefined();
  expect(unwrapped!.equals(cek), 'PBES2 unwrap').toBe(true);
  return { kind: 'accepted', note: "also through the library's PBES2 wrap/unwrap" };
}

// ---------------------------------------------------------------------------------------------

interface PrimitiveTally extends Tally {
  /** Cases in groups no JOSE algorithm uses. */
  groupsNotApplicable: number;
  /** Cases JOSE cannot express, within applicable groups (the library's behaviour was asserted). */
  notApplicable: Map<string, number>;
  notes: Map<string, number>;
}

function count(map: Map<string, number>, key: string): void {
  map.set(key, (map.get(key) ?? 0) + 1);
}

for (const { file, family, alg: fixedAlg } of FILES) {
  const vectors = loadVectors<PrimitiveFile>(file);
  const exceptions = exceptionsByTcId(DOCUMENTED_EXCEPTIONS.filter((entry) => entry.file === file));
  const tally: PrimitiveTally = {
    ...newTally(),
    groupsNotApplicable: 0,
    notApplicable: new Map(),
    notes: new Map(),
  };

  describe(`Wycheproof ${file}`, () => {
    afterAll(() => {
      const parts: string[] = [];
      for (const [reason, n] of tally.notApplicable) parts.push(`${n} not applicable to JOSE (${reason})`);
      if (tally.groupsNotApplicable > 0)
        parts.push(`${tally.groupsNotApplicable} cases in groups no JOSE algorithm uses`);
      for (const [note, n] of tally.notes) parts.push(`${n} ${note}`);
      logSummary(file, tally, parts);
    });

    it('the documented exceptions name runnable cases of this file, each once', () => {
      expectExceptionsNameCases(vectors, exceptions.values(), ({ group }, entry) => {
        expect(groupAlgorithm(family, fixedAlg, group), `tcId ${entry.tcId} maps to JOSE`).toBeDefined();
      });
    });

    vectors.testGroups.forEach((group, index) => {
      const alg = groupAlgorithm(family, fixedAlg, group);
      if (alg === undefined) {
        tally.groupsNotApplicable += group.tests.length;
        return;
      }
      const label = [
        alg,
        group.keySize === undefined ? undefined : `keySize ${group.keySize}`,
        group.ivSize === undefined ? undefined : `ivSize ${group.ivSize}`,
        group.tagSize === undefined ? undefined : `tagSize ${group.tagSize}`,
        group.curve,
      ].filter(Boolean);
      let rsaKey: Key | undefined;

      describe(`group ${index} (${label.join(', ')})`, () => {
        for (const test of group.tests) {
          it(caseTitle(test), () => {
            tally.run++;
            const exception = exceptions.get(test.tcId);
            let outcome: Outcome;
            switch (family) {
              case 'gcm':
              case 'cbc-hmac':
                outcome = runAead(alg, test);
                break;
              case 'aes-kw':
                outcome = runKeyWrap(alg, test);
                break;
              case 'rsa-oaep':
                if (rsaKey === undefined) {
                  rsaKey = importPem(group.privateKeyPem!, { alg });
                  rsaKey.assertUsable(alg, 'decrypt');
                  // The JWK form of the same key, where the file has one, imports to the same key.
                  if (group.privateKeyJwk !== undefined)
                    expect(importJwk(group.privateKeyJwk, { alg }).keyObject.equals(rsaKey.keyObject)).toBe(
                      true,
                    );
                }
                outcome = runRsaOaep(alg, rsaKey, test);
                break;
              case 'ecdh':
              case 'xdh':
                outcome = runAgreement(test);
                // RFC 7748 §6.1: an all-zero X25519/X448 shared secret must be refused, whatever the
                // vector's label.
                if (family === 'xdh' && test.shared !== undefined && /^(00)+$/.test(test.shared))
                  expect(outcome.kind, 'all-zero shared secret').toBe('rejected');
                break;
              case 'pbkdf2':
                outcome = runPbkdf2(alg, test);
                break;
            }
            const verdict = outcome.kind === 'rejected' ? `rejected: ${outcome.reason}` : outcome.kind;

            if (exception !== undefined) {
              expect(outcome.kind, exception.why).toBe('rejected');
              tally.exceptions++;
              return;
            }
            if (outcome.kind === 'notApplicable') {
              count(tally.notApplicable, outcome.reason);
              return;
            }
            if (outcome.kind === 'accepted' && outcome.note !== undefined) count(tally.notes, outcome.note);
            switch (test.result) {
              case 'valid':
                expect(verdict).toBe('accepted');
                break;
              case 'invalid':
                expect(outcome.kind, verdict).toBe('rejected');
                break;
              case 'acceptable':
                countAcceptable(tally, outcome.kind === 'accepted');
                break;
            }
            tally.passed++;
          });
        }
      });
    });
  });
}
