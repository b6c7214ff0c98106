// Project Wycheproof conformance: the JOSE-level encryption vectors. Every case of
// json_web_encryption_test.json and the JWE half of json_web_crypto_test.json goes through the public
// API: the group's `private` key (or key set) is imported with importJwk / createLocalJwks, and the
// test's `jwe` is decrypted with compactDecrypt, or flattenedDecrypt / generalDecrypt when it is a
// JSON serialization.
//
// The caller's allow-lists are the `alg` / `enc` values the token's headers name, when the library
// supports them, else every supported value: the library's own rules decide, not a test-side filter.
//
// Expectations: `valid` must decrypt (to `pt`, hex, when the test has one), `invalid` must be rejected
// with a JoseError (a key the library refuses to import counts as a rejection). Where Wycheproof
// contradicts RFC 7516 or a deliberate policy of the library (RSA1_5 is not offered, RFC 8725 §3.2),
// the library's behaviour is asserted instead and the case is listed in DOCUMENTED_EXCEPTIONS below.

import { Buffer } from 'node:buffer';
import { afterAll, describe, expect, it } from 'vitest';
import {
  compactDecrypt,
  type FlattenedJwe,
  flattenedDecrypt,
  type GeneralJwe,
  generalDecrypt,
  isJoseError,
  type JweDecryptOptions,
} from '../../src/index.js';
import { CONTENT_ENCRYPTION, KEY_MANAGEMENT } from '../../src/lib/jwe_algorithms.js';
import {
  caseTitle,
  details,
  exceptionsByTcId,
  exceptionVerdict,
  expectExceptionsNameCases,
  importKeyMaterial,
  type JoseException,
  type JoseOutcome,
  type JoseVectorGroup,
  jsonSerialization as jsonSerializationOf,
  type KeyMaterial,
  loadVectors,
  logSummary,
  newTally,
  skippedKeys,
  type Tally,
  type VectorFile,
  type VectorTest,
  verdict,
} from './wycheproof.js';

interface JoseTest extends VectorTest {
  jws?: unknown;
  /** Compact text, or a JSON serialization (as text, or as an object in json_web_crypto_test). */
  jwe?: string | Record<string, unknown>;
  enc?: string;
  /** The plaintext (hex), when Wycheproof gives it. */
  pt?: string;
}

type JoseGroup = JoseVectorGroup<JoseTest>;

type JoseFile = VectorFile<JoseGroup>;

/**
 * A case where Wycheproof's expected result contradicts RFC 7516 or a deliberate policy of Tessera,
 * which keeps its behaviour; the test asserts that behaviour. A rejection happens at key import or at
 * decryption.
 */
type DocumentedException = JoseException<'import' | 'decrypt'>;

const RSA1_5_NOT_OFFERED =
  'a correct RSA1_5 (RSAES-PKCS1-v1_5) JWE. Tessera does not offer RSA1_5 at all (RFC 8725 §3.2: ' +
  'Bleichenbacher-style padding oracles; RFC 7518 §4.2 itself warns about them), so a JWK pinned to ' +
  '"alg": "RSA1_5" is refused at import with ERR_JOSE_NOT_SUPPORTED and the token cannot be decrypted.';
const VALID_JSON_SERIALIZATION =
  'a correct Flattened JWE JSON Serialization (RFC 7516 §7.2.2) whose unprotected headers carry only ' +
  'unknown, non-critical parameters, which RFC 7516 §4 says to ignore. Wycheproof marks it invalid as ' +
  'a policy for compact-only APIs ("rejectsValidJsonSerialization"). Tessera supports JSON ' +
  'serialization: flattenedDecrypt accepts it, and compactDecrypt rejects the same text (asserted).';

function rsa1_5(tcId: number): DocumentedException {
  return {
    tcId,
    wycheproof: 'valid',
    tessera: 'rejects',
    stage: 'import',
    code: 'ERR_JOSE_NOT_SUPPORTED',
    why: RSA1_5_NOT_OFFERED,
  };
}

/** The one place where Tessera deliberately differs from Wycheproof, per file. Keep it small. */
const DOCUMENTED_EXCEPTIONS: Record<string, readonly DocumentedException[]> = {
  'json_web_encryption_test.json': [
    { tcId: 22, wycheproof: 'invalid', tessera: 'accepts', why: VALID_JSON_SERIALIZATION },
    // Group jwe_rsa1_5 (comment "jwe_rsa1_5"): valid RSA1_5 tokens.
    ...[100, 101, 102, 103, 104, 105].map(rsa1_5),
    // Group jwe_rsa1_5 (PKCS#1 padding cases): its one valid case.
    rsa1_5(112),
    // RFC 7520 §5.1 (Figure 81): RSA v1.5 key encryption.
    rsa1_5(128),
  ],
  'json_web_crypto_test.json': [
    { tcId: 66, wycheproof: 'invalid', tessera: 'accepts', why: VALID_JSON_SERIALIZATION },
  ],
};

