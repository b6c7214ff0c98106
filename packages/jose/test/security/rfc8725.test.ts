// RFC 8725 (JWT Best Current Practices): one negative test per threat of §2 and per best practice of
// §3 that concerns signatures. Each test builds the attacking token or input by hand and asserts the
// exact error code Tessera answers with. Token-level attacks run against every JWT entry point.
import { Buffer } from 'node:buffer';
import { createSecretKey, generateKeyPairSync, randomBytes, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  compactVerify,
  createLocalJwks,
  createSigner,
  createVerifier,
  decodeProtectedHeader,
  exportJwk,
  flattenedSign,
  flattenedVerify,
  type GeneralJws,
  generalSign,
  generalVerify,
  generateKeyPair,
  generateSecret,
  importJwk,
  importKeyObject,
  importPem,
  importSecret,
  type Key,
  type KeyInput,
  type KeySet,
  signJwt,
  type VerifyJwtOptions,
  verifyJwt,
} from '../../src/index.js';
import {
  b64u,
  claims,
  forge,
  forgeSegments,
  hmacSigner,
  keySigner,
  now,
  segments,
  thrown,
  withRawMembers,
  withTrailingBits,
} from '../helpers/forge.js';

type EntryPoint = (token: string, key: KeyInput | KeySet, options: VerifyJwtOptions) => Promise<unknown>;

/** Every way to verify a JWT; the verifier's prepared pipeline is separate code and is tested as such. */
const ENTRY_POINTS: [string, EntryPoint][] = [
  ['verifyJwt', (token, key, options) => verifyJwt(token, key, options)],
  [
    'createVerifier().verify',
    async (token, key, options) => createVerifier({ ...options, key }).verify(token),
  ],
  [
    'createVerifier().verifyAsync',
    async (token, key, options) => createVerifier({ ...options, key }).verifyAsync(token),
  ],
];

const viaEveryEntryPoint = (body: (verify: EntryPoint) => void) =>
  describe.each(ENTRY_POINTS)('via %s', (_name, verify) => body(verify));

const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const rsaPublic = importKeyObject(rsa.publicKey);
const rsaPrivate = importKeyObject(rsa.privateKey);
const rsaPem = rsa.publicKey.export({ format: 'pem', type: 'spki' }) as string;
const rsaSpkiDer = rsa.publicKey.export({ format: 'der', type: 'spki' });
const rsaJwk = exportJwk(rsaPublic);
const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const ecPublic = importKeyObject(ec.publicKey);
const attacker = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const attackerJwk = attacker.publicKey.export({ format: 'jwk' });
const secret = generateSecret('HS256');
const secretBytes = secret.keyObject.export();
const hs256 = hmacSigner(secretBytes);

const hsToken = (header: object = {}, payload: object = claims()) =>
  forge({ alg: 'HS256', typ: 'JWT', ...header }, payload, hs256);

afterEach(() => {
  vi.restoreAllMocks();
});

describe('RFC 8725 §2.1, §3.1, §3.2: "none" is never accepted', () => {
  viaEveryEntryPoint((verify) => {
    it.each(['none', 'None', 'NONE', 'nOnE'])(
      'refuses a token with alg "%s" and no signature, whatever key is given (ERR_JOSE_ALG_NOT_ALLOWED)',
      async (alg) => {
        const token = `${b64u({ alg, typ: 'JWT' })}.${b64u(claims())}.`;
        await expect(verify(token, secret, { algorithms: ['HS256'] })).rejects.toMatchObject({
          code: 'ERR_JOSE_ALG_NOT_ALLOWED',
          alg,
        });
      },
    );

    it.each(['none', 'None', 'NONE', 'nOnE'])(
      'refuses "%s" in options.algorithms (TypeError)',
      async (alg) => {
        const token = `${b64u({ alg, typ: 'JWT' })}.${b64u(claims())}.`;
        await expect(verify(token, secret, { algorithms: ['HS256', alg] })).rejects.toThrow(TypeError);
      },
    );

    it('refuses a token whose signature was stripped (ERR_JWS_INVALID)', async () => {
      const [h, p] = segments(hsToken());
      await expect(verify(`${h}.${p}.`, secret, { algorithms: ['HS256'] })).rejects.toMatchObject({
        code: 'ERR_JWS_INVALID',
      });
    });

    it('refuses a token with no "alg" (ERR_JWS_INVALID)', async () => {
      const token = forge({ typ: 'JWT' }, claims(), hs256);
      await expect(verify(token, secret, { algorithms: ['HS256'] })).rejects.toMatchObject({
        code: 'ERR_JWS_INVALID',
      });
    });

    it('refuses an encryption algorithm (RSA1_5) in a JWS header (ERR_JOSE_ALG_NOT_ALLOWED)', async () => {
      const token = forge({ alg: 'RSA1_5', typ: 'JWT' }, claims(), hs256);
      await expect(verify(token, secret, { algorithms: ['HS256'] })).rejects.toMatchObject({
        code: 'ERR_JOSE_ALG_NOT_ALLOWED',
      });
    });

    it('refuses an encryption algorithm (RSA1_5) in options.algorithms (TypeError)', async () => {
      await expect(verify(hsToken(), secret, { algorithms: ['RSA1_5'] })).rejects.toThrow(TypeError);
    });
  });
});

