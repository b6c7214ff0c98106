import { createHmac } from 'node:crypto';
import { exportPem, generateKeyPair } from '@tessera/jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGuard, type Guard, GuardError } from '../src/index.js';
import {
  AUDIENCE,
  bearer,
  createTestLogger,
  startIssuer,
  type TestIssuer,
  waitFor,
} from './helpers/issuer.js';

const REALM = `realm="${AUDIENCE}"`;
const INVALID_TOKEN = {
  status: 401,
  challenge: `Bearer ${REALM}, error="invalid_token", error_description="the access token is not valid"`,
  body: { error: 'invalid_token', error_description: 'the access token is not valid' },
};
const MALFORMED = {
  status: 400,
  challenge: `Bearer ${REALM}, error="invalid_request", error_description="the Authorization header is malformed"`,
  body: { error: 'invalid_request', error_description: 'the Authorization header is malformed' },
};
const MISSING = {
  status: 401,
  challenge: `Bearer ${REALM}`,
  body: { error: 'unauthorized', error_description: 'an access token is required' },
};

let issuer: TestIssuer;
let guard: Guard;

beforeAll(async () => {
  issuer = await startIssuer();
  guard = createGuard({
    issuer: issuer.url,
    audience: AUDIENCE,
    revocations: 'off',
    clock: issuer.clock.now,
    logger: createTestLogger(),
  });
  await guard.ready();
});

afterAll(async () => {
  await guard.close();
  await issuer.close();
});

/** The refusal of `request`, which must be a GuardError. */
async function refusal(request: Parameters<Guard['authenticate']>[0], target = guard): Promise<GuardError> {
  const err = await target.authenticate(request).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(GuardError);
  return err as GuardError;
}

function expectAnswer(err: GuardError, expected: { status: number; challenge: string; body: object }): void {
  expect(err.status).toBe(expected.status);
  expect(err.headers['www-authenticate']).toBe(expected.challenge);
  expect(JSON.parse(JSON.stringify(err))).toEqual(expected.body);
}

/** Base64url of JSON, to forge tokens by hand. */
function segment(value: object): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

describe('a valid access token', () => {
  it('yields the principal with every field from the claims', async () => {
    const token = issuer.token();
    const principal = await guard.authenticate(bearer(token));
    const now = Math.floor(issuer.clock.now() / 1000);
    expect(principal.sub).toBe('user-1');
    expect(principal.scopes).toEqual(['orders:read', 'orders:write']);
    expect(principal.roles).toEqual(['customer']);
    expect(principal.permissions).toEqual(['orders.read']);
    expect(principal.sid).toBe('session-1');
    expect(principal.clientId).toBe('web-app');
    expect(principal.expiresAt).toBe(now + 300);
    expect(principal.token).toBe(token);
    expect(principal.claims.iss).toBe(issuer.url);
    expect(principal.claims.ver).toBe(3);
    expect(Object.isFrozen(principal)).toBe(true);
    expect(Object.isFrozen(principal.claims)).toBe(true);
    expect(Object.isFrozen(principal.roles)).toBe(true);
  });

  it('is accepted with typ "application/at+jwt" (RFC 9068 §4)', async () => {
    const principal = await guard.authenticate(bearer(issuer.token({}, { typ: 'application/at+jwt' })));
    expect(principal.sub).toBe('user-1');
  });

  it('is accepted when aud is an array that contains the audience', async () => {
    const token = issuer.token({}, { audience: ['https://other.example.com', AUDIENCE] });
    expect((await guard.authenticate(bearer(token))).sub).toBe('user-1');
  });

  it('has empty lists when the token carries no scope, roles or permissions', async () => {
    const token = issuer.token({}, { omit: ['scope', 'roles', 'permissions', 'sid'] });
    const principal = await guard.authenticate(bearer(token));
    expect(principal.scopes).toEqual([]);
    expect(principal.roles).toEqual([]);
    expect(principal.permissions).toEqual([]);
    expect(principal.sid).toBeUndefined();
  });

  it('is read from every kind of request: node-style, Fetch Request, Headers, header record', async () => {
    const token = issuer.token();
    const value = `Bearer ${token}`;
    const nodeLike = { headers: { authorization: value }, rawHeaders: ['Host', 'x', 'Authorization', value] };
    const request = new Request('http://api.test/orders', { headers: { authorization: value } });
    const headers = new Headers({ Authorization: value });
    for (const source of [nodeLike, request, headers, { headers: { authorization: [value] } }]) {
      expect((await guard.authenticate(source)).token).toBe(token);
    }
  });

  it('accepts the scheme in any case and several spaces before the token (RFC 6750 §2.1)', async () => {
    const token = issuer.token();
    expect((await guard.authenticate({ headers: { authorization: `bearer   ${token}` } })).token).toBe(token);
    expect((await guard.authenticate({ headers: { authorization: `BEARER ${token}` } })).token).toBe(token);
  });

  it('is verified once: a repeat returns the same principal from the cache', async () => {
    const token = issuer.token();
    const first = await guard.authenticate(bearer(token));
    const again = await guard.authenticate(bearer(`${token}`.slice(0)));
    expect(again).toBe(first);
  });

  it('stops being accepted at exp even when it was cached', async () => {
    const token = issuer.token({}, { expiresIn: 2 });
    await guard.authenticate(bearer(token));
    issuer.clock.advance(2000);
    const err = await refusal(bearer(token));
    expect(err.status).toBe(401);
    expect(err.description).toBe('the access token expired');
  });
});

