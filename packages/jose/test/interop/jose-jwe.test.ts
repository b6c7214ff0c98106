// Interoperability with the `jose` package (v6, the de facto JOSE library for JavaScript). For every
// (alg, enc) pair both libraries support, JWEs jose makes decrypt here and JWEs made here decrypt in
// jose, in all three serializations: compact, flattened (with AAD and all three headers) and general
// (two recipients). DEFLATE-compressed content and encrypted JWTs (EncryptJWT ↔ decryptJwt,
// encryptJwt ↔ jwtDecrypt) are exchanged too. jose does not do ECDH-ES on X448 (checked below), so
// X448 is covered by a round trip here only. Keys are generated once; RSA keys are 2048 bits and
// PBES2 uses the smallest count both libraries accept (1000), to keep the file fast.
import { Buffer } from 'node:buffer';
import { generateKeyPairSync, type KeyObject, randomBytes } from 'node:crypto';
import * as jose from 'jose';
import { describe, expect, it } from 'vitest';
import {
  type ContentEncryptionAlgorithm,
  compactDecrypt,
  compactEncrypt,
  decryptJwt,
  encryptJwt,
  flattenedDecrypt,
  flattenedEncrypt,
  generalDecrypt,
  generalEncrypt,
  importKeyObject,
  importSecret,
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
const CEK_BYTES: Record<ContentEncryptionAlgorithm, number> = {
  A128GCM: 16,
  A192GCM: 24,
  A256GCM: 32,
  'A128CBC-HS256': 32,
  'A192CBC-HS384': 48,
  'A256CBC-HS512': 64,
};

/** The smallest PBES2 count this library accepts (RFC 7518 §4.8.1.2 asks for at least 1000). */
const P2C = 1000;
const PASSWORD = 'correct horse battery staple';

/** One side of a key: what this library takes and what jose takes. */
interface KeyPair {
  /** This library's keys: the one that encrypts (public or secret) and the one that decrypts. */
  encryptKey: Key;
  decryptKey: Key;
  /** jose's keys (node KeyObjects or raw secret bytes). */
  joseEncryptKey: KeyObject | Uint8Array;
  joseDecryptKey: KeyObject | Uint8Array;
}

interface AlgorithmCase {
  readonly label: string;
  readonly alg: KeyManagementAlgorithm;
  /** Direct modes (`dir`, `ECDH-ES`) allow a single recipient. */
  readonly direct: boolean;
  /** The keys to use with `enc` (`dir` needs a key as long as the CEK). */
  keys(enc: ContentEncryptionAlgorithm): KeyPair;
  /** Fixed key-management inputs, the same for both libraries (PBES2 count, ECDH party info). */
  readonly parameters?: KeyManagementParameters & jose.JWEKeyManagementHeaderParameters;
}

const encoder = new TextEncoder();
const text = (bytes: Uint8Array): string => Buffer.from(bytes).toString('utf8');

function secretPair(bytes: Uint8Array, alg: string): KeyPair {
  const key = importSecret(bytes, { alg });
  return { encryptKey: key, decryptKey: key, joseEncryptKey: bytes, joseDecryptKey: bytes };
}

function asymmetricPair(pair: { publicKey: KeyObject; privateKey: KeyObject }): KeyPair {
  return {
    encryptKey: importKeyObject(pair.publicKey, { use: 'enc' }),
    decryptKey: importKeyObject(pair.privateKey, { use: 'enc' }),
    joseEncryptKey: pair.publicKey,
    joseDecryptKey: pair.privateKey,
  };
}

// Keys, generated once.
const rsa = asymmetricPair(generateKeyPairSync('rsa', { modulusLength: 2048 }));
const curves = {
  'P-256': asymmetricPair(generateKeyPairSync('ec', { namedCurve: 'P-256' })),
  'P-384': asymmetricPair(generateKeyPairSync('ec', { namedCurve: 'P-384' })),
  'P-521': asymmetricPair(generateKeyPairSync('ec', { namedCurve: 'P-521' })),
  X25519: asymmetricPair(generateKeyPairSync('x25519')),
} as const;
const directKeys = Object.fromEntries(
  ENCS.map((enc) => [enc, secretPair(randomBytes(CEK_BYTES[enc]), enc)]),
) as Record<ContentEncryptionAlgorithm, KeyPair>;

const CASES: AlgorithmCase[] = [
  { label: 'dir', alg: 'dir', direct: true, keys: (enc) => directKeys[enc] },
  ...(['RSA-OAEP', 'RSA-OAEP-256', 'RSA-OAEP-384', 'RSA-OAEP-512'] as const).map((alg) => ({
    label: alg,
    alg,
    direct: false,
    keys: () => rsa,
  })),
  ...(
    [
      ['A128KW', 16],
      ['A192KW', 24],
      ['A256KW', 32],
      ['A128GCMKW', 16],
      ['A192GCMKW', 24],
      ['A256GCMKW', 32],
    ] as const
  ).map(([alg, length]) => {
    const pair = secretPair(randomBytes(length), alg);
    return { label: alg, alg, direct: false, keys: () => pair };
  }),
  ...(['ECDH-ES', 'ECDH-ES+A128KW', 'ECDH-ES+A192KW', 'ECDH-ES+A256KW'] as const).flatMap((alg) =>
    (Object.keys(curves) as (keyof typeof curves)[]).map((crv) => ({
      label: `${alg} (${crv})`,
      alg,
      direct: alg === 'ECDH-ES',
      keys: () => curves[crv],
      // RFC 7518 §4.6.1.2/3: PartyUInfo and PartyVInfo enter the Concat KDF on both sides.
      parameters: { apu: encoder.encode('Alice'), apv: encoder.encode(`Bob on ${crv}`) },
    })),
  ),
  ...(['PBES2-HS256+A128KW', 'PBES2-HS384+A192KW', 'PBES2-HS512+A256KW'] as const).map((alg) => {
    const pair = secretPair(encoder.encode(PASSWORD), alg);
    return { label: alg, alg, direct: false, keys: () => pair, parameters: { p2c: P2C } };
  }),
];

const ourOptions = (alg: string, enc: string): JweDecryptOptions => ({
  keyManagementAlgorithms: [alg],
  contentEncryptionAlgorithms: [enc],
});
const joseOptions = (alg: string, enc: string): jose.DecryptOptions => ({
  keyManagementAlgorithms: [alg],
  contentEncryptionAlgorithms: [enc],
});

/** A different plaintext for every test: unicode text and the pair's names. */
const plaintextFor = (alg: string, enc: string) =>
  `${alg} with ${enc}: h\u00e9llo w\u00f6rld \u{1f510} ${randomBytes(8).toString('hex')}`;

/** The second recipient of every general JWE: a key-wrap key of a different algorithm. */
function otherRecipient(alg: string): { alg: 'A256KW' | 'A128KW'; key: Uint8Array } {
  return alg === 'A256KW' ? { alg: 'A128KW', key: randomBytes(16) } : { alg: 'A256KW', key: randomBytes(32) };
}

describe.each(CASES)('$label', (c) => {
  describe.each(ENCS)('with %s', (enc) => {
    const keys = c.keys(enc);

    it('compact: jose encrypts, this library decrypts', async () => {
      const plaintext = plaintextFor(c.alg, enc);
      const encrypt = new jose.CompactEncrypt(encoder.encode(plaintext)).setProtectedHeader({
        alg: c.alg,
        enc,
        kid: 'jose',
      });
      if (c.parameters) encrypt.setKeyManagementParameters(c.parameters);
      const jwe = await encrypt.encrypt(keys.joseEncryptKey);
      const result = await compactDecrypt(jwe, keys.decryptKey, ourOptions(c.alg, enc));
      expect(text(result.plaintext)).toBe(plaintext);
      expect(result.protectedHeader).toMatchObject({ alg: c.alg, enc, kid: 'jose' });
    });

    it('compact: this library encrypts, jose decrypts', async () => {
      const plaintext = plaintextFor(c.alg, enc);
      const jwe = compactEncrypt(plaintext, keys.encryptKey, {
        protectedHeader: { alg: c.alg, enc, kid: 'tessera' },
        parameters: c.parameters,
      });
      const result = await jose.compactDecrypt(jwe, keys.joseDecryptKey, joseOptions(c.alg, enc));
      expect(text(result.plaintext)).toBe(plaintext);
      expect(result.protectedHeader).toMatchObject({ alg: c.alg, enc, kid: 'tessera' });
    });

    it('flattened with AAD and all three headers: jose encrypts, this library decrypts', async () => {
      const plaintext = plaintextFor(c.alg, enc);
      const aad = randomBytes(24);
      const encrypt = new jose.FlattenedEncrypt(encoder.encode(plaintext))
        .setProtectedHeader({ enc })
        .setSharedUnprotectedHeader({ cty: 'text/plain' })
        .setUnprotectedHeader({ alg: c.alg, kid: 'jose' })
        .setAdditionalAuthenticatedData(aad);
      if (c.parameters) encrypt.setKeyManagementParameters(c.parameters);
      const jwe = await encrypt.encrypt(keys.joseEncryptKey);
      const result = await flattenedDecrypt(jwe as never, keys.decryptKey, ourOptions(c.alg, enc));
      expect(text(result.plaintext)).toBe(plaintext);
      expect(Buffer.from(result.additionalAuthenticatedData!)).toEqual(aad);
      expect(result.sharedUnprotectedHeader).toEqual({ cty: 'text/plain' });
      expect(result.unprotectedHeader).toMatchObject({ alg: c.alg, kid: 'jose' });
    });

    it('flattened with AAD and all three headers: this library encrypts, jose decrypts', async () => {
      const plaintext = plaintextFor(c.alg, enc);
      const aad = randomBytes(24);
      const jwe = flattenedEncrypt(plaintext, keys.encryptKey, {
        protectedHeader: { enc },
        sharedUnprotectedHeader: { cty: 'text/plain' },
        unprotectedHeader: { alg: c.alg, kid: 'tessera' },
        aad,
        parameters: c.parameters,
      });
      const result = await jose.flattenedDecrypt(jwe, keys.joseDecryptKey, joseOptions(c.alg, enc));
      expect(text(result.plaintext)).toBe(plaintext);
      expect(Buffer.from(result.additionalAuthenticatedData!)).toEqual(aad);
      expect(result.unprotectedHeader).toMatchObject({ alg: c.alg, kid: 'tessera' });
    });

    if (c.direct) {
      it('general: refused with two recipients by both libraries (RFC 7516 §7.2.1)', async () => {
        const other = otherRecipient(c.alg);
        expect(() =>
          generalEncrypt(
            'x',
            [
              { key: importSecret(other.key, { alg: other.alg }), unprotectedHeader: { alg: other.alg } },
              { key: keys.encryptKey, unprotectedHeader: { alg: c.alg } },
            ],
            { protectedHeader: { enc } },
          ),
        ).toThrow(expect.objectContaining({ code: 'ERR_JWE_INVALID' }));
        const encrypt = new jose.GeneralEncrypt(encoder.encode('x')).setProtectedHeader({ enc });
        encrypt.addRecipient(other.key).setUnprotectedHeader({ alg: other.alg });
        encrypt.addRecipient(keys.joseEncryptKey).setUnprotectedHeader({ alg: c.alg });
        await expect(encrypt.encrypt()).rejects.toBeInstanceOf(jose.errors.JWEInvalid);
      });
    } else {
      it('general with two recipients: jose encrypts, this library decrypts for each', async () => {
        const plaintext = plaintextFor(c.alg, enc);
        const other = otherRecipient(c.alg);
        const encrypt = new jose.GeneralEncrypt(encoder.encode(plaintext))
          .setProtectedHeader({ enc })
          .setSharedUnprotectedHeader({ cty: 'text/plain' })
          .setAdditionalAuthenticatedData(encoder.encode('general'));
        encrypt.addRecipient(other.key).setUnprotectedHeader({ alg: other.alg, kid: 'other' });
        const mine = encrypt
          .addRecipient(keys.joseEncryptKey)
          .setUnprotectedHeader({ alg: c.alg, kid: 'mine' });
        if (c.parameters) mine.setKeyManagementParameters(c.parameters);
        const jwe = await encrypt.encrypt();
        const result = await generalDecrypt(jwe as never, keys.decryptKey, ourOptions(c.alg, enc));
        expect(text(result.plaintext)).toBe(plaintext);
        expect(result.unprotectedHeader).toMatchObject({ alg: c.alg, kid: 'mine' });
        const second = await generalDecrypt(
          jwe as never,
          importSecret(other.key, { alg: other.alg }),
          ourOptions(other.alg, enc),
        );
        expect(text(second.plaintext)).toBe(plaintext);
        expect(second.unprotectedHeader).toEqual({ alg: other.alg, kid: 'other' });
      });

      it('general with two recipients: this library encrypts, jose decrypts for each', async () => {
        const plaintext = plaintextFor(c.alg, enc);
        const other = otherRecipient(c.alg);
        const jwe = generalEncrypt(
          plaintext,
          [
            {
              key: importSecret(other.key, { alg: other.alg }),
              unprotectedHeader: { alg: other.alg, kid: 'other' },
            },
            {
              key: keys.encryptKey,
              unprotectedHeader: { alg: c.alg, kid: 'mine' },
              parameters: c.parameters,
            },
          ],
          { protectedHeader: { enc }, sharedUnprotectedHeader: { cty: 'text/plain' }, aad: 'general' },
        );
        const result = await jose.generalDecrypt(jwe, keys.joseDecryptKey, joseOptions(c.alg, enc));
        expect(text(result.plaintext)).toBe(plaintext);
        expect(result.unprotectedHeader).toMatchObject({ alg: c.alg, kid: 'mine' });
        const second = await jose.generalDecrypt(jwe, other.key, joseOptions(other.alg, enc));
        expect(text(second.plaintext)).toBe(plaintext);
      });
    }
  });
});

// RFC 7520 §5.12 style: every header unprotected, so the AAD is "." ‖ BASE64URL(aad) (RFC 7516 §5.1
// step 14). Where the algorithm adds header parameters, each library may put them where it likes.
describe('flattened with no protected header, with AAD', () => {
  const unprotectedCases = [
    'A256KW',
    'A128GCMKW',
    'ECDH-ES (X25519)',
    'ECDH-ES+A128KW (P-256)',
    'PBES2-HS256+A128KW',
  ];

  describe.each(unprotectedCases.map((label) => CASES.find((k) => k.label === label)!))('$label', (c) => {
    const enc = 'A256GCM';
    const keys = c.keys(enc);

    it('jose encrypts, this library decrypts', async () => {
      const plaintext = plaintextFor(c.alg, enc);
      const encrypt = new jose.FlattenedEncrypt(encoder.encode(plaintext))
        .setSharedUnprotectedHeader({ enc })
        .setUnprotectedHeader({ alg: c.alg })
        .setAdditionalAuthenticatedData(encoder.encode('no protected header'));
      if (c.parameters) encrypt.setKeyManagementParameters(c.parameters);
      const jwe = await encrypt.encrypt(keys.joseEncryptKey);
      const result = await flattenedDecrypt(jwe as never, keys.decryptKey, ourOptions(c.alg, enc));
      expect(text(result.plaintext)).toBe(plaintext);
    });

    it('this library encrypts, jose decrypts', async () => {
      const plaintext = plaintextFor(c.alg, enc);
      const jwe = flattenedEncrypt(plaintext, keys.encryptKey, {
        sharedUnprotectedHeader: { enc },
        unprotectedHeader: { alg: c.alg },
        aad: 'no protected header',
        parameters: c.parameters,
      });
      const result = await jose.flattenedDecrypt(jwe, keys.joseDecryptKey, joseOptions(c.alg, enc));
      expect(text(result.plaintext)).toBe(plaintext);
    });
  });
});

describe('ECDH-ES on X448', () => {
  const x448 = asymmetricPair(generateKeyPairSync('x448'));

  it('is not supported by jose (so it is not part of the matrix)', async () => {
    const encrypt = new jose.CompactEncrypt(encoder.encode('x')).setProtectedHeader({
      alg: 'ECDH-ES',
      enc: 'A256GCM',
    });
    await expect(encrypt.encrypt(x448.joseEncryptKey)).rejects.toBeInstanceOf(jose.errors.JOSENotSupported);
  });

  it.each(['ECDH-ES', 'ECDH-ES+A256KW'])('%s round-trips in this library', async (alg) => {
    const jwe = compactEncrypt('X448', x448.encryptKey, { protectedHeader: { alg, enc: 'A256GCM' } });
    const result = await compactDecrypt(jwe, x448.decryptKey, ourOptions(alg, 'A256GCM'));
    expect(text(result.plaintext)).toBe('X448');
  });
});

describe('compressed content ("zip": "DEF")', () => {
  const compressible = `${'All that is gold does not glitter, '.repeat(40)}not all those who wander are lost.`;
  const zipCases = [
    { alg: 'A256KW', enc: 'A256GCM', keys: CASES.find((k) => k.alg === 'A256KW')!.keys('A256GCM') },
    { alg: 'dir', enc: 'A128CBC-HS256', keys: directKeys['A128CBC-HS256'] },
    { alg: 'ECDH-ES+A128KW', enc: 'A128GCM', keys: curves['P-256'] },
    { alg: 'RSA-OAEP-256', enc: 'A256CBC-HS512', keys: rsa },
  ] as const;

  describe.each(zipCases)('$alg with $enc', ({ alg, enc, keys }) => {
    it('jose compresses and encrypts; this library decrypts with allowCompression, and only with it', async () => {
      const jwe = await new jose.CompactEncrypt(encoder.encode(compressible))
        .setProtectedHeader({ alg, enc, zip: 'DEF' })
        .encrypt(keys.joseEncryptKey);
      expect(jwe.length).toBeLessThan(compressible.length);
      const result = await compactDecrypt(jwe, keys.decryptKey, {
        ...ourOptions(alg, enc),
        allowCompression: true,
      });
      expect(text(result.plaintext)).toBe(compressible);
      await expect(compactDecrypt(jwe, keys.decryptKey, ourOptions(alg, enc))).rejects.toMatchObject({
        code: 'ERR_JWE_INVALID',
      });
    });

    it('this library compresses and encrypts; jose decrypts', async () => {
      const jwe = compactEncrypt(compressible, keys.encryptKey, {
        protectedHeader: { alg, enc, zip: 'DEF' },
      });
      expect(jwe.length).toBeLessThan(compressible.length);
      const result = await jose.compactDecrypt(jwe, keys.joseDecryptKey, joseOptions(alg, enc));
      expect(text(result.plaintext)).toBe(compressible);
      expect(result.protectedHeader.zip).toBe('DEF');
    });
  });
});

describe('encrypted JWTs', () => {
  const NOW = 1_700_000_000;
  const currentDate = new Date(NOW * 1000);
  const claims = { sub: 'user-1', scope: 'read write', 'https://example.com/n\u00e4me': 'J\u00f6rg' };
  const jwtCases = [
    { alg: 'dir', enc: 'A256GCM', keys: directKeys.A256GCM },
    { alg: 'RSA-OAEP-256', enc: 'A256GCM', keys: rsa },
    { alg: 'RSA-OAEP', enc: 'A128CBC-HS256', keys: rsa },
    { alg: 'ECDH-ES', enc: 'A256GCM', keys: curves['P-256'] },
    { alg: 'ECDH-ES+A256KW', enc: 'A256CBC-HS512', keys: curves['P-521'] },
    { alg: 'ECDH-ES+A128KW', enc: 'A128GCM', keys: curves.X25519 },
    { alg: 'A256KW', enc: 'A192GCM', keys: CASES.find((k) => k.alg === 'A256KW')!.keys('A192GCM') },
    {
      alg: 'A128GCMKW',
      enc: 'A192CBC-HS384',
      keys: CASES.find((k) => k.alg === 'A128GCMKW')!.keys('A128GCM'),
    },
    {
      alg: 'PBES2-HS256+A128KW',
      enc: 'A128GCM',
      keys: CASES.find((k) => k.alg === 'PBES2-HS256+A128KW')!.keys('A128GCM'),
      parameters: { p2c: P2C },
    },
  ] as const;

  describe.each(jwtCases)('$alg with $enc', (jwtCase) => {
    const { alg, enc, keys } = jwtCase;
    const parameters = 'parameters' in jwtCase ? jwtCase.parameters : undefined;

    it('jose EncryptJWT → decryptJwt', async () => {
      const encrypt = new jose.EncryptJWT(claims)
        .setProtectedHeader({ alg, enc, kid: 'jose' })
        .setIssuer('https://issuer.example')
        .setAudience('api')
        .setIssuedAt(NOW)
        .setExpirationTime(NOW + 300);
      if (parameters) encrypt.setKeyManagementParameters(parameters);
      const token = await encrypt.encrypt(keys.joseEncryptKey);
      const { payload, protectedHeader } = await decryptJwt(token, keys.decryptKey, {
        ...ourOptions(alg, enc),
        issuer: 'https://issuer.example',
        audience: 'api',
        currentDate,
      });
      expect(payload).toEqual({
        ...claims,
        iss: 'https://issuer.example',
        aud: 'api',
        iat: NOW,
        exp: NOW + 300,
      });
      expect(protectedHeader).toMatchObject({ alg, enc, kid: 'jose' });
    });

    it('encryptJwt → jose jwtDecrypt', async () => {
      const token = await encryptJwt(claims, keys.encryptKey, {
        alg,
        enc,
        kid: 'tessera',
        issuer: 'https://issuer.example',
        audience: 'api',
        expiresIn: 300,
        currentDate,
        parameters,
      });
      const { payload, protectedHeader } = await jose.jwtDecrypt(token, keys.joseDecryptKey, {
        ...joseOptions(alg, enc),
        issuer: 'https://issuer.example',
        audience: 'api',
        currentDate,
      });
      expect(payload).toEqual({
        ...claims,
        iss: 'https://issuer.example',
        aud: 'api',
        iat: NOW,
        exp: NOW + 300,
      });
      expect(protectedHeader).toMatchObject({ alg, enc, kid: 'tessera', typ: 'JWT' });
    });
  });
});