describe('RFC 8725 §2.1, §3.1: algorithm substitution (an RSA public key is never an HMAC secret)', () => {
  it('refuses the RSA public key PEM string as an HMAC secret (ERR_KEY_INVALID)', () => {
    expect(thrown(() => importSecret(rsaPem))).toMatchObject({ code: 'ERR_KEY_INVALID' });
  });

  it('refuses the RSA public key PEM bytes as an HMAC secret (ERR_KEY_INVALID)', () => {
    expect(thrown(() => importSecret(Buffer.from(rsaPem)))).toMatchObject({ code: 'ERR_KEY_INVALID' });
  });

  it('refuses the RSA public JWK as a JSON string HMAC secret (ERR_KEY_INVALID)', () => {
    expect(thrown(() => importSecret(JSON.stringify(rsaJwk)))).toMatchObject({ code: 'ERR_KEY_INVALID' });
  });

  it('refuses the RSA public key SPKI DER bytes as an HMAC secret (ERR_KEY_INVALID)', () => {
    expect(thrown(() => importSecret(rsaSpkiDer))).toMatchObject({ code: 'ERR_KEY_INVALID' });
  });

  it('refuses the base64 SPKI body of a PEM without its armour as an HMAC secret (ERR_KEY_INVALID)', () => {
    expect(thrown(() => importSecret(rsaSpkiDer.toString('base64')))).toMatchObject({
      code: 'ERR_KEY_INVALID',
    });
  });

  it('refuses an X.509 certificate PEM as an HMAC secret (ERR_KEY_INVALID)', () => {
    const certificate = readFileSync(new URL('../fixtures/x509-rsa-2048.cert.pem', import.meta.url), 'utf8');
    expect(thrown(() => importSecret(certificate))).toMatchObject({ code: 'ERR_KEY_INVALID' });
  });

  it('refuses a secret KeyObject made from the PEM bytes (ERR_KEY_INVALID)', () => {
    const keyObject = createSecretKey(Buffer.from(rsaPem));
    expect(thrown(() => importKeyObject(keyObject))).toMatchObject({ code: 'ERR_KEY_INVALID' });
  });

  it('refuses a secret KeyObject made from the SPKI DER bytes (ERR_KEY_INVALID)', () => {
    const keyObject = createSecretKey(rsaSpkiDer);
    expect(thrown(() => importKeyObject(keyObject))).toMatchObject({ code: 'ERR_KEY_INVALID' });
  });

  it('refuses a secret KeyObject made from the JWK JSON (ERR_KEY_INVALID)', () => {
    const keyObject = createSecretKey(Buffer.from(JSON.stringify(rsaJwk)));
    expect(thrown(() => importKeyObject(keyObject))).toMatchObject({ code: 'ERR_KEY_INVALID' });
  });

  viaEveryEntryPoint((verify) => {
    const options = { algorithms: ['RS256', 'HS256'] };
    const forgedWithPem = () => forge({ alg: 'HS256', typ: 'JWT' }, claims(), hmacSigner(rsaPem));

    it('refuses an HS256 token keyed with the PEM when given the public Key (ERR_JOSE_ALG_NOT_ALLOWED)', async () => {
      await expect(verify(forgedWithPem(), rsaPublic, options)).rejects.toMatchObject({
        code: 'ERR_JOSE_ALG_NOT_ALLOWED',
        alg: 'HS256',
      });
    });

    it('refuses an HS256 token keyed with the PEM when given the public KeyObject (ERR_JOSE_ALG_NOT_ALLOWED)', async () => {
      await expect(verify(forgedWithPem(), rsa.publicKey, options)).rejects.toMatchObject({
        code: 'ERR_JOSE_ALG_NOT_ALLOWED',
      });
    });

    it('refuses an HS256 token when given the RSA private Key (ERR_JOSE_ALG_NOT_ALLOWED)', async () => {
      await expect(verify(forgedWithPem(), rsaPrivate, options)).rejects.toMatchObject({
        code: 'ERR_JOSE_ALG_NOT_ALLOWED',
      });
    });

    it('refuses the PEM bytes passed as the verification key (ERR_KEY_INVALID)', async () => {
      await expect(verify(forgedWithPem(), Buffer.from(rsaPem), options)).rejects.toMatchObject({
        code: 'ERR_KEY_INVALID',
      });
    });

    it('refuses the SPKI DER bytes passed as the verification key (ERR_KEY_INVALID)', async () => {
      const token = forge({ alg: 'HS256', typ: 'JWT' }, claims(), hmacSigner(rsaSpkiDer));
      await expect(verify(token, new Uint8Array(rsaSpkiDer), options)).rejects.toMatchObject({
        code: 'ERR_KEY_INVALID',
      });
    });

    it('finds no key for an HS256 token in a key set holding the RSA public JWK (ERR_JWKS_NO_MATCHING_KEY)', async () => {
      const jwks = createLocalJwks({ keys: [{ ...rsaJwk, kid: 'rsa-1' }] });
      const token = forge(
        { alg: 'HS256', typ: 'JWT', kid: 'rsa-1' },
        claims(),
        hmacSigner(JSON.stringify(rsaJwk)),
      );
      await expect(verify(token, jwks, options)).rejects.toMatchObject({ code: 'ERR_JWKS_NO_MATCHING_KEY' });
    });

    it('refuses an HS256 token keyed with an ES256 public key PEM when given that key (ERR_JOSE_ALG_NOT_ALLOWED)', async () => {
      const ecPem = ec.publicKey.export({ format: 'pem', type: 'spki' }) as string;
      const token = forge({ alg: 'HS256', typ: 'JWT' }, claims(), hmacSigner(ecPem));
      await expect(verify(token, ecPublic, { algorithms: ['ES256', 'HS256'] })).rejects.toMatchObject({
        code: 'ERR_JOSE_ALG_NOT_ALLOWED',
      });
    });

    it('refuses a genuine PS256 token for an RSA key restricted to RS256 (ERR_JOSE_ALG_NOT_ALLOWED)', async () => {
      const pinned = importPem(rsaPem, { alg: 'RS256' });
      const token = forge({ alg: 'PS256', typ: 'JWT' }, claims(), keySigner(rsa.privateKey, 'PS256'));
      await expect(verify(token, pinned, { algorithms: ['RS256', 'PS256'] })).rejects.toMatchObject({
        code: 'ERR_JOSE_ALG_NOT_ALLOWED',
        alg: 'PS256',
      });
    });

    it('finds no key for a genuine PS256 token when the JWKS key says alg RS256 (ERR_JWKS_NO_MATCHING_KEY)', async () => {
      const jwks = createLocalJwks({ keys: [{ ...rsaJwk, alg: 'RS256', kid: 'rsa-1' }] });
      const token = forge(
        { alg: 'PS256', typ: 'JWT', kid: 'rsa-1' },
        claims(),
        keySigner(rsa.privateKey, 'PS256'),
      );
      await expect(verify(token, jwks, { algorithms: ['RS256', 'PS256'] })).rejects.toMatchObject({
        code: 'ERR_JWKS_NO_MATCHING_KEY',
      });
    });

    it('refuses a genuine ES256 token given an RSA key (ERR_JOSE_ALG_NOT_ALLOWED)', async () => {
      const token = forge({ alg: 'ES256', typ: 'JWT' }, claims(), keySigner(ec.privateKey, 'ES256'));
      await expect(verify(token, rsaPublic, { algorithms: ['RS256', 'ES256'] })).rejects.toMatchObject({
        code: 'ERR_JOSE_ALG_NOT_ALLOWED',
      });
    });
  });
});

