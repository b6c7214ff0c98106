// JWE behaviour users rely on: round trips in every serialization for every algorithm, what the
// results carry, where key-management parameters go, multi-recipient decryption with one key or a key
// set, encrypted and nested JWTs, and the keys that encryption is made with.
import { Buffer } from 'node:buffer';
import { generateKeyPairSync, type KeyObject, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  compactDecrypt,
  compactEncrypt,
  createDecrypter,
  createLocalJwks,
  decryptAndVerifyJwt,
  decryptJwt,
  encryptJwt,
  exportJwk,
  flattenedDecrypt,
  flattenedEncrypt,
  generalDecrypt,
  generalEncrypt,
  generateKeyPair,
  generateSecret,
  importJwk,
  importKeyObject,
  importSecret,
  type JweDecryptOptions,
  type Jwk,
  type Key,
  type KeyManagementParameters,
  signAndEncryptJwt,
  signJwt,
  verifyJwt,
} from '../../src/index.js';
import { b64u, now, thrown } from '../helpers/forge.js';

const ENCS = ['A128GCM', 'A192GCM', 'A256GCM', 'A128CBC-HS256', 'A192CBC-HS384', 'A256CBC-HS512'] as const;

const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const rsaPublic = importKeyObject(rsa.publicKey, { use: 'enc' });
const rsaPrivate = importKeyObject(rsa.privateKey, { use: 'enc' });
const p256 = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const p256Public = importKeyObject(p256.publicKey, { use: 'enc' });
const p256Private = importKeyObject(p256.privateKey, { use: 'enc' });
const x25519 = generateKeyPairSync('x25519');
const x25519Public = importKeyObject(x25519.publicKey);
const x25519Private = importKeyObject(x25519.privateKey);

const only = (alg: string, enc: string, extra: Partial<JweDecryptOptions> = {}): JweDecryptOptions => ({
  keyManagementAlgorithms: [alg],
  contentEncryptionAlgorithms: [enc],
  ...extra,
});
const text = (bytes: Uint8Array) => Buffer.from(bytes).toString('utf8');
const headerOf = (compact: string) =>
  JSON.parse(Buffer.from(compact.split('.')[0]!, 'base64url').toString('utf8')) as Record<string, unknown>;

interface Algorithm {
  alg: string;
  /** Keys for encrypting and decrypting `enc` (dir keys depend on it). */
  keys: (enc: string) => { encrypt: Key; decrypt: Key };
  parameters?: KeyManagementParameters;
  /** Header parameters the algorithm adds. */
  adds: readonly string[];
}

const secretFor = new Map<string, Key>();
const secret = (alg: string) => {
  let key = secretFor.get(alg);
  if (!key) {
    key = generateSecret(alg);
    secretFor.set(alg, key);
  }
  return key;
};
const symmetric = (alg: string) => () => ({ encrypt: secret(alg), decrypt: secret(alg) });
const password = (alg: string) => importSecret('correct horse battery staple', { alg });

const ALGORITHMS: Algorithm[] = [
  { alg: 'dir', keys: (enc) => ({ encrypt: secret(enc), decrypt: secret(enc) }), adds: [] },
  ...['RSA-OAEP', 'RSA-OAEP-256', 'RSA-OAEP-384', 'RSA-OAEP-512'].map((alg) => ({
    alg,
    keys: () => ({ encrypt: rsaPublic, decrypt: rsaPrivate }),
    adds: [],
  })),
  ...['A128KW', 'A192KW', 'A256KW'].map((alg) => ({ alg, keys: symmetric(alg), adds: [] })),
  ...['A128GCMKW', 'A192GCMKW', 'A256GCMKW'].map((alg) => ({
    alg,
    keys: symmetric(alg),
    adds: ['iv', 'tag'],
  })),
  ...['ECDH-ES', 'ECDH-ES+A128KW', 'ECDH-ES+A192KW', 'ECDH-ES+A256KW'].map((alg) => ({
    alg,
    keys: () => ({ encrypt: p256Public, decrypt: p256Private }),
    adds: ['epk'],
  })),
  ...['PBES2-HS256+A128KW', 'PBES2-HS384+A192KW', 'PBES2-HS512+A256KW'].map((alg) => {
    const key = password(alg);
    return {
      alg,
      keys: () => ({ encrypt: key, decrypt: key }),
      parameters: { p2c: 1000 },
      adds: ['p2s', 'p2c'],
    };
  }),
];

// ---------------------------------------------------------------------------------------------
// Round trips
// ---------------------------------------------------------------------------------------------

