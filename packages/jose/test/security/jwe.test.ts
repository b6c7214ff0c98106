// JWE decryption under attack (RFC 7516, RFC 7518, RFC 8725, and the JWE advisories of other JOSE
// libraries): one negative test per rule. Each test shows the attacking input, made with the public API
// where it will make it and by hand (node:crypto, raw segments) where it will not, and asserts the exact
// error code. Cryptographic failures must all look alike: ERR_JWE_DECRYPTION_FAILED, one message.
import { Buffer } from 'node:buffer';
import {
  constants,
  createCipheriv,
  createHmac,
  createSecretKey,
  generateKeyPairSync,
  publicEncrypt,
  randomBytes,
} from 'node:crypto';
import { deflateRawSync } from 'node:zlib';
import { describe, expect, it, vi } from 'vitest';
import {
  type CompactDecryptOptions,
  compactDecrypt,
  compactEncrypt,
  compactVerify,
  createDecrypter,
  createVerifier,
  decryptAndVerifyJwt,
  decryptJwt,
  encodeUnsecuredJwt,
  encryptJwt,
  exportJwk,
  type FlattenedJwe,
  flattenedDecrypt,
  flattenedEncrypt,
  flattenedSign,
  flattenedVerify,
  type GeneralJwe,
  generalDecrypt,
  generalEncrypt,
  generalSign,
  generalVerify,
  generateKeyPair,
  generateSecret,
  importJwk,
  importKeyObject,
  importPem,
  importSecret,
  type JweDecryptOptions,
  type Key,
  type KeyManagementParameters,
  signJwt,
  verifyJwt,
} from '../../src/index.js';
import { b64u, thrown, withRawMembers, withTrailingBits } from '../helpers/forge.js';

// ---------------------------------------------------------------------------------------------
// Keys and helpers
// ---------------------------------------------------------------------------------------------

const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const rsaPublic = importKeyObject(rsa.publicKey, { use: 'enc' });
const rsaPrivate = importKeyObject(rsa.privateKey, { use: 'enc' });
const p256 = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const p256Public = importKeyObject(p256.publicKey, { use: 'enc' });
const p256Private = importKeyObject(p256.privateKey, { use: 'enc' });
const x25519 = generateKeyPairSync('x25519');
const x25519Public = importKeyObject(x25519.publicKey);
const x25519Private = importKeyObject(x25519.privateKey);
const x448 = generateKeyPairSync('x448');
const x448Public = importKeyObject(x448.publicKey);
const x448Private = importKeyObject(x448.privateKey);
const kw = generateSecret('A256KW');
const gcmkw = generateSecret('A256GCMKW');
const PBES2 = 'PBES2-HS256+A128KW';
const password = importSecret('correct horse battery staple', { alg: PBES2 });
const dirKeys: Record<string, Key> = {
  A256GCM: generateSecret('A256GCM'),
  'A128CBC-HS256': generateSecret('A128CBC-HS256'),
};

/** The decryption options that accept exactly `alg` and `enc`. */
const only = (
  alg: string,
  enc: string,
  extra: Partial<CompactDecryptOptions> = {},
): CompactDecryptOptions => ({
  keyManagementAlgorithms: [alg],
  contentEncryptionAlgorithms: [enc],
  ...extra,
});

/** The same bytes with one bit flipped. */
function flip(segment: string, index = 0): string {
  const bytes = Buffer.from(segment, 'base64url');
  bytes[index]! ^= 1;
  return bytes.toString('base64url');
}

function parseSegment(segment: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'));
}

/** A compact JWE with one of its five parts replaced. */
function withPart(jwe: string, index: number, replace: (part: string) => string): string {
  const parts = jwe.split('.');
  parts[index] = replace(parts[index]!);
  return parts.join('.');
}

/** A compact JWE whose protected header was edited (which also changes the AAD). */
function withHeader(jwe: string, edit: (header: Record<string, unknown>) => void): string {
  return withPart(jwe, 0, (segment) => {
    const header = parseSegment(segment);
    edit(header);
    return b64u(header);
  });
}

/** What a promise rejected with (or fails the test when it resolves). */
async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected the promise to reject');
}

type CompactEntryPoint = (jwe: string, key: Key, options: CompactDecryptOptions) => Promise<unknown>;

/** Every way to decrypt a compact JWE; the prepared decrypter is separate code and is tested as such. */
const COMPACT_ENTRY_POINTS: [string, CompactEntryPoint][] = [
  ['compactDecrypt', (jwe, key, options) => compactDecrypt(jwe, key, options)],
  ['decryptJwt', (jwe, key, options) => decryptJwt(jwe, key, options)],
  [
    'createDecrypter().decrypt',
    async (jwe, key, options) => createDecrypter({ ...options, key }).decrypt(jwe),
  ],
  [
    'createDecrypter().decryptAsync',
    async (jwe, key, options) => createDecrypter({ ...options, key }).decryptAsync(jwe),
  ],
];

const viaEveryCompactEntryPoint = (body: (decrypt: CompactEntryPoint) => void) =>
  describe.each(COMPACT_ENTRY_POINTS)('via %s', (_name, decrypt) => body(decrypt));

// A JWE sealed by hand (A256KW + A256GCM) over exactly the protected and aad segments given, however
// they are spelled: what an attacker holding the key-wrapping key, or a sloppy library, would send.
const KW_IV = Buffer.from('A6A6A6A6A6A6A6A6', 'hex');
const KW_HEADER = b64u({ alg: 'A256KW', enc: 'A256GCM' }); // 42 characters: has unused trailing bits

function sealKw(
  protectedSegment: string = KW_HEADER,
  aadSegment?: string,
  plaintext: Buffer = Buffer.from('attack at dawn!!!'), // 17 bytes: 23 characters, unused trailing bits
): Required<Pick<FlattenedJwe, 'protected' | 'encrypted_key' | 'iv' | 'ciphertext' | 'tag'>> &
  Pick<FlattenedJwe, 'aad'> {
  const cek = randomBytes(32);
  const wrap = createCipheriv('id-aes256-wrap', kw.keyObject, KW_IV);
  const encryptedKey = Buffer.concat([wrap.update(cek), wrap.final()]); // 40 bytes
  // 0xfb 0xff 0xbf encodes as "-_-_": the IV also has a spelling in the standard base64 alphabet.
  const iv = Buffer.concat([Buffer.of(0xfb, 0xff, 0xbf), randomBytes(9)]);
  const cipher = createCipheriv('aes-256-gcm', cek, iv);
  const aad = aadSegment === undefined ? protectedSegment : `${protectedSegment}.${aadSegment}`;
  cipher.setAAD(Buffer.from(aad, 'ascii'));
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  const jwe = {
    protected: protectedSegment,
    encrypted_key: encryptedKey.toString('base64url'),
    iv: iv.toString('base64url'),
    ciphertext: ciphertext.toString('base64url'),
    tag: cipher.getAuthTag().toString('base64url'),
  };
  return aadSegment === undefined ? jwe : { ...jwe, aad: aadSegment };
}

const compactOf = (jwe: ReturnType<typeof sealKw>) =>
  [jwe.protected, jwe.encrypted_key, jwe.iv, jwe.ciphertext, jwe.tag].join('.');

/** Non-canonical spellings of a base64url segment that node's lenient decoder reads as the same bytes. */
function respellings(segment: string): [string, string][] {
  const spellings: [string, string][] = [
    ['with "=" padding', `${segment}${'='.repeat(segment.length % 4 === 3 ? 1 : 2)}`],
    ['with a line break inside', `${segment.slice(0, 4)}\n${segment.slice(4)}`],
  ];
  if (segment.length % 4 >= 2) spellings.push(['with unused trailing bits set', withTrailingBits(segment)]);
  for (const [how, spelled] of spellings) {
    // Guard the test itself: each spelling must decode, leniently, to exactly the same bytes.
    if (!Buffer.from(spelled, 'base64url').equals(Buffer.from(segment, 'base64url'))) {
      throw new Error(`respelling ${how} changed the bytes`);
    }
  }
  return spellings;
}

// ---------------------------------------------------------------------------------------------
// CVE-2024-28176 (jose), RFC 8725 §3.6, RFC 7516 §4.1.3: compression
// ---------------------------------------------------------------------------------------------

describe('CVE-2024-28176, RFC 8725 §3.6: decompression bombs', () => {
  const MiB = 1024 * 1024;
  /** Anyone holding the recipient's public key can make these: no secret is needed. */
  const compressed = (plaintext: Buffer | string) =>
    compactEncrypt(plaintext, p256Public, {
      protectedHeader: { alg: 'ECDH-ES+A256KW', enc: 'A256GCM', zip: 'DEF' },
    });
  const allowing = (extra: Partial<CompactDecryptOptions> = {}) =>
    only('ECDH-ES+A256KW', 'A256GCM', { allowCompression: true, ...extra });
  const bomb = compressed(Buffer.alloc(16 * MiB));

  viaEveryCompactEntryPoint((decrypt) => {
    it(`refuses a ${bomb.length}-character JWE that inflates to 16 MiB, even with a generous maxTokenLength (ERR_JWE_INVALID)`, async () => {
      await expect(decrypt(bomb, p256Private, allowing({ maxTokenLength: 1_000_000 }))).rejects.toMatchObject(
        { code: 'ERR_JWE_INVALID' },
      );
    });

    it('refuses plaintext inflating to one byte over the default 256 KiB cap (ERR_JWE_INVALID)', async () => {
      const jwe = compressed(Buffer.alloc(256 * 1024 + 1));
      await expect(decrypt(jwe, p256Private, allowing())).rejects.toMatchObject({ code: 'ERR_JWE_INVALID' });
    });

    it('refuses plaintext inflating past a lowered maxDecompressedLength (ERR_JWE_INVALID)', async () => {
      const jwe = compressed(Buffer.alloc(1001));
      await expect(
        decrypt(jwe, p256Private, allowing({ maxDecompressedLength: 1000 })),
      ).rejects.toMatchObject({ code: 'ERR_JWE_INVALID' });
    });

    it('refuses any compressed JWE, even a tiny one, without allowCompression (ERR_JWE_INVALID)', async () => {
      const jwe = compressed('{"sub":"user-1"}');
      await expect(decrypt(jwe, p256Private, only('ECDH-ES+A256KW', 'A256GCM'))).rejects.toMatchObject({
        code: 'ERR_JWE_INVALID',
      });
    });

    it('refuses a compression algorithm other than DEF (ERR_JOSE_NOT_SUPPORTED)', async () => {
      const jwe = withHeader(compressed('x'), (header) => {
        header.zip = 'GZIP';
      });
      await expect(decrypt(jwe, p256Private, allowing())).rejects.toMatchObject({
        code: 'ERR_JOSE_NOT_SUPPORTED',
      });
    });
  });

  it('(baseline) accepts plaintext inflating to exactly the 256 KiB cap', async () => {
    const jwe = compressed(Buffer.alloc(256 * 1024));
    const { plaintext } = await compactDecrypt(jwe, p256Private, allowing());
    expect(plaintext.length).toBe(256 * 1024);
  });

  it('refuses authenticated content that is not DEFLATE data (ERR_JWE_DECRYPTION_FAILED)', async () => {
    const jwe = sealKw(b64u({ alg: 'A256KW', enc: 'A256GCM', zip: 'DEF' }));
    await expect(
      compactDecrypt(compactOf(jwe), kw, only('A256KW', 'A256GCM', { allowCompression: true })),
    ).rejects.toMatchObject({ code: 'ERR_JWE_DECRYPTION_FAILED' });
  });

  it('refuses "zip" in the shared unprotected header, where it is not integrity protected (ERR_JWE_INVALID)', async () => {
    const jwe = flattenedEncrypt('x', kw, { protectedHeader: { alg: 'A256KW', enc: 'A256GCM' } });
    await expect(
      flattenedDecrypt(
        { ...jwe, unprotected: { zip: 'DEF' } },
        kw,
        only('A256KW', 'A256GCM', { allowCompression: true }),
      ),
    ).rejects.toMatchObject({ code: 'ERR_JWE_INVALID' });
  });

  it('refuses "zip" in a per-recipient header (ERR_JWE_INVALID)', async () => {
    const jwe = generalEncrypt('x', [{ key: kw, unprotectedHeader: { alg: 'A256KW' } }], {
      protectedHeader: { enc: 'A256GCM' },
    });
    jwe.recipients[0]!.header!.zip = 'DEF';
    await expect(
      generalDecrypt(jwe, kw, only('A256KW', 'A256GCM', { allowCompression: true })),
    ).rejects.toMatchObject({ code: 'ERR_JWE_INVALID' });
  });

  it('refuses to encrypt with "zip" outside the protected header (ERR_JWE_INVALID)', () => {
    const encrypt = () =>
      flattenedEncrypt('x', kw, {
        protectedHeader: { alg: 'A256KW', enc: 'A256GCM' },
        sharedUnprotectedHeader: { zip: 'DEF' },
      });
    expect(thrown(encrypt)).toMatchObject({ code: 'ERR_JWE_INVALID' });
  });

  it.each([0, -1, 1.5, Number.NaN])('refuses maxDecompressedLength %s (TypeError)', async (max) => {
    await expect(
      compactDecrypt(compressed('x'), p256Private, allowing({ maxDecompressedLength: max })),
    ).rejects.toThrow(TypeError);
  });
});

