// Keys: import and export round trips for every supported form, what a Key prints, how use,
// key_ops and alg restrict what a key may do, which private JWKs and RSA keys are refused, and
// RSASSA-PSS keys.
import { Buffer } from 'node:buffer';
import {
  generateKeyPairSync,
  type KeyObject,
  type RSAPSSKeyPairKeyObjectOptions,
  X509Certificate,
} from 'node:crypto';
import { readFileSync } from 'node:fs';
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import {
  createVerifier,
  type DerFormat,
  exportJwk,
  exportPem,
  generateSecret,
  importDer,
  importJwk,
  importKeyObject,
  importPem,
  importSecret,
  importX509,
  jwkThumbprint,
  type Key,
  signJwt,
  verifyJwt,
} from '../../src/index.js';
import { thrown } from '../helpers/forge.js';

const fixture = (name: string) => readFileSync(new URL(`../fixtures/${name}`, import.meta.url), 'utf8');

const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const spkiPem = rsa.publicKey.export({ format: 'pem', type: 'spki' }) as string;
const pkcs8Pem = rsa.privateKey.export({ format: 'pem', type: 'pkcs8' }) as string;

/** Signs with `signer` and verifies with `verifier`: the two keys are halves of one pair. */
async function signsAndVerifies(signer: Key, verifier: Key, alg: string): Promise<boolean> {
  const token = await signJwt({ sub: 'user-1' }, signer, { alg, expiresIn: 60 });
  const { payload } = await verifyJwt(token, verifier, { algorithms: [alg] });
  return payload.sub === 'user-1';
}

describe('PEM import and export', () => {
  it('round trips an SPKI public key', () => {
    expect(exportPem(importPem(spkiPem))).toBe(spkiPem);
  });

  it('round trips a PKCS #8 private key', () => {
    expect(exportPem(importPem(pkcs8Pem))).toBe(pkcs8Pem);
  });

  it('imports an encrypted PKCS #8 private key with its passphrase', () => {
    const encrypted = rsa.privateKey.export({
      format: 'pem',
      type: 'pkcs8',
      cipher: 'aes-256-cbc',
      passphrase: 'correct horse',
    }) as string;
    expect(exportPem(importPem(encrypted, { passphrase: 'correct horse' }))).toBe(pkcs8Pem);
  });

  it('refuses an encrypted PKCS #8 private key with the wrong passphrase (ERR_KEY_INVALID)', () => {
    const encrypted = rsa.privateKey.export({
      format: 'pem',
      type: 'pkcs8',
      cipher: 'aes-256-cbc',
      passphrase: 'correct horse',
    }) as string;
    expect(thrown(() => importPem(encrypted, { passphrase: 'battery staple' }))).toMatchObject({
      code: 'ERR_KEY_INVALID',
    });
  });

  it('imports a PKCS #1 RSA public key and exports it as SPKI', () => {
    const pkcs1 = rsa.publicKey.export({ format: 'pem', type: 'pkcs1' }) as string;
    expect(exportPem(importPem(pkcs1))).toBe(spkiPem);
  });

  it('imports a PKCS #1 RSA private key and exports it as PKCS #8', () => {
    const pkcs1 = rsa.privateKey.export({ format: 'pem', type: 'pkcs1' }) as string;
    expect(exportPem(importPem(pkcs1))).toBe(pkcs8Pem);
  });

  it('imports a SEC 1 EC private key', () => {
    const key = importPem(fixture('x509-ec-p256.sec1.pem'));
    expect(key).toMatchObject({ type: 'private', algorithms: ['ES256'] });
  });

  it('exports the public half of a private key with { public: true }', () => {
    expect(exportPem(importPem(pkcs8Pem), { public: true })).toBe(spkiPem);
  });

  it('refuses two keys in one PEM (ERR_KEY_INVALID)', () => {
    expect(thrown(() => importPem(spkiPem + spkiPem))).toMatchObject({ code: 'ERR_KEY_INVALID' });
  });

  it('refuses an unsupported PEM label (ERR_KEY_INVALID)', () => {
    const openssh = '-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n';
    expect(thrown(() => importPem(openssh))).toMatchObject({ code: 'ERR_KEY_INVALID' });
  });

  it('refuses text with no PEM block (ERR_KEY_INVALID)', () => {
    expect(thrown(() => importPem('not a key'))).toMatchObject({ code: 'ERR_KEY_INVALID' });
  });

  it('refuses to export a secret as PEM (TypeError)', () => {
    expect(() => exportPem(generateSecret('HS256'))).toThrow(TypeError);
  });
});

