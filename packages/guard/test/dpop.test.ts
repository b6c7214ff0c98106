// DPoP at the guard (RFC 9449 §7): `Authorization: DPoP <token>` with one `DPoP` proof. Hostile
// proofs are crafted with panva's `dpop` package and by hand (node:crypto); the happy path runs
// through every adapter over real HTTP, and behind a reverse proxy with `publicUrl`.
import { createHmac, randomUUID, sign } from 'node:crypto';
import { createServer, request as httpRequest, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { accessTokenHash, createDpopProof, exportJwk, generateKeyPair, type Key } from '@tessera/jose';
import * as dpop from 'dpop';
import express from 'express';
import Fastify from 'fastify';
import { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireAuth as expressAuth } from '../src/adapters/express.js';
import { requireAuth as fastifyAuth, tesseraGuard } from '../src/adapters/fastify.js';
import { type GuardEnv, requireAuth as honoAuth } from '../src/adapters/hono.js';
import { type AuthenticatedRequest, requireAuth as nodeAuth } from '../src/adapters/node.js';
import { createGuard, type Guard, GuardError, type GuardOptions } from '../src/index.js';
import { closedPort, guardFor } from './helpers/guard.js';
import { AUDIENCE, startIssuer, type TestIssuer } from './helpers/issuer.js';
import { REDIS_URL, reachable } from './helpers/redis.js';

const REALM = `realm="${AUDIENCE}"`;
const ALGS = 'algs="ES256 ES384 ES512 EdDSA Ed25519 PS256 RS256"';
const HTU = 'http://api.test/orders';
const INVALID_PROOF = {
  status: 401,
  error: 'invalid_dpop_proof',
  challenge: `DPoP ${REALM}, error="invalid_dpop_proof", error_description="the DPoP proof is not valid", ${ALGS}`,
};

let issuer: TestIssuer;
let guard: Guard;
/** The client's DPoP key, as the `dpop` package makes it (WebCrypto, non-extractable private key). */
let client: dpop.KeyPair;
let jkt: string;
/** Another key, as @tessera/jose makes it, for proofs crafted field by field. */
let handKey: { privateKey: Key; publicKey: Key };
let handJkt: string;

beforeAll(async () => {
  issuer = await startIssuer();
  guard = guardFor(issuer, { revocations: 'off', dpop: { replay: 'memory' } }).guard;
  client = await dpop.generateKeyPair('ES256');
  jkt = await dpop.calculateThumbprint(client.publicKey);
  handKey = await generateKeyPair('ES256');
  handJkt = (await import('@tessera/jose')).jwkThumbprint(handKey.publicKey);
  await guard.ready();
});

afterAll(async () => {
  await guard.close();
  await issuer.close();
});

/** An access token bound to `thumbprint` (cnf.jkt, RFC 9449 §6.1). */
function boundToken(thumbprint = jkt, claims: Record<string, unknown> = {}): string {
  return issuer.token({ cnf: { jkt: thumbprint }, ...claims });
}

/** A request as `guard.authenticate` takes it: method, path, Host and the two headers. */
function dpopRequest(
  token: string,
  proof: string | string[] | undefined,
  extra: { method?: string; url?: string; headers?: Record<string, string> } = {},
) {
  const headers: Record<string, string | string[]> = {
    host: 'api.test',
    authorization: `DPoP ${token}`,
    ...extra.headers,
  };
  if (proof !== undefined) headers.dpop = proof;
  return { method: extra.method ?? 'GET', url: extra.url ?? '/orders', headers };
}

/** A proof made with the `dpop` package for `token` (ath), GET on HTU unless told otherwise. */
function proofFor(token: string, htu = HTU, htm = 'GET', pair = client): Promise<string> {
  return dpop.generateProof(pair, htu, htm, undefined, token);
}

/**
 * A proof built by hand: the header and claims of a valid proof for `token` by `handKey`, with
 * `header` and `claims` merged over them, signed by `signer` (ES256 with handKey by default).
 */
function handProof(
  token: string,
  header: Record<string, unknown> = {},
  claims: Record<string, unknown> = {},
  signer: (input: string) => Buffer = (input) =>
    sign('sha256', Buffer.from(input), { key: handKey.privateKey.keyObject, dsaEncoding: 'ieee-p1363' }),
): string {
  const jwk = exportJwk(handKey.publicKey, { public: true });
  delete jwk.alg;
  const encode = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const input = `${encode({ typ: 'dpop+jwt', alg: 'ES256', jwk, ...header })}.${encode({
    jti: randomUUID(),
    htm: 'GET',
    htu: HTU,
    iat: Math.floor(issuer.clock.now() / 1000),
    ath: accessTokenHash(token),
    ...claims,
  })}`;
  return `${input}.${signer(input).toString('base64url')}`;
}

async function refusal(request: Parameters<Guard['authenticate']>[0], target = guard): Promise<GuardError> {
  const err = await target.authenticate(request).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(GuardError);
  return err as GuardError;
}

async function expectInvalidProof(
  request: Parameters<Guard['authenticate']>[0],
  target = guard,
): Promise<GuardError> {
  const err = await refusal(request, target);
  expect({ status: err.status, error: err.error, challenge: err.headers['www-authenticate'] }).toEqual(
    INVALID_PROOF,
  );
  return err;
}

describe('a DPoP request (RFC 9449 §7.1)', () => {
  it('is invited: a request without credentials gets a Bearer and a DPoP challenge with the algorithms', async () => {
    const err = await refusal({ headers: {} });
    expect(err.status).toBe(401);
    expect(err.headers['www-authenticate']).toBe(`Bearer ${REALM}, DPoP ${REALM}, ${ALGS}`);
  });

  it('is accepted with a proof from the dpop package, and the principal carries the key thumbprint', async () => {
    const token = boundToken();
    const principal = await guard.authenticate(dpopRequest(token, await proofFor(token)));
    expect(principal.sub).toBe('user-1');
    expect(principal.jkt).toBe(jkt);
    expect(principal.token).toBe(token);
  });

  it('is accepted from a Fetch Request, whose URL is the htu', async () => {
    const token = boundToken();
    const request = new Request('https://api.example.com/orders?page=2', {
      headers: {
        authorization: `DPoP ${token}`,
        dpop: await proofFor(token, 'https://api.example.com/orders'),
      },
    });
    expect((await guard.authenticate(request)).jkt).toBe(jkt);
  });

  it('is accepted with a proof from @tessera/jose, and with the scheme in any case', async () => {
    const token = boundToken(handJkt);
    const proof = createDpopProof(handKey.privateKey, { htm: 'POST', htu: HTU, accessToken: token });
    const request = dpopRequest(token, proof, {
      method: 'POST',
      headers: { authorization: `dpop ${token}` },
    });
    expect((await guard.authenticate(request)).jkt).toBe(handJkt);
  });

  it('refuses a proof for another method (htm)', async () => {
    const token = boundToken();
    const err = await expectInvalidProof(dpopRequest(token, await proofFor(token, HTU, 'POST')));
    expect(err.reason).toMatch(/\(htm\)/);
  });

  it.each([
    ['another host', 'http://evil.test/orders'],
    ['another path', 'http://api.test/orders/1'],
    ['another scheme', 'https://api.test/orders'],
  ])('refuses a proof for %s (htu)', async (_case, htu) => {
    const token = boundToken();
    const err = await expectInvalidProof(dpopRequest(token, await proofFor(token, htu)));
    expect(err.reason).toMatch(/\(htu\)/);
  });

  it('accepts a proof whose htu differs by the query only (RFC 9449 §4.3 point 9)', async () => {
    const token = boundToken();
    const request = dpopRequest(token, await proofFor(token, `${HTU}?page=1`), { url: '/orders?page=2' });
    expect((await guard.authenticate(request)).jkt).toBe(jkt);
  });

  it('refuses a proof made for another access token (ath)', async () => {
    const token = boundToken();
    const err = await expectInvalidProof(dpopRequest(token, await proofFor(boundToken())));
    expect(err.reason).toMatch(/\(ath\)/);
  });

  it('refuses a proof without ath', async () => {
    const token = boundToken();
    const proof = await dpop.generateProof(client, HTU, 'GET');
    expect((await expectInvalidProof(dpopRequest(token, proof))).reason).toMatch(/\(ath\)/);
  });

  it('refuses a replayed proof when replay detection is on (jti, RFC 9449 §11.1)', async () => {
    const token = boundToken();
    const proof = await proofFor(token);
    await guard.authenticate(dpopRequest(token, proof));
    const err = await expectInvalidProof(dpopRequest(token, proof));
    expect(err.reason).toMatch(/replay/);
  });

  it.each([
    ['older than maxAge and the tolerance', -(300 + 31)],
    ['from beyond the tolerance in the future', 31],
  ])('refuses a proof %s (iat)', async (_case, offset) => {
    const token = boundToken(handJkt);
    const iat = Math.floor(issuer.clock.now() / 1000) + offset;
    const err = await expectInvalidProof(dpopRequest(token, handProof(token, {}, { iat })));
    expect(err.reason).toMatch(/\(iat\)/);
  });

  it('accepts a proof a little off either way (the client clock), within the tolerance', async () => {
    const token = boundToken(handJkt);
    const now = Math.floor(issuer.clock.now() / 1000);
    for (const iat of [now - 300 - 29, now + 29]) {
      expect((await guard.authenticate(dpopRequest(token, handProof(token, {}, { iat })))).jkt).toBe(handJkt);
    }
  });

  it('refuses a proof whose jwk carries the private key', async () => {
    const token = boundToken(handJkt);
    const err = await expectInvalidProof(
      dpopRequest(token, handProof(token, { jwk: exportJwk(handKey.privateKey) })),
    );
    expect(err.reason).toMatch(/\(jwk\)/);
  });

  it('refuses an HS256 proof keyed with a symmetric jwk', async () => {
    const token = boundToken(handJkt);
    const k = Buffer.alloc(32, 7);
    const proof = handProof(
      token,
      { alg: 'HS256', jwk: { kty: 'oct', k: k.toString('base64url') } },
      {},
      (input) => createHmac('sha256', k).update(input).digest(),
    );
    expect((await expectInvalidProof(dpopRequest(token, proof))).reason).toMatch(/\(alg\)/);
  });

  it('refuses an unsigned proof (alg none)', async () => {
    const token = boundToken(handJkt);
    const proof = handProof(token, { alg: 'none' }, {}, () => Buffer.alloc(0));
    expect((await expectInvalidProof(dpopRequest(token, proof))).reason).toMatch(/\(alg\)/);
  });

  it('refuses a proof made with a key other than the one the token is bound to (cnf.jkt)', async () => {
    const token = boundToken();
    const thief = await dpop.generateKeyPair('ES256');
    const err = await expectInvalidProof(dpopRequest(token, await proofFor(token, HTU, 'GET', thief)));
    expect(err.reason).toMatch(/\(jkt\)/);
  });

  it('refuses a proof whose signature is not its jwk’s', async () => {
    const token = boundToken(handJkt);
    const [header, payload] = handProof(token).split('.');
    const other = handProof(token, {}, { jti: 'other' }).split('.')[2];
    expect((await expectInvalidProof(dpopRequest(token, `${header}.${payload}.${other}`))).reason).toMatch(
      /\(signature\)/,
    );
  });

  it('refuses a request without a DPoP header', async () => {
    const err = await expectInvalidProof(dpopRequest(boundToken(), undefined));
    expect(err.reason).toBe('the request has no DPoP header');
  });

  it('refuses two DPoP headers, however the request carries them (RFC 9449 §4.3 point 1)', async () => {
    const token = boundToken();
    const [first, second] = [await proofFor(token), await proofFor(token)];
    await expectInvalidProof(dpopRequest(token, [first, second]));
    const raw = dpopRequest(token, first);
    await expectInvalidProof({
      ...raw,
      rawHeaders: ['Host', 'api.test', 'Authorization', `DPoP ${token}`, 'DPoP', first, 'dpop', second],
    });
    const fetchRequest = new Request(HTU, {
      headers: [
        ['authorization', `DPoP ${token}`],
        ['dpop', first],
        ['dpop', second],
      ],
    });
    await expectInvalidProof(fetchRequest);
  });

  it('refuses a token that is not DPoP-bound under the DPoP scheme, with a DPoP challenge', async () => {
    const token = issuer.token();
    const err = await refusal(dpopRequest(token, await proofFor(token)));
    expect(err.status).toBe(401);
    expect(err.headers['www-authenticate']).toBe(
      `DPoP ${REALM}, error="invalid_token", error_description="the access token is not valid", ${ALGS}`,
    );
    expect(err.reason).toMatch(/not DPoP-bound/);
  });

  it('refuses a token bound by a method other than jkt (cnf without jkt)', async () => {
    const token = issuer.token({ cnf: { 'x5t#S256': 'bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2' } });
    const err = await refusal(dpopRequest(token, await proofFor(token)));
    expect(err.error).toBe('invalid_token');
    expect(err.reason).toMatch(/cannot confirm/);
  });

  it('refuses an invalid token under the DPoP scheme with a DPoP challenge', async () => {
    const token = issuer.token({ cnf: { jkt } }, { audience: 'https://other.example.com' });
    const err = await refusal(dpopRequest(token, await proofFor(token)));
    expect(err.headers['www-authenticate']).toMatch(/^DPoP realm=.*error="invalid_token".*algs="/);
  });

  it('never puts the token or the proof in what it answers or the reason it logs', async () => {
    const token = boundToken();
    const proof = await proofFor(token, HTU, 'POST');
    const err = await expectInvalidProof(dpopRequest(token, proof));
    const said = JSON.stringify({
      body: err,
      headers: err.headers,
      reason: err.reason,
      message: err.message,
    });
    for (const secret of [token, proof, ...proof.split('.')]) expect(said).not.toContain(secret);
  });
});

describe('a DPoP request whose token is signed with a key the guard must fetch first', () => {
  let rotating: Guard;
  let ahead = 0;
  beforeAll(async () => {
    rotating = guardFor(issuer, {
      revocations: 'off',
      clock: () => issuer.clock.now() + ahead,
      dpop: true,
    }).guard;
    await rotating.ready();
  });
  afterAll(() => rotating.close());

  it('is accepted once the key set is fetched, proof checked after the wait', async () => {
    const { publicKey, privateKey } = await generateKeyPair('ES256', { kid: 'dpop-rotated' });
    issuer.extraKeys.push(publicKey);
    ahead += 31_000; // past the key set's cool-down for unknown kids
    const token = issuer.token({ cnf: { jkt } }, { key: privateKey });
    const outcome = rotating.authenticate(dpopRequest(token, await proofFor(token)));
    expect((await outcome).jkt).toBe(jkt);
    const wrongMethod = dpopRequest(token, await proofFor(token, HTU, 'PUT'));
    await expectInvalidProof(wrongMethod, rotating);
  });

  it('refuses a kid still unknown after the fetch with a DPoP challenge', async () => {
    const { privateKey } = await generateKeyPair('ES256', { kid: 'dpop-never-published' });
    ahead += 31_000;
    const token = issuer.token({ cnf: { jkt } }, { key: privateKey });
    const err = await refusal(dpopRequest(token, await proofFor(token)), rotating);
    expect(err.status).toBe(401);
    expect(err.headers['www-authenticate']).toMatch(/^DPoP realm=.*error="invalid_token".*algs="/);
  });
});

describe('a DPoP-bound token sent as Bearer (RFC 9449 §7.2)', () => {
  it('is refused, with a challenge that offers DPoP', async () => {
    const err = await refusal({ headers: { authorization: `Bearer ${boundToken()}` } });
    expect(err.status).toBe(401);
    expect(err.error).toBe('invalid_token');
    expect(err.headers['www-authenticate']).toBe(
      `Bearer ${REALM}, error="invalid_token", error_description="the access token is not valid", DPoP ${REALM}, ${ALGS}`,
    );
  });

  it('is refused by a guard that takes Bearer only (the default), which cannot check the binding', async () => {
    const bearerOnly = guardFor(issuer, { revocations: 'off' }).guard;
    try {
      await bearerOnly.ready();
      const bound = await refusal({ headers: { authorization: `Bearer ${boundToken()}` } }, bearerOnly);
      expect(bound.error).toBe('invalid_token');
      const token = boundToken();
      const scheme = await refusal(dpopRequest(token, await proofFor(token)), bearerOnly);
      expect(scheme.status).toBe(401);
      expect(scheme.headers['www-authenticate']).toBe(`Bearer ${REALM}`);
      expect(
        (await bearerOnly.authenticate({ headers: { authorization: `Bearer ${issuer.token()}` } })).sub,
      ).toBe('user-1');
    } finally {
      await bearerOnly.close();
    }
  });
});

describe('dpop: { required: true }', () => {
  let strict: Guard;
  beforeAll(async () => {
    strict = guardFor(issuer, { revocations: 'off', dpop: { required: true, algorithms: ['ES256'] } }).guard;
    await strict.ready();
  });
  afterAll(() => strict.close());

  it('refuses a Bearer token with a DPoP-only challenge', async () => {
    const err = await refusal({ headers: { authorization: `Bearer ${issuer.token()}` } }, strict);
    expect(err.status).toBe(401);
    expect(err.headers['www-authenticate']).toBe(`DPoP ${REALM}, algs="ES256"`);
  });

  it('accepts DPoP, and refuses a proof algorithm it does not list', async () => {
    const token = boundToken();
    expect((await strict.authenticate(dpopRequest(token, await proofFor(token)))).jkt).toBe(jkt);
    const ed = await dpop.generateKeyPair('Ed25519');
    const edToken = boundToken(await dpop.calculateThumbprint(ed.publicKey));
    const err = await refusal(dpopRequest(edToken, await proofFor(edToken, HTU, 'GET', ed)), strict);
    expect(err.headers['www-authenticate']).toContain('error="invalid_dpop_proof"');
    expect(err.reason).toMatch(/\(alg\)/);
  });
});

describe('authorization of a DPoP request', () => {
  it('answers 403 with a DPoP challenge naming the scope', async () => {
    const token = boundToken();
    const check = guard.require({ scopes: ['orders:refund'] });
    const err = (await check(dpopRequest(token, await proofFor(token))).catch(
      (e: unknown) => e,
    )) as GuardError;
    expect(err.status).toBe(403);
    expect(err.headers['www-authenticate']).toBe(
      `DPoP ${REALM}, error="insufficient_scope", error_description="the access token does not grant the required scope", scope="orders:refund", ${ALGS}`,
    );
  });
});

describe('behind a reverse proxy', () => {
  let proxied: Guard;
  let forwarded: Guard;
  beforeAll(async () => {
    proxied = guardFor(issuer, {
      revocations: 'off',
      dpop: { publicUrl: 'https://api.example.com/shop/' },
    }).guard;
    forwarded = guardFor(issuer, { revocations: 'off', dpop: { trustForwardedHeaders: true } }).guard;
    await Promise.all([proxied.ready(), forwarded.ready()]);
  });
  afterAll(() => Promise.all([proxied.close(), forwarded.close()]));

  // The proxy takes https://api.example.com/shop/orders and forwards http://10.0.0.7:3000/orders.
  const internal = { url: '/orders', headers: { host: '10.0.0.7:3000' } };

  it('with publicUrl, checks htu against the public URL and the request path', async () => {
    const token = boundToken();
    const request = dpopRequest(
      token,
      await proofFor(token, 'https://api.example.com/shop/orders'),
      internal,
    );
    expect((await proxied.authenticate(request)).jkt).toBe(jkt);
  });

  it('with publicUrl, refuses a proof for the internal URL the API sees', async () => {
    const token = boundToken();
    await expectInvalidProof(
      dpopRequest(token, await proofFor(token, 'http://10.0.0.7:3000/orders'), internal),
      proxied,
    );
  });

  it('without publicUrl, refuses the proof for the public URL (the request says 10.0.0.7:3000)', async () => {
    const token = boundToken();
    await expectInvalidProof(
      dpopRequest(token, await proofFor(token, 'https://api.example.com/shop/orders'), internal),
    );
  });

  it('with trustForwardedHeaders, takes scheme and host from the proxy (the last value of each)', async () => {
    const token = boundToken();
    const request = dpopRequest(token, await proofFor(token, 'https://api.example.com/orders'), {
      url: '/orders',
      headers: {
        host: '10.0.0.7:3000',
        'x-forwarded-proto': 'https',
        'x-forwarded-host': 'evil.test, api.example.com',
      },
    });
    expect((await forwarded.authenticate(request)).jkt).toBe(jkt);
    // The default guard ignores the headers: a client could have set them.
    await expectInvalidProof({
      ...request,
      headers: { ...request.headers, dpop: await proofFor(token, 'https://api.example.com/orders') },
    });
  });
});

describe('options.dpop', () => {
  const base = (dpopOption: unknown) => () =>
    createGuard({
      issuer: issuer.url,
      audience: AUDIENCE,
      revocations: 'off',
      dpop: dpopOption as GuardOptions['dpop'],
    });

  it.each([
    [{ algorithms: ['HS256'] }, /not an asymmetric signature algorithm/],
    [{ algorithms: ['none'] }, /not an asymmetric signature algorithm/],
    [{ algorithms: [] }, /non-empty array/],
    [{ maxAge: 0 }, /maxAge must be a positive number/],
    [{ clockTolerance: -1 }, /clockTolerance must be a non-negative number/],
    [{ publicUrl: '/api' }, /publicUrl must be an absolute URL/],
    [{ publicUrl: 'https://api.example.com/?x=1' }, /no credentials, query or fragment/],
    [{ publicUrl: 'https://api.example.com', trustForwardedHeaders: true }, /not both/],
    [{ replay: 'yes' }, /replay must be 'off', 'memory'/],
    [{ replay: { memory: { maxEntries: 0 } } }, /maxEntries must be a positive integer/],
    [{ replay: { redis: 'localhost:6379' } }, /redis:\/\/ or rediss:\/\/ URL or an ioredis client/],
    [{ required: 'yes' }, /required must be a boolean/],
    [{ nonce: true }, /has no "nonce"/],
    [{ replay: { redis: 'redis://127.0.0.1:6379', prefix: 7 } }, /prefix must be a string/],
    ['on', /must be true, false or an object/],
  ])('refuses %j with a TypeError at createGuard', (value, message) => {
    expect(base(value)).toThrow(TypeError);
    expect(base(value)).toThrow(message);
  });
});

describe.runIf(await reachable(REDIS_URL))('replay detection shared in Redis', () => {
  it('refuses at one instance a proof another instance accepted', async () => {
    const prefix = `tessera:test:dpop:${randomUUID()}:`;
    const options = { revocations: 'off' as const, dpop: { replay: { redis: REDIS_URL, prefix } } };
    const [a, b] = [guardFor(issuer, options).guard, guardFor(issuer, options).guard];
    try {
      await Promise.all([a.ready(), b.ready()]);
      const token = boundToken();
      const proof = await proofFor(token);
      expect((await a.authenticate(dpopRequest(token, proof))).jkt).toBe(jkt);
      expect((await expectInvalidProof(dpopRequest(token, proof), b)).reason).toMatch(/replay/);
      expect((await b.authenticate(dpopRequest(token, await proofFor(token)))).jkt).toBe(jkt);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it('fails closed (503) when Redis cannot answer, rather than risk a replay', async () => {
    const options = {
      revocations: 'off' as const,
      dpop: { replay: { redis: `redis://127.0.0.1:${await closedPort()}` } },
    };
    const down = guardFor(issuer, options).guard;
    try {
      await down.ready();
      const token = boundToken();
      const err = await refusal(dpopRequest(token, await proofFor(token)), down);
      expect(err.status).toBe(503);
      expect(err.reason).toMatch(/replay/);
    } finally {
      await down.close();
    }
  });
});

describe.each([
  ['node:http', startNode],
  ['Express 5 (router mounted at /api)', startExpress],
  ['Fastify 5', startFastify],
  ['Hono', startHono],
] as const)('the %s adapter', (_name, startApp) => {
  let app: { url: string; path: string; close(): Promise<void> };
  beforeAll(async () => {
    app = await startApp(guard);
  });
  afterAll(() => app.close());

  it('lets a DPoP request through with the principal', async () => {
    const token = boundToken();
    const url = `${app.url}${app.path}`;
    const answer = await get(url, { authorization: `DPoP ${token}`, dpop: await proofFor(token, url) });
    expect(answer.status).toBe(200);
    expect(answer.body).toEqual({ sub: 'user-1', jkt });
  });

  it('answers 401 invalid_dpop_proof with the DPoP challenge for a proof of another URL', async () => {
    const token = boundToken();
    const url = `${app.url}${app.path}`;
    const answer = await get(url, {
      authorization: `DPoP ${token}`,
      dpop: await proofFor(token, `${url}/other`),
    });
    expect(answer.status).toBe(401);
    expect(answer.headers['www-authenticate']).toBe(INVALID_PROOF.challenge);
    expect(answer.body).toEqual({
      error: 'invalid_dpop_proof',
      error_description: 'the DPoP proof is not valid',
    });
  });
});

interface Answer {
  status: number;
  headers: IncomingMessage['headers'];
  body: unknown;
}

function get(url: string, headers: Record<string, string>): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: 'GET', headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => {
        text += chunk;
      });
      res.on('end', () =>
        resolve({ status: res.statusCode!, headers: res.headers, body: text ? JSON.parse(text) : undefined }),
      );
    });
    req.on('error', reject);
    req.end();
  });
}

