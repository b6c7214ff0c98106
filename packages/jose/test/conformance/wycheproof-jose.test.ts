// Project Wycheproof conformance: the JOSE-level vector files (JWS, JWK/JWKS, and the JWS half of
// json_web_crypto_test.json). Every case goes through the public API: keys are imported with
// importJwk / createLocalJwks, tokens are verified with compactVerify / flattenedVerify / generalVerify.
//
// Expectations: `valid` must verify, `invalid` must be rejected with a JoseError (a key the library
// refuses to import counts as a rejection), `acceptable` may go either way (the outcome is recorded).
// Where Wycheproof contradicts its own rules or RFC 7515, the library's behaviour is asserted instead
// and the case is listed in DOCUMENTED_EXCEPTIONS below. Every other case must match Wycheproof.

import { afterAll, describe, expect, it } from 'vitest';
import {
  compactVerify,
  decodeProtectedHeader,
  type FlattenedJws,
  flattenedVerify,
  type GeneralJws,
  generalVerify,
  isJoseError,
} from '../../src/index.js';
import { JWS_ALGORITHMS } from '../../src/lib/jws_algorithms.js';
import {
  caseTitle,
  countAcceptable,
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
  /** Compact text, or (json_web_crypto_test tcId 17) a JSON serialization as an object. */
  jws?: string | Record<string, unknown>;
  jwe?: unknown;
}

type JoseGroup = JoseVectorGroup<JoseTest>;

type JoseFile = VectorFile<JoseGroup>;

/**
 * Cases where Wycheproof's expected result is wrong or contradicts its own rules, and Tessera keeps
 * its stricter (or RFC-conforming) behaviour, which the test asserts. A rejection happens at key
 * import or at verification.
 */
type DocumentedException = JoseException<'import' | 'verify'>;

const RFC7520_KEY_ALG_PINNING =
  'the key JWK pins "alg" to PS256 but the token says PS384. Wycheproof itself calls using a key ' +
  'with an algorithm other than its "alg" WrongPrimitive/invalid (tcIds 331-340); RFC 7517 §4.4 ' +
  'and RFC 8725 §3.1: a key pinned to one algorithm verifies nothing else.';
const RFC7520_ES521 =
  'the key JWK has "alg":"ES521", which is not a JWS algorithm (RFC 7518 §3.1 names P-521 ' +
  'ECDSA "ES512"). Tessera refuses to import a key pinned to an unknown algorithm, as Wycheproof ' +
  'itself demands in json_web_key_test tcIds 19-20.';
const NON_CANONICAL_BASE64 =
  'a "?" sits inside a base64url segment, yet the MAC is over the unmodified text. RFC 7515 §2 and ' +
  '§5.2 steps 2 and 6: decode "following the restriction that no line breaks, whitespace, or other ' +
  'additional characters have been used"; the signing input is the segments as received. ' +
  'Wycheproof labels the sibling cases 361-364 and 366/369/371 invalid.';
const IDENTICAL_TO_357 =
  'the "jws" is byte-identical to tcId 357 ("ValidMac", valid): a canonical compact JWS with a ' +
  'correct HS256 MAC and no padding anywhere. The label is an upstream data error ' +
  '(github.com/C2SP/wycheproof/issues/236).';
const VALID_JSON_SERIALIZATION =
  'a correct General JWS JSON Serialization (RFC 7515 §7.2.1). Wycheproof marks it invalid as a ' +
  'policy for compact-only APIs ("rejectsValidJsonSerialization"). Tessera supports JSON ' +
  'serialization: generalVerify accepts it, and compactVerify rejects the same text (asserted).';

/**
 * The one place where Tessera deliberately differs from Wycheproof, per file. Keep it small.
 * (json_web_signature_test tcId 17 is not here: its "jws" text is truncated JSON, missing the closing
 * "]}", so it is no JSON serialization at all and compactVerify rejects it, as Wycheproof says.)
 */