describe('X.509 certificates', () => {
  const ecCertificate = fixture('x509-ec-p256.cert.pem');
  const ecKey = importPem(fixture('x509-ec-p256.sec1.pem'));
  const rsaCertificate = fixture('x509-rsa-2048.cert.pem');
  const rsaKey = importPem(fixture('x509-rsa-2048.pkcs8.pem'));

  it('importPem takes the public key of a certificate', () => {
    const key = importPem(ecCertificate);
    expect(key.type).toBe('public');
    expect(key.keyObject.equals(new X509Certificate(ecCertificate).publicKey)).toBe(true);
  });

  it('importX509 of a PEM certificate verifies tokens signed by the certified key', async () => {
    expect(await signsAndVerifies(ecKey, importX509(ecCertificate), 'ES256')).toBe(true);
  });

  it('importX509 of a DER certificate verifies tokens signed by the certified key', async () => {
    const der = new X509Certificate(rsaCertificate).raw;
    expect(await signsAndVerifies(rsaKey, importX509(der, { alg: 'PS256' }), 'PS256')).toBe(true);
  });

  it('takes the first certificate of a chain', () => {
    const key = importPem(ecCertificate + rsaCertificate);
    expect(key.keyObject.asymmetricKeyType).toBe('ec');
  });

  it('importX509 refuses a PEM that is not a certificate (ERR_KEY_INVALID)', () => {
    expect(thrown(() => importX509(spkiPem))).toMatchObject({ code: 'ERR_KEY_INVALID' });
  });
});

describe('DER import', () => {
  const sec1Key = importPem(fixture('x509-ec-p256.sec1.pem')).keyObject;
  const cases: [DerFormat, Buffer, KeyObject][] = [
    ['spki', rsa.publicKey.export({ format: 'der', type: 'spki' }), rsa.publicKey],
    ['pkcs8', rsa.privateKey.export({ format: 'der', type: 'pkcs8' }), rsa.privateKey],
    ['pkcs1-public', rsa.publicKey.export({ format: 'der', type: 'pkcs1' }), rsa.publicKey],
    ['pkcs1-private', rsa.privateKey.export({ format: 'der', type: 'pkcs1' }), rsa.privateKey],
    ['sec1', sec1Key.export({ format: 'der', type: 'sec1' }), sec1Key],
    [
      'x509',
      new X509Certificate(fixture('x509-ec-p256.cert.pem')).raw,
      new X509Certificate(fixture('x509-ec-p256.cert.pem')).publicKey,
    ],
  ];

  it.each(cases)('imports %s', (format, der, expected) => {
    expect(importDer(der, format).keyObject.equals(expected)).toBe(true);
  });

  it('refuses DER in the wrong format (ERR_KEY_INVALID)', () => {
    const [, spki] = cases[0] as [DerFormat, Buffer, KeyObject];
    expect(thrown(() => importDer(spki, 'pkcs8'))).toMatchObject({ code: 'ERR_KEY_INVALID' });
  });
});