describe('an access token that is not valid', () => {
  it('is refused when signed by another key under the same kid', async () => {
    const { privateKey } = await generateKeyPair('ES256', { kid: 'key-1' });
    const err = await refusal(bearer(issuer.token({}, { key: privateKey })));
    expectAnswer(err, INVALID_TOKEN);
    expect(err.reason).toContain('ERR_JWS_SIGNATURE_VERIFICATION_FAILED');
  });

  it('is refused when its payload was altered after signing', async () => {
    const [head, , signature] = issuer.token().split('.');
    const forged = segment({ ...issuer.defaultClaims, sub: 'admin', iss: issuer.url, aud: AUDIENCE });
    expectAnswer(await refusal(bearer(`${head}.${forged}.${signature}`)), INVALID_TOKEN);
  });

  it('is refused when it is HS256 signed with the public key as the secret (key confusion)', async () => {
    const now = Math.floor(issuer.clock.now() / 1000);
    const payload = {
      ...issuer.defaultClaims,
      iss: issuer.url,
      aud: AUDIENCE,
      iat: now,
      exp: now + 300,
      jti: 'x',
    };
    const input = `${segment({ alg: 'HS256', typ: 'at+jwt', kid: 'key-1' })}.${segment(payload)}`;
    for (const secret of [exportPem(issuer.publicKey), JSON.stringify(issuer.publicKey)]) {
      const mac = createHmac('sha256', secret).update(input).digest('base64url');
      const err = await refusal(bearer(`${input}.${mac}`));
      expectAnswer(err, INVALID_TOKEN);
      expect(err.reason).toContain('ERR_JOSE_ALG_NOT_ALLOWED');
    }
  });

  it('is refused when unsigned (alg "none")', async () => {
    const now = Math.floor(issuer.clock.now() / 1000);
    const payload = {
      ...issuer.defaultClaims,
      iss: issuer.url,
      aud: AUDIENCE,
      iat: now,
      exp: now + 300,
      jti: 'x',
    };
    const err = await refusal(bearer(`${segment({ alg: 'none', typ: 'at+jwt' })}.${segment(payload)}.`));
    expectAnswer(err, INVALID_TOKEN);
  });

  it('is refused with a plain JWT typ, or none (RFC 9068 §4, RFC 8725 §3.11)', async () => {
    for (const typ of ['JWT', 'jwt', 'application/jwt']) {
      const err = await refusal(bearer(issuer.token({}, { typ })));
      expectAnswer(err, INVALID_TOKEN);
      expect(err.reason).toContain('typ');
    }
  });

  it('is refused from another issuer (RFC 7519 §4.1.1)', async () => {
    const err = await refusal(bearer(issuer.token({}, { issuer: `${issuer.url}/other` })));
    expectAnswer(err, INVALID_TOKEN);
    expect(err.reason).toContain('iss');
  });

  it('is refused for another audience (RFC 7519 §4.1.3)', async () => {
    const err = await refusal(bearer(issuer.token({}, { audience: 'https://other.example.com' })));
    expectAnswer(err, INVALID_TOKEN);
    expect(err.reason).toContain('aud');
  });

  it('is refused once expired, saying only that it expired (RFC 7519 §4.1.4)', async () => {
    const token = issuer.token({}, { expiresIn: 60 });
    issuer.clock.advance(60_000);
    const err = await refusal(bearer(token));
    expect(err.status).toBe(401);
    expect(err.headers['www-authenticate']).toBe(
      `Bearer ${REALM}, error="invalid_token", error_description="the access token expired"`,
    );
    expect(err.toJSON()).toEqual({ error: 'invalid_token', error_description: 'the access token expired' });
    expect(err.reason).toContain('ERR_JWT_EXPIRED');
  });

  it('is refused before nbf (RFC 7519 §4.1.5)', async () => {
    const err = await refusal(bearer(issuer.token({}, { notBefore: 30 })));
    expectAnswer(err, INVALID_TOKEN);
    expect(err.reason).toContain('nbf');
  });

  it('is refused without exp or another RFC 9068 §2.2 claim', async () => {
    for (const omit of [['exp'], ['client_id'], ['jti'], ['iat'], ['sub']]) {
      const token = issuer.token({}, omit[0] === 'exp' ? { expiresIn: null } : { omit });
      expectAnswer(await refusal(bearer(token)), INVALID_TOKEN);
    }
  });

  it('is refused when a claim the principal needs has the wrong type', async () => {
    for (const claims of [
      { roles: 'admin' },
      { permissions: [1] },
      { scope: ['a'] },
      { sid: 7 },
      { ver: '3' },
    ]) {
      const err = await refusal(bearer(issuer.token(claims)));
      expectAnswer(err, INVALID_TOKEN);
    }
  });

  it('is refused when its kid is not in the JWKS', async () => {
    const { privateKey } = await generateKeyPair('ES256', { kid: 'key-unknown' });
    const err = await refusal(bearer(issuer.token({}, { key: privateKey })));
    expectAnswer(err, INVALID_TOKEN);
    expect(err.reason).toContain('ERR_JWKS_NO_MATCHING_KEY');
  });

  it('is refused when malformed, with the same answer', async () => {
    const [head, payload] = issuer.token().split('.');
    const malformed = [
      'abc',
      'a.b.c',
      `${head}.${payload}`,
      `${head}.${payload}.`,
      `${head}..sig`,
      `${head}.${payload}.c.d.e`,
      `${segment({ typ: 'at+jwt' })}.${payload}.c2ln`,
      `${Buffer.from('{"alg":"ES256"').toString('base64url')}.${payload}.c2ln`,
      'x'.repeat(20_000),
    ];
    for (const token of malformed) expectAnswer(await refusal(bearer(token)), INVALID_TOKEN);
  });

  it('never reflects the token in the answer', async () => {
    const token = `${issuer.token().slice(0, -4)}AAAA`;
    const err = await refusal(bearer(token));
    const answer = JSON.stringify({
      headers: err.headers,
      body: err,
      message: err.message,
      reason: err.reason,
    });
    expect(answer).not.toContain(token.split('.')[1]);
    expect(answer).not.toContain(token.split('.')[2]);
  });
});

