// Property-based round trips for every JWE key-management algorithm with every content encryption:
// arbitrary bytes and unicode text come out of the matching decrypt function unchanged, with AAD and
// shared and per-recipient headers in the JSON serializations. And a JWE with any one character
// changed (anywhere in a compact JWE, or in any base64url member or key-management header parameter
// of a JSON JWE) is always rejected with a JoseError: never accepted, never another exception.
import { Buffer } from 'node:buffer';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  type ContentEncryptionAlgorithm,
  compactDecrypt,
  compactEncrypt,
  type FlattenedJwe,
  flattenedDecrypt,
  flattenedEncrypt,
  type GeneralJwe,
  generalDecrypt,
  generalEncrypt,
  generateKeyPair,
  generateSecret,
  importSecret,
  isJoseError,
  type JweDecryptOptions,
  type Key,
  type KeyManagementAlgorithm,
  type KeyManagementParameters,
} from '../../src/index.js';

const ENCS: readonly ContentEncryptionAlgorithm[] = [
  'A128GCM',
  'A192GCM',
  'A256GCM',
  'A128CBC-HS256',
  'A192CBC-HS384',
  'A256CBC-HS512',
];

type Curve = 'P-256' | 'P-384' | 'P-521' | 'X25519' | 'X448';

interface AlgorithmCase {
  readonly label: string;
  readonly alg: KeyManagementAlgorithm;
  readonly crv?: Curve;
  /** Direct modes (`dir`, `ECDH-ES`) allow one recipient only. */
  readonly direct: boolean;
  readonly numRuns: number;
  /** PBES2: the smallest count accepted, to keep the runs fast. */
  readonly parameters?: KeyManagementParameters;
}

const FAST = 12;
const SLOW = 6; // RSA decryption and P-521 agreement are the costly ones
const TAMPER_RUNS = 60;
const CURVES: readonly Curve[] = ['P-256', 'P-384', 'P-521', 'X25519', 'X448'];

const CASES: readonly AlgorithmCase[] = [
  { label: 'dir', alg: 'dir', direct: true, numRuns: FAST },
  ...(['RSA-OAEP', 'RSA-OAEP-256', 'RSA-OAEP-384', 'RSA-OAEP-512'] as const).map((alg) => ({
    label: alg,
    alg,
    direct: false,
    numRuns: SLOW,
  })),
  ...(['A128KW', 'A192KW', 'A256KW', 'A128GCMKW', 'A192GCMKW', 'A256GCMKW'] as const).map((alg) => ({
    label: alg,
    alg,
    direct: false,
    numRuns: FAST,
  })),
  ...(['ECDH-ES', 'ECDH-ES+A128KW', 'ECDH-ES+A192KW', 'ECDH-ES+A256KW'] as const).flatMap((alg) =>
    CURVES.map((crv) => ({
      label: `${alg} (${crv})`,
      alg,
      crv,
      direct: alg === 'ECDH-ES',
      numRuns: crv === 'P-521' ? SLOW : FAST,
    })),
  ),
  ...(['PBES2-HS256+A128KW', 'PBES2-HS384+A192KW', 'PBES2-HS512+A256KW'] as const).map((alg) => ({
    label: alg,
    alg,
    direct: false,
    numRuns: FAST,
    parameters: { p2c: 1000 },
  })),
];

const BASE64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/** Unicode text: code points from the whole range (no lone surrogates) or printable graphemes. */
const textArb = fc.oneof(fc.string({ unit: 'binary', maxLength: 200 }), fc.string({ unit: 'grapheme' }));
const bytesArb = fc.uint8Array({ maxLength: 300 });
const aadArb = fc.oneof(fc.uint8Array({ maxLength: 64 }), fc.string({ unit: 'binary', maxLength: 40 }));
const encArb = fc.constantFrom(...ENCS);
const flipArb = fc.record({ position: fc.nat(), shift: fc.integer({ min: 1, max: BASE64URL.length - 1 }) });

/** The keys for one case and `enc`: the one that encrypts and the one that decrypts. */
interface CaseKeys {
  forEnc(enc: ContentEncryptionAlgorithm): { encryptKey: Key; decryptKey: Key };
}

async function keysFor(c: AlgorithmCase): Promise<CaseKeys> {
  if (c.alg === 'dir') {
    // A direct key is named by its content encryption and serves "dir" with that "enc" only.
    const secrets = new Map(ENCS.map((enc) => [enc, generateSecret(enc)]));
    return {
      forEnc: (enc) => ({ encryptKey: secrets.get(enc)!, decryptKey: secrets.get(enc)! }),
    };
  }
  if (c.alg.startsWith('PBES2')) {
    const password = importSecret('correct horse battery staple \u{1f40e}', { alg: c.alg });
    return { forEnc: () => ({ encryptKey: password, decryptKey: password }) };
  }
  if (c.alg.startsWith('RSA-OAEP') || c.alg.startsWith('ECDH-ES')) {
    const { publicKey, privateKey } = await generateKeyPair(c.alg, { crv: c.crv, modulusLength: 2048 });
    return { forEnc: () => ({ encryptKey: publicKey, decryptKey: privateKey }) };
  }
  const secret = generateSecret(c.alg);
  return { forEnc: () => ({ encryptKey: secret, decryptKey: secret }) };
}