const DOCUMENTED_EXCEPTIONS: Record<string, readonly DocumentedException[]> = {
  'json_web_signature_test.json': [
    {
      tcId: 346,
      wycheproof: 'valid',
      tessera: 'rejects',
      stage: 'verify',
      code: 'ERR_JOSE_ALG_NOT_ALLOWED',
      why: RFC7520_KEY_ALG_PINNING,
    },
    {
      tcId: 347,
      wycheproof: 'valid',
      tessera: 'rejects',
      stage: 'import',
      code: 'ERR_KEY_INVALID',
      why: RFC7520_ES521,
    },
    {
      tcId: 349,
      wycheproof: 'valid',
      tessera: 'rejects',
      stage: 'import',
      code: 'ERR_JWK_INVALID',
      why:
        'the private JWK has "key_ops": ["sign, verify"], one string with a comma, not the operations ' +
        '"sign" and "verify". Tessera refuses key_ops values that are not the operation names of ' +
        'RFC 7517 §4.3 (stricter than §4.3, which lets other values be used), so the private key of ' +
        'this group does not import. (Its public key, key_ops ["verify"], is fine.)',
    },
    {
      tcId: 350,
      wycheproof: 'valid',
      tessera: 'rejects',
      stage: 'verify',
      code: 'ERR_JOSE_ALG_NOT_ALLOWED',
      why: RFC7520_KEY_ALG_PINNING,
    },
    {
      tcId: 351,
      wycheproof: 'valid',
      tessera: 'rejects',
      stage: 'import',
      code: 'ERR_KEY_INVALID',
      why: RFC7520_ES521,
    },
    { tcId: 367, wycheproof: 'invalid', tessera: 'accepts', why: IDENTICAL_TO_357 },
    { tcId: 370, wycheproof: 'invalid', tessera: 'accepts', why: IDENTICAL_TO_357 },
    {
      tcId: 372,
      wycheproof: 'valid',
      tessera: 'rejects',
      stage: 'verify',
      code: 'ERR_JWS_INVALID',
      why: NON_CANONICAL_BASE64,
    },
    {
      tcId: 373,
      wycheproof: 'valid',
      tessera: 'rejects',
      stage: 'verify',
      code: 'ERR_JWS_INVALID',
      why: NON_CANONICAL_BASE64,
    },
  ],
  'json_web_key_test.json': [],
  'json_web_crypto_test.json': [
    { tcId: 17, wycheproof: 'invalid', tessera: 'accepts', why: VALID_JSON_SERIALIZATION },
  ],
};

const FILES = ['json_web_signature_test.json', 'json_web_key_test.json', 'json_web_crypto_test.json'];

// ---------------------------------------------------------------------------------------------

type Verifier = KeyMaterial;

type Outcome = JoseOutcome<'import' | 'verify'>;

const SUPPORTED_ALGORITHMS: readonly string[] = [...JWS_ALGORITHMS.keys()];

/**
 * The caller's allow-list: the algorithm(s) the token's headers name, when the library supports
 * them; otherwise every supported algorithm (so "none", "NONE" or a missing header still meet the
 * library's own rules rather than a test-side filter).
 */
function allowList(named: readonly unknown[]): string[] {
  const algs = named.filter((alg): alg is string => typeof alg === 'string' && JWS_ALGORITHMS.has(alg));
  return algs.length > 0 ? [...new Set(algs)] : [...SUPPORTED_ALGORITHMS];
}

function headerAlg(protectedSegment: unknown): unknown {
  if (typeof protectedSegment !== 'string') return undefined;
  try {
    return decodeProtectedHeader(protectedSegment).alg;
  } catch {
    return undefined;
  }
}

type JsonSignature = { protected?: unknown; header?: { alg?: unknown } };
type JsonSerialization = { signatures?: JsonSignature[] } & JsonSignature;

/**
 * The JSON serialization in a test's `jws`: an object, or text that parses as one. `undefined` for
 * compact text, and for text that is not JSON (which then goes to compactVerify, the library's only
 * text API, to be judged).
 */
const jsonSerialization = (jws: string | Record<string, unknown>) =>
  jsonSerializationOf<JsonSerialization>(jws);