describe.each([
  ['RSA', () => rsa, 'RS256'],
  ['EC P-256', () => ec, 'ES256'],
  ['EC P-384', () => generateKeyPairSync('ec', { namedCurve: 'P-384' }), 'ES384'],
  ['EC P-521', () => generateKeyPairSync('ec', { namedCurve: 'P-521' }), 'ES512'],
  ['EC secp256k1', () => generateKeyPairSync('ec', { namedCurve: 'secp256k1' }), 'ES256K'],
  ['OKP Ed25519', () => generateKeyPairSync('ed25519'), 'Ed25519'],
  ['OKP Ed448', () => generateKeyPairSync('ed448'), 'Ed448'],
] as const)('JWK round trip: %s', (_name, pair, alg) => {
  const { publicKey, privateKey } = pair();

  it('round trips the private JWK', () => {
    expect(importJwk(exportJwk(importKeyObject(privateKey))).keyObject.equals(privateKey)).toBe(true);
  });

  it('round trips the public JWK', () => {
    expect(importJwk(exportJwk(importKeyObject(publicKey))).keyObject.equals(publicKey)).toBe(true);
  });

  it('exports only public members of the private key with { public: true }', () => {
    expect(exportJwk(importKeyObject(privateKey), { public: true })).toEqual(
      exportJwk(importKeyObject(publicKey)),
    );
  });

  it(`signs ${alg} with the imported private JWK and verifies with the imported public JWK`, async () => {
    const signer = importJwk(exportJwk(importKeyObject(privateKey)));
    const verifier = importJwk(exportJwk(importKeyObject(publicKey)));
    expect(await signsAndVerifies(signer, verifier, alg)).toBe(true);
  });
});

describe('JWK export', () => {
  it('round trips a secret ("oct")', () => {
    const secret = generateSecret('HS512');
    expect(importJwk(exportJwk(secret)).keyObject.equals(secret.keyObject)).toBe(true);
  });

  it('exports an RSA private key with { public: true } as exactly kty, n and e', () => {
    expect(Object.keys(exportJwk(importKeyObject(rsa.privateKey), { public: true })).sort()).toEqual([
      'e',
      'kty',
      'n',
    ]);
  });

  it('exports the private members without { public: true }', () => {
    expect(exportJwk(importKeyObject(rsa.privateKey))).toHaveProperty('d');
  });

  it('refuses { public: true } for a secret (TypeError)', () => {
    expect(() => exportJwk(generateSecret('HS256'), { public: true })).toThrow(TypeError);
  });

  it('says in that TypeError that a secret key has no public part', () => {
    const err = thrown(() => exportJwk(generateSecret('HS256'), { public: true }));
    expect(err).toBeInstanceOf(TypeError);
    expect((err as Error).message).toMatch(/secret key has no public part/);
  });

  it('keeps kid, alg, use and key_ops', () => {
    const jwk = {
      ...ec.publicKey.export({ format: 'jwk' }),
      kid: 'k1',
      alg: 'ES256',
      use: 'sig',
      key_ops: ['verify'],
    };
    expect(exportJwk(importJwk(jwk))).toMatchObject({
      kid: 'k1',
      alg: 'ES256',
      use: 'sig',
      key_ops: ['verify'],
    });
  });
});

describe('a Key never prints its material', () => {
  const secret = importSecret(Buffer.from('0123456789abcdef0123456789abcdef-secret'), { kid: 'k1' });
  const secretBytes = secret.keyObject.export();
  const secretSpellings = [
    secretBytes.toString('utf8'),
    secretBytes.toString('hex'),
    secretBytes.toString('base64'),
    secretBytes.toString('base64url'),
  ];
  const privateKey = importKeyObject(rsa.privateKey, { kid: 'rsa-1' });
  const privateJwk = exportJwk(privateKey);
  const privateSpellings = [privateJwk.d!, privateJwk.p!, privateJwk.q!, pkcs8Pem.split('\n')[1]!];

  const renderings: [string, (key: Key) => string][] = [
    ['util.inspect', (key) => inspect(key)],
    [
      'util.inspect without custom inspection',
      (key) => inspect(key, { customInspect: false, showHidden: true, depth: 10 }),
    ],
    ['JSON.stringify', (key) => JSON.stringify({ key })],
    ['a template string', (key) => `${key}`],
    ['String()', (key) => String(key)],
  ];

  it.each(renderings)('%s of a secret shows no secret bytes', (_how, render) => {
    const text = render(secret);
    for (const spelling of secretSpellings) expect(text).not.toContain(spelling);
  });

  it.each(renderings)('%s of a private key shows no private members', (_how, render) => {
    const text = render(privateKey);
    for (const spelling of privateSpellings) expect(text).not.toContain(spelling);
  });

  it('prints its type, alg and kid', () => {
    expect(`${generateSecret('HS256', { kid: 'k1' })}`).toBe('Key(secret HS256 kid=k1)');
  });

  it('serializes to its type, algorithms and kid', () => {
    expect(JSON.parse(JSON.stringify(generateSecret('HS256', { kid: 'k1' })))).toEqual({
      type: 'secret',
      algorithms: ['HS256'],
      kid: 'k1',
    });
  });
});

