// JWT claim validation (RFC 7519 §4.1, §7.2; RFC 7515 §4.1.9 for "typ") and the facts its errors carry.
import { describe, expect, it } from 'vitest';
import {
  createVerifier,
  generateSecret,
  isJoseError,
  JoseError,
  type JwtPayload,
  type SignJwtOptions,
  signJwt,
  type VerifyJwtOptions,
  verifyJwt,
} from '../../src/index.js';

const secret = generateSecret('HS256');
const T = new Date('2030-01-01T00:00:00Z');
const t = T.getTime() / 1000;
/** `seconds` after T. */
const at = (seconds: number) => new Date((t + seconds) * 1000);

const sign = (claims: JwtPayload = {}, options: SignJwtOptions = {}) =>
  signJwt({ iss: 'https://issuer.example', sub: 'user-1', aud: 'api', ...claims }, secret, {
    currentDate: T,
    expiresIn: '10m',
    ...options,
  });

const verify = async (token: string | Promise<string>, options: Partial<VerifyJwtOptions> = {}) =>
  verifyJwt(await token, secret, { algorithms: ['HS256'], currentDate: T, ...options });

/** Spans that must be refused: a unit that is an Object.prototype member, and one parseFloat makes Infinity. */
const NON_SPANS = [
  ['1 constructor', '1 constructor'],
  ["'9…9s' (400 digits)", `${'9'.repeat(400)}s`],
] as const;

/** A token that expired in 2001: only a disabled or broken check would accept it. */
const longExpired = () => signJwt({}, secret, { expiresIn: 60, currentDate: new Date('2001-01-01') });

const failure = (claim: string, reason: string) => ({
  code: 'ERR_JWT_CLAIM_VALIDATION_FAILED',
  claim,
  reason,
});

describe('issuer (RFC 7519 §4.1.1)', () => {
  it('accepts the configured issuer', async () => {
    const { payload } = await verify(sign(), { issuer: 'https://issuer.example' });
    expect(payload.iss).toBe('https://issuer.example');
  });

  it('accepts any one of several configured issuers', async () => {
    await expect(
      verify(sign(), { issuer: ['https://other.example', 'https://issuer.example'] }),
    ).resolves.toBeDefined();
  });

  it('refuses another issuer (iss, check_failed)', async () => {
    await expect(verify(sign(), { issuer: 'https://other.example' })).rejects.toMatchObject(
      failure('iss', 'check_failed'),
    );
  });

  it('compares exactly: a trailing slash is another issuer (iss, check_failed)', async () => {
    await expect(verify(sign(), { issuer: 'https://issuer.example/' })).rejects.toMatchObject(
      failure('iss', 'check_failed'),
    );
  });

  it('requires "iss" when an issuer is configured (iss, missing)', async () => {
    await expect(
      verify(sign({ iss: undefined }), { issuer: 'https://issuer.example' }),
    ).rejects.toMatchObject(failure('iss', 'missing'));
  });

  it('refuses a non-string "iss" even when no issuer is configured (iss, invalid)', async () => {
    await expect(verify(sign({ iss: 42 as never }))).rejects.toMatchObject(failure('iss', 'invalid'));
  });

  it('refuses an empty issuer list in the options (TypeError)', async () => {
    await expect(verify(sign(), { issuer: [] })).rejects.toThrow(TypeError);
  });
});

describe('audience (RFC 7519 §4.1.3)', () => {
  it.each([
    ['a string option and a string "aud"', 'api', 'api'],
    ['a string option and an array "aud"', 'api', ['web', 'api']],
    ['an array option and a string "aud"', ['web', 'api'], 'api'],
    ['an array option and an array "aud" sharing one value', ['mobile', 'api'], ['web', 'api']],
  ])('accepts %s', async (_what, audience, aud) => {
    await expect(verify(sign({ aud }), { audience })).resolves.toBeDefined();
  });

  it('refuses an "aud" with no value in common (aud, check_failed)', async () => {
    await expect(
      verify(sign({ aud: ['web', 'mobile'] }), { audience: ['api', 'admin'] }),
    ).rejects.toMatchObject(failure('aud', 'check_failed'));
  });

  it('refuses an empty "aud" array (aud, check_failed)', async () => {
    await expect(verify(sign({ aud: [] }), { audience: 'api' })).rejects.toMatchObject(
      failure('aud', 'check_failed'),
    );
  });

  it('refuses an empty audience list in the options (TypeError)', async () => {
    await expect(verify(sign(), { audience: [] })).rejects.toThrow(TypeError);
  });
});

describe('subject (RFC 7519 §4.1.2)', () => {
  it('accepts the required subject', async () => {
    await expect(verify(sign(), { subject: 'user-1' })).resolves.toBeDefined();
  });

  it('refuses another subject (sub, check_failed)', async () => {
    await expect(verify(sign(), { subject: 'user-2' })).rejects.toMatchObject(failure('sub', 'check_failed'));
  });

  it('requires "sub" when a subject is configured (sub, missing)', async () => {
    await expect(verify(sign({ sub: undefined }), { subject: 'user-1' })).rejects.toMatchObject(
      failure('sub', 'missing'),
    );
  });
});