describe('RFC 8725 §3.10: embedded keys (jwk, jku, x5u, x5c) are never used', () => {
  const attackerSigner = keySigner(attacker.privateKey, 'ES256');
  const certificatePem = readFileSync(new URL('../fixtures/x509-ec-p256.cert.pem', import.meta.url), 'utf8');
  const certificateKey = importPem(
    readFileSync(new URL('../fixtures/x509-ec-p256.sec1.pem', import.meta.url), 'utf8'),
  );
  const realJwks = () => createLocalJwks({ keys: [{ ...exportJwk(ecPublic), kid: 'real' }] });

  it('(control) the attacker token with an embedded jwk is valid under the attacker key itself', async () => {
    const token = forge({ alg: 'ES256', typ: 'JWT', jwk: attackerJwk }, claims(), attackerSigner);
    const { payload } = await verifyJwt(token, attacker.publicKey, { algorithms: ['ES256'] });
    expect(payload.sub).toBe('user-1');
  });

  viaEveryEntryPoint((verify) => {
    const options = { algorithms: ['ES256'] };

    it('ignores an embedded "jwk" and fails the signature with the real key (ERR_JWS_SIGNATURE_VERIFICATION_FAILED)', async () => {
      const token = forge({ alg: 'ES256', typ: 'JWT', jwk: attackerJwk }, claims(), attackerSigner);
      await expect(verify(token, ecPublic, options)).rejects.toMatchObject({
        code: 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED',
      });
    });

    it('never fetches "jku" and fails the signature with the real key (ERR_JWS_SIGNATURE_VERIFICATION_FAILED)', async () => {
      const fetch = vi.spyOn(globalThis, 'fetch').mockRejectedValue(new Error('no network in tests'));
      const header = { alg: 'ES256', typ: 'JWT', jku: 'https://attacker.example/jwks.json', kid: 'real' };
      const token = forge(header, claims(), attackerSigner);
      await expect(verify(token, realJwks(), options)).rejects.toMatchObject({
        code: 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED',
      });
      expect(fetch).not.toHaveBeenCalled();
    });

    it('never fetches "x5u" and fails the signature with the real key (ERR_JWS_SIGNATURE_VERIFICATION_FAILED)', async () => {
      const fetch = vi.spyOn(globalThis, 'fetch').mockRejectedValue(new Error('no network in tests'));
      const header = { alg: 'ES256', typ: 'JWT', x5u: 'https://attacker.example/cert.pem' };
      const token = forge(header, claims(), attackerSigner);
      await expect(verify(token, ecPublic, options)).rejects.toMatchObject({
        code: 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED',
      });
      expect(fetch).not.toHaveBeenCalled();
    });

    it('ignores an "x5c" self-signed certificate and fails the signature with the real key (ERR_JWS_SIGNATURE_VERIFICATION_FAILED)', async () => {
      const x5c = [new X509Certificate(certificatePem).raw.toString('base64')];
      const token = forge(
        { alg: 'ES256', typ: 'JWT', x5c },
        claims(),
        keySigner(certificateKey.keyObject, 'ES256'),
      );
      await expect(verify(token, ecPublic, options)).rejects.toMatchObject({
        code: 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED',
      });
    });

    it('does not pick an embedded "jwk" from a key set when its kid is unknown (ERR_JWKS_NO_MATCHING_KEY)', async () => {
      const header = { alg: 'ES256', typ: 'JWT', kid: 'attacker', jwk: { ...attackerJwk, kid: 'attacker' } };
      const token = forge(header, claims(), attackerSigner);
      await expect(verify(token, realJwks(), options)).rejects.toMatchObject({
        code: 'ERR_JWKS_NO_MATCHING_KEY',
      });
    });

    it('checks a key set key, not the embedded "jwk", when the kid is the real one (ERR_JWS_SIGNATURE_VERIFICATION_FAILED)', async () => {
      const token = forge(
        { alg: 'ES256', typ: 'JWT', kid: 'real', jwk: attackerJwk },
        claims(),
        attackerSigner,
      );
      await expect(verify(token, realJwks(), options)).rejects.toMatchObject({
        code: 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED',
      });
    });

    it('checks only the key set keys when the token has no kid (ERR_JWS_SIGNATURE_VERIFICATION_FAILED)', async () => {
      const token = forge({ alg: 'ES256', typ: 'JWT', jwk: attackerJwk }, claims(), attackerSigner);
      await expect(verify(token, realJwks(), options)).rejects.toMatchObject({
        code: 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED',
      });
    });
  });
});

