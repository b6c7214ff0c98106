// Decoding without verifying, and unsecured JWTs (RFC 7519 §6): they round trip, and no verify
// function ever accepts one.
import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  compactVerify,
  createLocalJwks,
  createVerifier,
  decodeJwt,
  decodeJwtUnverified,
  decodeProtectedHeader,
  decodeUnsecuredJwt,
  encodeUnsecuredJwt,
  exportJwk,
  flattenedVerify,
  generalVerify,
  generateSecret,
  importKeyObject,
  signJwt,
  verifyJwt,
} from '../../src/index.js';
import { b64u, forge, hmacSigner, segments, thrown } from '../helpers/forge.js';

const unknownKey = importKeyObject(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey, {
  kid: 'elsewhere',
});
const secret = generateSecret('HS256');

describe('decodeJwt and decodeProtectedHeader verify nothing', () => {
  it('decodeJwt reads the claims of a token signed with a key it never saw', async () => {
    const token = await signJwt({ sub: 'user-1', scope: 'read' }, unknownKey, { expiresIn: 60 });
    expect(decodeJwt(token)).toMatchObject({ sub: 'user-1', scope: 'read' });
  });

  it('decodeJwt reads the claims of an expired token', async () => {
    const token = await signJwt({ sub: 'user-1' }, unknownKey, { expiresIn: 60, currentDate: new Date(0) });
    expect(decodeJwt(token)).toMatchObject({ sub: 'user-1', exp: 60 });
  });

  it('decodeProtectedHeader reads the header of a token signed with a key it never saw', async () => {
    const token = await signJwt({}, unknownKey, { typ: 'at+jwt' });
    expect(decodeProtectedHeader(token)).toEqual({ alg: 'ES256', kid: 'elsewhere', typ: 'at+jwt' });
  });

  it('decodeJwtUnverified is decodeJwt', () => {
    expect(decodeJwtUnverified).toBe(decodeJwt);
  });

  it('decodeJwt still refuses a JWE (ERR_JWS_INVALID)', () => {
    expect(thrown(() => decodeJwt('a.b.c.d.e'))).toMatchObject({ code: 'ERR_JWS_INVALID' });
  });

  it('decodeJwt still refuses claims that are not a JSON object (ERR_JWT_INVALID)', () => {
    expect(thrown(() => decodeJwt(`${b64u({ alg: 'HS256' })}.${b64u('[1]')}.x`))).toMatchObject({
      code: 'ERR_JWT_INVALID',
    });
  });

  it('decodeProtectedHeader still refuses duplicate member names (ERR_JWS_INVALID)', () => {
    const token = forge('{"alg":"HS256","alg":"none"}', {}, hmacSigner('x'));
    expect(thrown(() => decodeProtectedHeader(token))).toMatchObject({ code: 'ERR_JWS_INVALID' });
  });

  it('decodeProtectedHeader refuses a token over 16,384 characters, as decodeJwt does (ERR_JWS_INVALID)', async () => {
    const token = await signJwt({ pad: 'x'.repeat(12_000) }, secret);
    expect(token.length).toBeLessThanOrEqual(16_384);
    expect(decodeProtectedHeader(token).alg).toBe('HS256');
    const long = `${b64u({ alg: 'HS256' })}.${'A'.repeat(16_384)}.sig`;
    expect(thrown(() => decodeProtectedHeader(long))).toMatchObject({ code: 'ERR_JWS_INVALID' });
    expect(thrown(() => decodeJwt(long))).toMatchObject({ code: 'ERR_JWS_INVALID' });
  });
});