describe('use and key_ops (RFC 7517 §4.2, §4.3)', () => {
  const publicJwk = ec.publicKey.export({ format: 'jwk' });
  const privateJwk = ec.privateKey.export({ format: 'jwk' });
  const token = signJwt({}, importKeyObject(ec.privateKey), { expiresIn: 60 });
  const verifyWith = async (key: Key) => verifyJwt(await token, key, { algorithms: ['ES256'] });

  it('a key with use "enc" never verifies (ERR_KEY_INVALID)', async () => {
    await expect(verifyWith(importJwk({ ...publicJwk, use: 'enc' }))).rejects.toMatchObject({
      code: 'ERR_KEY_INVALID',
    });
  });

  it('a key with use "enc" never signs (ERR_KEY_INVALID)', async () => {
    await expect(
      signJwt({}, importJwk({ ...privateJwk, use: 'enc' }), { alg: 'ES256' }),
    ).rejects.toMatchObject({
      code: 'ERR_KEY_INVALID',
    });
  });

  it('a key whose key_ops lack "verify" never verifies (ERR_KEY_INVALID)', async () => {
    await expect(verifyWith(importJwk({ ...privateJwk, key_ops: ['sign'] }))).rejects.toMatchObject({
      code: 'ERR_KEY_INVALID',
    });
  });

  it('a key whose key_ops lack "sign" never signs (ERR_KEY_INVALID)', async () => {
    await expect(signJwt({}, importJwk({ ...privateJwk, key_ops: ['verify'] }))).rejects.toMatchObject({
      code: 'ERR_KEY_INVALID',
    });
  });

  it('a key with use "sig" and key_ops ["verify"] verifies', async () => {
    await expect(
      verifyWith(importJwk({ ...publicJwk, use: 'sig', key_ops: ['verify'] })),
    ).resolves.toBeDefined();
  });

  it('key_ops set through importKeyObject are enforced too (ERR_KEY_INVALID)', async () => {
    await expect(verifyWith(importKeyObject(ec.publicKey, { keyOps: ['encrypt'] }))).rejects.toMatchObject({
      code: 'ERR_KEY_INVALID',
    });
  });

  it('a public key never signs (ERR_KEY_INVALID)', async () => {
    await expect(signJwt({}, importKeyObject(ec.publicKey))).rejects.toMatchObject({
      code: 'ERR_KEY_INVALID',
    });
  });

  it.each([
    ['key_ops that is not an array', { key_ops: 'verify' }],
    ['an unknown operation', { key_ops: ['fly'] }],
    ['a repeated operation', { key_ops: ['verify', 'verify'] }],
    ['an unknown use', { use: 'signature' }],
  ])('refuses %s (ERR_JWK_INVALID)', (_what, members) => {
    expect(thrown(() => importJwk({ ...publicJwk, ...members }))).toMatchObject({ code: 'ERR_JWK_INVALID' });
  });
});