describe('RFC 8725 §2.9, §3.10: "kid" injection', () => {
  const secretJwks = () =>
    createLocalJwks({ keys: [{ kty: 'oct', k: b64u(randomBytes(32)), kid: 'k1', alg: 'HS256' }] });

  viaEveryEntryPoint((verify) => {
    const options = { algorithms: ['HS256'] };

    it.each([
      ['a path traversal', '../../../../../../dev/null'],
      ['SQL', "x' UNION SELECT 'attacker-secret' -- "],
      ['a NUL byte', 'k1\u0000'],
      ['a case variant', 'K1'],
    ])('matches no key for a kid with %s (ERR_JWKS_NO_MATCHING_KEY)', async (_what, kid) => {
      const token = forge({ alg: 'HS256', typ: 'JWT', kid }, claims(), hmacSigner(''));
      await expect(verify(token, secretJwks(), options)).rejects.toMatchObject({
        code: 'ERR_JWKS_NO_MATCHING_KEY',
      });
    });

    it('does not let a path traversal kid choose an empty HMAC key (ERR_JWS_SIGNATURE_VERIFICATION_FAILED)', async () => {
      const token = forge(
        { alg: 'HS256', typ: 'JWT', kid: '../../../../dev/null' },
        claims(),
        hmacSigner(''),
      );
      await expect(verify(token, secret, options)).rejects.toMatchObject({
        code: 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED',
      });
    });

    it('refuses a kid that is not a string, e.g. a NoSQL operator object (ERR_JWS_INVALID)', async () => {
      const token = forge({ alg: 'HS256', typ: 'JWT', kid: { $ne: null } }, claims(), hs256);
      await expect(verify(token, secret, options)).rejects.toMatchObject({ code: 'ERR_JWS_INVALID' });
    });
  });
});

describe('RFC 7515 §4.1.11 and RFC 7797 §6: "crit" and "b64"', () => {
  viaEveryEntryPoint((verify) => {
    const options = { algorithms: ['HS256'] };

    it('refuses an unknown critical extension (ERR_JOSE_NOT_SUPPORTED)', async () => {
      const token = hsToken({ crit: ['urn:example:policy'], 'urn:example:policy': 'require-mfa' });
      await expect(verify(token, secret, options)).rejects.toMatchObject({ code: 'ERR_JOSE_NOT_SUPPORTED' });
    });

    it('(control) accepts a critical extension the caller declares it understands', async () => {
      const token = hsToken({ crit: ['urn:example:policy'], 'urn:example:policy': 'require-mfa' });
      await expect(
        verify(token, secret, { ...options, crit: ['urn:example:policy'] }),
      ).resolves.toBeDefined();
    });

    it.each(['alg', 'kid', 'typ', 'jwk', 'crit'])(
      '"crit" listing the registered parameter "%s" (ERR_JWS_INVALID)',
      async (name) => {
        await expect(verify(hsToken({ kid: 'k', crit: [name] }), secret, options)).rejects.toMatchObject({
          code: 'ERR_JWS_INVALID',
        });
      },
    );

    it('refuses an empty "crit" (ERR_JWS_INVALID)', async () => {
      await expect(verify(hsToken({ crit: [] }), secret, options)).rejects.toMatchObject({
        code: 'ERR_JWS_INVALID',
      });
    });

    it('refuses a "crit" that names a parameter absent from the header (ERR_JWS_INVALID)', async () => {
      const token = hsToken({ crit: ['urn:example:policy'] });
      await expect(verify(token, secret, { ...options, crit: ['urn:example:policy'] })).rejects.toMatchObject(
        {
          code: 'ERR_JWS_INVALID',
        },
      );
    });

    it('refuses "b64": false without "crit" (ERR_JWS_INVALID)', async () => {
      await expect(verify(hsToken({ b64: false }), secret, options)).rejects.toMatchObject({
        code: 'ERR_JWS_INVALID',
      });
    });

    it('refuses "b64": false in a JWT even when listed in "crit" (ERR_JWS_INVALID)', async () => {
      await expect(verify(hsToken({ b64: false, crit: ['b64'] }), secret, options)).rejects.toMatchObject({
        code: 'ERR_JWS_INVALID',
      });
    });
  });

  it('refuses "crit" in an unprotected header (ERR_JWS_INVALID)', async () => {
    const protectedSegment = b64u({ alg: 'HS256' });
    const payload = b64u('hello');
    const signature = hs256(`${protectedSegment}.${payload}`).toString('base64url');
    const jws = { protected: protectedSegment, header: { crit: ['x'], x: 1 }, payload, signature };
    await expect(flattenedVerify(jws, secret, { algorithms: ['HS256'], crit: ['x'] })).rejects.toMatchObject({
      code: 'ERR_JWS_INVALID',
    });
  });
});

describe('RFC 7515 §5.2: duplicate member names in the protected header', () => {
  viaEveryEntryPoint((verify) => {
    const options = { algorithms: ['HS256'] };

    it.each([
      ['a second alg after the real one', '{"alg":"HS256","alg":"none","typ":"JWT"}'],
      ['a first alg that JSON.parse would drop', '{"alg":"none","typ":"JWT","alg":"HS256"}'],
      ['a second kid', '{"alg":"HS256","kid":"a","kid":"b"}'],
      ['an escaped duplicate name', '{"alg":"HS256","\\u0061lg":"HS256"}'],
    ])('refuses %s (ERR_JWS_INVALID)', async (_what, header) => {
      await expect(verify(forge(header, claims(), hs256), secret, options)).rejects.toMatchObject({
        code: 'ERR_JWS_INVALID',
      });
    });

    it('(control) accepts the same name at different depths', async () => {
      const token = forge('{"alg":"HS256","x":{"alg":"none"},"y":["alg","alg"]}', claims(), hs256);
      await expect(verify(token, secret, options)).resolves.toBeDefined();
    });
  });
});

