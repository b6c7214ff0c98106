// Issuing JWTs: lifetimes and spans, jti, nbf, iat, and how options combine with claims.
import { describe, expect, it } from 'vitest';
import { createSigner, decodeJwt, decodeProtectedHeader, generateSecret, signJwt } from '../../src/index.js';

const secret = generateSecret('HS256', { kid: 'k1' });
const T = new Date('2030-01-01T00:00:00Z');
const t = T.getTime() / 1000;
const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('expiresIn', () => {
  it.each([
    [900, 900],
    [90.9, 90],
    ['30s', 30],
    ['15m', 900],
    ['12h', 43_200],
    ['1.5h', 5_400],
    ['7d', 604_800],
    ['2 weeks', 1_209_600],
    ['1y', 31_557_600],
    ['15 MINUTES', 900],
  ])('sets exp = iat + %j (%i s)', async (expiresIn, seconds) => {
    const payload = decodeJwt(await signJwt({}, secret, { expiresIn, currentDate: T }));
    expect(payload).toMatchObject({ iat: t, exp: t + seconds });
  });

  it.each(['15', '15x', '-15m', '', 'soon', '1e3s', 'm', -1, Number.NaN, Number.POSITIVE_INFINITY])(
    'refuses the span %j (TypeError)',
    async (expiresIn) => {
      await expect(signJwt({}, secret, { expiresIn })).rejects.toThrow(TypeError);
    },
  );

  it('refuses a bad span when a signer is created, not when it signs (TypeError)', () => {
    expect(() => createSigner({ key: secret, expiresIn: '15 fortnights' })).toThrow(TypeError);
  });

  it.each([
    ['1 constructor', '1 constructor'],
    ["'9…9s' (400 digits)", `${'9'.repeat(400)}s`],
  ])('refuses expiresIn %s (TypeError), so no token gets a NaN or Infinity exp', async (_name, expiresIn) => {
    expect(() => createSigner({ key: secret, expiresIn })).toThrow(TypeError);
    await expect(signJwt({}, secret, { expiresIn })).rejects.toThrow(TypeError);
  });

  it('counts the lifetime from a given numeric iat', async () => {
    const payload = decodeJwt(await signJwt({}, secret, { iat: t - 100, expiresIn: 60, currentDate: T }));
    expect(payload).toMatchObject({ iat: t - 100, exp: t - 40 });
  });
});

describe('notBefore and iat', () => {
  it('sets nbf = now + notBefore', async () => {
    const payload = decodeJwt(await signJwt({}, secret, { notBefore: '5m', currentDate: T }));
    expect(payload.nbf).toBe(t + 300);
  });

  it('sets iat to now by default', async () => {
    expect(decodeJwt(await signJwt({}, secret, { currentDate: T })).iat).toBe(t);
  });

  it('sets iat to now even when the claims carry an iat, and counts exp from now', async () => {
    const stale = t - 10 * 365 * 86_400;
    const payload = decodeJwt(await signJwt({ iat: stale }, secret, { expiresIn: '15m', currentDate: T }));
    expect(payload).toMatchObject({ iat: t, exp: t + 900 });
    const signer = createSigner({ key: secret, expiresIn: 60, clock: () => T.getTime() });
    expect(decodeJwt(signer.sign({ iat: stale }))).toMatchObject({ iat: t, exp: t + 60 });
  });

  it('takes a specific iat from the options, over an iat in the claims', async () => {
    const payload = decodeJwt(
      await signJwt({ iat: 5 }, secret, { iat: t - 100, expiresIn: 60, currentDate: T }),
    );
    expect(payload).toMatchObject({ iat: t - 100, exp: t - 40 });
  });

  it('leaves iat out with iat: false', async () => {
    expect(decodeJwt(await signJwt({ iat: 5 }, secret, { iat: false, currentDate: T }))).not.toHaveProperty(
      'iat',
    );
  });

  it('refuses a claim NumericDate that is not a number (TypeError)', async () => {
    await expect(signJwt({ exp: '2030-01-01' as never }, secret)).rejects.toThrow(TypeError);
  });

  it('refuses claims that are not a plain object (TypeError)', async () => {
    await expect(signJwt([] as never, secret)).rejects.toThrow(TypeError);
  });
});