// ---------------------------------------------------------------------------------------------
// CVE-2022-36083 (jose), RFC 7518 §4.8.1.1–§4.8.1.2: PBES2 parameters
// ---------------------------------------------------------------------------------------------

describe('CVE-2022-36083, RFC 7518 §4.8.1.2: the PBES2 iteration count "p2c" is bounded', () => {
  const pbes2Jwe = compactEncrypt('x', password, {
    protectedHeader: { alg: PBES2, enc: 'A128GCM' },
    parameters: { p2c: 1000 },
  });
  const withP2c = (p2c: unknown) =>
    withHeader(pbes2Jwe, (header) => {
      header.p2c = p2c;
    });
  const options = only(PBES2, 'A128GCM');

  viaEveryCompactEntryPoint((decrypt) => {
    // Ten million PBKDF2 rounds would take seconds: the count is refused before any derivation runs.
    it('refuses p2c 10,000,000 before any key derivation (ERR_JWE_INVALID)', async () => {
      await expect(decrypt(withP2c(10_000_000), password, options)).rejects.toMatchObject({
        code: 'ERR_JWE_INVALID',
      });
    });

    it.each([2 ** 31, Number.MAX_SAFE_INTEGER, 1e308])('refuses p2c %s (ERR_JWE_INVALID)', async (p2c) => {
      await expect(decrypt(withP2c(p2c), password, options)).rejects.toMatchObject({
        code: 'ERR_JWE_INVALID',
      });
    });

    it('refuses p2c 10,001, one over the default maxPbes2Count (ERR_JWE_INVALID)', async () => {
      await expect(decrypt(withP2c(10_001), password, options)).rejects.toMatchObject({
        code: 'ERR_JWE_INVALID',
      });
    });

    it.each([999, 1, 0, -1, -10_000_000])(
      'refuses p2c %s, under the minimum of 1,000 (ERR_JWE_INVALID)',
      async (p2c) => {
        await expect(decrypt(withP2c(p2c), password, options)).rejects.toMatchObject({
          code: 'ERR_JWE_INVALID',
        });
      },
    );

    it.each([1000.5, '10000', null, true, [1000], { n: 1000 }])(
      'refuses a p2c that is not an integer: %j (ERR_JWE_INVALID)',
      async (p2c) => {
        await expect(decrypt(withP2c(p2c), password, options)).rejects.toMatchObject({
          code: 'ERR_JWE_INVALID',
        });
      },
    );

    it('refuses a missing p2c (ERR_JWE_INVALID)', async () => {
      await expect(decrypt(withP2c(undefined), password, options)).rejects.toMatchObject({
        code: 'ERR_JWE_INVALID',
      });
    });

    it('refuses p2c 10,000 under maxPbes2Count 5,000 (ERR_JWE_INVALID)', async () => {
      await expect(
        decrypt(withP2c(10_000), password, { ...options, maxPbes2Count: 5000 }),
      ).rejects.toMatchObject({ code: 'ERR_JWE_INVALID' });
    });
  });

  it('(baseline) decrypts p2c 10,000, the default maxPbes2Count', async () => {
    const jwe = compactEncrypt('x', password, {
      protectedHeader: { alg: PBES2, enc: 'A128GCM' },
      parameters: { p2c: 10_000 },
    });
    await expect(compactDecrypt(jwe, password, options)).resolves.toMatchObject({ key: password });
  });

  it('decrypts p2c 20,000 only when maxPbes2Count is raised to 20,000', async () => {
    const jwe = compactEncrypt('x', password, {
      protectedHeader: { alg: PBES2, enc: 'A128GCM' },
      parameters: { p2c: 20_000 },
    });
    await expect(compactDecrypt(jwe, password, options)).rejects.toMatchObject({ code: 'ERR_JWE_INVALID' });
    await expect(compactDecrypt(jwe, password, { ...options, maxPbes2Count: 20_000 })).resolves.toBeDefined();
  });

  it.each([999, 0, 1000.5])(
    'refuses maxPbes2Count %s, under the minimum of 1,000 (TypeError)',
    async (max) => {
      await expect(compactDecrypt(pbes2Jwe, password, { ...options, maxPbes2Count: max })).rejects.toThrow(
        TypeError,
      );
    },
  );

  it('refuses to encrypt with p2c under 1,000 (ERR_JWE_INVALID)', () => {
    const encrypt = () =>
      compactEncrypt('x', password, {
        protectedHeader: { alg: PBES2, enc: 'A128GCM' },
        parameters: { p2c: 999 },
      });
    expect(thrown(encrypt)).toMatchObject({ code: 'ERR_JWE_INVALID' });
  });

  // Each recipient of a General JWE is tried in turn: fifty copies of one PBES2 recipient, each asking
  // for the allowed 10,000 rounds, would be half a million rounds from one small message.
  it('refuses a General JWE whose PBES2 recipients together exceed maxPbes2Count, before any key derivation (ERR_JWE_INVALID)', async () => {
    const one = generalEncrypt(
      'x',
      [{ key: password, unprotectedHeader: { alg: PBES2 }, parameters: { p2c: 10_000 } }],
      {
        protectedHeader: { enc: 'A128GCM' },
      },
    );
    const amplified: GeneralJwe = {
      ...one,
      recipients: Array.from({ length: 50 }, () => one.recipients[0]!),
    };
    const wrongPassword = importSecret('not the password', { alg: PBES2 });
    await expect(generalDecrypt(amplified, wrongPassword, options)).rejects.toMatchObject({
      code: 'ERR_JWE_INVALID',
    });
  });

  it('(baseline) decrypts a General JWE with two PBES2 recipients within maxPbes2Count', async () => {
    const other = importSecret('another password entirely', { alg: PBES2 });
    const jwe = generalEncrypt(
      'x',
      [
        { key: other, unprotectedHeader: { alg: PBES2 }, parameters: { p2c: 1000 } },
        { key: password, unprotectedHeader: { alg: PBES2 }, parameters: { p2c: 1000 } },
      ],
      { protectedHeader: { enc: 'A128GCM' } },
    );
    await expect(generalDecrypt(jwe, password, options)).resolves.toMatchObject({ key: password });
  });
});

describe('RFC 7518 §4.8.1.1: the PBES2 salt input "p2s" is at least 8 bytes', () => {
  const pbes2Jwe = compactEncrypt('x', password, {
    protectedHeader: { alg: PBES2, enc: 'A128GCM' },
    parameters: { p2c: 1000 },
  });
  const options = only(PBES2, 'A128GCM');

  viaEveryCompactEntryPoint((decrypt) => {
    it.each([7, 1, 0])('refuses a %i-byte p2s (ERR_JWE_INVALID)', async (length) => {
      const jwe = withHeader(pbes2Jwe, (header) => {
        header.p2s = b64u(randomBytes(length));
      });
      await expect(decrypt(jwe, password, options)).rejects.toMatchObject({ code: 'ERR_JWE_INVALID' });
    });

    it('refuses a missing p2s (ERR_JWE_INVALID)', async () => {
      const jwe = withHeader(pbes2Jwe, (header) => {
        delete header.p2s;
      });
      await expect(decrypt(jwe, password, options)).rejects.toMatchObject({ code: 'ERR_JWE_INVALID' });
    });
  });

  it('refuses to encrypt with a 7-byte p2s (ERR_JWE_INVALID)', () => {
    const encrypt = () =>
      compactEncrypt('x', password, {
        protectedHeader: { alg: PBES2, enc: 'A128GCM' },
        parameters: { p2s: randomBytes(7) },
      });
    expect(thrown(encrypt)).toMatchObject({ code: 'ERR_JWE_INVALID' });
  });
});

// ---------------------------------------------------------------------------------------------
// RFC 8725 §3.4, RFC 7518 §4.6.1.1, RFC 7748 §6: the ephemeral public key "epk"
// ---------------------------------------------------------------------------------------------