describe('alg pinning', () => {
  const rsaJwk = rsa.publicKey.export({ format: 'jwk' });
  const ecJwk = ec.publicKey.export({ format: 'jwk' });

  it.each([
    [
      'an RSA key',
      () => importKeyObject(rsa.publicKey),
      ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'],
    ],
    ['an EC P-256 key', () => importKeyObject(ec.publicKey), ['ES256']],
    ['an Ed25519 key', () => importKeyObject(generateKeyPairSync('ed25519').publicKey), ['EdDSA', 'Ed25519']],
    ['a 32-byte secret', () => importSecret(Buffer.alloc(32, 1)), ['HS256']],
    ['a 64-byte secret', () => importSecret(Buffer.alloc(64, 1)), ['HS256', 'HS384', 'HS512']],
  ])('an unpinned %s serves every algorithm its type and size allow', (_what, key, algorithms) => {
    expect(key().algorithms).toEqual(algorithms);
  });

  it('a JWK "alg" pins the key to that algorithm', () => {
    expect(importJwk({ ...rsaJwk, alg: 'PS384' }).algorithms).toEqual(['PS384']);
  });

  it('the import option alg pins a JWK that has none', () => {
    expect(importJwk(rsaJwk, { alg: 'PS256' }).algorithms).toEqual(['PS256']);
  });

  it('a key pinned to RS256 refuses a genuine PS256 token (ERR_JOSE_ALG_NOT_ALLOWED)', async () => {
    const token = await signJwt({}, importKeyObject(rsa.privateKey), { alg: 'PS256', expiresIn: 60 });
    await expect(
      verifyJwt(token, importJwk({ ...rsaJwk, alg: 'RS256' }), { algorithms: ['RS256', 'PS256'] }),
    ).rejects.toMatchObject({ code: 'ERR_JOSE_ALG_NOT_ALLOWED', alg: 'PS256' });
  });

  it('refuses a JWK "alg" its key cannot serve (ERR_KEY_INVALID)', () => {
    expect(thrown(() => importJwk({ ...ecJwk, alg: 'ES384' }))).toMatchObject({ code: 'ERR_KEY_INVALID' });
  });

  it('refuses a JWK "alg" that contradicts the import option (ERR_JWK_INVALID)', () => {
    expect(thrown(() => importJwk({ ...rsaJwk, alg: 'RS256' }, { alg: 'PS256' }))).toMatchObject({
      code: 'ERR_JWK_INVALID',
    });
  });

  it('refuses an unknown "alg" (ERR_KEY_INVALID)', () => {
    expect(thrown(() => importJwk({ ...rsaJwk, alg: 'XS256' }))).toMatchObject({ code: 'ERR_KEY_INVALID' });
  });

  it('a key pinned to an encryption algorithm serves no signature algorithm (ERR_JOSE_ALG_NOT_ALLOWED)', async () => {
    const token = await signJwt({}, importKeyObject(rsa.privateKey), { alg: 'RS256', expiresIn: 60 });
    await expect(
      verifyJwt(token, importJwk({ ...rsaJwk, alg: 'RSA-OAEP' }), { algorithms: ['RS256'] }),
    ).rejects.toMatchObject({ code: 'ERR_JOSE_ALG_NOT_ALLOWED' });
  });

  it('signing with an unpinned key that serves several algorithms needs "alg" (ERR_KEY_INVALID)', async () => {
    await expect(signJwt({}, importKeyObject(rsa.privateKey))).rejects.toMatchObject({
      code: 'ERR_KEY_INVALID',
    });
  });
});

describe('JWK member validation (RFC 7517, RFC 7518 §6)', () => {
  const ecJwk = ec.publicKey.export({ format: 'jwk' });

  it('refuses a coordinate of the wrong size (ERR_JWK_INVALID)', () => {
    expect(thrown(() => importJwk({ ...ecJwk, x: `A${ecJwk.x}` }))).toMatchObject({
      code: 'ERR_JWK_INVALID',
    });
  });

  it('refuses a member that is not canonical base64url (ERR_JWK_INVALID)', () => {
    expect(thrown(() => importJwk({ ...ecJwk, x: `${ecJwk.x}=` }))).toMatchObject({
      code: 'ERR_JWK_INVALID',
    });
  });

  it('refuses an unknown "kty" (ERR_JOSE_NOT_SUPPORTED)', () => {
    expect(thrown(() => importJwk({ kty: 'XYZ' }))).toMatchObject({ code: 'ERR_JOSE_NOT_SUPPORTED' });
  });

  it('refuses an unknown curve (ERR_JOSE_NOT_SUPPORTED)', () => {
    expect(thrown(() => importJwk({ ...ecJwk, crv: 'P-192' }))).toMatchObject({
      code: 'ERR_JOSE_NOT_SUPPORTED',
    });
  });

  it.each(['constructor', 'toString', '__proto__'])(
    'refuses an EC or OKP "crv" named after the Object.prototype member %j (ERR_JOSE_NOT_SUPPORTED)',
    (crv) => {
      expect(thrown(() => importJwk({ kty: 'EC', crv, x: 'AA', y: 'AA' }))).toMatchObject({
        code: 'ERR_JOSE_NOT_SUPPORTED',
      });
      expect(thrown(() => importJwk({ kty: 'OKP', crv, x: 'AA' }))).toMatchObject({
        code: 'ERR_JOSE_NOT_SUPPORTED',
      });
    },
  );

  it('builds the key from its members, never from "x5c"', () => {
    const certificate = new X509Certificate(fixture('x509-rsa-2048.cert.pem'));
    const key = importJwk({ ...ecJwk, x5c: [certificate.raw.toString('base64')] });
    expect(key.keyObject.equals(ec.publicKey)).toBe(true);
  });
});