describe('clock tolerance', () => {
  it('accepts a token expired within clockTolerance, and one whose nbf is that close', async () => {
    const tolerant = createGuard({
      issuer: issuer.url,
      audience: AUDIENCE,
      revocations: 'off',
      clockTolerance: 10,
      clock: issuer.clock.now,
      logger: createTestLogger(),
    });
    try {
      await tolerant.ready();
      const expired = issuer.token({}, { expiresIn: 5 });
      const early = issuer.token({}, { notBefore: 8 });
      issuer.clock.advance(9000);
      expect((await tolerant.authenticate(bearer(expired))).sub).toBe('user-1');
      expect((await refusal(bearer(expired))).description).toBe('the access token expired');
      issuer.clock.advance(-9000);
      expect((await tolerant.authenticate(bearer(early))).sub).toBe('user-1');
      expectAnswer(await refusal(bearer(early)), INVALID_TOKEN);
      issuer.clock.advance(9000);
    } finally {
      await tolerant.close();
    }
  });
});

describe('the Authorization header', () => {
  it('absent: 401 with a challenge without an error code (RFC 6750 §3.1)', async () => {
    expectAnswer(await refusal({ headers: {} }), MISSING);
    expectAnswer(await refusal(new Headers()), MISSING);
    expectAnswer(await refusal({ headers: { authorization: '' } }), MISSING);
  });

  it('with another scheme: 401 without an error code', async () => {
    expectAnswer(await refusal({ headers: { authorization: 'Basic dXNlcjpwYXNz' } }), MISSING);
    expectAnswer(await refusal({ headers: { authorization: `Bearer${issuer.token()}` } }), MISSING);
  });

  it('is the only place a token is read from: no query string or form body (RFC 6750 §2.3)', async () => {
    const token = issuer.token();
    const request = new Request(`http://api.test/orders?access_token=${token}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `access_token=${token}`,
    });
    expectAnswer(await refusal(request), MISSING);
  });

  it('"Bearer" without a token: 400 invalid_request', async () => {
    expectAnswer(await refusal({ headers: { authorization: 'Bearer' } }), MALFORMED);
    expectAnswer(await refusal({ headers: { authorization: 'Bearer    ' } }), MALFORMED);
  });

  it('two tokens, or characters outside b64token: 400 invalid_request (RFC 6750 §2.1)', async () => {
    const token = issuer.token();
    for (const value of [
      `Bearer ${token} ${token}`,
      `Bearer ${token},${token}`,
      `Bearer ${token.slice(0, 20)}"${token.slice(21)}`,
      'Bearer abc=def',
      'Bearer <script>',
    ]) {
      const err = await refusal({ headers: { authorization: value } });
      expectAnswer(err, MALFORMED);
      expect(JSON.stringify(err.headers)).not.toContain(token.slice(0, 20));
    }
  });

  it('repeated: 400 invalid_request, however the request carries it', async () => {
    const token = issuer.token();
    const value = `Bearer ${token}`;
    const headers = new Headers();
    headers.append('authorization', value);
    headers.append('authorization', value);
    const requests = [
      // node:http keeps only the first in `headers`; the raw list shows both.
      { headers: { authorization: value }, rawHeaders: ['Authorization', value, 'authorization', value] },
      { headers: { authorization: [value, value] } },
      headers,
    ];
    for (const request of requests) expectAnswer(await refusal(request), MALFORMED);
  });
});