describe('RFC 8725 §3.4: invalid-curve attacks on ECDH-ES (the "epk" header)', () => {
  const ecdhJwe = (alg = 'ECDH-ES+A256KW') =>
    compactEncrypt('x', p256Public, { protectedHeader: { alg, enc: 'A256GCM' } });
  const withEpk = (jwe: string, epk: (current: Record<string, string>) => unknown) =>
    withHeader(jwe, (header) => {
      header.epk = epk(header.epk as Record<string, string>);
    });
  const options = (alg = 'ECDH-ES+A256KW') => only(alg, 'A256GCM');

  viaEveryCompactEntryPoint((decrypt) => {
    it.each(['ECDH-ES', 'ECDH-ES+A256KW'])(
      'refuses a P-256 epk that is not on the curve, with %s (ERR_JWE_INVALID)',
      async (alg) => {
        const jwe = withEpk(ecdhJwe(alg), (epk) => ({ ...epk, y: flip(epk.y!, 31) }));
        await expect(decrypt(jwe, p256Private, options(alg))).rejects.toMatchObject({
          code: 'ERR_JWE_INVALID',
        });
      },
    );

    it('refuses the epk (0, 0), which is on no short Weierstrass curve of this kind (ERR_JWE_INVALID)', async () => {
      const zero = b64u(Buffer.alloc(32));
      const jwe = withEpk(ecdhJwe(), (epk) => ({ ...epk, x: zero, y: zero }));
      await expect(decrypt(jwe, p256Private, options())).rejects.toMatchObject({ code: 'ERR_JWE_INVALID' });
    });

    it('refuses an epk whose coordinates exceed the field prime (ERR_JWE_INVALID)', async () => {
      const huge = b64u(Buffer.alloc(32, 0xff));
      const jwe = withEpk(ecdhJwe(), (epk) => ({ ...epk, x: huge, y: huge }));
      await expect(decrypt(jwe, p256Private, options())).rejects.toMatchObject({ code: 'ERR_JWE_INVALID' });
    });

    // An epk on another supported curve was made for another key, as an RSA-OAEP key of another size
    // would be: the failure is the uniform one, and does not name the recipient key's curve.
    it('refuses a valid P-384 epk for a P-256 key (ERR_JWE_DECRYPTION_FAILED)', async () => {
      const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' }).publicKey.export({ format: 'jwk' });
      const jwe = withEpk(ecdhJwe(), () => p384);
      await expect(decrypt(jwe, p256Private, options())).rejects.toMatchObject({
        code: 'ERR_JWE_DECRYPTION_FAILED',
        message: 'decryption operation failed',
      });
    });

    it('refuses a valid X25519 epk for a P-256 key (ERR_JWE_DECRYPTION_FAILED)', async () => {
      const other = generateKeyPairSync('x25519').publicKey.export({ format: 'jwk' });
      const jwe = withEpk(ecdhJwe(), () => other);
      await expect(decrypt(jwe, p256Private, options())).rejects.toMatchObject({
        code: 'ERR_JWE_DECRYPTION_FAILED',
        message: 'decryption operation failed',
      });
    });

    it.each([['P-192'], ['secp256k1'], [undefined]])(
      'refuses an epk whose crv is %s, no ECDH curve (ERR_JWE_INVALID)',
      async (crv) => {
        const jwe = withEpk(ecdhJwe(), (epk) => ({ ...epk, crv }));
        await expect(decrypt(jwe, p256Private, options())).rejects.toMatchObject({ code: 'ERR_JWE_INVALID' });
      },
    );

    it('refuses an epk carrying a private key "d", even with a point on the curve (ERR_JWE_INVALID)', async () => {
      const ephemeral = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({
        format: 'jwk',
      });
      const jwe = withEpk(ecdhJwe(), () => ephemeral);
      await expect(decrypt(jwe, p256Private, options())).rejects.toMatchObject({ code: 'ERR_JWE_INVALID' });
    });

    it.each(['OKP', 'RSA', 'oct'])('refuses a P-256 epk with kty "%s" (ERR_JWE_INVALID)', async (kty) => {
      const jwe = withEpk(ecdhJwe(), (epk) => ({ ...epk, kty }));
      await expect(decrypt(jwe, p256Private, options())).rejects.toMatchObject({ code: 'ERR_JWE_INVALID' });
    });

    it('refuses an epk coordinate one byte short (ERR_JWE_INVALID)', async () => {
      const jwe = withEpk(ecdhJwe(), (epk) => ({
        ...epk,
        x: b64u(Buffer.from(epk.x!, 'base64url').subarray(1)),
      }));
      await expect(decrypt(jwe, p256Private, options())).rejects.toMatchObject({ code: 'ERR_JWE_INVALID' });
    });

    it('refuses a missing epk (ERR_JWE_INVALID)', async () => {
      const jwe = withEpk(ecdhJwe(), () => undefined);
      await expect(decrypt(jwe, p256Private, options())).rejects.toMatchObject({ code: 'ERR_JWE_INVALID' });
    });

    it('refuses an epk given as JWK text rather than an object (ERR_JWE_INVALID)', async () => {
      const jwe = withEpk(ecdhJwe(), (epk) => JSON.stringify(epk));
      await expect(decrypt(jwe, p256Private, options())).rejects.toMatchObject({ code: 'ERR_JWE_INVALID' });
    });
  });
});

describe('RFC 7748 §6.1, RFC 8037 §3.2: X25519 and X448 small-order "epk" points are refused', () => {
  const le = (value: bigint, bytes: number) => {
    const out = Buffer.alloc(bytes);
    for (let i = 0; i < bytes; i++) out[i] = Number((value >> BigInt(8 * i)) & 0xffn);
    return out;
  };
  const P25519 = 2n ** 255n - 19n;
  const P448 = 2n ** 448n - 2n ** 224n - 1n;
  // u-coordinates whose agreement is all zero: the points of order 1, 2, 4 and 8 and their
  // non-canonical encodings (as listed by libsodium and Wycheproof).
  const X25519_POINTS: [string, Buffer][] = [
    ['0', le(0n, 32)],
    ['1', le(1n, 32)],
    [
      'an order-8 point (e0eb7a7c…)',
      Buffer.from('e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800', 'hex'),
    ],
    [
      'an order-8 point (5f9c95bc…)',
      Buffer.from('5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157', 'hex'),
    ],
    ['p - 1', le(P25519 - 1n, 32)],
    ['p (non-canonical 0)', le(P25519, 32)],
    ['p + 1 (non-canonical 1)', le(P25519 + 1n, 32)],
    ['0 with the top bit set', le(2n ** 255n, 32)],
  ];
  const X448_POINTS: [string, Buffer][] = [
    ['0', le(0n, 56)],
    ['1', le(1n, 56)],
    ['p - 1', le(P448 - 1n, 56)],
  ];

  viaEveryCompactEntryPoint((decrypt) => {
    it.each(X25519_POINTS)('refuses the X25519 epk u = %s (ERR_JWE_DECRYPTION_FAILED)', async (_name, u) => {
      const jwe = withHeader(
        compactEncrypt('x', x25519Public, { protectedHeader: { alg: 'ECDH-ES', enc: 'A256GCM' } }),
        (header) => {
          header.epk = { kty: 'OKP', crv: 'X25519', x: b64u(u) };
        },
      );
      await expect(decrypt(jwe, x25519Private, only('ECDH-ES', 'A256GCM'))).rejects.toMatchObject({
        code: 'ERR_JWE_DECRYPTION_FAILED',
        message: 'decryption operation failed',
      });
    });

    it.each(X448_POINTS)('refuses the X448 epk u = %s (ERR_JWE_DECRYPTION_FAILED)', async (_name, u) => {
      const jwe = withHeader(
        compactEncrypt('x', x448Public, { protectedHeader: { alg: 'ECDH-ES+A256KW', enc: 'A256GCM' } }),
        (header) => {
          header.epk = { kty: 'OKP', crv: 'X448', x: b64u(u) };
        },
      );
      await expect(decrypt(jwe, x448Private, only('ECDH-ES+A256KW', 'A256GCM'))).rejects.toMatchObject({
        code: 'ERR_JWE_DECRYPTION_FAILED',
        message: 'decryption operation failed',
      });
    });

    it('refuses an X25519 epk one byte short (ERR_JWE_INVALID)', async () => {
      const jwe = withHeader(
        compactEncrypt('x', x25519Public, { protectedHeader: { alg: 'ECDH-ES', enc: 'A256GCM' } }),
        (header) => {
          header.epk = { kty: 'OKP', crv: 'X25519', x: b64u(randomBytes(31)) };
        },
      );
      await expect(decrypt(jwe, x25519Private, only('ECDH-ES', 'A256GCM'))).rejects.toMatchObject({
        code: 'ERR_JWE_INVALID',
      });
    });
  });
});

// ---------------------------------------------------------------------------------------------
// RFC 7518 §5.2.2.2, §5.3: authentication tags have exactly their full length
// ---------------------------------------------------------------------------------------------

describe('RFC 7518 §5.2.2.2, §5.3: truncated or extended authentication tags', () => {
  const gcmJwe = compactEncrypt('attack at dawn', kw, { protectedHeader: { alg: 'A256KW', enc: 'A256GCM' } });
  const cbcKey = dirKeys['A128CBC-HS256']!;
  const cbcJwe = compactEncrypt('attack at dawn', cbcKey, {
    protectedHeader: { alg: 'dir', enc: 'A128CBC-HS256' },
  });
  const cbc512Key = generateSecret('A256CBC-HS512');
  const cbc512Jwe = compactEncrypt('attack at dawn', cbc512Key, {
    protectedHeader: { alg: 'dir', enc: 'A256CBC-HS512' },
  });
  /** The tag cut to its first `length` bytes: a lenient decrypter compares only those. */
  const truncated = (jwe: string, length: number) =>
    withPart(jwe, 4, (tag) => b64u(Buffer.from(tag, 'base64url').subarray(0, length)));

  viaEveryCompactEntryPoint((decrypt) => {
    it.each([12, 15, 8, 4])(
      'refuses an A256GCM tag truncated to its first %i bytes (ERR_JWE_INVALID)',
      async (length) => {
        await expect(decrypt(truncated(gcmJwe, length), kw, only('A256KW', 'A256GCM'))).rejects.toMatchObject(
          {
            code: 'ERR_JWE_INVALID',
          },
        );
      },
    );

    it('refuses an empty A256GCM tag (ERR_JWE_INVALID)', async () => {
      await expect(
        decrypt(
          withPart(gcmJwe, 4, () => ''),
          kw,
          only('A256KW', 'A256GCM'),
        ),
      ).rejects.toMatchObject({ code: 'ERR_JWE_INVALID' });
    });

    it('refuses a 17-byte A256GCM tag (ERR_JWE_INVALID)', async () => {
      const jwe = withPart(gcmJwe, 4, (tag) =>
        b64u(Buffer.concat([Buffer.from(tag, 'base64url'), Buffer.of(0)])),
      );
      await expect(decrypt(jwe, kw, only('A256KW', 'A256GCM'))).rejects.toMatchObject({
        code: 'ERR_JWE_INVALID',
      });
    });

    it('refuses an A128CBC-HS256 tag cut to half its 16 bytes (ERR_JWE_INVALID)', async () => {
      await expect(decrypt(truncated(cbcJwe, 8), cbcKey, only('dir', 'A128CBC-HS256'))).rejects.toMatchObject(
        {
          code: 'ERR_JWE_INVALID',
        },
      );
    });

    it('refuses an A256CBC-HS512 tag cut to half its 32 bytes (ERR_JWE_INVALID)', async () => {
      await expect(
        decrypt(truncated(cbc512Jwe, 16), cbc512Key, only('dir', 'A256CBC-HS512')),
      ).rejects.toMatchObject({ code: 'ERR_JWE_INVALID' });
    });

    it('refuses the whole, untruncated HMAC-SHA-256 as an A128CBC-HS256 tag (ERR_JWE_INVALID)', async () => {
      // RFC 7518 §5.2.2.1 step 5: the tag is the first 16 of the 32 bytes; here are all 32, correct ones.
      const [header, , iv, ciphertext] = cbcJwe.split('.') as [string, string, string, string];
      const aad = Buffer.from(header, 'ascii');
      const al = Buffer.alloc(8);
      al.writeBigUInt64BE(BigInt(aad.length * 8));
      const mac = createHmac('sha256', cbcKey.keyObject.export().subarray(0, 16))
        .update(aad)
        .update(Buffer.from(iv, 'base64url'))
        .update(Buffer.from(ciphertext, 'base64url'))
        .update(al)
        .digest();
      expect(mac.subarray(0, 16).toString('base64url')).toBe(cbcJwe.split('.')[4]);
      await expect(
        decrypt(
          withPart(cbcJwe, 4, () => b64u(mac)),
          cbcKey,
          only('dir', 'A128CBC-HS256'),
        ),
      ).rejects.toMatchObject({ code: 'ERR_JWE_INVALID' });
    });
  });
});

// ---------------------------------------------------------------------------------------------
// RFC 7516 §5.2: integrity of every part, for every key management family
// ---------------------------------------------------------------------------------------------

interface Family {
  alg: string;
  encryptKey: (enc: string) => Key;
  decryptKey: (enc: string) => Key;
  parameters?: KeyManagementParameters;
  /** dir and ECDH-ES: the encrypted key is empty. */
  direct: boolean;
}