describe('private JWKs are consistent: every member belongs to one key (RFC 7518 §6.2.2, §6.3.2)', () => {
  it.each([
    ['P-256', 'prime256v1'],
    ['P-384', 'secp384r1'],
    ['P-521', 'secp521r1'],
    ['secp256k1', 'secp256k1'],
  ])('refuses an EC %s private JWK whose x/y belong to another key (ERR_JWK_INVALID)', (_crv, namedCurve) => {
    const a = generateKeyPairSync('ec', { namedCurve }).privateKey.export({ format: 'jwk' });
    const b = generateKeyPairSync('ec', { namedCurve }).privateKey.export({ format: 'jwk' });
    expect(thrown(() => importJwk({ ...a, x: b.x, y: b.y }))).toMatchObject({ code: 'ERR_JWK_INVALID' });
    expect(thrown(() => importJwk({ ...a, y: b.y }))).toMatchObject({ code: 'ERR_JWK_INVALID' });
    expect(importJwk(a as Record<string, unknown>).type).toBe('private');
  });

  it('refuses an EC private JWK whose "d" is not a valid scalar (ERR_JWK_INVALID)', () => {
    const a = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' });
    const d = Buffer.alloc(32, 0xff).toString('base64url'); // ≥ the group order
    expect(thrown(() => importJwk({ ...a, d }))).toMatchObject({ code: 'ERR_JWK_INVALID' });
  });

  it('refuses a mismatched EC private JWK even when it pins "alg": "ES256" (ERR_JWK_INVALID)', () => {
    const a = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' });
    const b = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const bJwk = b.publicKey.export({ format: 'jwk' });
    expect(thrown(() => importJwk({ ...a, x: bJwk.x, y: bJwk.y, alg: 'ES256' }))).toMatchObject({
      code: 'ERR_JWK_INVALID',
    });
  });

  describe('RSA', () => {
    const r1 = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });
    const r2 = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });

    it.each([
      ['another key\'s "n"', { n: r2.n }],
      ["another key's primes", { p: r2.p, q: r2.q }],
      ['"p" and "q" swapped (qi no longer fits)', { p: r1.q, q: r1.p, dp: r1.dq, dq: r1.dp }],
      ["another key's CRT exponents", { dp: r2.dp, dq: r2.dq }],
      ['another key\'s "d"', { d: r2.d }],
      ['another key\'s "qi"', { qi: r2.qi }],
    ])('refuses a private JWK with %s (ERR_JWK_INVALID)', (_what, change) => {
      expect(thrown(() => importJwk({ ...r1, ...change }))).toMatchObject({ code: 'ERR_JWK_INVALID' });
    });

    it('imports a consistent RSA private JWK', () => {
      expect(importJwk(r1 as Record<string, unknown>).type).toBe('private');
    });
  });
});

describe('RSA key size (RFC 7518 §3.3)', () => {
  it('refuses a 1024-bit key with a message citing RFC 7518 §3.3, not RFC 8725 (ERR_KEY_INVALID)', () => {
    const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 1024 });
    const err = thrown(() => importKeyObject(publicKey)) as Error;
    expect(err).toMatchObject({ code: 'ERR_KEY_INVALID' });
    expect(err.message).toMatch(/RFC 7518 §3\.3/);
    expect(err.message).not.toMatch(/8725/);
  });
});

