// Regression tests for the findings of the security review, one `describe` per finding. Each test
// replays the input that demonstrated the defect and asserts the behaviour that is now correct.
import { Buffer } from 'node:buffer';
import {
  generateKeyPairSync,
  type KeyObject,
  type RSAPSSKeyPairKeyObjectOptions,
  randomBytes,
} from 'node:crypto';
import { deflateRawSync } from 'node:zlib';
import { describe, expect, it, vi } from 'vitest';
import {
  compactEncrypt,
  compactVerify,
  createDecrypter,
  createLocalJwks,
  createSigner,
  createVerifier,
  decodeJwt,
  decodeProtectedHeader,
  decryptAndVerifyJwt,
  decryptJwt,
  encryptJwt,
  exportJwk,
  type FlattenedJwe,
  flattenedDecrypt,
  flattenedEncrypt,
  flattenedSign,
  flattenedVerify,
  type GeneralJwe,
  type GeneralJws,
  generalDecrypt,
  generalEncrypt,
  generalSign,
  generalVerify,
  generateKeyPair,
  generateSecret,
  importJwk,
  importKeyObject,
  importPem,
  jwkThumbprint,
  jwkThumbprintUri,
  type Key,
  parseTimeSpan,
  signJwt,
  verifyJwt,
} from '../../src/index.js';
import { b64u, forge, hmacSigner, thrown } from '../helpers/forge.js';

const T = new Date('2030-01-01T00:00:00Z');
const t = T.getTime() / 1000;
const secret = generateSecret('HS256', { kid: 'key-kid' });
const HS256 = { algorithms: ['HS256'] } as const;