describe('compact serialization round trips', () => {
  describe.each(ALGORITHMS)('$alg', ({ alg, keys, parameters }) => {
    it.each(ENCS)('with %s', async (enc) => {
      const { encrypt, decrypt } = keys(enc);
      const jwe = compactEncrypt('attack at dawn', encrypt, { protectedHeader: { alg, enc }, parameters });
      const result = await compactDecrypt(jwe, decrypt, only(alg, enc));
      expect(text(result.plaintext)).toBe('attack at dawn');
      expect(result.protectedHeader).toMatchObject({ alg, enc });
      expect(result.key).toBe(decrypt);
    });
  });

  it('has five parts, and an empty encrypted key for "dir"', () => {
    const jwe = compactEncrypt('x', secret('A256GCM'), { protectedHeader: { alg: 'dir', enc: 'A256GCM' } });
    expect(jwe.split('.')).toHaveLength(5);
    expect(jwe.split('.')[1]).toBe('');
  });

  it('round trips binary plaintext', async () => {
    const bytes = Uint8Array.from({ length: 256 }, (_, i) => i);
    const jwe = compactEncrypt(bytes, secret('A256KW'), {
      protectedHeader: { alg: 'A256KW', enc: 'A256GCM' },
    });
    const { plaintext } = await compactDecrypt(jwe, secret('A256KW'), only('A256KW', 'A256GCM'));
    expect(Buffer.from(plaintext)).toEqual(Buffer.from(bytes));
  });

  it('round trips compressed plaintext when the recipient allows compression', async () => {
    const claims = JSON.stringify({ roles: Array.from({ length: 50 }, () => 'reader') });
    const jwe = compactEncrypt(claims, p256Public, {
      protectedHeader: { alg: 'ECDH-ES+A256KW', enc: 'A256GCM', zip: 'DEF' },
    });
    const { plaintext, protectedHeader } = await compactDecrypt(
      jwe,
      p256Private,
      only('ECDH-ES+A256KW', 'A256GCM', { allowCompression: true }),
    );
    expect(text(plaintext)).toBe(claims);
    expect(protectedHeader.zip).toBe('DEF');
  });

  it('accepts an extension the caller names in options.crit', async () => {
    const jwe = compactEncrypt('x', secret('A256KW'), {
      protectedHeader: {
        alg: 'A256KW',
        enc: 'A256GCM',
        crit: ['urn:example:policy'],
        'urn:example:policy': 1,
      },
    });
    const { protectedHeader } = await compactDecrypt(
      jwe,
      secret('A256KW'),
      only('A256KW', 'A256GCM', { crit: ['urn:example:policy'] }),
    );
    expect(protectedHeader['urn:example:policy']).toBe(1);
  });

  it('chooses a fresh CEK and IV for every message', () => {
    const key = secret('A256KW');
    const a = compactEncrypt('same', key, { protectedHeader: { alg: 'A256KW', enc: 'A256GCM' } }).split('.');
    const b = compactEncrypt('same', key, { protectedHeader: { alg: 'A256KW', enc: 'A256GCM' } }).split('.');
    expect(a[1]).not.toBe(b[1]);
    expect(a[2]).not.toBe(b[2]);
  });
});

describe('flattened serialization round trips', () => {
  it.each(ALGORITHMS)('$alg returns every header, the AAD and the key', async ({ alg, keys, parameters }) => {
    const { encrypt, decrypt } = keys('A256GCM');
    const jwe = flattenedEncrypt('attack at dawn', encrypt, {
      protectedHeader: { enc: 'A256GCM' },
      sharedUnprotectedHeader: { jku: 'https://example.com/unused' },
      unprotectedHeader: { alg, kid: 'k-1' },
      aad: 'context',
      parameters,
    });
    const result = await flattenedDecrypt(jwe, decrypt, only(alg, 'A256GCM'));
    expect(text(result.plaintext)).toBe('attack at dawn');
    expect(result.protectedHeader).toMatchObject({ enc: 'A256GCM' });
    expect(result.sharedUnprotectedHeader).toEqual({ jku: 'https://example.com/unused' });
    expect(result.unprotectedHeader).toEqual({ alg, kid: 'k-1' });
    expect(text(result.additionalAuthenticatedData!)).toBe('context');
    expect(result.key).toBe(decrypt);
  });

  it('leaves out absent members: no aad, no unprotected headers, no encrypted key for "dir"', async () => {
    const key = secret('A256GCM');
    const jwe = flattenedEncrypt('x', key, { protectedHeader: { alg: 'dir', enc: 'A256GCM' } });
    expect(Object.keys(jwe).sort()).toEqual(['ciphertext', 'iv', 'protected', 'tag']);
    const result = await flattenedDecrypt(jwe, key, only('dir', 'A256GCM'));
    expect(result).toMatchObject({
      sharedUnprotectedHeader: undefined,
      unprotectedHeader: undefined,
      additionalAuthenticatedData: undefined,
    });
  });

  it('works with no protected header at all', async () => {
    const key = secret('A256KW');
    const jwe = flattenedEncrypt('x', key, { unprotectedHeader: { alg: 'A256KW', enc: 'A256GCM' } });
    expect(jwe.protected).toBeUndefined();
    const result = await flattenedDecrypt(jwe, key, only('A256KW', 'A256GCM'));
    expect(result.protectedHeader).toBeUndefined();
    expect(text(result.plaintext)).toBe('x');
  });
});

describe('general serialization', () => {
  const kw = secret('A256KW');
  const gcmkw = secret('A128GCMKW');
  const pbes2 = password('PBES2-HS256+A128KW');
  const recipients: {
    kid: string;
    alg: string;
    encrypt: Key;
    decrypt: Key;
    parameters?: KeyManagementParameters;
  }[] = [
    { kid: 'rsa', alg: 'RSA-OAEP-256', encrypt: rsaPublic, decrypt: rsaPrivate },
    { kid: 'kw', alg: 'A256KW', encrypt: kw, decrypt: kw },
    { kid: 'gcmkw', alg: 'A128GCMKW', encrypt: gcmkw, decrypt: gcmkw },
    { kid: 'x25519', alg: 'ECDH-ES+A256KW', encrypt: x25519Public, decrypt: x25519Private },
    { kid: 'p256', alg: 'ECDH-ES+A128KW', encrypt: p256Public, decrypt: p256Private },
    {
      kid: 'pbes2',
      alg: 'PBES2-HS256+A128KW',
      encrypt: pbes2,
      decrypt: pbes2,
      parameters: { p2c: 1000 },
    },
  ];
  const jwe = generalEncrypt(
    'one message, six recipients',
    recipients.map(({ kid, alg, encrypt, parameters }) => ({
      key: encrypt,
      unprotectedHeader: { alg, kid },
      parameters,
    })),
    { protectedHeader: { enc: 'A256GCM' }, sharedUnprotectedHeader: { cty: 'text/plain' }, aad: 'context' },
  );
  const everyAlg = {
    keyManagementAlgorithms: recipients.map((r) => r.alg),
    contentEncryptionAlgorithms: ['A256GCM'],
  };

  it('encrypts the content once, with one encrypted key per recipient', () => {
    expect(jwe.recipients).toHaveLength(recipients.length);
    expect(jwe.recipients.every((r) => typeof r.encrypted_key === 'string')).toBe(true);
  });

  it.each(recipients)(
    'decrypts for the recipient "$kid" holding only its own key, skipping the others',
    async ({ kid, alg, decrypt }) => {
      const result = await generalDecrypt(jwe, decrypt, everyAlg);
      expect(text(result.plaintext)).toBe('one message, six recipients');
      expect(result.unprotectedHeader).toMatchObject({ alg, kid });
      expect(result.sharedUnprotectedHeader).toEqual({ cty: 'text/plain' });
      expect(result.protectedHeader).toEqual({ enc: 'A256GCM' });
      expect(text(result.additionalAuthenticatedData!)).toBe('context');
      expect(result.key).toBe(decrypt);
    },
  );

  it('decrypts when the options allow only the holder’s own algorithm', async () => {
    const result = await generalDecrypt(jwe, x25519Private, only('ECDH-ES+A256KW', 'A256GCM'));
    expect(result.unprotectedHeader?.kid).toBe('x25519');
  });

  it('fails with ERR_JWE_DECRYPTION_FAILED when no recipient is for the caller', async () => {
    await expect(generalDecrypt(jwe, generateSecret('A256KW'), everyAlg)).rejects.toMatchObject({
      code: 'ERR_JWE_DECRYPTION_FAILED',
    });
  });

  it('round trips a single-recipient General JWE with "dir"', async () => {
    const key = secret('A256GCM');
    const single = generalEncrypt('x', [{ key, unprotectedHeader: { alg: 'dir' } }], {
      protectedHeader: { enc: 'A256GCM' },
    });
    expect(single.recipients).toEqual([{ header: { alg: 'dir' } }]);
    const { plaintext } = await generalDecrypt(single, key, only('dir', 'A256GCM'));
    expect(text(plaintext)).toBe('x');
  });
});