describe('jti', () => {
  it('jti: true gives a random version 4 UUID', async () => {
    expect(decodeJwt(await signJwt({}, secret, { jti: true })).jti).toMatch(UUID_V4);
  });

  it('jti: true gives a different UUID to every token of a signer', () => {
    const signer = createSigner({ key: secret, expiresIn: 60, jti: true });
    const ids = new Set(Array.from({ length: 200 }, () => decodeJwt(signer.sign()).jti));
    expect(ids.size).toBe(200);
  });

  it('a string jti is used as is', async () => {
    expect(decodeJwt(await signJwt({}, secret, { jti: 'token-1' })).jti).toBe('token-1');
  });
});

describe('options and claims', () => {
  it('options win over claims of the same name', async () => {
    const token = await signJwt({ iss: 'forged', sub: 'forged', aud: 'forged' }, secret, {
      issuer: 'https://issuer.example',
      subject: 'user-1',
      audience: ['api', 'web'],
    });
    expect(decodeJwt(token)).toMatchObject({
      iss: 'https://issuer.example',
      sub: 'user-1',
      aud: ['api', 'web'],
    });
  });

  it('a signer fills in its options on every token and keeps the caller claims', () => {
    const signer = createSigner({ key: secret, issuer: 'https://issuer.example', expiresIn: '15m' });
    expect(decodeJwt(signer.sign({ scope: 'read' }))).toMatchObject({
      iss: 'https://issuer.example',
      scope: 'read',
    });
  });

  it('the header gets alg from the key, typ JWT and the key kid by default', async () => {
    expect(decodeProtectedHeader(await signJwt({}, secret))).toEqual({ alg: 'HS256', kid: 'k1', typ: 'JWT' });
  });

  it("takes kid from options.kid, then header.kid, then the key's kid (signJwt and createSigner)", async () => {
    const kidOf = async (options: Parameters<typeof signJwt>[2]) =>
      decodeProtectedHeader(await signJwt({}, secret, options)).kid;
    expect(await kidOf({})).toBe('k1');
    expect(await kidOf({ header: { kid: 'header-kid' } })).toBe('header-kid');
    expect(await kidOf({ kid: 'option-kid', header: { kid: 'header-kid' } })).toBe('option-kid');
    const signer = createSigner({ key: secret, header: { kid: 'header-kid' } });
    expect(signer.kid).toBe('header-kid');
    expect(decodeProtectedHeader(signer.sign()).kid).toBe('header-kid');
    expect(createSigner({ key: secret, kid: 'option-kid', header: { kid: 'header-kid' } }).kid).toBe(
      'option-kid',
    );
    expect(createSigner({ key: secret }).kid).toBe('k1');
  });

  it('typ and kid can be set', async () => {
    const header = decodeProtectedHeader(await signJwt({}, secret, { typ: 'at+jwt', kid: 'k2' }));
    expect(header).toMatchObject({ typ: 'at+jwt', kid: 'k2' });
  });

  it('refuses "b64" in a JWT header (ERR_JWS_INVALID)', async () => {
    await expect(signJwt({}, secret, { header: { b64: false, crit: ['b64'] } })).rejects.toMatchObject({
      code: 'ERR_JWS_INVALID',
    });
  });

  it('refuses to sign with "none" (ERR_JOSE_NOT_SUPPORTED)', async () => {
    await expect(signJwt({}, secret, { alg: 'none' })).rejects.toMatchObject({
      code: 'ERR_JOSE_NOT_SUPPORTED',
    });
  });
});