const FILES = ['json_web_encryption_test.json', 'json_web_crypto_test.json'];

// ---------------------------------------------------------------------------------------------

type Decrypter = KeyMaterial;

type Outcome = JoseOutcome<'import' | 'decrypt', { readonly plaintext: Buffer }>;

const SUPPORTED_KEY_MANAGEMENT: readonly string[] = [...KEY_MANAGEMENT.keys()];
const SUPPORTED_CONTENT_ENCRYPTION: readonly string[] = [...CONTENT_ENCRYPTION.keys()];

/** The named values the library supports, else all of them (so the library's rules decide). */
function allowList(named: readonly unknown[], supported: readonly string[]): string[] {
  const values = named.filter(
    (value): value is string => typeof value === 'string' && supported.includes(value),
  );
  return values.length > 0 ? [...new Set(values)] : [...supported];
}

type Header = { alg?: unknown; enc?: unknown; zip?: unknown };

/** A protected header segment, parsed without any checks (for building the allow-lists only). */
function protectedHeader(segment: unknown): Header {
  if (typeof segment !== 'string') return {};
  try {
    const parsed: unknown = JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'));
    return typeof parsed === 'object' && parsed !== null ? (parsed as Header) : {};
  } catch {
    return {};
  }
}

function headerObject(value: unknown): Header {
  return typeof value === 'object' && value !== null ? (value as Header) : {};
}

/**
 * The caller's options, taken from every header the token has. `allowCompression` is set only when a
 * header names `zip`: a caller expecting compressed tokens opts in (the default refusal is asserted
 * separately for such cases).
 */
function optionsFor(headers: readonly Header[]): JweDecryptOptions {
  return {
    keyManagementAlgorithms: allowList(
      headers.map((h) => h.alg),
      SUPPORTED_KEY_MANAGEMENT,
    ),
    contentEncryptionAlgorithms: allowList(
      headers.map((h) => h.enc),
      SUPPORTED_CONTENT_ENCRYPTION,
    ),
    ...(headers.some((h) => h.zip !== undefined) ? { allowCompression: true } : {}),
  };
}

type JsonRecipient = { header?: unknown; encrypted_key?: unknown };
type JsonSerialization = JsonRecipient & {
  protected?: unknown;
  unprotected?: unknown;
  recipients?: JsonRecipient[];
};

/**
 * The JSON serialization in a test's `jwe`: an object, or text that parses as one. `undefined` for
 * compact text, and for text that is not JSON (which then goes to compactDecrypt to be judged).
 */
const jsonSerialization = (jwe: string | Record<string, unknown>) =>
  jsonSerializationOf<JsonSerialization>(jwe);

function headersOf(jwe: string | Record<string, unknown>): Header[] {
  const json = jsonSerialization(jwe);
  if (json === undefined) return [protectedHeader((jwe as string).split('.')[0])];
  const recipients = Array.isArray(json.recipients) ? json.recipients : [json];
  return [
    protectedHeader(json.protected),
    headerObject(json.unprotected),
    ...recipients.map((r) => headerObject(r.header)),
  ];
}

async function decryptSerialized(
  jwe: string | Record<string, unknown>,
  key: Decrypter,
  options: JweDecryptOptions,
): Promise<Buffer> {
  const json = jsonSerialization(jwe);
  if (json === undefined) return Buffer.from((await compactDecrypt(jwe as string, key, options)).plaintext);
  if (Array.isArray(json.recipients))
    return Buffer.from((await generalDecrypt(json as unknown as GeneralJwe, key, options)).plaintext);
  return Buffer.from((await flattenedDecrypt(json as unknown as FlattenedJwe, key, options)).plaintext);
}

interface GroupKey {
  readonly decrypter: Decrypter;
  /** Keys a JWKS left out (unsupported, too weak, malformed), with the library's reason. */
  readonly skipped: readonly string[];
}

/** The decryption key is the group's `private` key; `public` (RSA groups) is the encryption key. */
function importGroupKey(group: JoseGroup): GroupKey {
  const decrypter = importKeyMaterial(group.private);
  return { decrypter, skipped: skippedKeys(decrypter) };
}