// JSON.parse keeps "__proto__" as an own member; read through a copy, its members would be
// inherited by the header and pass as parameters nobody signed or checked.
describe('a "__proto__" JWS header member is refused', () => {
  const HS256 = { algorithms: ['HS256'] };

  it('refuses it in an unprotected header, Flattened and General (ERR_JWS_INVALID)', async () => {
    const jws = flattenedSign('hello', secret, { protectedHeader: { alg: 'HS256' } });
    const forged = withRawMembers<typeof jws>(jws, '"header":{"__proto__":{"kid":"other"}}');
    await expect(flattenedVerify(forged, secret, HS256)).rejects.toMatchObject({ code: 'ERR_JWS_INVALID' });
    const general = withRawMembers<GeneralJws>(
      { payload: jws.payload },
      `"signatures":[{"protected":"${jws.protected}","header":{"__proto__":{}},"signature":"${jws.signature}"}]`,
    );
    await expect(generalVerify(general, secret, HS256)).rejects.toMatchObject({ code: 'ERR_JWS_INVALID' });
  });

  it('refuses it in the protected header, through every entry point (ERR_JWS_INVALID)', async () => {
    const token = forge('{"alg":"HS256","__proto__":{"b64":false}}', { sub: 'x' }, hs256);
    const invalid = { code: 'ERR_JWS_INVALID' };
    await expect(compactVerify(token, secret, HS256)).rejects.toMatchObject(invalid);
    await expect(verifyJwt(token, secret, HS256)).rejects.toMatchObject(invalid);
    const verifier = createVerifier({ key: secret, ...HS256 });
    expect(thrown(() => verifier.verify(token))).toMatchObject(invalid);
    await expect(verifier.verifyAsync(token)).rejects.toMatchObject(invalid);
    const [header, payload, signature] = segments(token);
    await expect(
      flattenedVerify({ protected: header, payload, signature }, secret, HS256),
    ).rejects.toMatchObject(invalid);
    await expect(
      generalVerify({ payload, signatures: [{ protected: header, signature }] }, secret, HS256),
    ).rejects.toMatchObject(invalid);
    expect(thrown(() => decodeProtectedHeader(token))).toMatchObject(invalid);
  });

  it('refuses to sign with one, so it never emits one (ERR_JWS_INVALID)', () => {
    const header = JSON.parse('{"alg":"HS256","__proto__":{}}');
    expect(thrown(() => flattenedSign('x', secret, { protectedHeader: header }))).toMatchObject({
      code: 'ERR_JWS_INVALID',
    });
    expect(thrown(() => createSigner({ key: secret, header }))).toMatchObject({ code: 'ERR_JWS_INVALID' });
  });
});

describe('RFC 7515 §5.2 and RFC 7519 §7.2: header and claims set are JSON objects', () => {
  viaEveryEntryPoint((verify) => {
    const options = { algorithms: ['HS256'] };

    it.each([
      ['an array', '[{"alg":"HS256"}]'],
      ['a string', '"HS256"'],
      ['a number', '1'],
      ['null', 'null'],
    ])('refuses a header that is %s (ERR_JWS_INVALID)', async (_what, header) => {
      await expect(verify(forge(header, claims(), hs256), secret, options)).rejects.toMatchObject({
        code: 'ERR_JWS_INVALID',
      });
    });

    it.each([
      ['an array', '[{"sub":"admin"}]'],
      ['a string', '"admin"'],
      ['a number', '1'],
      ['null', 'null'],
    ])('refuses a correctly signed claims set that is %s (ERR_JWT_INVALID)', async (_what, payload) => {
      const token = forge({ alg: 'HS256', typ: 'JWT' }, payload, hs256);
      await expect(verify(token, secret, options)).rejects.toMatchObject({ code: 'ERR_JWT_INVALID' });
    });
  });
});

describe('RFC 7515 §2 and RFC 4648 §5: strict base64url (one spelling per token)', () => {
  // Segments holding '-' and '_', so that the standard-alphabet spellings differ from the canonical ones.
  const header = (() => {
    for (let n = 0; ; n++) {
      const h = b64u({ alg: 'HS256', typ: 'JWT', n: `${n}>>>???` });
      if (h.includes('-') && h.includes('_') && h.length % 4 !== 0) return h;
    }
  })();
  const payload = (() => {
    for (let n = 0; ; n++) {
      const p = b64u({ ...claims(), n: `${n}>>>???` });
      if (p.includes('-') && p.includes('_') && p.length % 4 !== 0) return p;
    }
  })();
  const token = forgeSegments(header, payload, hs256);
  const signature = segments(token)[2];
  const resigned = (h: string, p: string) => forgeSegments(h, p, hs256);
  const padded = (s: string) => s + '='.repeat((4 - (s.length % 4)) % 4);
  const standard = (s: string) => s.replaceAll('-', '+').replaceAll('_', '/');
  const spaced = (s: string) => `${s.slice(0, 8)} ${s.slice(8)}`;

  it('(setup) every non-canonical spelling below decodes, leniently, to the same bytes', () => {
    for (const spell of [padded, standard, spaced, withTrailingBits]) {
      expect(Buffer.from(spell(payload), 'base64')).toEqual(Buffer.from(payload, 'base64url'));
    }
  });

  viaEveryEntryPoint((verify) => {
    const options = { algorithms: ['HS256'] };
    const refuses = async (attack: string) =>
      expect(verify(attack, secret, options)).rejects.toMatchObject({ code: 'ERR_JWS_INVALID' });

    it('(control) accepts the canonical token', async () => {
      await expect(verify(token, secret, options)).resolves.toBeDefined();
    });

    it('refuses "=" padding in the header', () => refuses(resigned(padded(header), payload)));
    it('refuses "+" and "/" in the header', () => refuses(resigned(standard(header), payload)));
    it('refuses whitespace in the header', () => refuses(resigned(spaced(header), payload)));
    it('refuses non-zero trailing bits in the header', () =>
      refuses(resigned(withTrailingBits(header), payload)));
    it('refuses "=" padding in the payload', () => refuses(resigned(header, padded(payload))));
    it('refuses "+" and "/" in the payload', () => refuses(resigned(header, standard(payload))));
    it('refuses whitespace in the payload', () => refuses(resigned(header, spaced(payload))));
    it('refuses non-zero trailing bits in the payload', () =>
      refuses(resigned(header, withTrailingBits(payload))));
    it('refuses "=" padding in the signature', () => refuses(`${header}.${payload}.${padded(signature)}`));
    it('refuses whitespace in the signature', () => refuses(`${header}.${payload}.${spaced(signature)}`));
    it('refuses non-zero trailing bits in the signature', () =>
      refuses(`${header}.${payload}.${withTrailingBits(signature)}`));
    it('refuses "+" or "/" in the signature', async () => {
      // Find a genuine signature holding '-' or '_', then spell it with the standard alphabet.
      let attack: string | undefined;
      for (let n = 0; attack === undefined; n++) {
        const t = hsToken({}, { ...claims(), n });
        const s = segments(t)[2];
        if (s.includes('-') || s.includes('_')) attack = t.slice(0, t.lastIndexOf('.') + 1) + standard(s);
      }
      await refuses(attack);
    });
    it('refuses a signature character outside the alphabet whose low byte is a valid one', async () => {
      // 'Ř' is U+0158: its low byte is 0x58, 'X'. Latin-1 conversions would read it as 'X'.
      const lookAlike = String.fromCharCode(0x100 + signature.charCodeAt(0)) + signature.slice(1);
      await refuses(`${header}.${payload}.${lookAlike}`);
    });
  });
});