describe('typ, compared as a media type (RFC 7515 §4.1.9, RFC 8725 §3.11)', () => {
  it.each([
    ['at+jwt', 'at+jwt'],
    ['at+jwt', 'AT+JWT'],
    ['at+jwt', 'application/at+jwt'],
    ['at+jwt', 'Application/At+Jwt'],
    ['application/at+jwt', 'at+jwt'],
    ['JWT', 'jwt'],
  ])('accepts typ %j for a required %j', async (required, typ) => {
    await expect(verify(sign({}, { typ }), { typ: required })).resolves.toBeDefined();
  });

  it.each([
    ['at+jwt', 'jwt'],
    ['at+jwt', 'xapplication/at+jwt'],
    ['at+jwt', 'application/at+jwt+x'],
  ])('refuses typ %j for a required %j (typ, check_failed)', async (required, typ) => {
    await expect(verify(sign({}, { typ }), { typ: required })).rejects.toMatchObject(
      failure('typ', 'check_failed'),
    );
  });
});

describe('exp, nbf and clockTolerance (RFC 7519 §4.1.4, §4.1.5)', () => {
  it('refuses a token at the very second of its "exp" (ERR_JWT_EXPIRED)', async () => {
    await expect(verify(sign({}, { expiresIn: 600 }), { currentDate: at(600) })).rejects.toMatchObject({
      code: 'ERR_JWT_EXPIRED',
    });
  });

  it('accepts a token one second before its "exp"', async () => {
    await expect(verify(sign({}, { expiresIn: 600 }), { currentDate: at(599) })).resolves.toBeDefined();
  });

  it('accepts a token expired 10 s ago with clockTolerance 30 (seconds)', async () => {
    await expect(
      verify(sign({}, { expiresIn: 600 }), { currentDate: at(610), clockTolerance: 30 }),
    ).resolves.toBeDefined();
  });

  it("accepts a token expired 10 s ago with clockTolerance '30s'", async () => {
    await expect(
      verify(sign({}, { expiresIn: 600 }), { currentDate: at(610), clockTolerance: '30s' }),
    ).resolves.toBeDefined();
  });

  it('refuses a token expired 10 s ago with clockTolerance 5 (ERR_JWT_EXPIRED)', async () => {
    await expect(
      verify(sign({}, { expiresIn: 600 }), { currentDate: at(610), clockTolerance: 5 }),
    ).rejects.toMatchObject({ code: 'ERR_JWT_EXPIRED' });
  });

  it('refuses a token before its "nbf" (nbf, check_failed)', async () => {
    await expect(verify(sign({}, { notBefore: 60 }), { currentDate: at(50) })).rejects.toMatchObject(
      failure('nbf', 'check_failed'),
    );
  });

  it('accepts a token at the very second of its "nbf"', async () => {
    await expect(verify(sign({}, { notBefore: 60 }), { currentDate: at(60) })).resolves.toBeDefined();
  });

  it('accepts a token 10 s before its "nbf" with clockTolerance \'30s\'', async () => {
    await expect(
      verify(sign({}, { notBefore: 60 }), { currentDate: at(50), clockTolerance: '30s' }),
    ).resolves.toBeDefined();
  });

  it.each([-1, Number.NaN, 'soon', '30'])('refuses clockTolerance %j (TypeError)', async (clockTolerance) => {
    await expect(verify(sign(), { clockTolerance })).rejects.toThrow(TypeError);
  });

  it.each(NON_SPANS)(
    'refuses clockTolerance %s in verifyJwt and createVerifier (TypeError), so a long-expired token is not let through',
    async (_name, clockTolerance) => {
      await expect(
        verifyJwt(await longExpired(), secret, { algorithms: ['HS256'], clockTolerance }),
      ).rejects.toThrow(TypeError);
      expect(() => createVerifier({ key: secret, algorithms: ['HS256'], clockTolerance })).toThrow(TypeError);
    },
  );
});

describe('maxTokenAge (RFC 7519 §4.1.6)', () => {
  // A specific issue time is an option: a claims "iat" is overridden by the default iat: true (now).
  const issued = (secondsAgo: number) => sign({}, { iat: t - secondsAgo, expiresIn: '1d' });

  it('accepts a token issued 59 minutes ago with maxTokenAge 1h', async () => {
    await expect(verify(issued(59 * 60), { maxTokenAge: '1h' })).resolves.toBeDefined();
  });

  it('refuses a token issued 61 minutes ago with maxTokenAge 3600 (ERR_JWT_EXPIRED, iat)', async () => {
    await expect(verify(issued(61 * 60), { maxTokenAge: 3600 })).rejects.toMatchObject({
      code: 'ERR_JWT_EXPIRED',
      claim: 'iat',
      expiredAt: at(-61 * 60 + 3600),
    });
  });

  it('makes "iat" required (iat, missing)', async () => {
    await expect(verify(sign({}, { iat: false }), { maxTokenAge: '1h' })).rejects.toMatchObject(
      failure('iat', 'missing'),
    );
  });

  it('refuses an "iat" in the future (iat, check_failed)', async () => {
    await expect(verify(issued(-60), { maxTokenAge: '1h' })).rejects.toMatchObject(
      failure('iat', 'check_failed'),
    );
  });

  it.each(NON_SPANS)(
    'refuses maxTokenAge %s when a verifier is created (TypeError)',
    (_name, maxTokenAge) => {
      expect(() => createVerifier({ key: secret, algorithms: ['HS256'], maxTokenAge })).toThrow(TypeError);
    },
  );
});

