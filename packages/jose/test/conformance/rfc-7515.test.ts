// RFC 7515 Appendix A: A.1–A.4 (compact), A.6 (general, two signatures) and A.7 (flattened) verify;
// A.5, the unsecured "alg": "none" JWS, is refused by every verify function (RFC 7518 §3.6,
// RFC 8725 §3.1) and read only by decodeUnsecuredJwt.
import { Buffer } from 'node:buffer';
import { describe, expect, it } from 'vitest';
import {
  compactSign,
  compactVerify,
  createLocalJwks,
  createVerifier,
  decodeUnsecuredJwt,
  type FlattenedJws,
  flattenedVerify,
  type GeneralJws,
  generalVerify,
  importJwk,
  type JsonWebKeySet,
  type Jwk,
  type Key,
  verifyJwt,
} from '../../src/index.js';
import { expected, publicJwk, readVector, readVectorJson, utf8 } from './rfc-vectors.js';

const token = (name: string): string => readVector(`rfc/rfc7515/${name}`).trim();
const jwk = (name: string): Jwk => readVectorJson<Jwk>(`rfc/rfc7515/${name}`);

/** The JWS Payload of A.1, A.2, A.3, A.5, A.6 and A.7: a JWT Claims Set with CRLF line breaks. */
const CLAIMS_TEXT = expected.rfc7515['A.1'].payload_utf8!;
/** 2011-03-22T18:43:00Z, the "exp" of that claims set. */
const EXP = 1300819380;