const only = (alg: string, enc: string): JweDecryptOptions => ({
  keyManagementAlgorithms: [alg],
  contentEncryptionAlgorithms: [enc],
});

/** Changes the character at `position` (modulo the length) to a different base64url character. */
function flipCharacter(token: string, position: number, shift: number): string {
  const index = position % token.length;
  const current = BASE64URL.indexOf(token[index]!);
  // '.' is not in the alphabet (index -1): any base64url character then differs from it.
  const replacement = BASE64URL[(current + shift + BASE64URL.length) % BASE64URL.length]!;
  return token.slice(0, index) + replacement + token.slice(index + 1);
}

/** What `run` threw (or rejected with), or `undefined` when it succeeded. */
async function failureOf(run: () => unknown): Promise<unknown> {
  try {
    await run();
  } catch (err) {
    return err;
  }
  return undefined;
}

type Path = readonly (string | number)[];

/** Key-management header parameters: integrity-relevant even in an unprotected header. */
const KEY_MANAGEMENT_MEMBERS = new Set(['iv', 'tag', 'p2s', 'apu', 'apv', 'epk']);

/**
 * The string members of a JSON JWE whose change must make decryption by the last recipient fail: the
 * base64url members (protected, encrypted_key, iv, ciphertext, tag, aad) and the key-management
 * parameters of unprotected headers (iv, tag, p2s, apu, apv, and the coordinates of epk). Other
 * unprotected header members (kid, cty, …) are by design not integrity protected (RFC 7516 §7.2.1),
 * and nor is another recipient's encrypted key, so they are left out.
 */
function protectedStrings(jwe: FlattenedJwe | GeneralJwe): Path[] {
  const paths: Path[] = [];
  const members = jwe as unknown as Record<string, unknown>;
  for (const name of ['protected', 'encrypted_key', 'iv', 'ciphertext', 'tag', 'aad']) {
    // An empty member (the ciphertext of an empty plaintext) has no character to change.
    if (typeof members[name] === 'string' && members[name] !== '') paths.push([name]);
  }
  const headerStrings = (header: Record<string, unknown> | undefined, prefix: Path) => {
    for (const [name, value] of Object.entries(header ?? {})) {
      if (!KEY_MANAGEMENT_MEMBERS.has(name)) continue;
      if (name === 'epk') {
        for (const coordinate of ['x', 'y']) {
          if (typeof (value as Record<string, unknown>)[coordinate] === 'string')
            paths.push([...prefix, name, coordinate]);
        }
      } else if (typeof value === 'string') paths.push([...prefix, name]);
    }
  };
  headerStrings(jwe.unprotected, ['unprotected']);
  if ('recipients' in jwe) {
    const last = jwe.recipients.length - 1;
    const recipient = jwe.recipients[last]!;
    if (recipient.encrypted_key) paths.push(['recipients', last, 'encrypted_key']);
    headerStrings(recipient.header, ['recipients', last, 'header']);
  } else {
    headerStrings(jwe.header, ['header']);
  }
  return paths;
}

/** A deep copy of `jwe` with one character of the string at `path` changed. */
function tamper<T>(jwe: T, path: Path, position: number, shift: number): T {
  const copy = structuredClone(jwe) as Record<string | number, unknown>;
  let parent = copy;
  for (const step of path.slice(0, -1)) parent = parent[step] as Record<string | number, unknown>;
  const last = path[path.length - 1]!;
  parent[last] = flipCharacter(parent[last] as string, position, shift);
  return copy as T;
}

const expectJoseFailure = (err: unknown, what: string) =>
  expect(isJoseError(err), `accepted or non-Jose error for ${what}: ${String(err)}`).toBe(true);

