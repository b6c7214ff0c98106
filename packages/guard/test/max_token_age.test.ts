import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Guard } from '../src/index.js';
import { guardFor, refusal } from './helpers/guard.js';
import { bearer, startIssuer, type TestIssuer } from './helpers/issuer.js';

// maxTokenAge bounds a token's age from its `iat` (RFC 7519 §4.1.6), whatever its `exp`: with jose's
// semantics, an older token is refused as expired, and a token without `iat` is refused.

let issuer: TestIssuer;
const guards: Guard[] = [];

beforeAll(async () => {
  issuer = await startIssuer();
});

afterAll(async () => {
  for (const guard of guards) await guard.close();
  await issuer.close();
});

async function start(options: Parameters<typeof guardFor>[1]): Promise<Guard> {
  const { guard } = guardFor(issuer, { revocations: 'off', ...options });
  guards.push(guard);
  await guard.ready();
  return guard;
}

/** A token issued `secondsAgo` before the issuer's now, valid for an hour from then. */
function issuedAgo(secondsAgo: number, options: Parameters<TestIssuer['token']>[1] = {}): string {
  issuer.clock.advance(-secondsAgo * 1000);
  try {
    return issuer.token({}, { expiresIn: 3600, ...options });
  } finally {
    issuer.clock.advance(secondsAgo * 1000);
  }
}

describe('maxTokenAge', () => {
  it('accepts a token up to that age, and refuses an older one as expired though exp is an hour away', async () => {
    const guard = await start({ maxTokenAge: '15m' });
    expect((await guard.authenticate(bearer(issuedAgo(900)))).sub).toBe('user-1');
    const err = await refusal(guard, issuedAgo(901));
    expect(err.status).toBe(401);
    expect(err.description).toBe('the access token expired');
    expect(err.reason).toMatch(
      /^ERR_JWT_EXPIRED: "iat" claim timestamp check failed \(too far in the past\)/,
    );
  });

  it('refuses a token that ages past it while cached', async () => {
    const guard = await start({ maxTokenAge: 60 });
    const token = issuer.token({}, { expiresIn: 3600 });
    expect((await guard.authenticate(bearer(token))).sub).toBe('user-1');
    issuer.clock.advance(61_000);
    expect((await refusal(guard, token)).description).toBe('the access token expired');
  });

  it('refuses a token without iat', async () => {
    const guard = await start({ maxTokenAge: '1h' });
    const err = await refusal(guard, issuer.token({}, { omit: ['iat'] }));
    expect(err.status).toBe(401);
    expect(err.reason).toContain('"iat"');
  });

  it('allows clockTolerance on both sides: an age up to maxTokenAge + tolerance, an iat that far ahead', async () => {
    const guard = await start({ maxTokenAge: 600, clockTolerance: 30 });
    expect((await guard.authenticate(bearer(issuedAgo(630)))).sub).toBe('user-1');
    expect((await refusal(guard, issuedAgo(631))).description).toBe('the access token expired');
    // Issued by a server whose clock is ahead of ours: accepted within the tolerance, refused beyond it.
    expect((await guard.authenticate(bearer(issuedAgo(-30)))).sub).toBe('user-1');
    const ahead = await refusal(guard, issuedAgo(-31));
    expect(ahead.status).toBe(401);
    expect(ahead.reason).toContain('in the future');
  });

  it('is off by default: an old token is valid until its exp', async () => {
    const guard = await start({});
    expect((await guard.authenticate(bearer(issuedAgo(3000)))).sub).toBe('user-1');
  });
});