describe('requiredClaims, currentDate and requireExp', () => {
  it('refuses a token missing a required claim (jti, missing)', async () => {
    await expect(verify(sign(), { requiredClaims: ['jti'] })).rejects.toMatchObject(
      failure('jti', 'missing'),
    );
  });

  it('accepts a token holding every required claim', async () => {
    await expect(
      verify(sign({ scope: 'read' }, { jti: true }), { requiredClaims: ['jti', 'scope'] }),
    ).resolves.toBeDefined();
  });

  it('validates at currentDate: a token long expired by the clock is accepted at its issue time', async () => {
    const token = await signJwt({}, secret, { currentDate: new Date('2001-01-01T00:00:00Z'), expiresIn: 60 });
    await expect(
      verifyJwt(token, secret, { algorithms: ['HS256'], currentDate: new Date('2001-01-01T00:00:30Z') }),
    ).resolves.toBeDefined();
  });

  it('validates at currentDate: a token valid now is expired at a later date (ERR_JWT_EXPIRED)', async () => {
    const token = await signJwt({}, secret, { expiresIn: 60 });
    await expect(
      verifyJwt(token, secret, { algorithms: ['HS256'], currentDate: new Date(Date.now() + 3_600_000) }),
    ).rejects.toMatchObject({ code: 'ERR_JWT_EXPIRED' });
  });

  it('refuses an invalid currentDate (TypeError): a NaN "now" would switch the exp and nbf checks off', async () => {
    const invalid = new Date(Number.NaN);
    await expect(
      verifyJwt(await longExpired(), secret, { algorithms: ['HS256'], currentDate: invalid }),
    ).rejects.toThrow(TypeError);
    const notYetValid = await signJwt({}, secret, { notBefore: '1y', expiresIn: '2y' });
    await expect(
      verifyJwt(notYetValid, secret, { algorithms: ['HS256'], currentDate: invalid }),
    ).rejects.toThrow(TypeError);
  });

  it('refuses to verify when the verifier clock returns NaN (TypeError), instead of accepting an expired token', async () => {
    const expired = await longExpired();
    const verifier = createVerifier({ key: secret, algorithms: ['HS256'], clock: () => Number.NaN });
    expect(() => verifier.verify(expired)).toThrow(TypeError);
  });

  it('requires "exp" by default (exp, missing)', async () => {
    await expect(verify(sign({}, { expiresIn: undefined }))).rejects.toMatchObject(failure('exp', 'missing'));
  });

  it('accepts a token without "exp" when requireExp is false', async () => {
    await expect(verify(sign({}, { expiresIn: undefined }), { requireExp: false })).resolves.toBeDefined();
  });

  it('still checks "exp" when present and requireExp is false (ERR_JWT_EXPIRED)', async () => {
    await expect(verify(sign(), { requireExp: false, currentDate: at(3600) })).rejects.toMatchObject({
      code: 'ERR_JWT_EXPIRED',
    });
  });
});

describe('error facts', () => {
  it('JwtExpired carries expiredAt, claim, reason and the payload', async () => {
    const err = await verify(sign({ scope: 'read' }, { expiresIn: 600 }), { currentDate: at(900) }).catch(
      (e) => e,
    );
    expect(isJoseError(err, 'ERR_JWT_EXPIRED')).toBe(true);
    expect(err).toBeInstanceOf(JoseError);
    expect(err).toMatchObject({
      name: 'JwtExpired',
      code: 'ERR_JWT_EXPIRED',
      claim: 'exp',
      reason: 'check_failed',
      expiredAt: at(600),
      payload: {
        iss: 'https://issuer.example',
        sub: 'user-1',
        aud: 'api',
        scope: 'read',
        iat: t,
        exp: t + 600,
      },
    });
  });

  it('JwtClaimValidationFailed carries claim, reason and the payload', async () => {
    const err = await verify(sign({ scope: 'read' }), { audience: 'admin' }).catch((e) => e);
    expect(isJoseError(err, 'ERR_JWT_CLAIM_VALIDATION_FAILED')).toBe(true);
    expect(err).toMatchObject({
      name: 'JwtClaimValidationFailed',
      claim: 'aud',
      reason: 'check_failed',
      payload: { aud: 'api', scope: 'read' },
    });
  });

  it('isJoseError narrows by code and refuses other errors', async () => {
    const err = await verify(sign(), { audience: 'admin' }).catch((e) => e);
    expect(isJoseError(err)).toBe(true);
    expect(isJoseError(err, 'ERR_JWT_EXPIRED')).toBe(false);
    expect(isJoseError(new Error('x'))).toBe(false);
  });
});