/** Adds raw JSON members to the front of a serialized JSON object, as an attacker edits the text. */
const withRawMembers = <T>(value: object, members: string): T =>
  JSON.parse(JSON.stringify(value).replace(/^\{/, `{${members},`)) as T;

describe('1. time spans and claim-check numbers must be finite (lib/time.ts, lib/jwt_claims.ts)', () => {
  const INFINITE = `${'9'.repeat(400)}s`; // parseFloat gives Infinity
  const BAD_SPANS = [
    ['1 constructor', '1 constructor'],
    ["'9…9s' (400 digits)", INFINITE],
  ] as const;

  it.each([
    ['1 constructor', '1 constructor'],
    ['1 toString', '1 toString'],
    ['1 __proto__', '1 __proto__'],
    ['1 hasOwnProperty', '1 hasOwnProperty'],
    ["'9…9s' (400 digits, Infinity)", INFINITE],
  ])('parseTimeSpan refuses %s (TypeError), not NaN or Infinity', (_name, span) => {
    expect(() => parseTimeSpan(span, 'span')).toThrow(TypeError);
  });

  it.each([Number.NaN, Number.POSITIVE_INFINITY, -1])('parseTimeSpan refuses the number %s', (span) => {
    expect(() => parseTimeSpan(span, 'span')).toThrow(TypeError);
  });

  it('still reads ordinary spans', () => {
    expect(parseTimeSpan('15m', 'span')).toBe(900);
    expect(parseTimeSpan('1.5h', 'span')).toBe(5400);
    expect(parseTimeSpan(90.9, 'span')).toBe(90);
  });

  it.each(BAD_SPANS)(
    'a long-expired token is not let through by clockTolerance %s: TypeError instead',
    async (_name, clockTolerance) => {
      const expired = await signJwt({}, secret, { expiresIn: 60, currentDate: new Date('2001-01-01') });
      await expect(verifyJwt(expired, secret, { ...HS256, clockTolerance })).rejects.toThrow(TypeError);
      expect(() => createVerifier({ key: secret, ...HS256, clockTolerance })).toThrow(TypeError);
    },
  );

  it.each(BAD_SPANS)('maxTokenAge %s is a TypeError at construction', (_name, maxTokenAge) => {
    expect(() => createVerifier({ key: secret, ...HS256, maxTokenAge })).toThrow(TypeError);
  });

  it.each(BAD_SPANS)('expiresIn %s is a TypeError (no exp: NaN or Infinity)', (_name, expiresIn) => {
    expect(() => createSigner({ key: secret, expiresIn })).toThrow(TypeError);
  });

  it('refuses an invalid currentDate (NaN "now" would switch exp and nbf off): TypeError', async () => {
    const expired = await signJwt({}, secret, { expiresIn: 60, currentDate: new Date('2001-01-01') });
    await expect(verifyJwt(expired, secret, { ...HS256, currentDate: new Date(Number.NaN) })).rejects.toThrow(
      TypeError,
    );
  });

  it('refuses a verifier clock that returns NaN, instead of accepting an expired token', async () => {
    const expired = await signJwt({}, secret, { expiresIn: 60, currentDate: new Date('2001-01-01') });
    const verifier = createVerifier({ key: secret, ...HS256, clock: () => Number.NaN });
    expect(() => verifier.verify(expired)).toThrow(TypeError);
  });
});

describe('2. a "__proto__" header member is refused (lib/jwe_decrypt.ts, lib/jws_header.ts)', () => {
  const kw = generateSecret('A256KW');
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

  it('refuses a __proto__ member in a JWE protected header (ERR_JWE_INVALID), decrypter too', async () => {
    const cek = generateSecret('A256GCM');
    const header = b64u('{"alg":"dir","enc":"A256GCM","__proto__":{"zip":"DEF"}}');
    const jwe = `${header}..${b64u(randomBytes(12))}.${b64u('x')}.${b64u(randomBytes(16))}`;
    const dirOptions = { keyManagementAlgorithms: ['dir'], contentEncryptionAlgorithms: ['A256GCM'] };
    expect(thrown(() => createDecrypter({ key: cek, ...dirOptions }).decrypt(jwe))).toMatchObject({
      code: 'ERR_JWE_INVALID',
    });
  });

  it('refuses a __proto__ member in a JWS unprotected header (ERR_JWS_INVALID)', async () => {
    const jws = flattenedSign('hello', secret, { protectedHeader: { alg: 'HS256' } });
    const forged = withRawMembers<typeof jws>(jws, '"header":{"__proto__":{"kid":"other"}}');
    await expect(flattenedVerify(forged, secret, HS256)).rejects.toMatchObject({ code: 'ERR_JWS_INVALID' });
    const general = withRawMembers<GeneralJws>(
      { payload: jws.payload },
      `"signatures":[{"protected":"${jws.protected}","header":{"__proto__":{}},"signature":"${jws.signature}"}]`,
    );
    await expect(generalVerify(general, secret, HS256)).rejects.toMatchObject({ code: 'ERR_JWS_INVALID' });
  });

  it('refuses a __proto__ member in a JWS protected header, through every entry point (ERR_JWS_INVALID)', async () => {
    const token = forge(
      '{"alg":"HS256","__proto__":{"b64":false}}',
      { sub: 'x' },
      hmacSigner(secret.keyObject.export()),
    );
    await expect(compactVerify(token, secret, HS256)).rejects.toMatchObject({ code: 'ERR_JWS_INVALID' });
    await expect(verifyJwt(token, secret, HS256)).rejects.toMatchObject({ code: 'ERR_JWS_INVALID' });
    expect(thrown(() => createVerifier({ key: secret, ...HS256 }).verify(token))).toMatchObject({
      code: 'ERR_JWS_INVALID',
    });
    expect(thrown(() => decodeProtectedHeader(token))).toMatchObject({ code: 'ERR_JWS_INVALID' });
  });

  it('refuses to sign or encrypt with a __proto__ header member (never emits one)', () => {
    const header = JSON.parse('{"alg":"HS256","__proto__":{}}');
    expect(thrown(() => flattenedSign('x', secret, { protectedHeader: header }))).toMatchObject({
      code: 'ERR_JWS_INVALID',
    });
    expect(thrown(() => createSigner({ key: secret, header }))).toMatchObject({ code: 'ERR_JWS_INVALID' });
    expect(
      thrown(() =>
        flattenedEncrypt('x', kw, {
          protectedHeader: { enc: 'A256GCM' },
          unprotectedHeader: JSON.parse('{"alg":"A256KW","__proto__":{}}'),
        }),
      ),
    ).toMatchObject({ code: 'ERR_JWE_INVALID' });
  });

  it('still decrypts "zip" from the protected header, and refuses it from a plain unprotected one', async () => {
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

describe('3. RSASSA-PSS (rsa-pss) keys can be imported and verify PS* (key/roca.ts)', () => {
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

  it('verifies a PS256 token with an rsa-pss key restricted to sha256, via importKeyObject', async () => {
    const signing = importKeyObject(pss256.privateKey);
    expect(signing.algorithms).toEqual(['PS256']);
    const token = await signJwt({ sub: 'user-1' }, signing, { expiresIn: 60 });
    const { payload } = await verifyJwt(token, importKeyObject(pss256.publicKey), { algorithms: ['PS256'] });
    expect(payload.sub).toBe('user-1');
    // The bare KeyObject goes through the same import.
    await expect(verifyJwt(token, pss256.publicKey, { algorithms: ['PS256'] })).resolves.toBeDefined();
  });

  it('verifies a PS256 token with the same keys imported from PEM (SPKI and PKCS #8)', async () => {
    const token = await signJwt({ sub: 'user-1' }, importPem(pkcs8(pss256.privateKey)), {
      alg: 'PS256',
      expiresIn: 60,
    });
    const verifier = createVerifier({ key: importPem(spki(pss256.publicKey)), algorithms: ['PS256'] });
    expect(verifier.verify(token).payload.sub).toBe('user-1');
  });

  it('refuses an rsa-pss key restricted to sha512 for PS256', async () => {
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

  it('an unrestricted rsa-pss key serves every PS algorithm', () => {
    const { publicKey } = generateKeyPairSync('rsa-pss', { modulusLength: 2048 });
    expect(importKeyObject(publicKey).algorithms).toEqual(['PS256', 'PS384', 'PS512']);
  });

  it('exportJwk and jwkThumbprint refuse rsa-pss keys with a JoseError, not a plain Error', () => {
    const key = importKeyObject(pss256.publicKey);
    expect(thrown(() => exportJwk(key))).toMatchObject({ code: 'ERR_JOSE_NOT_SUPPORTED' });
    expect(thrown(() => jwkThumbprint(key))).toMatchObject({ code: 'ERR_JOSE_NOT_SUPPORTED' });
  });
});

describe('4. LocalJwks.toJSON never publishes a secret (jwks/local.ts)', () => {
  it('leaves HMAC secrets (and their "k") out of toJSON and JSON.stringify', () => {
    const jwk = exportJwk(generateSecret('HS256', { kid: 'hmac-1' }));
    const jwks = createLocalJwks({ keys: [jwk] });
    expect(jwks.keys).toHaveLength(1); // still usable for verification
    expect(jwks.toJSON()).toEqual({ keys: [] });
    expect(JSON.stringify(jwks)).not.toContain(jwk.k);
  });

  it('still publishes the public members of asymmetric keys, never the private ones', async () => {
    const { privateKey } = await generateKeyPair('ES256', { kid: 'ec-1' });
    const jwks = createLocalJwks({ keys: [exportJwk(privateKey)] });
    const [published] = jwks.toJSON().keys;
    expect(published).toMatchObject({ kty: 'EC', kid: 'ec-1' });
    expect(published).not.toHaveProperty('d');
  });
});

describe('5. private JWKs must be consistent (key/import.ts)', () => {
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

  it('a mismatched EC private JWK can no longer sign under one key and verify under another', async () => {
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

describe('6. header caches fill only with verified headers, and are LRUs (jwt/verifier.ts, jwe/decrypter.ts)', () => {
  const forgedJwt = (i: number) =>
    forge({ alg: 'HS256', kid: `forged-${i}` }, { sub: 'x' }, hmacSigner(randomBytes(32)));

  it('64 forged headers do not keep a legitimate header out of the verifier cache', async () => {
    const verifier = createVerifier({ key: secret, ...HS256 });
    for (let i = 0; i < 64; i++) {
      expect(thrown(() => verifier.verify(forgedJwt(i)))).toMatchObject({
        code: 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED',
      });
    }
    const [a, b] = await Promise.all([
      signJwt({ sub: 'a' }, secret, { expiresIn: 60 }),
      signJwt({ sub: 'b' }, secret, { expiresIn: 60 }),
    ]);
    // Same header: the second token is served the remembered (shared) header object.
    expect(verifier.verify(b).protectedHeader).toBe(verifier.verify(a).protectedHeader);
  });

  it('verifyAsync remembers the header only after the token verified, too', async () => {
    const verifier = createVerifier({ key: createLocalJwks({ keys: [exportJwk(secret)] }), ...HS256 });
    for (let i = 0; i < 64; i++) {
      await expect(verifier.verifyAsync(forgedJwt(i))).rejects.toBeDefined();
    }
    const token = await signJwt({}, secret, { expiresIn: 60 });
    const first = await verifier.verifyAsync(token);
    expect((await verifier.verifyAsync(token)).protectedHeader).toBe(first.protectedHeader);
  });

  it('evicts the least recently used header once 64 others verified', async () => {
    const verifier = createVerifier({ key: secret, ...HS256 });
    const tokens = await Promise.all(
      Array.from({ length: 65 }, (_, i) => signJwt({}, secret, { kid: `k${i}`, expiresIn: 60 })),
    );
    const headers = tokens.map((token) => verifier.verify(token).protectedHeader);
    // k0 was pushed out by k1…k64; k64 is still there.
    expect(verifier.verify(tokens[0]!).protectedHeader).not.toBe(headers[0]);
    expect(verifier.verify(tokens[64]!).protectedHeader).toBe(headers[64]);
  });

  it('64 forged JWE headers do not keep a legitimate header out of the decrypter cache', () => {
    const cek = generateSecret('A256GCM');
    const decrypter = createDecrypter({
      key: cek,
      keyManagementAlgorithms: ['dir'],
      contentEncryptionAlgorithms: ['A256GCM'],
    });
    for (let i = 0; i < 64; i++) {
      const header = b64u({ alg: 'dir', enc: 'A256GCM', kid: `forged-${i}` });
      const jwe = `${header}..${b64u(randomBytes(12))}.${b64u(randomBytes(8))}.${b64u(randomBytes(16))}`;
      expect(thrown(() => decrypter.decrypt(jwe))).toMatchObject({ code: 'ERR_JWE_DECRYPTION_FAILED' });
    }
    const seal = (text: string) =>
      compactEncrypt(text, cek, { protectedHeader: { alg: 'dir', enc: 'A256GCM' } });
    const first = decrypter.decrypt(seal('a'));
    expect(decrypter.decrypt(seal('b')).protectedHeader).toBe(first.protectedHeader);
  });
});

describe('7. cached verifier results are deeply frozen (jwt/verifier.ts)', () => {
  it('payload.roles.push on a cached result throws and does not corrupt later hits', async () => {
    const verifier = createVerifier({ key: secret, ...HS256, cache: true });
    const token = await signJwt({ roles: ['user'], profile: { name: 'ada' } }, secret, { expiresIn: 60 });
    const { payload } = verifier.verify(token);
    expect(() => (payload.roles as string[]).push('admin')).toThrow(TypeError);
    expect(() => {
      (payload.profile as { name: string }).name = 'eve';
    }).toThrow(TypeError);
    expect(verifier.verify(token).payload).toMatchObject({ roles: ['user'], profile: { name: 'ada' } });
  });

  it('nested protected header members are frozen too', async () => {
    const verifier = createVerifier({ key: secret, ...HS256, cache: true });
    const token = await signJwt({}, secret, { expiresIn: 60, header: { ctx: { tenant: 't1' } } });
    const { protectedHeader } = verifier.verify(token);
    expect(Object.isFrozen(protectedHeader.ctx)).toBe(true);
    expect(Object.isFrozen(verifier.verify(token).protectedHeader.ctx)).toBe(true);
  });
});

describe('8. General JSON serializations have bounded recipients and signatures', () => {
  it('refuses a General JWE with 500 RSA-OAEP recipients before any RSA work (ERR_JWE_INVALID)', async () => {
    const { publicKey, privateKey } = await generateKeyPair('RSA-OAEP-256');
    const jwe = generalEncrypt('x', [{ key: publicKey, unprotectedHeader: { alg: 'RSA-OAEP-256' } }], {
      protectedHeader: { enc: 'A256GCM' },
    });
    const flood: GeneralJwe = { ...jwe, recipients: Array.from({ length: 500 }, () => jwe.recipients[0]!) };
    const resolver = vi.fn(() => privateKey);
    const options = { keyManagementAlgorithms: ['RSA-OAEP-256'], contentEncryptionAlgorithms: ['A256GCM'] };
    await expect(generalDecrypt(flood, resolver, options)).rejects.toMatchObject({ code: 'ERR_JWE_INVALID' });
    expect(resolver).not.toHaveBeenCalled();
    // 16 (the default) is accepted; maxRecipients sets the bound.
    const sixteen = { ...jwe, recipients: flood.recipients.slice(0, 16) };
    await expect(generalDecrypt(sixteen, privateKey, options)).resolves.toBeDefined();
    await expect(
      generalDecrypt(sixteen, privateKey, { ...options, maxRecipients: 15 }),
    ).rejects.toMatchObject({
      code: 'ERR_JWE_INVALID',
    });
    await expect(generalDecrypt(flood, privateKey, { ...options, maxRecipients: 0 })).rejects.toThrow(
      TypeError,
    );
  });

  it('refuses a General JWS with 17 signatures before any verification (ERR_JWS_INVALID)', async () => {
    const jws = generalSign('x', [{ key: secret, protectedHeader: { alg: 'HS256' } }]);
    const flood: GeneralJws = { ...jws, signatures: Array.from({ length: 17 }, () => jws.signatures[0]!) };
    const resolver = vi.fn((): Key => secret);
    await expect(generalVerify(flood, resolver, HS256)).rejects.toMatchObject({ code: 'ERR_JWS_INVALID' });
    expect(resolver).not.toHaveBeenCalled();
    const sixteen = { ...jws, signatures: flood.signatures.slice(0, 16) };
    await expect(generalVerify(sixteen, secret, HS256)).resolves.toBeDefined();
    await expect(generalVerify(sixteen, secret, { ...HS256, maxSignatures: 2 })).rejects.toMatchObject({
      code: 'ERR_JWS_INVALID',
    });
    await expect(generalVerify(jws, secret, { ...HS256, maxSignatures: 1.5 })).rejects.toThrow(TypeError);
  });
});

describe('9. no non-JoseError leaks for bad names (key/generate.ts, key/thumbprint.ts, key/export.ts)', () => {
  it.each(['toString', 'constructor', '__proto__', 'hasOwnProperty'])(
    'generateSecret(%j) is ERR_JOSE_NOT_SUPPORTED',
    (alg) => {
      expect(thrown(() => generateSecret(alg))).toMatchObject({ code: 'ERR_JOSE_NOT_SUPPORTED' });
    },
  );

  it.each(['nope', 'md5', 'sha1', 'SHA256', ''])(
    'jwkThumbprint(key, %j) is a TypeError naming the accepted digests',
    (digest) => {
      const err = thrown(() => jwkThumbprint(secret, digest as never));
      expect(err).toBeInstanceOf(TypeError);
      expect((err as Error).message).toMatch(/sha256.*sha384.*sha512/);
      expect(() => jwkThumbprintUri(secret, digest as never)).toThrow(TypeError);
    },
  );

  it('jwkThumbprint still accepts sha384 and sha512', () => {
    expect(jwkThumbprint(secret, 'sha384')).toHaveLength(64);
    expect(jwkThumbprintUri(secret, 'sha512')).toMatch(/:sha-512:/);
  });

  it.each(['constructor', 'toString', '__proto__'])(
    'a JWK with "kty" %j is ERR_JOSE_NOT_SUPPORTED',
    (kty) => {
      expect(thrown(() => jwkThumbprint({ kty }))).toMatchObject({ code: 'ERR_JOSE_NOT_SUPPORTED' });
      expect(thrown(() => importJwk({ kty: 'EC', crv: kty, x: 'AA', y: 'AA' }))).toMatchObject({
        code: 'ERR_JOSE_NOT_SUPPORTED',
      });
      expect(thrown(() => importJwk({ kty: 'OKP', crv: kty, x: 'AA' }))).toMatchObject({
        code: 'ERR_JOSE_NOT_SUPPORTED',
      });
    },
  );

  it('exportJwk(secret, { public: true }) is a TypeError that says why', () => {
    const err = thrown(() => exportJwk(secret, { public: true }));
    expect(err).toBeInstanceOf(TypeError);
    expect((err as Error).message).toMatch(/secret key has no public part/);
  });
});

describe('10. README and code agree', () => {
  it('(a) iat: true means now, even when the claims carry an iat; exp counts from now', async () => {
    const stale = t - 10 * 365 * 86_400;
    const payload = decodeJwt(await signJwt({ iat: stale }, secret, { expiresIn: '15m', currentDate: T }));
    expect(payload).toMatchObject({ iat: t, exp: t + 900 });
    const signer = createSigner({ key: secret, expiresIn: 60, clock: () => T.getTime() });
    expect(decodeJwt(signer.sign({ iat: stale }))).toMatchObject({ iat: t, exp: t + 60 });
  });

  it('(a) a specific iat is an option, and wins over the claims', async () => {
    const payload = decodeJwt(
      await signJwt({ iat: 5 }, secret, { iat: t - 100, expiresIn: 60, currentDate: T }),
    );
    expect(payload).toMatchObject({ iat: t - 100, exp: t - 40 });
  });

  it("(b) kid precedence: options.kid, then header.kid, then the key's kid", async () => {
    const kidOf = async (options: Parameters<typeof signJwt>[2]) =>
      decodeProtectedHeader(await signJwt({}, secret, options)).kid;
    expect(await kidOf({})).toBe('key-kid');
    expect(await kidOf({ header: { kid: 'header-kid' } })).toBe('header-kid');
    expect(await kidOf({ kid: 'option-kid', header: { kid: 'header-kid' } })).toBe('option-kid');
    const signer = createSigner({ key: secret, header: { kid: 'header-kid' } });
    expect(signer.kid).toBe('header-kid');
    expect(decodeProtectedHeader(signer.sign()).kid).toBe('header-kid');
    expect(createSigner({ key: secret, kid: 'option-kid', header: { kid: 'header-kid' } }).kid).toBe(
      'option-kid',
    );
    expect(createSigner({ key: secret }).kid).toBe('key-kid');
  });

  it('(c) decodeProtectedHeader refuses a token over 16384 characters, as decodeJwtUnverified does', async () => {
    const token = await signJwt({ pad: 'x'.repeat(12_000) }, secret);
    expect(token.length).toBeLessThanOrEqual(16_384);
    expect(decodeProtectedHeader(token).alg).toBe('HS256');
    const long = `${b64u({ alg: 'HS256' })}.${'A'.repeat(16_384)}.sig`;
    expect(thrown(() => decodeProtectedHeader(long))).toMatchObject({ code: 'ERR_JWS_INVALID' });
    expect(thrown(() => decodeJwt(long))).toMatchObject({ code: 'ERR_JWS_INVALID' });
  });

  describe('(d) cty "application/JWT" marks a nested JWT (RFC 7515 §4.1.10)', () => {
    const cek = generateSecret('A256GCM');
    const decryption = { keyManagementAlgorithms: ['dir'], contentEncryptionAlgorithms: ['A256GCM'] };

    it.each(['application/JWT', 'APPLICATION/jwt', 'jwt'])(
      'decryptAndVerifyJwt accepts cty %j',
      async (cty) => {
        const inner = await signJwt({ sub: 'user-1' }, secret, { expiresIn: 60 });
        const token = compactEncrypt(inner, cek, { protectedHeader: { alg: 'dir', enc: 'A256GCM', cty } });
        const { payload } = await decryptAndVerifyJwt(token, cek, decryption, secret, HS256);
        expect(payload.sub).toBe('user-1');
      },
    );

    it('decryptJwt refuses cty "application/JWT" as a nested JWT (ERR_JWT_INVALID)', async () => {
      const token = await encryptJwt({ sub: 'user-1' }, cek, {
        alg: 'dir',
        enc: 'A256GCM',
        expiresIn: 60,
        header: { cty: 'application/JWT' },
      });
      await expect(decryptJwt(token, cek, decryption)).rejects.toMatchObject({ code: 'ERR_JWT_INVALID' });
    });
  });
});

describe('11. RSA key size errors cite RFC 7518, not RFC 8725 (key/key.ts)', () => {
  it('a 1024-bit key is refused citing RFC 7518 §3.3', () => {
    const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 1024 });
    const err = thrown(() => importKeyObject(publicKey)) as Error;
    expect(err).toMatchObject({ code: 'ERR_KEY_INVALID' });
    expect(err.message).toMatch(/RFC 7518 §3\.3/);
    expect(err.message).not.toMatch(/8725/);
  });
});
