import { generateKeyPair } from '@tessera/jose';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createGuard, type Guard } from '../src/index.js';
import { guardFor, refusal, type TestLogger } from './helpers/guard.js';
import { AUDIENCE, bearer, startIssuer, type TestIssuer } from './helpers/issuer.js';
import { createPinoLogger } from './helpers/pino.js';

let issuer: TestIssuer;
const guards: Guard[] = [];

beforeEach(async () => {
  issuer = await startIssuer();
});

afterEach(async () => {
  vi.restoreAllMocks();
  for (const guard of guards.splice(0)) await guard.close();
  await issuer.close();
});

/** A started guard on the issuer's stream, closed after the test. */
async function start(
  options: Parameters<typeof guardFor>[1] = {},
): Promise<{ guard: Guard; logger: TestLogger }> {
  const started = guardFor(issuer, options);
  guards.push(started.guard);
  await started.guard.ready();
  return started;
}

/** Tokens refused for the client's reasons: bad signature, expired, malformed, revoked, wrong audience. */
async function routineRefusals(guard: Guard): Promise<string[]> {
  issuer.push({ kind: 'jti', value: 'revoked-jti' });
  const { privateKey } = await generateKeyPair('ES256', { kid: 'key-1' });
  const expired = issuer.token({}, { expiresIn: 1 });
  issuer.clock.advance(1000);
  const tokens = [
    issuer.token({}, { key: privateKey }),
    expired,
    `${issuer.token().slice(0, 30)}"`,
    issuer.token({}, { audience: 'https://other.example.com' }),
  ];
  // The live event must be in before the revoked token is tried.
  await vi.waitFor(() => expect(guard.health().revocations.entries).toBe(1));
  tokens.push(issuer.token({ jti: 'revoked-jti' }));
  for (const token of tokens) await refusal(guard, token);
  return tokens;
}

/** The revocation set goes stale (nothing proved liveness for staleAfter): valid tokens get 503. */
function goStale(): void {
  issuer.clock.advance(31_000);
}

describe('refused requests are logged', () => {
  it('at debug when the client is at fault, with the reason and never the token', async () => {
    const { guard, logger } = await start();
    const tokens = await routineRefusals(guard);
    expect(logger.debugs.map((entry) => (entry.fields as { status: number }).status)).toEqual([
      401, 401, 400, 401, 401,
    ]);
    expect(logger.debugs.map((entry) => (entry.fields as { reason: string }).reason)).toEqual([
      expect.stringContaining('ERR_JWS_SIGNATURE_VERIFICATION_FAILED'),
      expect.stringContaining('ERR_JWT_EXPIRED'),
      'the token has characters outside RFC 6750 b64token',
      expect.stringContaining('aud'),
      'revoked (jti)',
    ]);
    expect(logger.errors).toEqual([]);
    expect(logger.warnings).toEqual([]);
    expect(logger.infos).toEqual([]);
    const logged = JSON.stringify(logger);
    for (const token of tokens) {
      expect(logged).not.toContain(token);
      expect(logged).not.toContain(token.split('.')[2] ?? token);
    }
  });

  it('at debug for a request without a token, and for a missing scope (403)', async () => {
    const { guard, logger } = await start();
    await guard.authenticate({ headers: {} }).catch(() => {});
    await guard
      .require({ scopes: ['orders:refund'] })(bearer(issuer.token()))
      .catch(() => {});
    const principal = await guard.authenticate(bearer(issuer.token()));
    expect(() => guard.authorize(principal, { roles: ['admin'] })).toThrow();
    expect(logger.debugs.map((entry) => entry.fields)).toEqual([
      { status: 401, error: 'unauthorized', reason: 'no Authorization header' },
      { status: 403, error: 'insufficient_scope', reason: 'missing scope orders:refund' },
      { status: 403, error: 'insufficient_scope', reason: 'missing role admin' },
    ]);
    expect(logger.warnings).toEqual([]);
  });

  it('accepted requests log nothing', async () => {
    const { guard, logger } = await start();
    await guard.authenticate(bearer(issuer.token()));
    await guard.require({ scopes: ['orders:read'] })(bearer(issuer.token()));
    expect([logger.errors, logger.warnings, logger.infos, logger.debugs]).toEqual([[], [], [], []]);
  });

  it('at warn when the guard cannot check tokens (503), once a minute per cause, the repeats at debug', async () => {
    const { guard, logger } = await start();
    goStale();
    for (let i = 0; i < 3; i++) expect((await refusal(guard, issuer.token())).status).toBe(503);
    expect(logger.warnings.map((entry) => entry.fields)).toEqual([
      {
        status: 503,
        error: 'temporarily_unavailable',
        reason: expect.stringMatching(/^the revocation set is stale/),
      },
    ]);
    expect(logger.debugs).toHaveLength(2);
    issuer.clock.advance(60_000);
    await refusal(guard, issuer.token());
    expect(logger.warnings).toHaveLength(2);
  });

  it('logLevels moves each kind to another level, or silences it', async () => {
    const { guard, logger } = await start({ logLevels: { refusal: 'info', unavailable: 'error' } });
    await refusal(guard, issuer.token({}, { typ: 'JWT' }));
    goStale();
    await refusal(guard, issuer.token());
    expect(logger.infos.map((entry) => (entry.fields as { status: number }).status)).toEqual([401]);
    expect(logger.errors.map((entry) => (entry.fields as { status: number }).status)).toEqual([503]);

    const silent = await start({ logLevels: { refusal: 'silent', unavailable: 'silent' } });
    await refusal(silent.guard, issuer.token({}, { typ: 'JWT' }));
    goStale();
    await refusal(silent.guard, issuer.token());
    const { errors, warnings, infos, debugs } = silent.logger;
    expect([errors, warnings, infos, debugs]).toEqual([[], [], [], []]);
  });
});

describe('what is written at the default level', () => {
  it('the default console logger prints nothing for a refused token, one warning for a 503', async () => {
    const printed = {
      error: vi.spyOn(console, 'error').mockImplementation(() => {}),
      warn: vi.spyOn(console, 'warn').mockImplementation(() => {}),
      info: vi.spyOn(console, 'info').mockImplementation(() => {}),
      log: vi.spyOn(console, 'log').mockImplementation(() => {}),
      debug: vi.spyOn(console, 'debug').mockImplementation(() => {}),
    };
    const guard = createGuard({ issuer: issuer.url, audience: AUDIENCE, clock: issuer.clock.now });
    guards.push(guard);
    await guard.ready();
    await routineRefusals(guard);
    for (const spy of Object.values(printed)) expect(spy).not.toHaveBeenCalled();
    goStale();
    await refusal(guard, issuer.token());
    await refusal(guard, issuer.token());
    expect(printed.warn).toHaveBeenCalledTimes(1);
    expect(printed.warn.mock.calls[0]?.[0]).toBe('@tessera/guard: tokens cannot be checked: answering 503');
  });

  it('pino at its default level (info) writes only the 503, never a token', async () => {
    const pino = createPinoLogger('info');
    const { guard } = await start({ logger: pino.log });
    const tokens = await routineRefusals(guard);
    expect(pino.lines).toEqual([]);
    goStale();
    const stale = issuer.token();
    await refusal(guard, stale);
    expect(pino.lines).toHaveLength(1);
    expect(JSON.parse(pino.lines[0]!)).toMatchObject({
      level: 40,
      status: 503,
      reason: expect.stringMatching(/^the revocation set is stale/),
      msg: 'tokens cannot be checked: answering 503',
    });
    for (const token of [...tokens, stale]) expect(pino.lines.join('')).not.toContain(token);
  });
});