describe.each(CASES)('$label', (c) => {
  let keys: CaseKeys;
  const run = { numRuns: c.numRuns };

  beforeAll(async () => {
    keys = await keysFor(c);
  });

  it.each(ENCS)('compactEncrypt → compactDecrypt returns arbitrary bytes unchanged (%s)', async (enc) => {
    const { encryptKey, decryptKey } = keys.forEnc(enc);
    await fc.assert(
      fc.asyncProperty(bytesArb, async (bytes) => {
        const jwe = compactEncrypt(bytes, encryptKey, {
          protectedHeader: { alg: c.alg, enc },
          parameters: c.parameters,
        });
        const { plaintext } = await compactDecrypt(jwe, decryptKey, only(c.alg, enc));
        expect(new Uint8Array(plaintext)).toStrictEqual(bytes);
      }),
      run,
    );
  });

  it('compactEncrypt → compactDecrypt returns arbitrary unicode text and header values unchanged', async () => {
    await fc.assert(
      fc.asyncProperty(encArb, textArb, textArb, async (enc, text, kid) => {
        const { encryptKey, decryptKey } = keys.forEnc(enc);
        const jwe = compactEncrypt(text, encryptKey, {
          protectedHeader: { alg: c.alg, enc, kid },
          parameters: c.parameters,
        });
        const result = await compactDecrypt(jwe, decryptKey, only(c.alg, enc));
        expect(Buffer.from(result.plaintext).toString('utf8')).toBe(text);
        expect(result.protectedHeader).toMatchObject({ alg: c.alg, enc, kid });
      }),
      run,
    );
  });

  it('flattenedEncrypt → flattenedDecrypt returns bytes, AAD and all three headers unchanged', async () => {
    await fc.assert(
      fc.asyncProperty(encArb, bytesArb, aadArb, textArb, textArb, async (enc, bytes, aad, shared, kid) => {
        const { encryptKey, decryptKey } = keys.forEnc(enc);
        const jwe = flattenedEncrypt(bytes, encryptKey, {
          protectedHeader: { enc },
          sharedUnprotectedHeader: { 'x-shared': shared },
          unprotectedHeader: { alg: c.alg, kid },
          aad,
          parameters: c.parameters,
        });
        const result = await flattenedDecrypt(JSON.parse(JSON.stringify(jwe)), decryptKey, only(c.alg, enc));
        expect(new Uint8Array(result.plaintext)).toStrictEqual(bytes);
        expect(Buffer.from(result.additionalAuthenticatedData!)).toEqual(
          typeof aad === 'string' ? Buffer.from(aad, 'utf8') : Buffer.from(aad),
        );
        expect(result.sharedUnprotectedHeader).toStrictEqual({ 'x-shared': shared });
        expect(result.unprotectedHeader).toStrictEqual({ alg: c.alg, kid });
      }),
      run,
    );
  });

  it(`generalEncrypt → generalDecrypt returns bytes, AAD and headers unchanged${c.direct ? ' (one recipient)' : ', with a second recipient present'}`, async () => {
    const other = generateSecret('A256KW');
    await fc.assert(
      fc.asyncProperty(encArb, bytesArb, aadArb, textArb, async (enc, bytes, aad, kid) => {
        const { encryptKey, decryptKey } = keys.forEnc(enc);
        const mine = { key: encryptKey, unprotectedHeader: { alg: c.alg, kid }, parameters: c.parameters };
        const recipients = c.direct ? [mine] : [{ key: other, unprotectedHeader: { alg: 'A256KW' } }, mine];
        const jwe = generalEncrypt(bytes, recipients, {
          protectedHeader: { enc },
          sharedUnprotectedHeader: { cty: 'application/octet-stream' },
          aad,
        });
        const parsed = JSON.parse(JSON.stringify(jwe)) as GeneralJwe;
        const result = await generalDecrypt(parsed, decryptKey, only(c.alg, enc));
        expect(new Uint8Array(result.plaintext)).toStrictEqual(bytes);
        expect(result.unprotectedHeader).toMatchObject({ alg: c.alg, kid });
        expect(result.sharedUnprotectedHeader).toStrictEqual({ cty: 'application/octet-stream' });
        if (!c.direct) {
          const second = await generalDecrypt(parsed, other, only('A256KW', enc));
          expect(new Uint8Array(second.plaintext)).toStrictEqual(bytes);
        }
      }),
      run,
    );
  });

  describe('a JWE with one character changed', () => {
    const compact = new Map<ContentEncryptionAlgorithm, string>();
    const json = new Map<ContentEncryptionAlgorithm, FlattenedJwe | GeneralJwe>();
    const plaintext = 'The Road goes ever on and on, down from the door where it began.';

    let otherKey: Key;

    beforeAll(() => {
      const other = generateSecret('A128KW');
      otherKey = other;
      for (const enc of ENCS) {
        const { encryptKey } = keys.forEnc(enc);
        compact.set(
          enc,
          compactEncrypt(plaintext, encryptKey, {
            protectedHeader: { alg: c.alg, enc, kid: 'k1' },
            parameters: c.parameters,
          }),
        );
        const recipient = { key: encryptKey, unprotectedHeader: { alg: c.alg }, parameters: c.parameters };
        const options = {
          protectedHeader: { enc },
          sharedUnprotectedHeader: { cty: 'text/plain' },
          aad: 'aad',
        };
        // Half the encs in each form: flattened (key-management parameters in the protected header)
        // and general (in the recipient's header, next to a second recipient unless the mode is direct).
        json.set(
          enc,
          ENCS.indexOf(enc) % 2 === 0
            ? flattenedEncrypt(plaintext, encryptKey, {
                ...options,
                unprotectedHeader: { alg: c.alg },
                parameters: c.parameters,
              })
            : generalEncrypt(
                plaintext,
                c.direct ? [recipient] : [{ key: other, unprotectedHeader: { alg: 'A128KW' } }, recipient],
                options,
              ),
        );
      }
    });

    it('decrypts unchanged (control)', async () => {
      for (const enc of ENCS) {
        const { decryptKey } = keys.forEnc(enc);
        const result = await compactDecrypt(compact.get(enc)!, decryptKey, only(c.alg, enc));
        expect(Buffer.from(result.plaintext).toString('utf8')).toBe(plaintext);
        const jwe = json.get(enc)!;
        const decrypt = 'recipients' in jwe ? generalDecrypt : flattenedDecrypt;
        const fromJson = await decrypt(jwe as never, decryptKey, only(c.alg, enc));
        expect(Buffer.from(fromJson.plaintext).toString('utf8')).toBe(plaintext);
      }
    });

    it('is always rejected by compactDecrypt with a JoseError', async () => {
      await fc.assert(
        fc.asyncProperty(encArb, flipArb, async (enc, { position, shift }) => {
          const token = compact.get(enc)!;
          const tampered = flipCharacter(token, position, shift);
          expect(tampered).not.toBe(token);
          const { decryptKey } = keys.forEnc(enc);
          const err = await failureOf(() => compactDecrypt(tampered, decryptKey, only(c.alg, enc)));
          expectJoseFailure(err, tampered);
        }),
        { numRuns: TAMPER_RUNS },
      );
    });

    it('is always rejected in the JSON serialization, whichever member is changed, with a JoseError', async () => {
      const cases = ENCS.flatMap((enc) => protectedStrings(json.get(enc)!).map((path) => ({ enc, path })));
      await fc.assert(
        fc.asyncProperty(fc.constantFrom(...cases), flipArb, async ({ enc, path }, { position, shift }) => {
          const jwe = json.get(enc)!;
          const tampered = tamper(jwe, path, position, shift);
          expect(tampered).not.toEqual(jwe);
          const { decryptKey } = keys.forEnc(enc);
          const decrypt = 'recipients' in jwe ? generalDecrypt : flattenedDecrypt;
          const err = await failureOf(() => decrypt(tampered as never, decryptKey, only(c.alg, enc)));
          expectJoseFailure(err, `${path.join('.')} of ${JSON.stringify(tampered)}`);
        }),
        { numRuns: TAMPER_RUNS },
      );
    });

    if (!c.direct) {
      it("fails only for the other recipient when that recipient's encrypted key is changed", async () => {
        const generalEncs = ENCS.filter((enc) => 'recipients' in json.get(enc)!);
        await fc.assert(
          fc.asyncProperty(fc.constantFrom(...generalEncs), flipArb, async (enc, { position, shift }) => {
            const jwe = json.get(enc)! as GeneralJwe;
            const tampered = tamper(jwe, ['recipients', 0, 'encrypted_key'], position, shift);
            const err = await failureOf(() => generalDecrypt(tampered, otherKey, only('A128KW', enc)));
            expectJoseFailure(err, JSON.stringify(tampered.recipients[0]));
            const { decryptKey } = keys.forEnc(enc);
            // A change that leaves the segment non-canonical base64url (e.g. in the unused bits of its
            // last character) makes that recipient malformed. A recipient whose "alg" the caller does
            // not accept is skipped before its key is read; but when it is accepted (here: A128KW, the
            // other recipient's algorithm) malformed input is never skipped, and the whole JWE is
            // ERR_JWE_INVALID (lib/jwe_decrypt.ts decryptParts).
            const encryptedKey = tampered.recipients[0]!.encrypted_key!;
            const canonical = Buffer.from(encryptedKey, 'base64url').toString('base64url') === encryptedKey;
            if (!canonical && c.alg === 'A128KW') {
              await expect(generalDecrypt(tampered, decryptKey, only(c.alg, enc))).rejects.toMatchObject({
                code: 'ERR_JWE_INVALID',
              });
              return;
            }
            const result = await generalDecrypt(tampered, decryptKey, only(c.alg, enc));
            expect(Buffer.from(result.plaintext).toString('utf8')).toBe(plaintext);
          }),
          { numRuns: 20 },
        );
      });
    }
  });
});