function listen(server: Server): Promise<string> {
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`),
    ),
  );
}

function closeServer(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

async function startNode(target: Guard) {
  const auth = nodeAuth(target, { scopes: ['orders:read'] });
  const server = createServer((req, res) => {
    void auth(req, res, () => {
      const { auth: principal } = req as AuthenticatedRequest;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ sub: principal?.sub, jkt: principal?.jkt }));
    });
  });
  const url = await listen(server);
  return { url, path: '/orders', close: () => closeServer(server) };
}

async function startExpress(target: Guard) {
  const app = express();
  const router = express.Router();
  // Inside the router req.url is '/orders': the htu is built from req.originalUrl.
  router.get('/orders', expressAuth(target, { scopes: ['orders:read'] }), (req, res) => {
    res.json({ sub: req.auth?.sub, jkt: req.auth?.jkt });
  });
  app.use('/api', router);
  const server = createServer(app);
  const url = await listen(server);
  return { url, path: '/api/orders', close: () => closeServer(server) };
}

async function startFastify(target: Guard) {
  const app = Fastify();
  await app.register(tesseraGuard, { guard: target });
  app.get('/orders', { preHandler: fastifyAuth(target, { scopes: ['orders:read'] }) }, async (request) => ({
    sub: request.auth?.sub,
    jkt: request.auth?.jkt,
  }));
  const url = await app.listen({ port: 0, host: '127.0.0.1' });
  return { url, path: '/orders', close: () => app.close() };
}

async function startHono(target: Guard) {
  const app = new Hono<GuardEnv>();
  app.get('/orders', honoAuth(target, { scopes: ['orders:read'] }), (c) =>
    c.json({ sub: c.get('auth').sub, jkt: c.get('auth').jkt }),
  );
  const server = await new Promise<Server>((resolve) => {
    const created = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () =>
      resolve(created as Server),
    );
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { url, path: '/orders', close: () => closeServer(server) };
}