describe('RFC 8725 §2.6, §3.7: UTF-8 only', () => {
  viaEveryEntryPoint((verify) => {
    it('refuses a header that is not valid UTF-8 (ERR_JWS_INVALID)', async () => {
      const header = Buffer.concat([
        Buffer.from('{"alg":"HS256","x":"'),
        Buffer.from([0xc0, 0xaf]),
        Buffer.from('"}'),
      ]);
      const token = forgeSegments(b64u(header), b64u(claims()), hs256);
      await expect(verify(token, secret, { algorithms: ['HS256'] })).rejects.toMatchObject({
        code: 'ERR_JWS_INVALID',
      });
    });

    it('refuses a correctly signed claims set that is not valid UTF-8 (ERR_JWT_INVALID)', async () => {
      const payload = Buffer.concat([
        Buffer.from('{"sub":"'),
        Buffer.from([0xed, 0xa0, 0x80]),
        Buffer.from('"}'),
      ]);
      const token = forgeSegments(b64u({ alg: 'HS256', typ: 'JWT' }), b64u(payload), hs256);
      await expect(verify(token, secret, { algorithms: ['HS256'] })).rejects.toMatchObject({
        code: 'ERR_JWT_INVALID',
      });
    });
  });
});

describe('RFC 7518 §3.4, RFC 8725 §3.4: ECDSA signatures are exactly R‖S and are validated', () => {
  const sign256 = keySigner(ec.privateKey, 'ES256');
  const withSignature = (signature: Buffer) => {
    const [h, p] = segments(forge({ alg: 'ES256', typ: 'JWT' }, claims(), sign256));
    return `${h}.${p}.${signature.toString('base64url')}`;
  };
  // The order n of P-256: r = s = n is as invalid as r = s = 0.
  const n256 = Buffer.from('ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551', 'hex');
  const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' });
  const p521 = generateKeyPairSync('ec', { namedCurve: 'P-521' });

  viaEveryEntryPoint((verify) => {
    const options = { algorithms: ['ES256'] };
    const failsSignature = async (token: string, key: KeyInput = ecPublic, algorithms = options.algorithms) =>
      expect(verify(token, key, { algorithms })).rejects.toMatchObject({
        code: 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED',
      });

    it('(control) accepts a raw R‖S signature', async () => {
      await expect(
        verify(forge({ alg: 'ES256' }, claims(), sign256), ecPublic, options),
      ).resolves.toBeDefined();
    });

    it('refuses a DER-encoded ES256 signature (ERR_JWS_SIGNATURE_VERIFICATION_FAILED)', () =>
      failsSignature(
        forge({ alg: 'ES256', typ: 'JWT' }, claims(), keySigner(ec.privateKey, 'ES256', 'der')),
      ));

    it('refuses an ES256 signature one byte short (ERR_JWS_SIGNATURE_VERIFICATION_FAILED)', () => {
      const [h, p, s] = segments(forge({ alg: 'ES256', typ: 'JWT' }, claims(), sign256));
      return failsSignature(`${h}.${p}.${Buffer.from(s, 'base64url').subarray(0, 63).toString('base64url')}`);
    });

    it('refuses an ES256 signature one byte long (ERR_JWS_SIGNATURE_VERIFICATION_FAILED)', () => {
      const [h, p, s] = segments(forge({ alg: 'ES256', typ: 'JWT' }, claims(), sign256));
      const longer = Buffer.concat([Buffer.from(s, 'base64url'), Buffer.from([0])]);
      return failsSignature(`${h}.${p}.${longer.toString('base64url')}`);
    });

    it('refuses the ES256 psychic signature r = s = 0 (CVE-2022-21449) (ERR_JWS_SIGNATURE_VERIFICATION_FAILED)', () =>
      failsSignature(withSignature(Buffer.alloc(64))));

    it('refuses the ES384 psychic signature r = s = 0 (ERR_JWS_SIGNATURE_VERIFICATION_FAILED)', () => {
      const [h, p] = segments(forge({ alg: 'ES384' }, claims(), keySigner(p384.privateKey, 'ES384')));
      return failsSignature(`${h}.${p}.${Buffer.alloc(96).toString('base64url')}`, p384.publicKey, ['ES384']);
    });

    it('refuses the ES512 psychic signature r = s = 0 (ERR_JWS_SIGNATURE_VERIFICATION_FAILED)', () => {
      const [h, p] = segments(forge({ alg: 'ES512' }, claims(), keySigner(p521.privateKey, 'ES512')));
      return failsSignature(`${h}.${p}.${Buffer.alloc(132).toString('base64url')}`, p521.publicKey, [
        'ES512',
      ]);
    });

    it('refuses r = s = n, the order of P-256 (ERR_JWS_SIGNATURE_VERIFICATION_FAILED)', () =>
      failsSignature(withSignature(Buffer.concat([n256, n256]))));
  });

  it('refuses a JWK whose EC point is not on the curve (invalid-curve attack) (ERR_JWK_INVALID)', () => {
    const jwk = ec.publicKey.export({ format: 'jwk' });
    const y = Buffer.from(jwk.y!, 'base64url');
    y[31]! ^= 1;
    expect(thrown(() => importJwk({ ...jwk, kty: 'EC', y: y.toString('base64url') }))).toMatchObject({
      code: 'ERR_JWK_INVALID',
    });
  });
});