describe('decryption with a JWKS of "use": "enc" keys', () => {
  const pairs = {
    'rsa-1': generateKeyPairSync('rsa', { modulusLength: 2048 }),
    'rsa-2': rsa,
    'ec-1': p256,
    'x-1': x25519,
  };
  const privateJwk = (kid: keyof typeof pairs, extra: Partial<Jwk> = {}): Jwk => ({
    ...exportJwk(importKeyObject(pairs[kid].privateKey)),
    kid,
    use: 'enc',
    ...extra,
  });
  const jwks = createLocalJwks({
    keys: [privateJwk('rsa-1'), privateJwk('rsa-2'), privateJwk('ec-1'), privateJwk('x-1')],
  });
  const publicKey = (kid: keyof typeof pairs) => importKeyObject(pairs[kid].publicKey, { use: 'enc', kid });

  it('imports every key of the set', () => {
    expect(jwks.skipped).toEqual([]);
    expect(jwks.keys.map((key) => key.kid)).toEqual(['rsa-1', 'rsa-2', 'ec-1', 'x-1']);
  });

  it('picks the key named by the JWE "kid" among keys of the same type', async () => {
    const jwe = compactEncrypt('for rsa-2', publicKey('rsa-2'), {
      protectedHeader: { alg: 'RSA-OAEP-256', enc: 'A256GCM', kid: 'rsa-2' },
    });
    const result = await compactDecrypt(jwe, jwks, only('RSA-OAEP-256', 'A256GCM'));
    expect(result.key.kid).toBe('rsa-2');
  });

  it('picks the key by "alg" when the JWE has no "kid"', async () => {
    const jwe = compactEncrypt('for ec-1', publicKey('ec-1'), {
      protectedHeader: { alg: 'ECDH-ES+A256KW', enc: 'A256GCM' },
    });
    const result = await compactDecrypt(jwe, jwks, only('ECDH-ES+A256KW', 'A256GCM'));
    expect(result.key.kid).toBe('ec-1');
  });

  // RFC 7516 §5.2 step 7: the P-256 key is also an ECDH-ES key, but not the one the JWE was made for.
  it('picks the ECDH key on the curve of "epk" when keys on several curves could serve the JWE', async () => {
    const jwe = compactEncrypt('for x-1', publicKey('x-1'), {
      protectedHeader: { alg: 'ECDH-ES+A256KW', enc: 'A256GCM' },
    });
    const result = await compactDecrypt(jwe, jwks, only('ECDH-ES+A256KW', 'A256GCM'));
    expect(result.key.kid).toBe('x-1');
  });

  it('picks the ECDH key on the curve of "epk" from a resolver returning keys on several curves', async () => {
    const jwe = compactEncrypt('for x-1', x25519Public, {
      protectedHeader: { alg: 'ECDH-ES', enc: 'A256GCM' },
    });
    const result = await compactDecrypt(jwe, () => [p256Private, x25519Private], only('ECDH-ES', 'A256GCM'));
    expect(result.key).toBe(x25519Private);
  });

  it('decrypts the recipient of a General JWE whose "kid" it holds', async () => {
    const jwe = generalEncrypt(
      'for whoever holds x-1',
      [
        {
          key: importKeyObject(generateKeyPairSync('x25519').publicKey),
          unprotectedHeader: { alg: 'ECDH-ES+A256KW', kid: 'elsewhere' },
        },
        { key: publicKey('x-1'), unprotectedHeader: { alg: 'ECDH-ES+A256KW', kid: 'x-1' } },
      ],
      { protectedHeader: { enc: 'A256GCM' } },
    );
    const result = await generalDecrypt(jwe, jwks, only('ECDH-ES+A256KW', 'A256GCM'));
    expect(result.key.kid).toBe('x-1');
    expect(result.unprotectedHeader?.kid).toBe('x-1');
  });

  it('fails with ERR_JWKS_NO_MATCHING_KEY for a "kid" it does not hold', async () => {
    const jwe = compactEncrypt('x', publicKey('ec-1'), {
      protectedHeader: { alg: 'ECDH-ES+A256KW', enc: 'A256GCM', kid: 'unknown' },
    });
    await expect(compactDecrypt(jwe, jwks, only('ECDH-ES+A256KW', 'A256GCM'))).rejects.toMatchObject({
      code: 'ERR_JWKS_NO_MATCHING_KEY',
    });
  });

  it('never uses its encryption keys to verify a signature', async () => {
    const signingKey = importKeyObject(pairs['rsa-2'].privateKey);
    const token = await signJwt({ sub: 'user-1' }, signingKey, { alg: 'RS256', kid: 'rsa-2', expiresIn: 60 });
    await expect(verifyJwt(token, jwks, { algorithms: ['RS256'] })).rejects.toMatchObject({
      code: 'ERR_JWKS_NO_MATCHING_KEY',
    });
  });
});