async function runCase(
  group: JoseGroup,
  jwe: string | Record<string, unknown>,
  options: JweDecryptOptions = optionsFor(headersOf(jwe)),
): Promise<Outcome> {
  let key: GroupKey;
  try {
    key = importGroupKey(group);
  } catch (err) {
    if (isJoseError(err)) return { accepted: false, stage: 'import', error: err, skipped: [] };
    throw err;
  }
  try {
    const plaintext = await decryptSerialized(jwe, key.decrypter, options);
    return { accepted: true, plaintext, skipped: key.skipped };
  } catch (err) {
    // Anything but a JoseError (a TypeError, a node:crypto error) is a library bug and fails the test.
    if (isJoseError(err)) return { accepted: false, stage: 'decrypt', error: err, skipped: key.skipped };
    throw err;
  }
}

// ---------------------------------------------------------------------------------------------

interface JweTally extends Tally {
  notJwe: number;
  /** Rejections per error code (invalid cases and exceptions), for the summary line. */
  codes: Map<string, number>;
}

for (const file of FILES) {
  const vectors = loadVectors<JoseFile>(file);
  const exceptions = exceptionsByTcId(DOCUMENTED_EXCEPTIONS[file]!);
  const tally: JweTally = { ...newTally(), notJwe: 0, codes: new Map() };

  describe(`Wycheproof ${file} (JWE)`, () => {
    afterAll(() => {
      const codes = [...tally.codes].map(([code, n]) => `${code} ${n}`).join(', ');
      logSummary(
        file,
        tally,
        tally.notJwe > 0 ? [`${tally.notJwe} JWS cases not in scope`] : [],
        codes ? ` (rejections: ${codes})` : '',
      );
    });

    it('the documented exceptions name JWE cases of this file, each once', () => {
      expectExceptionsNameCases(vectors, DOCUMENTED_EXCEPTIONS[file]!, ({ test }, entry) => {
        expect(test.jwe, `tcId ${entry.tcId} is a JWE case`).toBeDefined();
      });
      expect(exceptions.size).toBe(DOCUMENTED_EXCEPTIONS[file]!.length);
    });

    vectors.testGroups.forEach((group, index) => {
      const jweTests = group.tests.filter((test) => test.jwe !== undefined);
      tally.notJwe += group.tests.length - jweTests.length;
      if (jweTests.length === 0) return;

      describe(`group ${index} (${group.comment}, key alg ${String(group.private.alg)})`, () => {
        for (const test of jweTests) {
          it(caseTitle(test), async () => {
            tally.run++;
            const jwe = test.jwe!;
            const headers = headersOf(jwe);
            const outcome = await runCase(group, jwe);
            if (!outcome.accepted)
              tally.codes.set(outcome.error.code, (tally.codes.get(outcome.error.code) ?? 0) + 1);
            const exception = exceptions.get(test.tcId);

            if (exception !== undefined) {
              expect(verdict(outcome), exception.why).toMatch(exceptionVerdict(exception));
              if (outcome.accepted && test.pt !== undefined)
                expect(outcome.plaintext.toString('hex')).toBe(test.pt);
              if (jsonSerialization(jwe) !== undefined) {
                // The compact API never takes a JSON serialization.
                const text = typeof jwe === 'string' ? jwe : JSON.stringify(jwe);
                await expect(runCompactOnly(group, text)).resolves.toBe(false);
              }
              tally.exceptions++;
              return;
            }

            switch (test.result) {
              case 'valid':
                expect(verdict(outcome), details(outcome)).toBe('accepted');
                if (outcome.accepted && test.pt !== undefined)
                  expect(outcome.plaintext.toString('hex')).toBe(test.pt);
                if (headers.some((h) => h.zip !== undefined)) {
                  // Compressed content is accepted only when the caller opts in (CVE-2024-28176).
                  const { allowCompression: _, ...strict } = optionsFor(headers);
                  const refused = await runCase(group, jwe, strict);
                  expect(verdict(refused)).toMatch(/^rejected at decrypt: ERR_JWE_INVALID /);
                }
                break;
              case 'invalid':
                expect(outcome.accepted, details(outcome)).toBe(false);
                break;
              case 'acceptable':
                throw new Error('the JOSE encryption files have no acceptable cases');
            }
            tally.passed++;
          });
        }
      });
    });
  });
}

/** compactDecrypt on the raw text; true when it decrypted. Non-Jose errors propagate. */
async function runCompactOnly(group: JoseGroup, jwe: string): Promise<boolean> {
  try {
    await compactDecrypt(jwe, importGroupKey(group).decrypter, {
      keyManagementAlgorithms: [...SUPPORTED_KEY_MANAGEMENT],
      contentEncryptionAlgorithms: [...SUPPORTED_CONTENT_ENCRYPTION],
    });
    return true;
  } catch (err) {
    if (isJoseError(err)) return false;
    throw err;
  }
}