describe('authorize and require', () => {
  it('pass when every listed scope, role and permission is present', async () => {
    const principal = await guard.authenticate(bearer(issuer.token()));
    expect(() =>
      guard.authorize(principal, {
        scopes: ['orders:read'],
        roles: ['customer'],
        permissions: ['orders.read'],
      }),
    ).not.toThrow();
    expect(() => guard.authorize(principal, {})).not.toThrow();
  });

  it('a missing scope: 403 insufficient_scope naming the required scopes (RFC 6750 §3)', async () => {
    const principal = await guard.authenticate(bearer(issuer.token()));
    let err: unknown;
    try {
      guard.authorize(principal, { scopes: ['orders:read', 'admin'] });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(GuardError);
    expectAnswer(err as GuardError, {
      status: 403,
      challenge: `Bearer ${REALM}, error="insufficient_scope", error_description="the access token does not grant the required scope", scope="orders:read admin"`,
      body: {
        error: 'insufficient_scope',
        error_description: 'the access token does not grant the required scope',
      },
    });
  });

  it('a missing role or permission: 403 insufficient_scope without a scope parameter', async () => {
    const principal = await guard.authenticate(bearer(issuer.token()));
    for (const requirements of [{ roles: ['admin'] }, { permissions: ['orders.delete'] }]) {
      let err: GuardError | undefined;
      try {
        guard.authorize(principal, requirements);
      } catch (e) {
        err = e as GuardError;
      }
      expect(err?.status).toBe(403);
      expect(err?.error).toBe('insufficient_scope');
      expect(err?.headers['www-authenticate']).toMatch(
        /^Bearer realm="[^"]+", error="insufficient_scope", error_description="[^"]+"$/,
      );
    }
  });

  it('require() authenticates then authorizes', async () => {
    const check = guard.require({ scopes: ['orders:write'], roles: ['customer'] });
    expect((await check(bearer(issuer.token()))).sub).toBe('user-1');
    const err = await check(bearer(issuer.token({ scope: 'orders:read' }))).catch((e: unknown) => e);
    expect((err as GuardError).status).toBe(403);
    const unauthenticated = await check({ headers: {} }).catch((e: unknown) => e);
    expect((unauthenticated as GuardError).status).toBe(401);
  });

  it('actor: forbidden refuses delegated tokens, required refuses the subject’s own (403 insufficient_scope)', async () => {
    const own = await guard.authenticate(bearer(issuer.token()));
    const delegated = await guard.authenticate(
      bearer(issuer.token({ act: { sub: 'gateway', client_id: 'gateway' } })),
    );
    expect(delegated.actor).toEqual({ sub: 'gateway', clientId: 'gateway' });
    const refusal = (principal: typeof own, actor: 'forbidden' | 'required') => {
      try {
        guard.authorize(principal, { actor });
      } catch (err) {
        return err as GuardError;
      }
      return undefined;
    };
    expect(refusal(own, 'forbidden')).toBeUndefined();
    expect(refusal(delegated, 'required')).toBeUndefined();
    for (const [principal, actor, description] of [
      [delegated, 'forbidden', 'the access token names an actor (act): this resource takes the subject only'],
      [own, 'required', 'the access token names no actor (act): this resource takes delegated tokens only'],
    ] as const) {
      const err = refusal(principal, actor);
      expect(err?.status).toBe(403);
      expect(err?.toJSON()).toEqual({ error: 'insufficient_scope', error_description: description });
      expect(err?.headers['www-authenticate']).toBe(
        `Bearer ${REALM}, error="insufficient_scope", error_description="${description}"`,
      );
    }
    // Through a prepared route check too.
    const check = guard.require({ scopes: ['orders:read'], actor: 'forbidden' });
    expect((await check(bearer(issuer.token()))).sub).toBe('user-1');
    const err = await check(bearer(issuer.token({ act: { sub: 'admin-1' } }))).catch((e: unknown) => e);
    expect((err as GuardError).status).toBe(403);
    expect(() => guard.require({ actor: 'maybe' as 'required' })).toThrow(TypeError);
  });

  it('refuses requirements that cannot be met or expressed', () => {
    expect(() => guard.require({ scopes: ['two words'] })).toThrow(TypeError);
    expect(() => guard.require({ scopes: ['quote"d'] })).toThrow(TypeError);
    expect(() => guard.require({ roles: [''] })).toThrow(TypeError);
    expect(() => guard.require({ permissions: 'admin' as unknown as string[] })).toThrow(TypeError);
  });
});

describe('keys that cannot be obtained', () => {
  it('answer 503 temporarily_unavailable with Retry-After, not blaming the token', async () => {
    const logger = createTestLogger();
    const broken = createGuard({
      issuer: issuer.url,
      audience: AUDIENCE,
      algorithms: ['ES256'],
      jwksUri: 'http://127.0.0.1:9/jwks',
      revocations: 'off',
      readyTimeout: 0.2,
      clock: issuer.clock.now,
      logger,
    });
    try {
      await expect(broken.ready()).rejects.toThrow(/not ready after 0.2 s: waiting for the JWKS/);
      const err = await refusal(bearer(issuer.token()), broken);
      expect(err.status).toBe(503);
      expect(err.toJSON()).toEqual({
        error: 'temporarily_unavailable',
        error_description: 'the access token cannot be checked right now; retry later',
      });
      expect(err.headers['retry-after']).toMatch(/^\d+$/);
      expect(err.headers['www-authenticate']).toBeUndefined();
      expect(broken.health().ready).toBe(false);
    } finally {
      await broken.close();
    }
  });

  it('answer 503 when the JWKS endpoint fails', async () => {
    issuer.jwksStatus = 500;
    const broken = createGuard({
      issuer: issuer.url,
      audience: AUDIENCE,
      revocations: 'off',
      readyTimeout: 0.2,
      clock: issuer.clock.now,
      logger: createTestLogger(),
    });
    try {
      await expect(broken.ready()).rejects.toThrow(/JWKS/);
      expect((await refusal(bearer(issuer.token()), broken)).status).toBe(503);
    } finally {
      issuer.jwksStatus = 200;
      await broken.close();
    }
  });
});

describe('the key set over time', () => {
  /** A guard (revocations off) for an issuer of its own, whose clock the test moves. */
  async function withOwnIssuer(test: (own: TestIssuer, fresh: Guard) => Promise<void>): Promise<void> {
    const own = await startIssuer();
    const fresh = createGuard({
      issuer: own.url,
      audience: AUDIENCE,
      revocations: 'off',
      clock: own.clock.now,
      logger: createTestLogger(),
    });
    try {
      await fresh.ready();
      await test(own, fresh);
    } finally {
      await fresh.close();
      await own.close();
    }
  }

  // The guard answers from the keys it holds (no await per request); these pin down what that
  // means once the set's cache lifetime (10 min without Cache-Control) has passed.
  it('serves tokens from the held keys once the set expires, refreshing it in the background', async () => {
    await withOwnIssuer(async (own, fresh) => {
      const fetches = own.jwksRequests;
      own.clock.advance(11 * 60_000);
      const principal = await fresh.authenticate(bearer(own.token()));
      expect(principal.sub).toBe('user-1');
      // The refreshed set, not the request: the issuer counts the request before the guard has
      // read the answer.
      await waitFor(() => fresh.health().jwks?.state === 'fresh', 5000, 'the background refresh');
      expect(own.jwksRequests).toBe(fetches + 1);
    });
  });

  it('does not wait for that refresh: a token is answered while the JWKS request is still pending', async () => {
    await withOwnIssuer(async (own, fresh) => {
      own.clock.advance(11 * 60_000);
      own.holdJwks = true;
      const fetches = own.jwksRequests;
      let settled = false;
      const answer = fresh.authenticate(bearer(own.token())).finally(() => {
        settled = true;
      });
      await waitFor(() => own.jwksRequests === fetches + 1, 2000, 'the refresh request');
      await waitFor(() => settled, 2000, 'the answer, before the key set replied');
      expect((await answer).sub).toBe('user-1');
      own.releaseJwks();
    });
  });

  it('keeps serving while the JWKS endpoint fails, up to a day past expiry (stale-if-error), then answers 503', async () => {
    await withOwnIssuer(async (own, fresh) => {
      own.jwksStatus = 500;
      own.clock.advance(11 * 60_000);
      expect((await fresh.authenticate(bearer(own.token()))).sub).toBe('user-1');
      own.clock.advance(24 * 3600_000);
      const err = await refusal(bearer(own.token()), fresh);
      expect(err.status).toBe(503);
      expect(err.headers['retry-after']).toMatch(/^\d+$/);
      expect(err.toJSON()).toEqual({
        error: 'temporarily_unavailable',
        error_description: 'the access token cannot be checked right now; retry later',
      });
    });
  });
});