const FAMILIES: Family[] = [
  { alg: 'dir', encryptKey: (enc) => dirKeys[enc]!, decryptKey: (enc) => dirKeys[enc]!, direct: true },
  { alg: 'RSA-OAEP-256', encryptKey: () => rsaPublic, decryptKey: () => rsaPrivate, direct: false },
  { alg: 'A256KW', encryptKey: () => kw, decryptKey: () => kw, direct: false },
  { alg: 'A256GCMKW', encryptKey: () => gcmkw, decryptKey: () => gcmkw, direct: false },
  { alg: 'ECDH-ES', encryptKey: () => p256Public, decryptKey: () => p256Private, direct: true },
  { alg: 'ECDH-ES+A256KW', encryptKey: () => p256Public, decryptKey: () => p256Private, direct: false },
  {
    alg: PBES2,
    encryptKey: () => password,
    decryptKey: () => password,
    parameters: { p2c: 1000 },
    direct: false,
  },
];

describe.each(['A256GCM', 'A128CBC-HS256'])('RFC 7516 §5.2: a tampered %s JWE never decrypts', (enc) => {
  describe.each(FAMILIES)('with $alg', (family) => {
    const jwe = () =>
      flattenedEncrypt('attack at dawn', family.encryptKey(enc), {
        protectedHeader: { alg: family.alg, enc },
        aad: 'context',
        parameters: family.parameters,
      });
    const decrypt = (tampered: FlattenedJwe) =>
      flattenedDecrypt(tampered, family.decryptKey(enc), only(family.alg, enc));
    const fails = async (tampered: FlattenedJwe) =>
      expect(decrypt(tampered)).rejects.toMatchObject({
        code: 'ERR_JWE_DECRYPTION_FAILED',
        message: 'decryption operation failed',
      });

    it('(baseline) decrypts the untouched JWE', async () => {
      const { plaintext } = await decrypt(jwe());
      expect(Buffer.from(plaintext).toString()).toBe('attack at dawn');
    });

    it('refuses a changed "aad" (ERR_JWE_DECRYPTION_FAILED)', async () => {
      await fails({ ...jwe(), aad: b64u('contexT') });
    });

    it('refuses a dropped "aad" (ERR_JWE_DECRYPTION_FAILED)', async () => {
      const { aad: _dropped, ...rest } = jwe();
      await fails(rest);
    });

    it('refuses a protected header with a member added (ERR_JWE_DECRYPTION_FAILED)', async () => {
      const original = jwe();
      await fails({ ...original, protected: b64u({ ...parseSegment(original.protected!), kid: 'x' }) });
    });

    it('refuses a flipped bit in the "iv" (ERR_JWE_DECRYPTION_FAILED)', async () => {
      const original = jwe();
      await fails({ ...original, iv: flip(original.iv) });
    });

    it('refuses a flipped bit in the "ciphertext" (ERR_JWE_DECRYPTION_FAILED)', async () => {
      const original = jwe();
      await fails({ ...original, ciphertext: flip(original.ciphertext) });
    });

    it('refuses a flipped bit in the "tag" (ERR_JWE_DECRYPTION_FAILED)', async () => {
      const original = jwe();
      await fails({ ...original, tag: flip(original.tag, 15) });
    });

    if (family.direct) {
      it('refuses a non-empty "encrypted_key" in a direct mode (ERR_JWE_INVALID)', async () => {
        await expect(decrypt({ ...jwe(), encrypted_key: b64u(randomBytes(40)) })).rejects.toMatchObject({
          code: 'ERR_JWE_INVALID',
        });
      });
    } else {
      it('refuses a flipped bit in the "encrypted_key" (ERR_JWE_DECRYPTION_FAILED)', async () => {
        const original = jwe();
        await fails({ ...original, encrypted_key: flip(original.encrypted_key!, 8) });
      });
    }
  });
});

describe('RFC 7516 §5.2: unprotected key-management parameters cannot be changed unnoticed (General JSON)', () => {
  const single = (key: Key, alg: string, parameters?: KeyManagementParameters) =>
    generalEncrypt('attack at dawn', [{ key, unprotectedHeader: { alg }, parameters }], {
      protectedHeader: { enc: 'A256GCM' },
    });
  const fails = (jwe: GeneralJwe, key: Key, alg: string) =>
    expect(generalDecrypt(jwe, key, only(alg, 'A256GCM'))).rejects.toMatchObject({
      code: 'ERR_JWE_DECRYPTION_FAILED',
      message: 'decryption operation failed',
    });
  const edit = (jwe: GeneralJwe, change: (header: Record<string, unknown>) => void) => {
    change(jwe.recipients[0]!.header!);
    return jwe;
  };

  it.each(['ECDH-ES', 'ECDH-ES+A256KW'])(
    '%s: refuses an epk replaced by another valid point on the curve (ERR_JWE_DECRYPTION_FAILED)',
    async (alg) => {
      const other = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'jwk' });
      const jwe = edit(single(p256Public, alg), (header) => {
        header.epk = other;
      });
      await fails(jwe, p256Private, alg);
    },
  );

  it('ECDH-ES+A256KW: refuses a changed "apu" (ERR_JWE_DECRYPTION_FAILED)', async () => {
    const jwe = edit(single(p256Public, 'ECDH-ES+A256KW', { apu: Buffer.from('Alice') }), (header) => {
      header.apu = b64u('Mallory');
    });
    await fails(jwe, p256Private, 'ECDH-ES+A256KW');
  });

  it('ECDH-ES+A256KW: refuses an added "apv" (ERR_JWE_DECRYPTION_FAILED)', async () => {
    const jwe = edit(single(p256Public, 'ECDH-ES+A256KW'), (header) => {
      header.apv = b64u('Bob');
    });
    await fails(jwe, p256Private, 'ECDH-ES+A256KW');
  });

  it('PBES2: refuses a changed "p2s" (ERR_JWE_DECRYPTION_FAILED)', async () => {
    const jwe = edit(single(password, PBES2, { p2c: 1000 }), (header) => {
      header.p2s = b64u(randomBytes(16));
    });
    await fails(jwe, password, PBES2);
  });

  it('PBES2: refuses a "p2c" changed within bounds, 1,000 to 1,001 (ERR_JWE_DECRYPTION_FAILED)', async () => {
    const jwe = edit(single(password, PBES2, { p2c: 1000 }), (header) => {
      header.p2c = 1001;
    });
    await fails(jwe, password, PBES2);
  });

  it('A256GCMKW: refuses a changed key-wrapping "iv" (ERR_JWE_DECRYPTION_FAILED)', async () => {
    const jwe = edit(single(gcmkw, 'A256GCMKW'), (header) => {
      header.iv = flip(header.iv as string);
    });
    await fails(jwe, gcmkw, 'A256GCMKW');
  });

  it('A256GCMKW: refuses a changed key-wrapping "tag" (ERR_JWE_DECRYPTION_FAILED)', async () => {
    const jwe = edit(single(gcmkw, 'A256GCMKW'), (header) => {
      header.tag = flip(header.tag as string);
    });
    await fails(jwe, gcmkw, 'A256GCMKW');
  });

  it('A256GCMKW: refuses a key-wrapping "tag" truncated to 12 bytes (ERR_JWE_INVALID)', async () => {
    const jwe = edit(single(gcmkw, 'A256GCMKW'), (header) => {
      header.tag = b64u(Buffer.from(header.tag as string, 'base64url').subarray(0, 12));
    });
    await expect(generalDecrypt(jwe, gcmkw, only('A256GCMKW', 'A256GCM'))).rejects.toMatchObject({
      code: 'ERR_JWE_INVALID',
    });
  });
});

// ---------------------------------------------------------------------------------------------
// RFC 7516 §11.4–§11.5, RFC 3218: no padding oracle, no key-unwrap oracle
// ---------------------------------------------------------------------------------------------