async function verifySerialized(jws: string | Record<string, unknown>, key: Verifier): Promise<void> {
  const json = jsonSerialization(jws);
  if (json === undefined) {
    await compactVerify(jws as string, key, { algorithms: allowList([headerAlg(jws)]) });
    return;
  }
  const signatures = Array.isArray(json.signatures) ? json.signatures : [json];
  const algorithms = allowList(signatures.flatMap((sig) => [headerAlg(sig.protected), sig.header?.alg]));
  if (Array.isArray(json.signatures)) await generalVerify(json as GeneralJws, key, { algorithms });
  else await flattenedVerify(json as unknown as FlattenedJws, key, { algorithms });
}

interface GroupKeys {
  readonly verifier: Verifier;
  /** Keys a JWKS left out (unsupported, too weak, malformed), with the library's reason. */
  readonly skipped: readonly string[];
}

function importGroupKeys(group: JoseGroup): GroupKeys {
  const privateKey = importKeyMaterial(group.private);
  const publicKey = group.public === undefined ? undefined : importKeyMaterial(group.public);
  const skipped = [privateKey, publicKey].flatMap(skippedKeys);
  return { verifier: publicKey ?? privateKey, skipped };
}

async function runCase(group: JoseGroup, jws: string | Record<string, unknown>): Promise<Outcome> {
  let keys: GroupKeys;
  try {
    keys = importGroupKeys(group);
  } catch (err) {
    if (isJoseError(err)) return { accepted: false, stage: 'import', error: err, skipped: [] };
    throw err;
  }
  try {
    await verifySerialized(jws, keys.verifier);
    return { accepted: true, skipped: keys.skipped };
  } catch (err) {
    // Anything but a JoseError is a library bug and fails the test.
    if (isJoseError(err)) return { accepted: false, stage: 'verify', error: err, skipped: keys.skipped };
    throw err;
  }
}

// ---------------------------------------------------------------------------------------------

for (const file of FILES) {
  const vectors = loadVectors<JoseFile>(file);
  const exceptions = exceptionsByTcId(DOCUMENTED_EXCEPTIONS[file]!);
  const tally: Tally & { notJws: number } = { ...newTally(), notJws: 0 };

  describe(`Wycheproof ${file}`, () => {
    afterAll(() =>
      logSummary(file, tally, tally.notJws > 0 ? [`${tally.notJws} JWE cases not in scope`] : []),
    );

    it('the documented exceptions name JWS cases of this file, each once', () => {
      expectExceptionsNameCases(vectors, DOCUMENTED_EXCEPTIONS[file]!, ({ test }, entry) => {
        expect(test.jws, `tcId ${entry.tcId} is a JWS case`).toBeDefined();
      });
      expect(exceptions.size).toBe(DOCUMENTED_EXCEPTIONS[file]!.length);
    });

    vectors.testGroups.forEach((group, index) => {
      const jwsTests = group.tests.filter((test) => test.jws !== undefined);
      tally.notJws += group.tests.length - jwsTests.length;
      if (jwsTests.length === 0) return;

      describe(`group ${index} (${group.comment})`, () => {
        for (const test of jwsTests) {
          it(caseTitle(test), async () => {
            tally.run++;
            const jws = test.jws!;
            const outcome = await runCase(group, jws);
            const exception = exceptions.get(test.tcId);

            if (exception !== undefined) {
              expect(verdict(outcome), exception.why).toMatch(exceptionVerdict(exception));
              if (jsonSerialization(jws) !== undefined) {
                // The compact API never takes a JSON serialization.
                const text = typeof jws === 'string' ? jws : JSON.stringify(jws);
                await expect(runCompactOnly(group, text)).resolves.toBe(false);
              }
              tally.exceptions++;
              return;
            }

            switch (test.result) {
              case 'valid':
                expect(verdict(outcome), details(outcome)).toBe('accepted');
                break;
              case 'invalid':
                expect(outcome.accepted, details(outcome)).toBe(false);
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

/** compactVerify on the raw text; true when it verified. Non-Jose errors propagate. */
async function runCompactOnly(group: JoseGroup, jws: string): Promise<boolean> {
  try {
    await compactVerify(jws, importGroupKeys(group).verifier, { algorithms: [...SUPPORTED_ALGORITHMS] });
    return true;
  } catch (err) {
    if (isJoseError(err)) return false;
    throw err;
  }
}