// ---------------------------------------------------------------------------------------------
// RFC 7516 §7.2.1: where key-management parameters go
// ---------------------------------------------------------------------------------------------

describe('key-management header parameters', () => {
  const WITH_PARAMETERS = ALGORITHMS.filter((a) => a.adds.length > 0);

  it.each(WITH_PARAMETERS)(
    '$alg puts them in the protected header of a compact JWE',
    ({ alg, keys, parameters, adds }) => {
      const jwe = compactEncrypt('x', keys('A256GCM').encrypt, {
        protectedHeader: { alg, enc: 'A256GCM' },
        parameters,
      });
      expect(Object.keys(headerOf(jwe))).toEqual(expect.arrayContaining([...adds]));
    },
  );

  it.each(WITH_PARAMETERS)(
    '$alg puts them in the protected header of a flattened JWE, even when "alg" is unprotected',
    ({ alg, keys, parameters, adds }) => {
      const jwe = flattenedEncrypt('x', keys('A256GCM').encrypt, {
        protectedHeader: { enc: 'A256GCM' },
        unprotectedHeader: { alg },
        parameters,
      });
      expect(Object.keys(JSON.parse(Buffer.from(jwe.protected!, 'base64url').toString()))).toEqual(
        expect.arrayContaining([...adds]),
      );
      expect(jwe.header).toEqual({ alg });
    },
  );

  it.each(WITH_PARAMETERS)(
    '$alg puts them in the per-recipient header of a general JWE',
    ({ alg, keys, parameters, adds }) => {
      const jwe = generalEncrypt(
        'x',
        [{ key: keys('A256GCM').encrypt, unprotectedHeader: { alg }, parameters }],
        {
          protectedHeader: { enc: 'A256GCM' },
        },
      );
      expect(Object.keys(jwe.recipients[0]!.header!)).toEqual(expect.arrayContaining(['alg', ...adds]));
      expect(JSON.parse(Buffer.from(jwe.protected!, 'base64url').toString())).toEqual({ enc: 'A256GCM' });
    },
  );

  it('gives each recipient of a general JWE its own ephemeral key', () => {
    const other = importKeyObject(generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey, {
      use: 'enc',
    });
    const jwe = generalEncrypt(
      'x',
      [
        { key: p256Public, unprotectedHeader: { alg: 'ECDH-ES+A256KW' } },
        { key: other, unprotectedHeader: { alg: 'ECDH-ES+A256KW' } },
      ],
      { protectedHeader: { enc: 'A256GCM' } },
    );
    expect(jwe.recipients[0]!.header!.epk).not.toEqual(jwe.recipients[1]!.header!.epk);
  });

  it('publishes only the public part of the ephemeral key', () => {
    const jwe = compactEncrypt('x', p256Public, { protectedHeader: { alg: 'ECDH-ES', enc: 'A256GCM' } });
    expect(Object.keys(headerOf(jwe).epk as object).sort()).toEqual(['crv', 'kty', 'x', 'y']);
  });

  it('writes "apu" and "apv" when given, and they take part in the key agreement', async () => {
    const jwe = compactEncrypt('x', p256Public, {
      protectedHeader: { alg: 'ECDH-ES', enc: 'A256GCM' },
      parameters: { apu: Buffer.from('Alice'), apv: Buffer.from('Bob') },
    });
    expect(headerOf(jwe)).toMatchObject({ apu: 'QWxpY2U', apv: 'Qm9i' });
    await expect(compactDecrypt(jwe, p256Private, only('ECDH-ES', 'A256GCM'))).resolves.toBeDefined();
  });

  it('uses the PBES2 iteration count asked for, 2,048 by default', () => {
    const key = password('PBES2-HS256+A128KW');
    const byDefault = compactEncrypt('x', key, {
      protectedHeader: { alg: 'PBES2-HS256+A128KW', enc: 'A128GCM' },
    });
    const chosen = compactEncrypt('x', key, {
      protectedHeader: { alg: 'PBES2-HS256+A128KW', enc: 'A128GCM' },
      parameters: { p2c: 5000 },
    });
    expect(headerOf(byDefault).p2c).toBe(2048);
    expect(headerOf(chosen).p2c).toBe(5000);
  });
});

// ---------------------------------------------------------------------------------------------
// Encrypted JWTs (RFC 7519 §5, §7.2)
// ---------------------------------------------------------------------------------------------