describe('RFC 7516 §11.4–§11.5: every cryptographic failure looks the same (no oracle)', () => {
  const failures = async (): Promise<[string, Error][]> => {
    const cbcKey = dirKeys['A128CBC-HS256']!;
    const cbc = compactEncrypt('x', cbcKey, { protectedHeader: { alg: 'dir', enc: 'A128CBC-HS256' } });
    const kwJwe = compactEncrypt('x', kw, { protectedHeader: { alg: 'A256KW', enc: 'A256GCM' } });
    const oaep = compactEncrypt('x', rsaPublic, { protectedHeader: { alg: 'RSA-OAEP-256', enc: 'A256GCM' } });
    const wrongLengthCek = publicEncrypt(
      { key: rsa.publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' },
      randomBytes(16),
    );
    const gcm = compactEncrypt('x', dirKeys.A256GCM!, { protectedHeader: { alg: 'dir', enc: 'A256GCM' } });
    const x25519Jwe = withHeader(
      compactEncrypt('x', x25519Public, { protectedHeader: { alg: 'ECDH-ES', enc: 'A256GCM' } }),
      (header) => {
        header.epk = { kty: 'OKP', crv: 'X25519', x: b64u(Buffer.alloc(32)) };
      },
    );
    const pbes2 = compactEncrypt('x', password, {
      protectedHeader: { alg: PBES2, enc: 'A128GCM' },
      parameters: { p2c: 1000 },
    });
    return [
      [
        'A128CBC-HS256 with a bad MAC',
        await rejection(
          compactDecrypt(
            withPart(cbc, 4, (t) => flip(t)),
            cbcKey,
            only('dir', 'A128CBC-HS256'),
          ),
        ),
      ],
      [
        'A128CBC-HS256 with bad padding under a valid MAC',
        await rejection(compactDecrypt(badPaddingJwe(cbcKey), cbcKey, only('dir', 'A128CBC-HS256'))),
      ],
      [
        'A256KW whose integrity check fails',
        await rejection(
          compactDecrypt(
            withPart(kwJwe, 1, (k) => flip(k, 8)),
            kw,
            only('A256KW', 'A256GCM'),
          ),
        ),
      ],
      [
        'RSA-OAEP-256 that does not decrypt',
        await rejection(
          compactDecrypt(
            withPart(oaep, 1, () => b64u(randomBytes(256))),
            rsaPrivate,
            only('RSA-OAEP-256', 'A256GCM'),
          ),
        ),
      ],
      [
        'RSA-OAEP-256 holding a CEK of the wrong length',
        await rejection(
          compactDecrypt(
            withPart(oaep, 1, () => b64u(wrongLengthCek)),
            rsaPrivate,
            only('RSA-OAEP-256', 'A256GCM'),
          ),
        ),
      ],
      [
        'A256GCM with a bad tag',
        await rejection(
          compactDecrypt(
            withPart(gcm, 4, (t) => flip(t)),
            dirKeys.A256GCM!,
            only('dir', 'A256GCM'),
          ),
        ),
      ],
      [
        'X25519 agreement with a small-order point',
        await rejection(compactDecrypt(x25519Jwe, x25519Private, only('ECDH-ES', 'A256GCM'))),
      ],
      [
        'PBES2 with the wrong password',
        await rejection(
          compactDecrypt(pbes2, importSecret('wrong password', { alg: PBES2 }), only(PBES2, 'A128GCM')),
        ),
      ],
    ];
  };

  /** A CBC ciphertext whose MAC is valid but whose PKCS #7 padding is not: only the key holder can make it. */
  function badPaddingJwe(key: Key): string {
    const cek = key.keyObject.export();
    const header = b64u({ alg: 'dir', enc: 'A128CBC-HS256' });
    const iv = randomBytes(16);
    const cipher = createCipheriv('aes-128-cbc', cek.subarray(16), iv).setAutoPadding(false);
    const block = Buffer.concat([Buffer.from('attack at dawn!'), Buffer.of(0x00)]); // padding byte 0: invalid
    const ciphertext = Buffer.concat([cipher.update(block), cipher.final()]);
    const aad = Buffer.from(header, 'ascii');
    const al = Buffer.alloc(8);
    al.writeBigUInt64BE(BigInt(aad.length * 8));
    const tag = createHmac('sha256', cek.subarray(0, 16))
      .update(aad)
      .update(iv)
      .update(ciphertext)
      .update(al)
      .digest()
      .subarray(0, 16);
    return `${header}..${b64u(iv)}.${b64u(ciphertext)}.${b64u(tag)}`;
  }

  it('gives ERR_JWE_DECRYPTION_FAILED for a bad MAC, bad padding, a failed key unwrap, a failed RSA-OAEP decryption, a bad GCM tag, a small-order agreement and a wrong password', async () => {
    for (const [what, err] of await failures()) {
      expect({ what, code: (err as { code?: string }).code }).toEqual({
        what,
        code: 'ERR_JWE_DECRYPTION_FAILED',
      });
    }
  });

  it('gives all of them the same message, name and no cause', async () => {
    const seen = (await failures()).map(([, err]) => ({
      name: err.name,
      message: err.message,
      cause: err.cause,
    }));
    expect(new Set(seen.map((s) => JSON.stringify(s))).size).toBe(1);
    expect(seen[0]).toEqual({
      name: 'JweDecryptionFailed',
      message: 'decryption operation failed',
      cause: undefined,
    });
  });
});

// ---------------------------------------------------------------------------------------------
// RFC 8725 §2.1, §3.1, RFC 7517 §4.2–§4.3: algorithm and key mix-ups
// ---------------------------------------------------------------------------------------------

describe('RFC 8725 §3.1: the caller, not the JWE, chooses the algorithms', () => {
  const kwJwe = compactEncrypt('x', kw, { protectedHeader: { alg: 'A256KW', enc: 'A256GCM' } });

  viaEveryCompactEntryPoint((decrypt) => {
    it('refuses an "alg" not in keyManagementAlgorithms (ERR_JOSE_ALG_NOT_ALLOWED)', async () => {
      await expect(decrypt(kwJwe, kw, only('A128KW', 'A256GCM'))).rejects.toMatchObject({
        code: 'ERR_JOSE_ALG_NOT_ALLOWED',
        alg: 'A256KW',
      });
    });

    it('refuses an "enc" not in contentEncryptionAlgorithms (ERR_JOSE_ALG_NOT_ALLOWED)', async () => {
      await expect(decrypt(kwJwe, kw, only('A256KW', 'A128GCM'))).rejects.toMatchObject({
        code: 'ERR_JOSE_ALG_NOT_ALLOWED',
        alg: 'A256GCM',
      });
    });

    it('refuses a JWS algorithm as "alg" (ERR_JOSE_ALG_NOT_ALLOWED)', async () => {
      const jwe = withHeader(kwJwe, (header) => {
        header.alg = 'HS256';
      });
      await expect(decrypt(jwe, kw, only('A256KW', 'A256GCM'))).rejects.toMatchObject({
        code: 'ERR_JOSE_ALG_NOT_ALLOWED',
      });
    });

    it('refuses a JWE without "enc" (ERR_JWE_INVALID)', async () => {
      const jwe = withHeader(kwJwe, (header) => {
        delete header.enc;
      });
      await expect(decrypt(jwe, kw, only('A256KW', 'A256GCM'))).rejects.toMatchObject({
        code: 'ERR_JWE_INVALID',
      });
    });
  });

  it.each<[string, Partial<JweDecryptOptions>]>([
    ['no keyManagementAlgorithms', { keyManagementAlgorithms: undefined }],
    ['empty keyManagementAlgorithms', { keyManagementAlgorithms: [] }],
    ['no contentEncryptionAlgorithms', { contentEncryptionAlgorithms: undefined }],
    ['a JWS algorithm in keyManagementAlgorithms', { keyManagementAlgorithms: ['HS256'] }],
    ['an unknown enc in contentEncryptionAlgorithms', { contentEncryptionAlgorithms: ['A128CTR'] }],
  ])('refuses options with %s (TypeError)', async (_what, change) => {
    await expect(
      compactDecrypt(kwJwe, kw, { ...only('A256KW', 'A256GCM'), ...change } as CompactDecryptOptions),
    ).rejects.toThrow(TypeError);
  });
});

describe('RFC 7518 §4.5: "dir" needs a key of exactly the content encryption key length', () => {
  const short = importKeyObject(createSecretKey(randomBytes(16)), { use: 'enc' });

  it('refuses to encrypt A256GCM with a 16-byte "dir" key (ERR_JWE_INVALID)', () => {
    const encrypt = () => compactEncrypt('x', short, { protectedHeader: { alg: 'dir', enc: 'A256GCM' } });
    expect(thrown(encrypt)).toMatchObject({ code: 'ERR_JWE_INVALID' });
  });

  it('refuses to decrypt an A256GCM JWE with a 16-byte "dir" key (ERR_JWE_DECRYPTION_FAILED)', async () => {
    const jwe = compactEncrypt('x', dirKeys.A256GCM!, { protectedHeader: { alg: 'dir', enc: 'A256GCM' } });
    await expect(compactDecrypt(jwe, short, only('dir', 'A256GCM'))).rejects.toMatchObject({
      code: 'ERR_JWE_DECRYPTION_FAILED',
    });
  });

  it('refuses to encrypt A256GCM with a key pinned to A128GCM (ERR_JWE_INVALID)', () => {
    const encrypt = () =>
      compactEncrypt('x', generateSecret('A128GCM'), { protectedHeader: { alg: 'dir', enc: 'A256GCM' } });
    expect(thrown(encrypt)).toMatchObject({ code: 'ERR_JWE_INVALID' });
  });

  it('refuses to decrypt an A256GCM JWE with a key pinned to A128GCM (ERR_JWE_INVALID)', async () => {
    const pinned = generateSecret('A128GCM');
    const jwe = withHeader(
      compactEncrypt('x', pinned, { protectedHeader: { alg: 'dir', enc: 'A128GCM' } }),
      (h) => {
        h.enc = 'A256GCM';
      },
    );
    await expect(compactDecrypt(jwe, pinned, only('dir', 'A256GCM'))).rejects.toMatchObject({
      code: 'ERR_JWE_INVALID',
    });
  });

  it('refuses a 32-byte key pinned to A128GCM at import (ERR_KEY_INVALID)', () => {
    expect(thrown(() => importKeyObject(createSecretKey(randomBytes(32)), { alg: 'A128GCM' }))).toMatchObject(
      {
        code: 'ERR_KEY_INVALID',
      },
    );
  });
});

describe('RFC 7517 §4.2–§4.3, RFC 8725 §3.1: one key, one job', () => {
  const rsaJwe = compactEncrypt('x', rsaPublic, { protectedHeader: { alg: 'RSA-OAEP-256', enc: 'A256GCM' } });
  const ecdhJwe = compactEncrypt('x', p256Public, { protectedHeader: { alg: 'ECDH-ES', enc: 'A256GCM' } });
  const rsaPrivateJwk = exportJwk(importKeyObject(rsa.privateKey));

  it('refuses an RSA key with no "use" (a signing key) for decryption (ERR_JOSE_ALG_NOT_ALLOWED)', async () => {
    await expect(
      compactDecrypt(rsaJwe, importKeyObject(rsa.privateKey), only('RSA-OAEP-256', 'A256GCM')),
    ).rejects.toMatchObject({ code: 'ERR_JOSE_ALG_NOT_ALLOWED' });
  });

  it('refuses an RSA key with no "use" for encryption (ERR_JOSE_ALG_NOT_ALLOWED)', () => {
    const encrypt = () =>
      compactEncrypt('x', importKeyObject(rsa.publicKey), {
        protectedHeader: { alg: 'RSA-OAEP-256', enc: 'A256GCM' },
      });
    expect(thrown(encrypt)).toMatchObject({ code: 'ERR_JOSE_ALG_NOT_ALLOWED' });
  });

  it('refuses a raw RSA KeyObject (a signing key) for decryption (ERR_JOSE_ALG_NOT_ALLOWED)', async () => {
    await expect(
      compactDecrypt(rsaJwe, rsa.privateKey, only('RSA-OAEP-256', 'A256GCM')),
    ).rejects.toMatchObject({
      code: 'ERR_JOSE_ALG_NOT_ALLOWED',
    });
  });

  it('refuses a "use": "sig" key for encryption (ERR_KEY_INVALID)', () => {
    const key = importJwk({ ...exportJwk(importKeyObject(rsa.publicKey)), use: 'sig' });
    const encrypt = () =>
      compactEncrypt('x', key, { protectedHeader: { alg: 'RSA-OAEP-256', enc: 'A256GCM' } });
    expect(thrown(encrypt)).toMatchObject({ code: 'ERR_KEY_INVALID' });
  });

  it('refuses a "use": "sig" key for decryption (ERR_KEY_INVALID)', async () => {
    const key = importJwk({ ...rsaPrivateJwk, use: 'sig' });
    await expect(compactDecrypt(rsaJwe, key, only('RSA-OAEP-256', 'A256GCM'))).rejects.toMatchObject({
      code: 'ERR_KEY_INVALID',
    });
  });

  it('refuses a key with "key_ops": ["sign"] for decryption (ERR_KEY_INVALID)', async () => {
    const key = importJwk({ ...rsaPrivateJwk, key_ops: ['sign'] });
    await expect(compactDecrypt(rsaJwe, key, only('RSA-OAEP-256', 'A256GCM'))).rejects.toMatchObject({
      code: 'ERR_KEY_INVALID',
    });
  });

  it('refuses a key with "key_ops": ["decrypt"] for encryption (ERR_KEY_INVALID)', () => {
    const key = importJwk({ ...rsaPrivateJwk, key_ops: ['decrypt'] });
    const encrypt = () =>
      compactEncrypt('x', key, { protectedHeader: { alg: 'RSA-OAEP-256', enc: 'A256GCM' } });
    expect(thrown(encrypt)).toMatchObject({ code: 'ERR_KEY_INVALID' });
  });

  it('refuses an EC signing key ("alg": "ES256") as an ECDH-ES key for decryption (ERR_JOSE_ALG_NOT_ALLOWED)', async () => {
    const key = importKeyObject(p256.privateKey, { alg: 'ES256' });
    await expect(compactDecrypt(ecdhJwe, key, only('ECDH-ES', 'A256GCM'))).rejects.toMatchObject({
      code: 'ERR_JOSE_ALG_NOT_ALLOWED',
    });
  });

  it('refuses an EC signing key ("alg": "ES256") as an ECDH-ES key for encryption (ERR_JOSE_ALG_NOT_ALLOWED)', () => {
    const key = importKeyObject(p256.publicKey, { alg: 'ES256' });
    const encrypt = () => compactEncrypt('x', key, { protectedHeader: { alg: 'ECDH-ES', enc: 'A256GCM' } });
    expect(thrown(encrypt)).toMatchObject({ code: 'ERR_JOSE_ALG_NOT_ALLOWED' });
  });

  it('refuses an HMAC secret as a "dir" key (ERR_JOSE_ALG_NOT_ALLOWED)', async () => {
    const hmac = generateSecret('HS256');
    const jwe = sealKw(); // any JWE: the key is refused before anything is decrypted
    await expect(
      compactDecrypt(
        withHeader(compactOf(jwe), (h) => Object.assign(h, { alg: 'dir' })),
        hmac,
        only('dir', 'A256GCM'),
      ),
    ).rejects.toMatchObject({ code: 'ERR_JOSE_ALG_NOT_ALLOWED' });
  });

  it('refuses raw secret bytes as a "dir" key: raw bytes are an HMAC secret (ERR_JOSE_ALG_NOT_ALLOWED)', async () => {
    const bytes = dirKeys.A256GCM!.keyObject.export();
    const jwe = compactEncrypt('x', dirKeys.A256GCM!, { protectedHeader: { alg: 'dir', enc: 'A256GCM' } });
    await expect(compactDecrypt(jwe, bytes, only('dir', 'A256GCM'))).rejects.toMatchObject({
      code: 'ERR_JOSE_ALG_NOT_ALLOWED',
    });
  });

  it('refuses an A256KW key as an A256GCMKW key (ERR_JOSE_ALG_NOT_ALLOWED)', async () => {
    const jwe = compactEncrypt('x', gcmkw, { protectedHeader: { alg: 'A256GCMKW', enc: 'A256GCM' } });
    await expect(compactDecrypt(jwe, kw, only('A256GCMKW', 'A256GCM'))).rejects.toMatchObject({
      code: 'ERR_JOSE_ALG_NOT_ALLOWED',
    });
  });

  it('refuses an unpinned secret as a PBES2 password: only a key pinned to PBES2 is one (ERR_JOSE_ALG_NOT_ALLOWED)', async () => {
    const jwe = compactEncrypt('x', password, {
      protectedHeader: { alg: PBES2, enc: 'A128GCM' },
      parameters: { p2c: 1000 },
    });
    const unpinned = importKeyObject(createSecretKey(Buffer.from('correct horse battery staple')), {
      use: 'enc',
    });
    await expect(compactDecrypt(jwe, unpinned, only(PBES2, 'A128GCM'))).rejects.toMatchObject({
      code: 'ERR_JOSE_ALG_NOT_ALLOWED',
    });
  });

  it('refuses a public key for decryption (ERR_KEY_INVALID)', async () => {
    await expect(compactDecrypt(rsaJwe, rsaPublic, only('RSA-OAEP-256', 'A256GCM'))).rejects.toMatchObject({
      code: 'ERR_KEY_INVALID',
    });
  });

  it('refuses a "use": "enc" key for verifying a signature (ERR_KEY_INVALID)', async () => {
    const signer = importKeyObject(rsa.privateKey);
    const token = await signJwt({ sub: 'user-1' }, signer, { alg: 'RS256', expiresIn: 60 });
    await expect(verifyJwt(token, rsaPublic, { algorithms: ['RS256'] })).rejects.toMatchObject({
      code: 'ERR_KEY_INVALID',
    });
  });
});

describe('RFC 8725 §3.2: RSA1_5 (RSAES-PKCS1-v1_5) is refused everywhere', () => {
  it('refuses to encrypt with RSA1_5 (ERR_JOSE_NOT_SUPPORTED)', () => {
    const encrypt = () =>
      compactEncrypt('x', rsaPublic, { protectedHeader: { alg: 'RSA1_5', enc: 'A128CBC-HS256' } });
    expect(thrown(encrypt)).toMatchObject({ code: 'ERR_JOSE_NOT_SUPPORTED' });
  });

  it('refuses to encrypt a General JWE with an RSA1_5 recipient (ERR_JOSE_NOT_SUPPORTED)', () => {
    const encrypt = () =>
      generalEncrypt('x', [{ key: rsaPublic, unprotectedHeader: { alg: 'RSA1_5' } }], {
        protectedHeader: { enc: 'A128CBC-HS256' },
      });
    expect(thrown(encrypt)).toMatchObject({ code: 'ERR_JOSE_NOT_SUPPORTED' });
  });

  it('refuses to encrypt a JWT with RSA1_5 (ERR_JOSE_NOT_SUPPORTED)', async () => {
    await expect(
      encryptJwt({ sub: 'user-1' }, rsaPublic, { alg: 'RSA1_5', enc: 'A128CBC-HS256', expiresIn: 60 }),
    ).rejects.toMatchObject({ code: 'ERR_JOSE_NOT_SUPPORTED' });
  });

  // A real RSA1_5 JWE, as a Bleichenbacher attacker would send thousands of.
  const rsa15 = () => {
    const encryptedKey = publicEncrypt(
      { key: rsa.publicKey, padding: constants.RSA_PKCS1_PADDING },
      randomBytes(32),
    );
    return `${b64u({ alg: 'RSA1_5', enc: 'A128CBC-HS256' })}.${b64u(encryptedKey)}.${b64u(randomBytes(16))}.${b64u(randomBytes(16))}.${b64u(randomBytes(16))}`;
  };

  const decryptions: [string, (options: JweDecryptOptions) => Promise<unknown>][] = [
    ['compactDecrypt', (options) => compactDecrypt(rsa15(), rsaPrivate, options)],
    ['decryptJwt', (options) => decryptJwt(rsa15(), rsaPrivate, options)],
    ['createDecrypter', async (options) => createDecrypter({ ...options, key: rsaPrivate }).decrypt(rsa15())],
    [
      'flattenedDecrypt',
      (options) => {
        const [p, k, iv, c, t] = rsa15().split('.') as [string, string, string, string, string];
        return flattenedDecrypt(
          { protected: p, encrypted_key: k, iv, ciphertext: c, tag: t },
          rsaPrivate,
          options,
        );
      },
    ],
    [
      'generalDecrypt',
      (options) => {
        const [p, k, iv, c, t] = rsa15().split('.') as [string, string, string, string, string];
        return generalDecrypt(
          { protected: p, recipients: [{ encrypted_key: k }], iv, ciphertext: c, tag: t },
          rsaPrivate,
          options,
        );
      },
    ],
  ];

  it.each(decryptions)(
    '%s refuses RSA1_5 in keyManagementAlgorithms (ERR_JOSE_NOT_SUPPORTED)',
    async (_name, run) => {
      await expect(
        run({
          keyManagementAlgorithms: ['RSA-OAEP-256', 'RSA1_5'],
          contentEncryptionAlgorithms: ['A128CBC-HS256'],
        }),
      ).rejects.toMatchObject({ code: 'ERR_JOSE_NOT_SUPPORTED' });
    },
  );

  it.each(decryptions)(
    '%s refuses an RSA1_5 JWE when RSA-OAEP is allowed (ERR_JOSE_ALG_NOT_ALLOWED)',
    async (_name, run) => {
      await expect(
        run({ keyManagementAlgorithms: ['RSA-OAEP-256'], contentEncryptionAlgorithms: ['A128CBC-HS256'] }),
      ).rejects.toMatchObject({ code: 'ERR_JOSE_ALG_NOT_ALLOWED', alg: 'RSA1_5' });
    },
  );

  it('refuses a JWK pinned to RSA1_5 (ERR_JOSE_NOT_SUPPORTED)', () => {
    const jwk = { ...exportJwk(importKeyObject(rsa.publicKey)), alg: 'RSA1_5', use: 'enc' };
    expect(thrown(() => importJwk(jwk))).toMatchObject({ code: 'ERR_JOSE_NOT_SUPPORTED' });
  });

  it('refuses a PEM key pinned to RSA1_5 (ERR_JOSE_NOT_SUPPORTED)', () => {
    const pem = rsa.publicKey.export({ format: 'pem', type: 'spki' }) as string;
    expect(thrown(() => importPem(pem, { alg: 'RSA1_5' }))).toMatchObject({ code: 'ERR_JOSE_NOT_SUPPORTED' });
  });

  it('refuses a KeyObject pinned to RSA1_5 (ERR_JOSE_NOT_SUPPORTED)', () => {
    expect(thrown(() => importKeyObject(rsa.privateKey, { alg: 'RSA1_5' }))).toMatchObject({
      code: 'ERR_JOSE_NOT_SUPPORTED',
    });
  });

  it('refuses to generate a key pair for RSA1_5 (ERR_JOSE_NOT_SUPPORTED)', async () => {
    await expect(generateKeyPair('RSA1_5')).rejects.toMatchObject({ code: 'ERR_JOSE_NOT_SUPPORTED' });
  });
});

// ---------------------------------------------------------------------------------------------
// RFC 7516 §9, RFC 8725 §3.1: a JWE is never a JWS, and a JWS is never a JWE
// ---------------------------------------------------------------------------------------------

describe('RFC 7516 §9: JWS and JWE cannot be confused', () => {
  const hmac = generateSecret('HS256');
  const jwe = compactEncrypt('{"sub":"user-1"}', kw, { protectedHeader: { alg: 'A256KW', enc: 'A256GCM' } });

  it('verifyJwt refuses a JWE (ERR_JWS_INVALID)', async () => {
    await expect(verifyJwt(jwe, hmac, { algorithms: ['HS256'] })).rejects.toMatchObject({
      code: 'ERR_JWS_INVALID',
      message: expect.stringMatching(/JWE/),
    });
  });

  it('compactVerify refuses a JWE (ERR_JWS_INVALID)', async () => {
    await expect(compactVerify(jwe, hmac, { algorithms: ['HS256'] })).rejects.toMatchObject({
      code: 'ERR_JWS_INVALID',
      message: expect.stringMatching(/JWE/),
    });
  });

  it('createVerifier().verify refuses a JWE (ERR_JWS_INVALID)', () => {
    const verifier = createVerifier({ key: hmac, algorithms: ['HS256'] });
    expect(thrown(() => verifier.verify(jwe))).toMatchObject({ code: 'ERR_JWS_INVALID' });
  });

  it('flattenedVerify refuses a Flattened JWE (ERR_JWS_INVALID)', async () => {
    const flattened = flattenedEncrypt('x', kw, { protectedHeader: { alg: 'A256KW', enc: 'A256GCM' } });
    await expect(flattenedVerify(flattened as never, hmac, { algorithms: ['HS256'] })).rejects.toMatchObject({
      code: 'ERR_JWS_INVALID',
    });
  });

  it('generalVerify refuses a General JWE (ERR_JWS_INVALID)', async () => {
    const general = generalEncrypt('x', [{ key: kw, unprotectedHeader: { alg: 'A256KW' } }], {
      protectedHeader: { enc: 'A256GCM' },
    });
    await expect(generalVerify(general as never, hmac, { algorithms: ['HS256'] })).rejects.toMatchObject({
      code: 'ERR_JWS_INVALID',
    });
  });

  viaEveryCompactEntryPoint((decrypt) => {
    it('refuses a compact JWS (ERR_JWE_INVALID)', async () => {
      const jws = await signJwt({ sub: 'user-1' }, hmac, { expiresIn: 60 });
      await expect(decrypt(jws, kw, only('A256KW', 'A256GCM'))).rejects.toMatchObject({
        code: 'ERR_JWE_INVALID',
        message: expect.stringMatching(/JWS/),
      });
    });
  });

  it('flattenedDecrypt refuses a Flattened JWS (ERR_JWE_INVALID)', async () => {
    const jws = flattenedSign('x', hmac, { protectedHeader: { alg: 'HS256' } });
    await expect(flattenedDecrypt(jws as never, kw, only('A256KW', 'A256GCM'))).rejects.toMatchObject({
      code: 'ERR_JWE_INVALID',
      message: expect.stringMatching(/JWS/),
    });
  });

  it('generalDecrypt refuses a General JWS (ERR_JWE_INVALID)', async () => {
    const jws = generalSign('x', [{ key: hmac, protectedHeader: { alg: 'HS256' } }]);
    await expect(generalDecrypt(jws as never, kw, only('A256KW', 'A256GCM'))).rejects.toMatchObject({
      code: 'ERR_JWE_INVALID',
    });
  });
});

describe('RFC 7519 §5.2, RFC 8725 §2.1: a nested JWT is verified, never trusted because it decrypted', () => {
  it('refuses an unsecured ("alg": "none") JWT inside a valid JWE (ERR_JOSE_ALG_NOT_ALLOWED)', async () => {
    const inner = encodeUnsecuredJwt({ sub: 'admin' }, { expiresIn: 60 });
    const jwe = compactEncrypt(inner, p256Public, {
      protectedHeader: { alg: 'ECDH-ES+A256KW', enc: 'A256GCM', cty: 'JWT' },
    });
    const signer = importKeyObject(p256.publicKey, { alg: 'ES256' });
    await expect(
      decryptAndVerifyJwt(jwe, p256Private, only('ECDH-ES+A256KW', 'A256GCM'), signer, {
        algorithms: ['ES256'],
      }),
    ).rejects.toMatchObject({ code: 'ERR_JOSE_ALG_NOT_ALLOWED', alg: 'none' });
  });

  it('refuses a JWE nested inside a JWE (ERR_JWS_INVALID)', async () => {
    const inner = compactEncrypt('{"sub":"admin"}', kw, {
      protectedHeader: { alg: 'A256KW', enc: 'A256GCM' },
    });
    const jwe = compactEncrypt(inner, p256Public, {
      protectedHeader: { alg: 'ECDH-ES+A256KW', enc: 'A256GCM', cty: 'JWT' },
    });
    await expect(
      decryptAndVerifyJwt(jwe, p256Private, only('ECDH-ES+A256KW', 'A256GCM'), kw, { algorithms: ['HS256'] }),
    ).rejects.toMatchObject({ code: 'ERR_JWS_INVALID' });
  });
});

// ---------------------------------------------------------------------------------------------
// RFC 7516 §7.2.1: direct modes have exactly one recipient
// ---------------------------------------------------------------------------------------------

describe('RFC 7516 §7.2.1, RFC 7518 §4.5–§4.6: "dir" and "ECDH-ES" serve exactly one recipient', () => {
  it('refuses to encrypt "dir" for two recipients (ERR_JWE_INVALID)', () => {
    const encrypt = () =>
      generalEncrypt(
        'x',
        [
          { key: dirKeys.A256GCM!, unprotectedHeader: { alg: 'dir' } },
          { key: generateSecret('A256GCM'), unprotectedHeader: { alg: 'dir' } },
        ],
        { protectedHeader: { enc: 'A256GCM' } },
      );
    expect(thrown(encrypt)).toMatchObject({ code: 'ERR_JWE_INVALID' });
  });

  it('refuses to encrypt "dir" alongside a key-wrapping recipient (ERR_JWE_INVALID)', () => {
    const encrypt = () =>
      generalEncrypt(
        'x',
        [
          { key: kw, unprotectedHeader: { alg: 'A256KW' } },
          { key: dirKeys.A256GCM!, unprotectedHeader: { alg: 'dir' } },
        ],
        { protectedHeader: { enc: 'A256GCM' } },
      );
    expect(thrown(encrypt)).toMatchObject({ code: 'ERR_JWE_INVALID' });
  });

  it('refuses to encrypt "ECDH-ES" for two recipients (ERR_JWE_INVALID)', () => {
    const other = importKeyObject(generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey, {
      use: 'enc',
    });
    const encrypt = () =>
      generalEncrypt(
        'x',
        [
          { key: p256Public, unprotectedHeader: { alg: 'ECDH-ES' } },
          { key: other, unprotectedHeader: { alg: 'ECDH-ES' } },
        ],
        { protectedHeader: { enc: 'A256GCM' } },
      );
    expect(thrown(encrypt)).toMatchObject({ code: 'ERR_JWE_INVALID' });
  });
});

// ---------------------------------------------------------------------------------------------
// RFC 7516 §4.1.13 (RFC 7515 §4.1.11): "crit"
// ---------------------------------------------------------------------------------------------

describe('RFC 7516 §4.1.13: critical extensions', () => {
  const withCrit = (header: Record<string, unknown>) =>
    compactEncrypt('x', kw, { protectedHeader: { alg: 'A256KW', enc: 'A256GCM', ...header } });

  viaEveryCompactEntryPoint((decrypt) => {
    it('refuses a "crit" extension the caller does not understand (ERR_JOSE_NOT_SUPPORTED)', async () => {
      const jwe = withCrit({ crit: ['urn:example:policy'], 'urn:example:policy': 'strict' });
      await expect(decrypt(jwe, kw, only('A256KW', 'A256GCM'))).rejects.toMatchObject({
        code: 'ERR_JOSE_NOT_SUPPORTED',
      });
    });

    it('refuses "crit" listing a registered JWE parameter ("zip") (ERR_JWE_INVALID)', async () => {
      const jwe = withCrit({ crit: ['zip'], zip: 'DEF' });
      await expect(
        decrypt(jwe, kw, only('A256KW', 'A256GCM', { allowCompression: true, crit: ['zip'] })),
      ).rejects.toMatchObject({ code: 'ERR_JWE_INVALID' });
    });

    it('refuses "crit" naming a parameter the header lacks (ERR_JWE_INVALID)', async () => {
      const jwe = withCrit({ crit: ['urn:example:policy'] });
      await expect(
        decrypt(jwe, kw, only('A256KW', 'A256GCM', { crit: ['urn:example:policy'] })),
      ).rejects.toMatchObject({ code: 'ERR_JWE_INVALID' });
    });

    it('refuses an empty "crit" (ERR_JWE_INVALID)', async () => {
      await expect(decrypt(withCrit({ crit: [] }), kw, only('A256KW', 'A256GCM'))).rejects.toMatchObject({
        code: 'ERR_JWE_INVALID',
      });
    });
  });

  it('refuses "crit" in the shared unprotected header (ERR_JWE_INVALID)', async () => {
    const jwe = flattenedEncrypt('x', kw, {
      protectedHeader: { alg: 'A256KW', enc: 'A256GCM', 'urn:example:policy': 'strict' },
      sharedUnprotectedHeader: { crit: ['urn:example:policy'] },
    });
    await expect(
      flattenedDecrypt(jwe, kw, only('A256KW', 'A256GCM', { crit: ['urn:example:policy'] })),
    ).rejects.toMatchObject({ code: 'ERR_JWE_INVALID' });
  });
});

// ---------------------------------------------------------------------------------------------
// RFC 7516 §5.2 step 4 (via RFC 7515): duplicate header names; RFC 7515 §2: strict base64url
// ---------------------------------------------------------------------------------------------

describe('RFC 7516 §5.2 step 4: duplicate member names in the protected header', () => {
  // JSON.parse keeps the last "alg" (A256KW, the one the JWE was sealed for); a reader that takes the
  // first sees "dir". The JWE is otherwise valid.
  const duplicateAlg = b64u('{"alg":"dir","enc":"A256GCM","alg":"A256KW"}');
  const duplicateEnc = b64u('{"alg":"A256KW","enc":"A128GCM","enc":"A256GCM"}');

  it('(baseline) the hand-sealed JWE decrypts without duplicates', async () => {
    await expect(compactDecrypt(compactOf(sealKw()), kw, only('A256KW', 'A256GCM'))).resolves.toBeDefined();
  });

  viaEveryCompactEntryPoint((decrypt) => {
    it('refuses a protected header naming "alg" twice (ERR_JWE_INVALID)', async () => {
      await expect(
        decrypt(compactOf(sealKw(duplicateAlg)), kw, {
          keyManagementAlgorithms: ['A256KW', 'dir'],
          contentEncryptionAlgorithms: ['A256GCM'],
        }),
      ).rejects.toMatchObject({ code: 'ERR_JWE_INVALID' });
    });

    it('refuses a protected header naming "enc" twice (ERR_JWE_INVALID)', async () => {
      await expect(
        decrypt(compactOf(sealKw(duplicateEnc)), kw, {
          keyManagementAlgorithms: ['A256KW'],
          contentEncryptionAlgorithms: ['A128GCM', 'A256GCM'],
        }),
      ).rejects.toMatchObject({ code: 'ERR_JWE_INVALID' });
    });
  });

  it('flattenedDecrypt refuses a protected header naming "alg" twice (ERR_JWE_INVALID)', async () => {
    await expect(
      flattenedDecrypt(sealKw(duplicateAlg), kw, {
        keyManagementAlgorithms: ['A256KW', 'dir'],
        contentEncryptionAlgorithms: ['A256GCM'],
      }),
    ).rejects.toMatchObject({ code: 'ERR_JWE_INVALID' });
  });

  it('refuses a parameter in both the protected and the shared unprotected header (ERR_JWE_INVALID)', async () => {
    const jwe = flattenedEncrypt('x', kw, { protectedHeader: { alg: 'A256KW', enc: 'A256GCM' } });
    await expect(
      flattenedDecrypt({ ...jwe, unprotected: { enc: 'A128GCM' } }, kw, only('A256KW', 'A256GCM')),
    ).rejects.toMatchObject({ code: 'ERR_JWE_INVALID' });
  });
});

// JSON.parse keeps "__proto__" as an own member; read through a copy, its members would be
// inherited by the header: a "zip" nobody protected would be applied.
describe('a "__proto__" JWE header member is refused', () => {
  const options = {
    keyManagementAlgorithms: ['A256KW'],
    contentEncryptionAlgorithms: ['A256GCM'],
    allowCompression: true,
  };
  // DEFLATE content whose "zip" the attacker wants applied without it being integrity protected.
  const compressed = deflateRawSync(Buffer.from('{"inflated":true}'));
  const flattened = () =>
    flattenedEncrypt(compressed, kw, {
      protectedHeader: { enc: 'A256GCM' },
      unprotectedHeader: { alg: 'A256KW' },
    });

  it('refuses "zip" smuggled through the shared unprotected header\'s __proto__ (ERR_JWE_INVALID)', async () => {
    const jwe = withRawMembers<FlattenedJwe>(flattened(), '"unprotected":{"__proto__":{"zip":"DEF"}}');
    expect(Object.hasOwn(jwe.unprotected!, '__proto__')).toBe(true);
    await expect(flattenedDecrypt(jwe, kw, options)).rejects.toMatchObject({ code: 'ERR_JWE_INVALID' });
  });

  it('refuses "zip" smuggled through a per-recipient header\'s __proto__ (ERR_JWE_INVALID)', async () => {
    const { header, ...rest } = flattened();
    const jwe = withRawMembers<FlattenedJwe>(rest, `"header":{"alg":"A256KW","__proto__":{"zip":"DEF"}}`);
    expect(header).toEqual({ alg: 'A256KW' });
    await expect(flattenedDecrypt(jwe, kw, options)).rejects.toMatchObject({ code: 'ERR_JWE_INVALID' });
  });

  it('refuses a __proto__ member in any recipient of a General JWE (ERR_JWE_INVALID)', async () => {
    const jwe = generalEncrypt(compressed, [{ key: kw, unprotectedHeader: { alg: 'A256KW' } }], {
      protectedHeader: { enc: 'A256GCM' },
    });
    const [recipient] = jwe.recipients;
    const forged = withRawMembers<GeneralJwe>(
      { ...jwe, recipients: undefined },
      `"recipients":[${JSON.stringify(recipient)},{"header":{"alg":"A256KW","__proto__":{"zip":"DEF"}},"encrypted_key":"${recipient!.encrypted_key}"}]`,
    );
    await expect(generalDecrypt(forged, kw, options)).rejects.toMatchObject({ code: 'ERR_JWE_INVALID' });
  });

  viaEveryCompactEntryPoint((decrypt) => {
    it('refuses a __proto__ member in the protected header (ERR_JWE_INVALID)', async () => {
      const cek = dirKeys.A256GCM!;
      const header = b64u('{"alg":"dir","enc":"A256GCM","__proto__":{"zip":"DEF"}}');
      const jwe = `${header}..${b64u(randomBytes(12))}.${b64u('x')}.${b64u(randomBytes(16))}`;
      await expect(decrypt(jwe, cek, only('dir', 'A256GCM'))).rejects.toMatchObject({
        code: 'ERR_JWE_INVALID',
      });
    });
  });

  it('refuses to encrypt with one, so it never emits one (ERR_JWE_INVALID)', () => {
    expect(
      thrown(() =>
        flattenedEncrypt('x', kw, {
          protectedHeader: { enc: 'A256GCM' },
          unprotectedHeader: JSON.parse('{"alg":"A256KW","__proto__":{}}'),
        }),
      ),
    ).toMatchObject({ code: 'ERR_JWE_INVALID' });
  });

  it('(control) applies "zip" from the protected header, and refuses it from a plain unprotected one', async () => {
    const ok = flattenedEncrypt(compressed, kw, {
      protectedHeader: { enc: 'A256GCM', zip: 'DEF' },
      unprotectedHeader: { alg: 'A256KW' },
    });
    const { plaintext } = await flattenedDecrypt(ok, kw, options);
    expect(Buffer.from(plaintext).toString()).toBe(Buffer.from(compressed).toString()); // compressed twice
    const plain = { ...flattened(), unprotected: { zip: 'DEF' } };
    await expect(flattenedDecrypt(plain, kw, options)).rejects.toMatchObject({ code: 'ERR_JWE_INVALID' });
  });
});

describe('RFC 7515 §2, RFC 7516 §2: every JWE member is strict base64url', () => {
  const options = only('A256KW', 'A256GCM');

  it('(baseline) the hand-sealed JWE decrypts in both serializations', async () => {
    await expect(compactDecrypt(compactOf(sealKw()), kw, options)).resolves.toBeDefined();
    await expect(flattenedDecrypt(sealKw(KW_HEADER, b64u('context')), kw, options)).resolves.toBeDefined();
  });

  describe.each(['encrypted_key', 'iv', 'ciphertext', 'tag'] as const)('the %s', (member) => {
    const compact = sealKw();
    const flattened = sealKw(KW_HEADER, b64u('context'));

    viaEveryCompactEntryPoint((decrypt) => {
      it.each(respellings(compact[member]))('is refused %s (ERR_JWE_INVALID)', async (_how, spelled) => {
        await expect(
          decrypt(compactOf({ ...compact, [member]: spelled }), kw, options),
        ).rejects.toMatchObject({
          code: 'ERR_JWE_INVALID',
        });
      });
    });

    it.each(respellings(flattened[member]))(
      'is refused %s in a Flattened JWE (ERR_JWE_INVALID)',
      async (_how, spelled) => {
        await expect(
          flattenedDecrypt({ ...flattened, [member]: spelled }, kw, options),
        ).rejects.toMatchObject({
          code: 'ERR_JWE_INVALID',
        });
      },
    );
  });

  describe('the iv, built to encode as "-_-_…"', () => {
    const compact = sealKw();
    const standard = compact.iv.replaceAll('-', '+').replaceAll('_', '/');

    it('(guard) has a standard-alphabet spelling of the same bytes', () => {
      expect(standard).not.toBe(compact.iv);
      expect(Buffer.from(standard, 'base64url')).toEqual(Buffer.from(compact.iv, 'base64url'));
    });

    viaEveryCompactEntryPoint((decrypt) => {
      it('is refused in the standard base64 alphabet ("+" and "/") (ERR_JWE_INVALID)', async () => {
        await expect(decrypt(compactOf({ ...compact, iv: standard }), kw, options)).rejects.toMatchObject({
          code: 'ERR_JWE_INVALID',
        });
      });
    });
  });

  describe('the protected header (sealed over the respelled segment, so only the spelling is wrong)', () => {
    viaEveryCompactEntryPoint((decrypt) => {
      it.each(respellings(KW_HEADER))('is refused %s (ERR_JWE_INVALID)', async (_how, spelled) => {
        await expect(decrypt(compactOf(sealKw(spelled)), kw, options)).rejects.toMatchObject({
          code: 'ERR_JWE_INVALID',
        });
      });
    });

    it.each(respellings(KW_HEADER))(
      'is refused %s in a Flattened JWE (ERR_JWE_INVALID)',
      async (_how, spelled) => {
        await expect(flattenedDecrypt(sealKw(spelled), kw, options)).rejects.toMatchObject({
          code: 'ERR_JWE_INVALID',
        });
      },
    );
  });

  describe('the "aad" (sealed over the respelled segment, so only the spelling is wrong)', () => {
    it.each(respellings(b64u('context')))('is refused %s (ERR_JWE_INVALID)', async (_how, spelled) => {
      await expect(flattenedDecrypt(sealKw(KW_HEADER, spelled), kw, options)).rejects.toMatchObject({
        code: 'ERR_JWE_INVALID',
      });
    });

    it.each(respellings(b64u('context')))(
      'is refused %s in a General JWE (ERR_JWE_INVALID)',
      async (_how, spelled) => {
        const { encrypted_key, ...rest } = sealKw(KW_HEADER, spelled);
        await expect(
          generalDecrypt({ ...rest, recipients: [{ encrypted_key }] }, kw, options),
        ).rejects.toMatchObject({
          code: 'ERR_JWE_INVALID',
        });
      },
    );
  });

  // In a General JWE these live in the unprotected per-recipient header: a lenient decoder would read
  // the same bytes and decrypt.
  const parameterCases: [
    string,
    string,
    () => GeneralJwe,
    Key,
    (header: Record<string, unknown>) => [Record<string, unknown>, string],
  ][] = [
    [
      'p2s',
      PBES2,
      () =>
        generalEncrypt(
          'x',
          [{ key: password, unprotectedHeader: { alg: PBES2 }, parameters: { p2c: 1000 } }],
          { protectedHeader: { enc: 'A256GCM' } },
        ),
      password,
      (header) => [header, 'p2s'],
    ],
    [
      'iv (A256GCMKW)',
      'A256GCMKW',
      () =>
        generalEncrypt('x', [{ key: gcmkw, unprotectedHeader: { alg: 'A256GCMKW' } }], {
          protectedHeader: { enc: 'A256GCM' },
        }),
      gcmkw,
      (header) => [header, 'iv'],
    ],
    [
      'tag (A256GCMKW)',
      'A256GCMKW',
      () =>
        generalEncrypt('x', [{ key: gcmkw, unprotectedHeader: { alg: 'A256GCMKW' } }], {
          protectedHeader: { enc: 'A256GCM' },
        }),
      gcmkw,
      (header) => [header, 'tag'],
    ],
    [
      'apu',
      'ECDH-ES+A256KW',
      () =>
        generalEncrypt(
          'x',
          [
            {
              key: p256Public,
              unprotectedHeader: { alg: 'ECDH-ES+A256KW' },
              parameters: { apu: Buffer.from('Alice') },
            },
          ],
          {
            protectedHeader: { enc: 'A256GCM' },
          },
        ),
      p256Private,
      (header) => [header, 'apu'],
    ],
    [
      'epk "x"',
      'ECDH-ES+A256KW',
      () =>
        generalEncrypt('x', [{ key: p256Public, unprotectedHeader: { alg: 'ECDH-ES+A256KW' } }], {
          protectedHeader: { enc: 'A256GCM' },
        }),
      p256Private,
      (header) => [header.epk as Record<string, unknown>, 'x'],
    ],
  ];

  describe.each(parameterCases)('the header parameter %s', (_name, alg, make, key, locate) => {
    const sample = make();
    const [holder, member] = locate(sample.recipients[0]!.header!);

    it('(baseline) decrypts as sent', async () => {
      await expect(generalDecrypt(sample, key, only(alg, 'A256GCM'))).resolves.toBeDefined();
    });

    it.each(respellings(holder[member] as string))(
      'is refused %s (ERR_JWE_INVALID)',
      async (_how, spelled) => {
        const jwe = structuredClone(sample);
        const [copy, name] = locate(jwe.recipients[0]!.header!);
        copy[name] = spelled;
        await expect(generalDecrypt(jwe, key, only(alg, 'A256GCM'))).rejects.toMatchObject({
          code: 'ERR_JWE_INVALID',
        });
      },
    );
  });
});

describe('RFC 8725 §3.11 (resource limits): oversize compact JWEs', () => {
  const big = compactEncrypt(Buffer.alloc(13_000), kw, {
    protectedHeader: { alg: 'A256KW', enc: 'A256GCM' },
  });

  viaEveryCompactEntryPoint((decrypt) => {
    it(`refuses a ${big.length}-character JWE over the default 16,384-character limit (ERR_JWE_INVALID)`, async () => {
      await expect(decrypt(big, kw, only('A256KW', 'A256GCM'))).rejects.toMatchObject({
        code: 'ERR_JWE_INVALID',
      });
    });

    it('refuses a JWE over a lowered maxTokenLength (ERR_JWE_INVALID)', async () => {
      const small = compactEncrypt('x', kw, { protectedHeader: { alg: 'A256KW', enc: 'A256GCM' } });
      await expect(
        decrypt(small, kw, only('A256KW', 'A256GCM', { maxTokenLength: small.length - 1 })),
      ).rejects.toMatchObject({ code: 'ERR_JWE_INVALID' });
    });
  });

  it('(baseline) decrypts the large JWE when maxTokenLength allows it', async () => {
    await expect(
      compactDecrypt(big, kw, only('A256KW', 'A256GCM', { maxTokenLength: big.length })),
    ).resolves.toBeDefined();
  });

  it('refuses "apu" longer than 1,024 bytes (ERR_JWE_INVALID)', async () => {
    const jwe = withHeader(
      compactEncrypt('x', p256Public, { protectedHeader: { alg: 'ECDH-ES', enc: 'A256GCM' } }),
      (h) => {
        h.apu = b64u(randomBytes(1025));
      },
    );
    await expect(compactDecrypt(jwe, p256Private, only('ECDH-ES', 'A256GCM'))).rejects.toMatchObject({
      code: 'ERR_JWE_INVALID',
    });
  });
});

describe('RFC 8725 §3.11 (resource limits): General JWE recipients are bounded', () => {
  const options = only('RSA-OAEP-256', 'A256GCM');
  const recipients = async (count: number) => {
    const { publicKey, privateKey } = await generateKeyPair('RSA-OAEP-256');
    const jwe = generalEncrypt('x', [{ key: publicKey, unprotectedHeader: { alg: 'RSA-OAEP-256' } }], {
      protectedHeader: { enc: 'A256GCM' },
    });
    const many: GeneralJwe = { ...jwe, recipients: Array.from({ length: count }, () => jwe.recipients[0]!) };
    return { jwe: many, privateKey };
  };

  it('refuses 500 RSA-OAEP recipients before resolving any key or doing any RSA work (ERR_JWE_INVALID)', async () => {
    const { jwe, privateKey } = await recipients(500);
    const resolver = vi.fn(() => privateKey);
    await expect(generalDecrypt(jwe, resolver, options)).rejects.toMatchObject({ code: 'ERR_JWE_INVALID' });
    expect(resolver).not.toHaveBeenCalled();
  });

  it('accepts 16 recipients (the default bound); maxRecipients lowers it and must be a positive integer', async () => {
    const { jwe, privateKey } = await recipients(16);
    await expect(generalDecrypt(jwe, privateKey, options)).resolves.toBeDefined();
    await expect(generalDecrypt(jwe, privateKey, { ...options, maxRecipients: 15 })).rejects.toMatchObject({
      code: 'ERR_JWE_INVALID',
    });
    await expect(generalDecrypt(jwe, privateKey, { ...options, maxRecipients: 0 })).rejects.toThrow(
      TypeError,
    );
  });
});