describe('unsecured JWTs', () => {
  const unsecured = () =>
    encodeUnsecuredJwt({ sub: 'user-1', scope: 'read' }, { issuer: 'test', expiresIn: '5m' });

  it('encodes alg "none" with an empty signature', () => {
    const token = unsecured();
    expect(segments(token)[2]).toBe('');
    expect(decodeProtectedHeader(token)).toEqual({ alg: 'none', typ: 'JWT' });
  });

  it('round trips through decodeUnsecuredJwt', () => {
    const { payload, header } = decodeUnsecuredJwt(unsecured(), { issuer: 'test' });
    expect(payload).toMatchObject({ sub: 'user-1', scope: 'read', iss: 'test' });
    expect(header.alg).toBe('none');
  });

  it('decodeUnsecuredJwt validates claims like verifyJwt (iss, check_failed)', () => {
    expect(thrown(() => decodeUnsecuredJwt(unsecured(), { issuer: 'other' }))).toMatchObject({
      code: 'ERR_JWT_CLAIM_VALIDATION_FAILED',
      claim: 'iss',
    });
  });

  it('decodeUnsecuredJwt requires "exp" by default (exp, missing)', () => {
    expect(thrown(() => decodeUnsecuredJwt(encodeUnsecuredJwt({ sub: 'user-1' })))).toMatchObject({
      code: 'ERR_JWT_CLAIM_VALIDATION_FAILED',
      claim: 'exp',
      reason: 'missing',
    });
  });

  it('decodeUnsecuredJwt refuses a signed token (ERR_JWT_INVALID)', async () => {
    const token = await signJwt({}, secret, { expiresIn: 60 });
    expect(thrown(() => decodeUnsecuredJwt(token))).toMatchObject({ code: 'ERR_JWT_INVALID' });
  });

  it('decodeUnsecuredJwt refuses alg "none" with a signature (ERR_JWT_INVALID)', () => {
    expect(thrown(() => decodeUnsecuredJwt(`${unsecured()}c2ln`))).toMatchObject({ code: 'ERR_JWT_INVALID' });
  });

  it('decodeUnsecuredJwt refuses "crit" (ERR_JWT_INVALID)', () => {
    const [, payload] = segments(unsecured());
    const token = `${b64u({ alg: 'none', crit: ['x'], x: 1 })}.${payload}.`;
    expect(thrown(() => decodeUnsecuredJwt(token))).toMatchObject({ code: 'ERR_JWT_INVALID' });
  });

  describe('no verify function accepts an unsecured JWT', () => {
    const options = { algorithms: ['HS256', 'ES256'] };

    it('verifyJwt (ERR_JOSE_ALG_NOT_ALLOWED)', async () => {
      await expect(verifyJwt(unsecured(), secret, options)).rejects.toMatchObject({
        code: 'ERR_JOSE_ALG_NOT_ALLOWED',
      });
    });

    it('verifyJwt with a key set (ERR_JOSE_ALG_NOT_ALLOWED)', async () => {
      const jwks = createLocalJwks({ keys: [exportJwk(unknownKey, { public: true })] });
      await expect(verifyJwt(unsecured(), jwks, options)).rejects.toMatchObject({
        code: 'ERR_JOSE_ALG_NOT_ALLOWED',
      });
    });

    it('createVerifier().verify (ERR_JOSE_ALG_NOT_ALLOWED)', () => {
      const verifier = createVerifier({ key: secret, algorithms: ['HS256'] });
      expect(thrown(() => verifier.verify(unsecured()))).toMatchObject({ code: 'ERR_JOSE_ALG_NOT_ALLOWED' });
    });

    it('compactVerify (ERR_JOSE_ALG_NOT_ALLOWED)', async () => {
      await expect(compactVerify(unsecured(), secret, options)).rejects.toMatchObject({
        code: 'ERR_JOSE_ALG_NOT_ALLOWED',
      });
    });

    it('flattenedVerify (ERR_JOSE_ALG_NOT_ALLOWED)', async () => {
      const [protectedHeader, payload] = segments(unsecured());
      await expect(
        flattenedVerify({ protected: protectedHeader, payload, signature: '' }, secret, options),
      ).rejects.toMatchObject({ code: 'ERR_JOSE_ALG_NOT_ALLOWED' });
    });

    it('generalVerify skips the "none" signature and finds none valid (ERR_JWS_SIGNATURE_VERIFICATION_FAILED)', async () => {
      const [protectedHeader, payload] = segments(unsecured());
      await expect(
        generalVerify(
          { payload, signatures: [{ protected: protectedHeader, signature: '' }] },
          secret,
          options,
        ),
      ).rejects.toMatchObject({ code: 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED' });
    });
  });
});