describe('RFC 8725 §2.2, §3.5 and RFC 7518 §3.2, §3.3: weak keys', () => {
  const rsa1024 = generateKeyPairSync('rsa', { modulusLength: 1024 });

  it('refuses a 1024-bit RSA KeyObject (ERR_KEY_INVALID)', () => {
    expect(thrown(() => importKeyObject(rsa1024.publicKey))).toMatchObject({ code: 'ERR_KEY_INVALID' });
  });

  it('refuses a 1024-bit RSA PEM (ERR_KEY_INVALID)', () => {
    const pem = rsa1024.publicKey.export({ format: 'pem', type: 'spki' }) as string;
    expect(thrown(() => importPem(pem))).toMatchObject({ code: 'ERR_KEY_INVALID' });
  });

  it('refuses a 1024-bit RSA JWK (ERR_KEY_INVALID)', () => {
    const jwk = rsa1024.publicKey.export({ format: 'jwk' });
    expect(thrown(() => importJwk({ ...jwk, kty: 'RSA' }))).toMatchObject({ code: 'ERR_KEY_INVALID' });
  });

  it('refuses to generate a 1024-bit RSA key pair (ERR_KEY_INVALID)', async () => {
    await expect(generateKeyPair('RS256', { modulusLength: 1024 })).rejects.toMatchObject({
      code: 'ERR_KEY_INVALID',
    });
  });

  it('refuses an HMAC secret shorter than the SHA-256 output (31 bytes) (ERR_KEY_INVALID)', () => {
    expect(thrown(() => importSecret(randomBytes(31)))).toMatchObject({ code: 'ERR_KEY_INVALID' });
  });

  it('refuses a 32-byte secret pinned to HS512 (ERR_KEY_INVALID)', () => {
    expect(thrown(() => importSecret(randomBytes(32), { alg: 'HS512' }))).toMatchObject({
      code: 'ERR_KEY_INVALID',
    });
  });

  it('refuses the empty string as a secret (ERR_KEY_INVALID)', () => {
    expect(thrown(() => importSecret(''))).toMatchObject({ code: 'ERR_KEY_INVALID' });
  });

  it('refuses an empty JWK "k" (ERR_KEY_INVALID)', () => {
    expect(thrown(() => importJwk({ kty: 'oct', k: '' }))).toMatchObject({ code: 'ERR_KEY_INVALID' });
  });

  it('refuses an empty secret KeyObject (ERR_KEY_INVALID)', () => {
    expect(thrown(() => importKeyObject(createSecretKey(Buffer.alloc(0))))).toMatchObject({
      code: 'ERR_KEY_INVALID',
    });
  });

  viaEveryEntryPoint((verify) => {
    it('refuses a 1024-bit RSA KeyObject as the verification key (ERR_KEY_INVALID)', async () => {
      const token = forge({ alg: 'RS256', typ: 'JWT' }, claims(), keySigner(rsa1024.privateKey, 'RS256'));
      await expect(verify(token, rsa1024.publicKey, { algorithms: ['RS256'] })).rejects.toMatchObject({
        code: 'ERR_KEY_INVALID',
      });
    });

    it('refuses an empty Uint8Array as the verification key (ERR_KEY_INVALID)', async () => {
      const token = forge({ alg: 'HS256', typ: 'JWT' }, claims(), hmacSigner(''));
      await expect(verify(token, new Uint8Array(0), { algorithms: ['HS256'] })).rejects.toMatchObject({
        code: 'ERR_KEY_INVALID',
      });
    });

    it('refuses an HS512 token for a 32-byte secret (ERR_JOSE_ALG_NOT_ALLOWED)', async () => {
      const token = forge({ alg: 'HS512', typ: 'JWT' }, claims(), hmacSigner(secretBytes, 'sha512'));
      await expect(verify(token, secret, { algorithms: ['HS256', 'HS512'] })).rejects.toMatchObject({
        code: 'ERR_JOSE_ALG_NOT_ALLOWED',
        alg: 'HS512',
      });
    });
  });
});

describe('Resource limits and token kinds', () => {
  viaEveryEntryPoint((verify) => {
    it('refuses a token over the default 16384-character limit before any work (ERR_JWS_INVALID)', async () => {
      const token = hsToken({}, { ...claims(), filler: 'x'.repeat(16_384) });
      await expect(verify(token, secret, { algorithms: ['HS256'] })).rejects.toMatchObject({
        code: 'ERR_JWS_INVALID',
      });
    });

    it('refuses a token over a configured maxTokenLength (ERR_JWS_INVALID)', async () => {
      await expect(
        verify(hsToken(), secret, { algorithms: ['HS256'], maxTokenLength: 64 }),
      ).rejects.toMatchObject({
        code: 'ERR_JWS_INVALID',
      });
    });

    it('refuses a JWE (five parts) given as a JWT (ERR_JWS_INVALID)', async () => {
      const jwe = `${b64u({ alg: 'dir', enc: 'A256GCM' })}..${b64u(randomBytes(12))}.${b64u('x')}.${b64u(randomBytes(16))}`;
      await expect(verify(jwe, secret, { algorithms: ['HS256'] })).rejects.toMatchObject({
        code: 'ERR_JWS_INVALID',
      });
    });
  });
});