describe('RFC 7515 A.1 HS256', () => {
  const jws = token('rfc7515_A.1.jwsc');
  const key = importJwk(jwk('rfc7515_A.1.jwk'));

  it('has the expected payload with CRLF line breaks', () => {
    expect(CLAIMS_TEXT).toBe('{"iss":"joe",\r\n "exp":1300819380,\r\n "http://example.com/is_root":true}');
  });

  it('verifies with the A.1 symmetric key', async () => {
    const result = await compactVerify(jws, key, { algorithms: ['HS256'] });
    expect(utf8(result.payload)).toBe(CLAIMS_TEXT);
  });

  it('exposes the protected header, written with CRLF whitespace, as {"typ":"JWT","alg":"HS256"}', async () => {
    const result = await compactVerify(jws, key, { algorithms: ['HS256'] });
    expect(Buffer.from(jws.split('.')[0]!, 'base64url').toString()).toBe('{"typ":"JWT",\r\n "alg":"HS256"}');
    expect(result.protectedHeader).toEqual({ typ: 'JWT', alg: 'HS256' });
  });

  it('imports the 64-byte key without "alg" for every HMAC algorithm', () => {
    expect(key.algorithms).toEqual(['HS256', 'HS384', 'HS512']);
  });

  it('rejects the token with one bit of the signature changed', async () => {
    const [head, body, signature] = jws.split('.') as [string, string, string];
    const bytes = Buffer.from(signature, 'base64url');
    bytes[0]! ^= 1;
    await expect(
      compactVerify(`${head}.${body}.${bytes.toString('base64url')}`, key, { algorithms: ['HS256'] }),
    ).rejects.toMatchObject({ code: 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED' });
  });
});

describe('RFC 7515 A.2 RS256', () => {
  const jws = token('rfc7515_A.2.jwsc');
  const privateKey = importJwk(jwk('rfc7515_A.2.jwk'));
  const publicKey = importJwk(publicJwk(jwk('rfc7515_A.2.jwk')));

  it('verifies with the A.2 public key', async () => {
    const result = await compactVerify(jws, publicKey, { algorithms: ['RS256'] });
    expect(utf8(result.payload)).toBe(CLAIMS_TEXT);
    expect(result.protectedHeader).toEqual({ alg: 'RS256' });
  });

  it('reproduces the exact JWS by signing the same payload bytes (RSASSA-PKCS1-v1_5 is deterministic)', () => {
    expect(compactSign(CLAIMS_TEXT, privateKey, { protectedHeader: { alg: 'RS256' } })).toBe(jws);
  });
});

describe('RFC 7515 A.3 ES256', () => {
  const jws = token('rfc7515_A.3.jwsc');
  const publicKey = importJwk(publicJwk(jwk('rfc7515_A.3.jwk')));

  it('verifies with the A.3 public key', async () => {
    const result = await compactVerify(jws, publicKey, { algorithms: ['ES256'] });
    expect(utf8(result.payload)).toBe(CLAIMS_TEXT);
  });

  it('verifies with the A.3 private key, using its public half', async () => {
    const result = await compactVerify(jws, importJwk(jwk('rfc7515_A.3.jwk')), { algorithms: ['ES256'] });
    expect(utf8(result.payload)).toBe(CLAIMS_TEXT);
  });
});

describe('RFC 7515 A.4 ES512', () => {
  const jws = token('rfc7515_A.4.jwsc');
  const publicKey = importJwk(publicJwk(jwk('rfc7515_A.4.jwk')));

  it('verifies with the A.4 public key (P-521, 132-byte signature)', async () => {
    const result = await compactVerify(jws, publicKey, { algorithms: ['ES512'] });
    expect(utf8(result.payload)).toBe(expected.rfc7515['A.4'].payload_utf8);
    expect(Buffer.from(jws.split('.')[2]!, 'base64url')).toHaveLength(132);
  });
});

describe('RFC 7515 A.5 unsecured JWS ("alg": "none")', () => {
  const jws = token('rfc7515_A.5.jwsc');
  const hmacKey = importJwk(jwk('rfc7515_A.1.jwk'));
  const [protectedSegment, payload] = jws.split('.') as [string, string, string];
  const flattened: FlattenedJws = { payload, protected: protectedSegment, signature: '' };
  const general: GeneralJws = { payload, signatures: [{ protected: protectedSegment, signature: '' }] };
  const beforeExp = new Date((EXP - 60) * 1000);

  it('has an empty signature and "alg": "none"', () => {
    expect(jws.endsWith('.')).toBe(true);
    expect(Buffer.from(protectedSegment, 'base64url').toString()).toBe('{"alg":"none"}');
  });

  it('is refused by compactVerify with ERR_JOSE_ALG_NOT_ALLOWED', async () => {
    await expect(compactVerify(jws, hmacKey, { algorithms: ['HS256'] })).rejects.toMatchObject({
      code: 'ERR_JOSE_ALG_NOT_ALLOWED',
      alg: 'none',
    });
  });

  it('is refused by compactVerify with a key set', async () => {
    const jwks = createLocalJwks({ keys: [jwk('rfc7515_A.1.jwk')] });
    await expect(compactVerify(jws, jwks, { algorithms: ['HS256'] })).rejects.toMatchObject({
      code: 'ERR_JOSE_ALG_NOT_ALLOWED',
    });
  });

  it('is refused by verifyJwt with ERR_JOSE_ALG_NOT_ALLOWED, even before its "exp"', async () => {
    await expect(
      verifyJwt(jws, hmacKey, { algorithms: ['HS256'], currentDate: beforeExp }),
    ).rejects.toMatchObject({ code: 'ERR_JOSE_ALG_NOT_ALLOWED' });
  });

  it('is refused by a prepared verifier with ERR_JOSE_ALG_NOT_ALLOWED', () => {
    const verifier = createVerifier({
      key: hmacKey,
      algorithms: ['HS256'],
      clock: () => beforeExp.getTime(),
    });
    expect(() => verifier.verify(jws)).toThrow(expect.objectContaining({ code: 'ERR_JOSE_ALG_NOT_ALLOWED' }));
  });

  it('is refused by flattenedVerify with ERR_JOSE_ALG_NOT_ALLOWED', async () => {
    await expect(flattenedVerify(flattened, hmacKey, { algorithms: ['HS256'] })).rejects.toMatchObject({
      code: 'ERR_JOSE_ALG_NOT_ALLOWED',
    });
  });

  // generalVerify skips signatures it cannot check (algorithm not allowed) and reports that none verified.
  it('is refused by generalVerify, which finds no signature it may check', async () => {
    await expect(generalVerify(general, hmacKey, { algorithms: ['HS256'] })).rejects.toMatchObject({
      code: 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED',
    });
  });

  it('cannot be allowed: algorithms ["none"] is a TypeError in every verify function', async () => {
    const options = { algorithms: ['none'] };
    await expect(compactVerify(jws, hmacKey, options)).rejects.toThrow(TypeError);
    await expect(flattenedVerify(flattened, hmacKey, options)).rejects.toThrow(TypeError);
    await expect(generalVerify(general, hmacKey, options)).rejects.toThrow(TypeError);
    await expect(verifyJwt(jws, hmacKey, options)).rejects.toThrow(TypeError);
    expect(() => createVerifier({ key: hmacKey, ...options })).toThrow(TypeError);
  });

  it('cannot be allowed in another letter case: algorithms ["NONE"] is a TypeError', async () => {
    await expect(compactVerify(jws, hmacKey, { algorithms: ['NONE'] })).rejects.toThrow(TypeError);
  });

  it('is decoded by decodeUnsecuredJwt before its "exp"', () => {
    const { payload, header } = decodeUnsecuredJwt(jws, { currentDate: beforeExp });
    expect(header).toEqual({ alg: 'none' });
    expect(payload).toEqual({ iss: 'joe', exp: EXP, 'http://example.com/is_root': true });
  });

  it('is refused by decodeUnsecuredJwt today, as expired', () => {
    expect(() => decodeUnsecuredJwt(jws)).toThrow(expect.objectContaining({ code: 'ERR_JWT_EXPIRED' }));
  });

  it('is not a token decodeUnsecuredJwt mistakes for a signed one: A.1 (HS256) is refused by it', () => {
    expect(() => decodeUnsecuredJwt(token('rfc7515_A.1.jwsc'), { currentDate: beforeExp })).toThrow(
      expect.objectContaining({ code: 'ERR_JWT_INVALID' }),
    );
  });
});

describe('RFC 7515 A.6 general JSON serialization (RS256 and ES256 signatures)', () => {
  const jws = readVectorJson<GeneralJws>('rfc/rfc7515/rfc7515_A.6.jwsg');
  const jwkSet = readVectorJson<JsonWebKeySet>('rfc/rfc7515/rfc7515_A.6.jwkset');
  const rsaKey = importJwk(jwk('rfc7515_A.6.1.jwk'));
  const ecKey = importJwk(jwk('rfc7515_A.6.2.jwk'));

  it('holds the A.2 and A.3 keys and signatures', () => {
    expect(jwk('rfc7515_A.6.1.jwk')).toEqual(jwk('rfc7515_A.2.jwk'));
    expect(jwk('rfc7515_A.6.2.jwk')).toEqual(jwk('rfc7515_A.3.jwk'));
    expect(jwkSet.keys).toEqual([jwk('rfc7515_A.6.1.jwk'), jwk('rfc7515_A.6.2.jwk')]);
    expect(jws.signatures[0]!.signature).toBe(token('rfc7515_A.2.jwsc').split('.')[2]);
  });

  it('verifies the RS256 signature with the RSA key', async () => {
    const result = await generalVerify(jws, rsaKey, { algorithms: ['RS256'] });
    expect(utf8(result.payload)).toBe(CLAIMS_TEXT);
    expect(result.protectedHeader).toEqual({ alg: 'RS256' });
    expect(result.unprotectedHeader).toEqual({ kid: '2010-12-29' });
  });

  it('verifies the ES256 signature with the EC key', async () => {
    const result = await generalVerify(jws, ecKey, { algorithms: ['ES256'] });
    expect(utf8(result.payload)).toBe(CLAIMS_TEXT);
    expect(result.protectedHeader).toEqual({ alg: 'ES256' });
    expect(result.unprotectedHeader).toEqual({ kid: 'e9bc097a-ce51-4036-9562-d2ade882db0d' });
  });

  it('verifies each signature on its own, as a flattened JWS, with its key', async () => {
    const pairs: [number, Key, string][] = [
      [0, rsaKey, 'RS256'],
      [1, ecKey, 'ES256'],
    ];
    for (const [index, key, alg] of pairs) {
      const flattened: FlattenedJws = { payload: jws.payload, ...jws.signatures[index]! };
      const result = await flattenedVerify(flattened, key, { algorithms: [alg] });
      expect(utf8(result.payload)).toBe(CLAIMS_TEXT);
    }
  });

  it('verifies through a key set once its keys carry the "kid"s the signatures name', async () => {
    const kids = ['2010-12-29', 'e9bc097a-ce51-4036-9562-d2ade882db0d'];
    const jwks = createLocalJwks({
      keys: jwkSet.keys.map((key, i) => ({ ...publicJwk(key), kid: kids[i] })),
    });
    const result = await generalVerify(jws, jwks, { algorithms: ['ES256'] });
    expect(result.key.kid).toBe('e9bc097a-ce51-4036-9562-d2ade882db0d');
  });

  // The upstream A.6 key set has no "kid"s; a key set matches a header that names a kid only to a key
  // with that kid, so these keys are never candidates for these signatures.
  it('finds no key in the upstream A.6 key set, whose keys carry no "kid"', async () => {
    const jwks = createLocalJwks(jwkSet);
    await expect(generalVerify(jws, jwks, { algorithms: ['RS256', 'ES256'] })).rejects.toMatchObject({
      code: 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED',
    });
  });
});

describe('RFC 7515 A.7 flattened JSON serialization (ES256)', () => {
  const jws = readVectorJson<FlattenedJws>('rfc/rfc7515/rfc7515_A.7.jwsf');

  it('verifies with the A.7 key', async () => {
    const result = await flattenedVerify(jws, importJwk(jwk('rfc7515_A.7.jwk')), { algorithms: ['ES256'] });
    expect(utf8(result.payload)).toBe(CLAIMS_TEXT);
    expect(result.protectedHeader).toEqual({ alg: 'ES256' });
    expect(result.unprotectedHeader).toEqual({ kid: 'e9bc097a-ce51-4036-9562-d2ade882db0d' });
  });

  it('is refused by generalVerify, which expects a "signatures" array', async () => {
    await expect(
      generalVerify(jws as unknown as GeneralJws, importJwk(jwk('rfc7515_A.7.jwk')), {
        algorithms: ['ES256'],
      }),
    ).rejects.toMatchObject({ code: 'ERR_JWS_INVALID' });
  });
});

describe('RFC 7519 §3.1 example JWT (the RFC 7515 A.1 token)', () => {
  const jwt = readVector('rfc/rfc7515/rfc7515_A.1.jwsc').trim();
  const key = importJwk(jwk('rfc7515_A.1.jwk'));

  it('verifies as a JWT one minute before its "exp", with its claims', async () => {
    const result = await verifyJwt(jwt, key, {
      algorithms: ['HS256'],
      currentDate: new Date((EXP - 60) * 1000),
      issuer: 'joe',
      typ: 'JWT',
    });
    expect(result.payload).toEqual({ iss: 'joe', exp: EXP, 'http://example.com/is_root': true });
    expect(result.protectedHeader).toEqual({ typ: 'JWT', alg: 'HS256' });
  });

  it('verifies with a prepared verifier whose clock is before its "exp"', () => {
    const verifier = createVerifier({ key, algorithms: ['HS256'], clock: () => (EXP - 1) * 1000 });
    expect(verifier.verify(jwt).payload['http://example.com/is_root']).toBe(true);
  });

  it('is expired at the instant of its "exp" (RFC 7519 §4.1.4: now must be before it)', async () => {
    await expect(
      verifyJwt(jwt, key, { algorithms: ['HS256'], currentDate: new Date(EXP * 1000) }),
    ).rejects.toMatchObject({ code: 'ERR_JWT_EXPIRED' });
  });

  it('is rejected as expired today, reporting when it expired', async () => {
    await expect(verifyJwt(jwt, key, { algorithms: ['HS256'] })).rejects.toMatchObject({
      code: 'ERR_JWT_EXPIRED',
      expiredAt: new Date(EXP * 1000),
    });
  });

  it('is rejected by an issuer check for another issuer', async () => {
    await expect(
      verifyJwt(jwt, key, {
        algorithms: ['HS256'],
        currentDate: new Date((EXP - 60) * 1000),
        issuer: 'jane',
      }),
    ).rejects.toMatchObject({ code: 'ERR_JWT_CLAIM_VALIDATION_FAILED', claim: 'iss' });
  });
});