describe('RSASSA-PSS ("rsa-pss") keys (RFC 7518 §3.5)', () => {
  const pssKeys = (hash: 'sha256' | 'sha512') => {
    const options: RSAPSSKeyPairKeyObjectOptions = {
      modulusLength: 2048,
      hashAlgorithm: hash,
      mgf1HashAlgorithm: hash,
      // A number for node:crypto; @types/node 20 declares it a string.
      saltLength: (hash === 'sha256' ? 32 : 64) as unknown as string,
    };
    return generateKeyPairSync('rsa-pss', options);
  };
  const pss256 = pssKeys('sha256');
  const pss512 = pssKeys('sha512');
  const spki = (key: KeyObject) => key.export({ format: 'pem', type: 'spki' }) as string;
  const pkcs8 = (key: KeyObject) => key.export({ format: 'pem', type: 'pkcs8' }) as string;

  it('serve only PS256 when restricted to sha256, and sign and verify it (importKeyObject, bare KeyObject)', async () => {
    const signing = importKeyObject(pss256.privateKey);
    expect(signing.algorithms).toEqual(['PS256']);
    const token = await signJwt({ sub: 'user-1' }, signing, { expiresIn: 60 });
    const { payload } = await verifyJwt(token, importKeyObject(pss256.publicKey), { algorithms: ['PS256'] });
    expect(payload.sub).toBe('user-1');
    // The bare KeyObject goes through the same import.
    await expect(verifyJwt(token, pss256.publicKey, { algorithms: ['PS256'] })).resolves.toBeDefined();
  });

  it('sign and verify PS256 when imported from PEM (SPKI and PKCS #8)', async () => {
    const token = await signJwt({ sub: 'user-1' }, importPem(pkcs8(pss256.privateKey)), {
      alg: 'PS256',
      expiresIn: 60,
    });
    const verifier = createVerifier({ key: importPem(spki(pss256.publicKey)), algorithms: ['PS256'] });
    expect(verifier.verify(token).payload.sub).toBe('user-1');
  });

  it('restricted to sha512, are refused for PS256 (ERR_KEY_INVALID on import, ERR_JOSE_ALG_NOT_ALLOWED on verify)', async () => {
    const token = await signJwt({}, importKeyObject(pss256.privateKey), { expiresIn: 60 });
    expect(importKeyObject(pss512.publicKey).algorithms).toEqual(['PS512']);
    expect(thrown(() => importKeyObject(pss512.publicKey, { alg: 'PS256' }))).toMatchObject({
      code: 'ERR_KEY_INVALID',
    });
    expect(thrown(() => importPem(spki(pss512.publicKey), { alg: 'PS256' }))).toMatchObject({
      code: 'ERR_KEY_INVALID',
    });
    await expect(verifyJwt(token, pss512.publicKey, { algorithms: ['PS256'] })).rejects.toMatchObject({
      code: 'ERR_JOSE_ALG_NOT_ALLOWED',
    });
  });

  it('unrestricted, serve every PS algorithm', () => {
    const { publicKey } = generateKeyPairSync('rsa-pss', { modulusLength: 2048 });
    expect(importKeyObject(publicKey).algorithms).toEqual(['PS256', 'PS384', 'PS512']);
  });

  it('are refused by exportJwk and jwkThumbprint with a JoseError, not a plain Error (ERR_JOSE_NOT_SUPPORTED)', () => {
    const key = importKeyObject(pss256.publicKey);
    expect(thrown(() => exportJwk(key))).toMatchObject({ code: 'ERR_JOSE_NOT_SUPPORTED' });
    expect(thrown(() => jwkThumbprint(key))).toMatchObject({ code: 'ERR_JOSE_NOT_SUPPORTED' });
  });
});

describe('generateSecret', () => {
  it.each(['toString', 'constructor', '__proto__', 'hasOwnProperty'])(
    'refuses an algorithm named after the Object.prototype member %j (ERR_JOSE_NOT_SUPPORTED)',
    (alg) => {
      expect(thrown(() => generateSecret(alg))).toMatchObject({ code: 'ERR_JOSE_NOT_SUPPORTED' });
    },
  );
});