describe('encryptJwt and decryptJwt', () => {
  const key = secret('A256GCM');
  const issue = (claims: Record<string, unknown> = {}, options: Record<string, unknown> = {}) =>
    encryptJwt({ sub: 'user-1', ...claims }, key, {
      alg: 'dir',
      enc: 'A256GCM',
      issuer: 'https://issuer.example',
      audience: 'api',
      expiresIn: 600,
      ...options,
    });
  const decryption = {
    ...only('dir', 'A256GCM'),
    issuer: 'https://issuer.example',
    audience: 'api',
  };

  it('round trips the claims and returns the header and key', async () => {
    const token = await issue({ ssn: '078-05-1120' }, { kid: 'cek-1' });
    const { payload, protectedHeader, key: used } = await decryptJwt(token, key, decryption);
    expect(payload).toMatchObject({
      sub: 'user-1',
      ssn: '078-05-1120',
      iss: 'https://issuer.example',
      aud: 'api',
    });
    expect(payload.exp! - payload.iat!).toBe(600);
    expect(protectedHeader).toEqual({ alg: 'dir', enc: 'A256GCM', typ: 'JWT', kid: 'cek-1' });
    expect(used).toBe(key);
  });

  it('encrypts to a public key with ECDH-ES', async () => {
    const token = await encryptJwt({ sub: 'user-1' }, p256Public, {
      alg: 'ECDH-ES+A256KW',
      enc: 'A256GCM',
      expiresIn: 60,
    });
    const { payload } = await decryptJwt(token, p256Private, only('ECDH-ES+A256KW', 'A256GCM'));
    expect(payload.sub).toBe('user-1');
  });

  it('refuses another issuer (ERR_JWT_CLAIM_VALIDATION_FAILED, claim "iss")', async () => {
    const token = await issue({}, { issuer: 'https://evil.example' });
    await expect(decryptJwt(token, key, decryption)).rejects.toMatchObject({
      code: 'ERR_JWT_CLAIM_VALIDATION_FAILED',
      claim: 'iss',
    });
  });

  it('refuses another audience (ERR_JWT_CLAIM_VALIDATION_FAILED, claim "aud")', async () => {
    const token = await issue({}, { audience: 'other-api' });
    await expect(decryptJwt(token, key, decryption)).rejects.toMatchObject({
      code: 'ERR_JWT_CLAIM_VALIDATION_FAILED',
      claim: 'aud',
    });
  });

  it('requires "exp" (ERR_JWT_CLAIM_VALIDATION_FAILED, claim "exp", missing)', async () => {
    const token = await issue({}, { expiresIn: undefined });
    await expect(decryptJwt(token, key, decryption)).rejects.toMatchObject({
      code: 'ERR_JWT_CLAIM_VALIDATION_FAILED',
      claim: 'exp',
      reason: 'missing',
    });
  });

  it('accepts a token without "exp" when requireExp is false', async () => {
    const token = await issue({}, { expiresIn: undefined });
    await expect(decryptJwt(token, key, { ...decryption, requireExp: false })).resolves.toBeDefined();
  });

  it('refuses an expired token (ERR_JWT_EXPIRED)', async () => {
    const token = await issue({ exp: now() - 10 }, { expiresIn: undefined });
    await expect(decryptJwt(token, key, decryption)).rejects.toMatchObject({
      code: 'ERR_JWT_EXPIRED',
      claim: 'exp',
    });
  });

  it('checks "typ" when asked to', async () => {
    const token = await issue({}, { typ: 'at+jwt' });
    await expect(decryptJwt(token, key, { ...decryption, typ: 'at+jwt' })).resolves.toBeDefined();
    await expect(decryptJwt(token, key, { ...decryption, typ: 'JWT' })).rejects.toMatchObject({
      code: 'ERR_JWT_CLAIM_VALIDATION_FAILED',
      claim: 'typ',
    });
  });

  it('compresses with zip: true, and the recipient must allow it', async () => {
    const token = await issue({}, { zip: true });
    expect(headerOf(token).zip).toBe('DEF');
    await expect(decryptJwt(token, key, decryption)).rejects.toMatchObject({ code: 'ERR_JWE_INVALID' });
    await expect(decryptJwt(token, key, { ...decryption, allowCompression: true })).resolves.toBeDefined();
  });

  it('refuses a payload that is not a JSON object (ERR_JWT_INVALID)', async () => {
    const token = compactEncrypt('[1,2,3]', key, { protectedHeader: { alg: 'dir', enc: 'A256GCM' } });
    await expect(decryptJwt(token, key, decryption)).rejects.toMatchObject({ code: 'ERR_JWT_INVALID' });
  });

  it.each(['JWT', 'jwt'])(
    'refuses a nested JWT ("cty": "%s"): its signature must be verified (ERR_JWT_INVALID)',
    async (cty) => {
      const signer = generateSecret('HS256');
      const inner = await signJwt({ sub: 'user-1' }, signer, { expiresIn: 60 });
      const token = compactEncrypt(inner, key, { protectedHeader: { alg: 'dir', enc: 'A256GCM', cty } });
      await expect(decryptJwt(token, key, decryption)).rejects.toMatchObject({ code: 'ERR_JWT_INVALID' });
    },
  );

  it('refuses a nested JWT marked "cty": "application/JWT", the full media type (ERR_JWT_INVALID)', async () => {
    const token = await issue({}, { header: { cty: 'application/JWT' } });
    await expect(decryptJwt(token, key, decryption)).rejects.toMatchObject({ code: 'ERR_JWT_INVALID' });
  });

  it('refuses a token made by signAndEncryptJwt (ERR_JWT_INVALID)', async () => {
    const signer = generateSecret('HS256');
    const token = await signAndEncryptJwt({ sub: 'user-1' }, signer, { expiresIn: 60 }, key, {
      alg: 'dir',
      enc: 'A256GCM',
    });
    await expect(decryptJwt(token, key, decryption)).rejects.toMatchObject({ code: 'ERR_JWT_INVALID' });
  });
});