describe('RFC 8725 §3.11 (resource limits): General JWS signatures are bounded', () => {
  const HS256 = { algorithms: ['HS256'] };
  const jws = generalSign('x', [{ key: secret, protectedHeader: { alg: 'HS256' } }]);
  const signatures = (count: number): GeneralJws => ({
    ...jws,
    signatures: Array.from({ length: count }, () => jws.signatures[0]!),
  });

  it('refuses 17 signatures, over the default 16, before resolving any key (ERR_JWS_INVALID)', async () => {
    const resolver = vi.fn((): Key => secret);
    await expect(generalVerify(signatures(17), resolver, HS256)).rejects.toMatchObject({
      code: 'ERR_JWS_INVALID',
    });
    expect(resolver).not.toHaveBeenCalled();
  });

  it('accepts 16 signatures; maxSignatures lowers the bound and must be a whole number', async () => {
    await expect(generalVerify(signatures(16), secret, HS256)).resolves.toBeDefined();
    await expect(generalVerify(signatures(16), secret, { ...HS256, maxSignatures: 2 })).rejects.toMatchObject(
      {
        code: 'ERR_JWS_INVALID',
      },
    );
    await expect(generalVerify(jws, secret, { ...HS256, maxSignatures: 1.5 })).rejects.toThrow(TypeError);
  });
});

describe('RFC 7519 §4.1, RFC 8725 §2.7, §3.8, §3.9: claims', () => {
  viaEveryEntryPoint((verify) => {
    const options = { algorithms: ['HS256'] };

    it('requires "exp" by default (ERR_JWT_CLAIM_VALIDATION_FAILED, exp, missing)', async () => {
      const { exp: _, ...noExp } = claims();
      await expect(verify(hsToken({}, noExp), secret, options)).rejects.toMatchObject({
        code: 'ERR_JWT_CLAIM_VALIDATION_FAILED',
        claim: 'exp',
        reason: 'missing',
      });
    });

    it.each(['exp', 'nbf', 'iat'])(
      'refuses "%s" as a string (ERR_JWT_CLAIM_VALIDATION_FAILED, invalid)',
      async (claim) => {
        const token = hsToken({}, { ...claims(), [claim]: String(now() + 600) });
        await expect(verify(token, secret, options)).rejects.toMatchObject({
          code: 'ERR_JWT_CLAIM_VALIDATION_FAILED',
          claim,
          reason: 'invalid',
        });
      },
    );

    it.each([
      ['a number', 42],
      ['an array holding a number', ['api', 42]],
      ['an object', { aud: 'api' }],
    ])('refuses "aud" as %s (ERR_JWT_CLAIM_VALIDATION_FAILED, aud, invalid)', async (_what, aud) => {
      await expect(verify(hsToken({}, { ...claims(), aud }), secret, options)).rejects.toMatchObject({
        code: 'ERR_JWT_CLAIM_VALIDATION_FAILED',
        claim: 'aud',
        reason: 'invalid',
      });
    });

    it('refuses a token issued for another audience (ERR_JWT_CLAIM_VALIDATION_FAILED, aud, check_failed)', async () => {
      const token = hsToken({}, { ...claims(), aud: 'billing' });
      await expect(verify(token, secret, { ...options, audience: 'payments' })).rejects.toMatchObject({
        code: 'ERR_JWT_CLAIM_VALIDATION_FAILED',
        claim: 'aud',
        reason: 'check_failed',
      });
    });

    it('refuses a token without "aud" where an audience is required (ERR_JWT_CLAIM_VALIDATION_FAILED, aud, missing)', async () => {
      const { aud: _, ...noAud } = claims();
      await expect(verify(hsToken({}, noAud), secret, { ...options, audience: 'api' })).rejects.toMatchObject(
        {
          code: 'ERR_JWT_CLAIM_VALIDATION_FAILED',
          claim: 'aud',
          reason: 'missing',
        },
      );
    });

    it('refuses a token from another issuer sharing the key (ERR_JWT_CLAIM_VALIDATION_FAILED, iss, check_failed)', async () => {
      const token = hsToken({}, { ...claims(), iss: 'https://other-issuer.example' });
      await expect(
        verify(token, secret, { ...options, issuer: 'https://issuer.example' }),
      ).rejects.toMatchObject({
        code: 'ERR_JWT_CLAIM_VALIDATION_FAILED',
        claim: 'iss',
        reason: 'check_failed',
      });
    });
  });
});

describe('RFC 8725 §3.11, §3.12: explicit typing keeps kinds of JWT apart', () => {
  viaEveryEntryPoint((verify) => {
    it('refuses an ID token (typ JWT) where an access token (typ at+jwt) is required (ERR_JWT_CLAIM_VALIDATION_FAILED, typ)', async () => {
      const idToken = await signJwt({ sub: 'user-1', nonce: 'n' }, secret, { typ: 'JWT', expiresIn: '5m' });
      await expect(verify(idToken, secret, { algorithms: ['HS256'], typ: 'at+jwt' })).rejects.toMatchObject({
        code: 'ERR_JWT_CLAIM_VALIDATION_FAILED',
        claim: 'typ',
        reason: 'check_failed',
      });
    });

    it('refuses a token with no "typ" where one is required (ERR_JWT_CLAIM_VALIDATION_FAILED, typ)', async () => {
      const token = forge({ alg: 'HS256' }, claims(), hs256);
      await expect(verify(token, secret, { algorithms: ['HS256'], typ: 'at+jwt' })).rejects.toMatchObject({
        code: 'ERR_JWT_CLAIM_VALIDATION_FAILED',
        claim: 'typ',
      });
    });

    it('refuses an access token where a logout token type is required (ERR_JWT_CLAIM_VALIDATION_FAILED, typ)', async () => {
      const accessToken = await signJwt({ sub: 'user-1' }, secret, { typ: 'at+jwt', expiresIn: '5m' });
      await expect(
        verify(accessToken, secret, { algorithms: ['HS256'], typ: 'logout+jwt' }),
      ).rejects.toMatchObject({ code: 'ERR_JWT_CLAIM_VALIDATION_FAILED', claim: 'typ' });
    });
  });
});