describe('signAndEncryptJwt and decryptAndVerifyJwt (nested JWTs, RFC 7519 §5.2, §11.2)', () => {
  const issuer = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const issuerPrivate = importKeyObject(issuer.privateKey, { alg: 'ES256', kid: 'issuer-1' });
  const issuerPublic = importKeyObject(issuer.publicKey, { alg: 'ES256', kid: 'issuer-1' });
  const decryption = only('ECDH-ES+A256KW', 'A256GCM');
  const verification = { algorithms: ['ES256'], issuer: 'https://issuer.example', audience: 'api' };
  const nested = (options: Record<string, unknown> = {}, signer: Key = issuerPrivate) =>
    signAndEncryptJwt(
      { sub: 'user-1', scope: 'read' },
      signer,
      { alg: 'ES256', issuer: 'https://issuer.example', audience: 'api', expiresIn: 600, ...options },
      p256Public,
      { alg: 'ECDH-ES+A256KW', enc: 'A256GCM', kid: 'enc-1' },
    );

  it('round trips: claims, the inner header, the outer header and the verifying key', async () => {
    const token = await nested();
    const result = await decryptAndVerifyJwt(token, p256Private, decryption, issuerPublic, verification);
    expect(result.payload).toMatchObject({ sub: 'user-1', scope: 'read', iss: 'https://issuer.example' });
    expect(result.protectedHeader).toEqual({ alg: 'ES256', kid: 'issuer-1', typ: 'JWT' });
    expect(result.encryptionHeader).toMatchObject({
      alg: 'ECDH-ES+A256KW',
      enc: 'A256GCM',
      kid: 'enc-1',
      cty: 'JWT',
      typ: 'JWT',
    });
    expect(result.key).toBe(issuerPublic);
  });

  it('signs first: the plaintext of the JWE is a compact JWS', async () => {
    const token = await nested();
    const { plaintext } = await compactDecrypt(token, p256Private, decryption);
    expect(text(plaintext).split('.')).toHaveLength(3);
  });

  it('verifies the inner signature even though decryption succeeded (ERR_JWS_SIGNATURE_VERIFICATION_FAILED)', async () => {
    const impostor = importKeyObject(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey, {
      alg: 'ES256',
      kid: 'issuer-1',
    });
    const token = await nested({}, impostor);
    await expect(compactDecrypt(token, p256Private, decryption)).resolves.toBeDefined();
    await expect(
      decryptAndVerifyJwt(token, p256Private, decryption, issuerPublic, verification),
    ).rejects.toMatchObject({ code: 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED' });
  });

  it('requires "cty": "JWT" on the outer header (ERR_JWT_INVALID)', async () => {
    const inner = await signJwt({ sub: 'user-1' }, issuerPrivate, {
      issuer: 'https://issuer.example',
      audience: 'api',
      expiresIn: 600,
    });
    const token = compactEncrypt(inner, p256Public, {
      protectedHeader: { alg: 'ECDH-ES+A256KW', enc: 'A256GCM' },
    });
    await expect(
      decryptAndVerifyJwt(token, p256Private, decryption, issuerPublic, verification),
    ).rejects.toMatchObject({ code: 'ERR_JWT_INVALID' });
  });

  it.each(['application/JWT', 'APPLICATION/jwt', 'jwt'])(
    'accepts the outer "cty" %j: a media type, compared without case, "application/" optional (RFC 7515 §4.1.10)',
    async (cty) => {
      const inner = await signJwt({ sub: 'user-1' }, issuerPrivate, {
        issuer: 'https://issuer.example',
        audience: 'api',
        expiresIn: 600,
      });
      const token = compactEncrypt(inner, p256Public, {
        protectedHeader: { alg: 'ECDH-ES+A256KW', enc: 'A256GCM', cty },
      });
      const { payload } = await decryptAndVerifyJwt(
        token,
        p256Private,
        decryption,
        issuerPublic,
        verification,
      );
      expect(payload.sub).toBe('user-1');
    },
  );

  it('validates the inner claims: an expired inner token is refused (ERR_JWT_EXPIRED)', async () => {
    const token = await nested({ currentDate: new Date(Date.now() - 3_600_000) });
    await expect(
      decryptAndVerifyJwt(token, p256Private, decryption, issuerPublic, verification),
    ).rejects.toMatchObject({ code: 'ERR_JWT_EXPIRED' });
  });

  it('validates the inner claims: another issuer is refused (ERR_JWT_CLAIM_VALIDATION_FAILED)', async () => {
    const token = await nested({ issuer: 'https://evil.example' });
    await expect(
      decryptAndVerifyJwt(token, p256Private, decryption, issuerPublic, verification),
    ).rejects.toMatchObject({ code: 'ERR_JWT_CLAIM_VALIDATION_FAILED', claim: 'iss' });
  });

  it('applies the inner algorithm allow-list (ERR_JOSE_ALG_NOT_ALLOWED)', async () => {
    const token = await nested();
    await expect(
      decryptAndVerifyJwt(token, p256Private, decryption, issuerPublic, {
        ...verification,
        algorithms: ['ES384'],
      }),
    ).rejects.toMatchObject({ code: 'ERR_JOSE_ALG_NOT_ALLOWED' });
  });

  it('applies the outer algorithm allow-list (ERR_JOSE_ALG_NOT_ALLOWED)', async () => {
    const token = await nested();
    await expect(
      decryptAndVerifyJwt(token, p256Private, only('ECDH-ES+A128KW', 'A256GCM'), issuerPublic, verification),
    ).rejects.toMatchObject({ code: 'ERR_JOSE_ALG_NOT_ALLOWED' });
  });
});

// ---------------------------------------------------------------------------------------------
// Keys for encryption
// ---------------------------------------------------------------------------------------------

describe('generateKeyPair for key management', () => {
  it.each(['RSA-OAEP', 'RSA-OAEP-256', 'RSA-OAEP-384', 'RSA-OAEP-512'])(
    'makes a 2048-bit RSA pair pinned to %s that round trips',
    async (alg) => {
      const { publicKey, privateKey } = await generateKeyPair(alg, { kid: 'r' });
      expect(privateKey.keyObject.asymmetricKeyDetails?.modulusLength).toBe(2048);
      expect(publicKey.algorithms).toEqual([alg]);
      expect(privateKey.algorithms).toEqual([alg]);
      expect(privateKey.kid).toBe('r');
      const jwe = compactEncrypt('x', publicKey, { protectedHeader: { alg, enc: 'A256GCM' } });
      await expect(compactDecrypt(jwe, privateKey, only(alg, 'A256GCM'))).resolves.toBeDefined();
    },
  );

  it('honours modulusLength for RSA-OAEP', async () => {
    const { privateKey } = await generateKeyPair('RSA-OAEP-256', { modulusLength: 3072 });
    expect(privateKey.keyObject.asymmetricKeyDetails?.modulusLength).toBe(3072);
  });

  const CURVES: [string, string, string | undefined][] = [
    ['P-256', 'ec', 'prime256v1'],
    ['P-384', 'ec', 'secp384r1'],
    ['P-521', 'ec', 'secp521r1'],
    ['X25519', 'x25519', undefined],
    ['X448', 'x448', undefined],
  ];
  const ECDH = ['ECDH-ES', 'ECDH-ES+A128KW', 'ECDH-ES+A192KW', 'ECDH-ES+A256KW'];

  describe.each(CURVES)('on %s', (crv, type, namedCurve) => {
    it.each(ECDH)('makes a pair pinned to %s that round trips', async (alg) => {
      const { publicKey, privateKey } = await generateKeyPair(alg, { crv: crv as 'P-256' });
      expect(privateKey.keyObject.asymmetricKeyType).toBe(type);
      expect(privateKey.keyObject.asymmetricKeyDetails?.namedCurve).toBe(namedCurve);
      expect(publicKey.algorithms).toEqual([alg]);
      const jwe = compactEncrypt('x', publicKey, { protectedHeader: { alg, enc: 'A256GCM' } });
      const { protectedHeader } = await compactDecrypt(jwe, privateKey, only(alg, 'A256GCM'));
      expect((protectedHeader.epk as { crv: string }).crv).toBe(crv);
    });
  });

  it('uses P-256 for ECDH-ES by default', async () => {
    const { privateKey } = await generateKeyPair('ECDH-ES');
    expect(privateKey.keyObject.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
  });

  it.each(['Ed25519', 'secp256k1'])(
    'refuses the curve %s for ECDH-ES (ERR_JOSE_NOT_SUPPORTED)',
    async (crv) => {
      await expect(generateKeyPair('ECDH-ES', { crv: crv as 'P-256' })).rejects.toMatchObject({
        code: 'ERR_JOSE_NOT_SUPPORTED',
      });
    },
  );

  it.each(['A256KW', 'dir', 'PBES2-HS256+A128KW'])(
    'refuses to make a key pair for the symmetric %s (ERR_JOSE_NOT_SUPPORTED)',
    async (alg) => {
      await expect(generateKeyPair(alg)).rejects.toMatchObject({ code: 'ERR_JOSE_NOT_SUPPORTED' });
    },
  );
});

describe('generateSecret for key management and direct encryption', () => {
  it.each([
    ['A128KW', 16],
    ['A192KW', 24],
    ['A256KW', 32],
    ['A128GCMKW', 16],
    ['A192GCMKW', 24],
    ['A256GCMKW', 32],
  ])('makes a %s key of %i bytes, pinned to it, that round trips', async (alg, bytes) => {
    const key = generateSecret(alg, { kid: 'w' });
    expect(key.keyObject.symmetricKeySize).toBe(bytes);
    expect(key.algorithms).toEqual([alg]);
    expect(key.kid).toBe('w');
    const jwe = compactEncrypt('x', key, { protectedHeader: { alg, enc: 'A128GCM' } });
    await expect(compactDecrypt(jwe, key, only(alg, 'A128GCM'))).resolves.toBeDefined();
  });

  it.each([
    ['A128GCM', 16],
    ['A192GCM', 24],
    ['A256GCM', 32],
    ['A128CBC-HS256', 32],
    ['A192CBC-HS384', 48],
    ['A256CBC-HS512', 64],
  ])('makes a %s key of %i bytes that serves "dir" with that enc', async (enc, bytes) => {
    const key = generateSecret(enc);
    expect(key.keyObject.symmetricKeySize).toBe(bytes);
    expect(key.algorithms).toEqual(['dir']);
    expect(key.alg).toBe(enc);
    const jwe = compactEncrypt('x', key, { protectedHeader: { alg: 'dir', enc } });
    await expect(compactDecrypt(jwe, key, only('dir', enc))).resolves.toBeDefined();
  });

  it.each(['dir', 'PBES2-HS256+A128KW', 'RSA-OAEP'])(
    'refuses to make a secret for %s (ERR_JOSE_NOT_SUPPORTED)',
    (alg) => {
      expect(thrown(() => generateSecret(alg))).toMatchObject({ code: 'ERR_JOSE_NOT_SUPPORTED' });
    },
  );
});

describe('keys pinned to a JWE algorithm never sign or verify', () => {
  const cases: [string, () => Promise<{ signer: Key; verifier: Key }>, string][] = [
    [
      'A256KW',
      async () => ({ signer: generateSecret('A256KW'), verifier: generateSecret('A256KW') }),
      'HS256',
    ],
    [
      'A256GCM (a 32-byte dir key)',
      async () => {
        const key = generateSecret('A256GCM');
        return { signer: key, verifier: key };
      },
      'HS256',
    ],
    [
      'A256CBC-HS512 (a 64-byte dir key)',
      async () => {
        const key = generateSecret('A256CBC-HS512');
        return { signer: key, verifier: key };
      },
      'HS512',
    ],
    [
      'RSA-OAEP-256',
      async () => {
        const pair = await generateKeyPair('RSA-OAEP-256');
        return { signer: pair.privateKey, verifier: pair.publicKey };
      },
      'RS256',
    ],
    [
      'ECDH-ES (P-256)',
      async () => {
        const pair = await generateKeyPair('ECDH-ES');
        return { signer: pair.privateKey, verifier: pair.publicKey };
      },
      'ES256',
    ],
  ];

  it.each(cases)(
    'a key pinned to %s refuses to sign (ERR_JOSE_ALG_NOT_ALLOWED)',
    async (_name, make, alg) => {
      const { signer } = await make();
      await expect(signJwt({ sub: 'user-1' }, signer, { alg, expiresIn: 60 })).rejects.toMatchObject({
        code: 'ERR_JOSE_ALG_NOT_ALLOWED',
      });
    },
  );

  it.each(cases)(
    'a key pinned to %s refuses to verify (ERR_JOSE_ALG_NOT_ALLOWED)',
    async (_name, make, alg) => {
      const { verifier } = await make();
      const token = await signJwt({ sub: 'user-1' }, generateSecret('HS256'), { expiresIn: 60 });
      await expect(verifyJwt(token, verifier, { algorithms: [alg, 'HS256'] })).rejects.toMatchObject({
        code: 'ERR_JOSE_ALG_NOT_ALLOWED',
      });
    },
  );
});

describe('which JWE algorithms an imported key serves', () => {
  const jwkOf = (keyObject: KeyObject, extra: Partial<Jwk> = {}): Jwk => ({
    ...(keyObject.export({ format: 'jwk' }) as Jwk),
    ...extra,
  });
  const RSA_OAEP = ['RSA-OAEP', 'RSA-OAEP-256', 'RSA-OAEP-384', 'RSA-OAEP-512'];
  const ECDH = ['ECDH-ES', 'ECDH-ES+A128KW', 'ECDH-ES+A192KW', 'ECDH-ES+A256KW'];
  const oct = (bytes: number, extra: Partial<Jwk> = {}): Jwk => ({
    kty: 'oct',
    k: Buffer.alloc(bytes, 0x5a).toString('base64url'),
    ...extra,
  });

  it.each<[string, Jwk, string[]]>([
    ['an RSA key', jwkOf(rsa.privateKey, { use: 'enc' }), RSA_OAEP],
    ['a P-256 key', jwkOf(p256.privateKey, { use: 'enc' }), ECDH],
    [
      'a P-384 key',
      jwkOf(generateKeyPairSync('ec', { namedCurve: 'P-384' }).publicKey, { use: 'enc' }),
      ECDH,
    ],
    [
      'a P-521 key',
      jwkOf(generateKeyPairSync('ec', { namedCurve: 'P-521' }).publicKey, { use: 'enc' }),
      ECDH,
    ],
    ['an X25519 key', jwkOf(x25519.publicKey, { use: 'enc' }), ECDH],
    ['an X448 key', jwkOf(generateKeyPairSync('x448').publicKey, { use: 'enc' }), ECDH],
    ['a 16-byte secret', oct(16, { use: 'enc' }), ['dir', 'A128KW', 'A128GCMKW']],
    ['a 24-byte secret', oct(24, { use: 'enc' }), ['dir', 'A192KW', 'A192GCMKW']],
    ['a 32-byte secret', oct(32, { use: 'enc' }), ['dir', 'A256KW', 'A256GCMKW']],
    ['a 64-byte secret', oct(64, { use: 'enc' }), ['dir']],
  ])(
    '"use": "enc" makes %s serve the JWE algorithms of its type, and no JWS algorithm',
    (_name, jwk, algs) => {
      expect(importJwk(jwk).algorithms).toEqual(algs);
    },
  );

  it('an RSA JWK without "use" serves signatures only: encryption is opt-in', () => {
    const algorithms = importJwk(jwkOf(rsa.publicKey)).algorithms;
    expect(algorithms).toContain('RS256');
    expect(algorithms.filter((alg) => alg.startsWith('RSA-OAEP'))).toEqual([]);
  });

  it('an EC JWK without "use" serves signatures only: encryption is opt-in', () => {
    expect(importJwk(jwkOf(p256.publicKey)).algorithms).toEqual(['ES256']);
  });

  it('an X25519 JWK without "use" serves ECDH-ES: it can do nothing else', () => {
    expect(importJwk(jwkOf(x25519.publicKey)).algorithms).toEqual(ECDH);
  });

  it('encryption "key_ops" opt in as "use": "enc" does', () => {
    expect(importJwk(jwkOf(rsa.privateKey, { key_ops: ['decrypt', 'unwrapKey'] })).algorithms).toEqual(
      RSA_OAEP,
    );
  });

  it('a JWK pinned by "alg" serves only that algorithm', () => {
    expect(importJwk(jwkOf(rsa.publicKey, { use: 'enc', alg: 'RSA-OAEP-256' })).algorithms).toEqual([
      'RSA-OAEP-256',
    ]);
  });

  it('a JWK pinned to a content encryption serves "dir" with that enc', () => {
    expect(importJwk(oct(32, { alg: 'A256GCM' })).algorithms).toEqual(['dir']);
  });

  it('a "use": "enc" JWK round trips through exportJwk, keeping "use"', () => {
    const key = importJwk(jwkOf(p256.privateKey, { use: 'enc', kid: 'e' }));
    expect(exportJwk(key, { public: true })).toMatchObject({ kty: 'EC', crv: 'P-256', use: 'enc', kid: 'e' });
    expect(importJwk(exportJwk(key)).algorithms).toEqual(ECDH);
  });
});

describe('createDecrypter: the header memo', () => {
  it('is not filled by forged headers: after 64 of them, a legitimate header is still remembered', () => {
    const cek = generateSecret('A256GCM');
    const decrypter = createDecrypter({ key: cek, ...only('dir', 'A256GCM') });
    for (let i = 0; i < 64; i++) {
      const header = b64u({ alg: 'dir', enc: 'A256GCM', kid: `forged-${i}` });
      const jwe = `${header}..${b64u(randomBytes(12))}.${b64u(randomBytes(8))}.${b64u(randomBytes(16))}`;
      expect(thrown(() => decrypter.decrypt(jwe))).toMatchObject({ code: 'ERR_JWE_DECRYPTION_FAILED' });
    }
    const seal = (plaintext: string) =>
      compactEncrypt(plaintext, cek, { protectedHeader: { alg: 'dir', enc: 'A256GCM' } });
    const first = decrypter.decrypt(seal('a'));
    // Same header: the second JWE is served the remembered (shared) header object.
    expect(decrypter.decrypt(seal('b')).protectedHeader).toBe(first.protectedHeader);
  });
});
