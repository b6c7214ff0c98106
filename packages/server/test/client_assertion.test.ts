import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import {
  compactSign,
  encodeUnsecuredJwt,
  exportJwk,
  type GeneratedKeyPair,
  generateKeyPair,
  generateSecret,
  importJwk,
  type JsonWebKeySet,
  type JwsHeaderParameters,
  type JwtPayload,
  type Key,
  signJwt,
} from '@tessera/jose';
import { exportJWK, generateKeyPair as panvaGenerateKeyPair, SignJWT } from 'jose';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  type AssertingClient,
  CLIENT_ASSERTION_SIGNING_ALGORITHMS,
  type ClientAssertionCheck,
  type ClientAssertionVerifier,
  createClientAssertionVerifier,
  InvalidClientAssertion,
} from '../src/http/client_assertion.js';
import { createMemoryReplayCache } from '../src/shared/replay_cache.js';

/**
 * `private_key_jwt` client authentication (OIDC Core §9, RFC 7523 §2.2 and §3): for every rule the
 * assertion that breaks it, and the assertions that pass.
 */

const ISSUER = 'https://auth.example.com';
const TOKEN_ENDPOINT = 'https://auth.example.com/token';

/** A small JWKS server on loopback: each path answers with what the test set, and counts requests. */
class JwksServer {
  readonly requests = new Map<string, number>();
  readonly routes = new Map<string, (res: ServerResponse) => void>();
  private constructor(
    private readonly server: Server,
    readonly origin: string,
  ) {}

  static async start(): Promise<JwksServer> {
    let handle: (req: IncomingMessage, res: ServerResponse) => void = () => {};
    const server = createServer((req, res) => handle(req, res));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as { port: number };
    const jwksServer = new JwksServer(server, `http://127.0.0.1:${port}`);
    handle = (req, res) => jwksServer.handle(req, res);
    return jwksServer;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const path = req.url ?? '/';
    this.requests.set(path, (this.requests.get(path) ?? 0) + 1);
    const route = this.routes.get(path);
    if (route) route(res);
    else res.writeHead(404).end();
  }

  /** Serves `jwks` at `path` from now on; returns its URL. */
  serve(path: string, jwks: () => JsonWebKeySet): string {
    this.routes.set(path, (res) => {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(jwks()));
    });
    return this.url(path);
  }

  url(path: string): string {
    return `${this.origin}${path}`;
  }

  count(path: string): number {
    return this.requests.get(path) ?? 0;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    this.server.close();
    await once(this.server, 'close');
  }
}

const publicJwk = (pair: GeneratedKeyPair) => exportJwk(pair.publicKey, { public: true });
const jwksOf = (...pairs: GeneratedKeyPair[]): JsonWebKeySet => ({ keys: pairs.map(publicJwk) });

let rsa: GeneratedKeyPair;
let ec: GeneratedKeyPair;
let attacker: GeneratedKeyPair;
let jwksServer: JwksServer;

beforeAll(async () => {
  [rsa, ec, attacker] = await Promise.all([
    generateKeyPair('RS256', { kid: 'rsa-1' }),
    generateKeyPair('ES256', { kid: 'ec-1' }),
    generateKeyPair('ES256', { kid: 'ec-1' }),
  ]);
  jwksServer = await JwksServer.start();
});
afterAll(async () => {
  await jwksServer.close();
});

let now: number;
let verifier: ClientAssertionVerifier;
beforeEach(() => {
  now = 1_800_000_000_000;
  verifier = createClientAssertionVerifier({
    issuer: ISSUER,
    tokenEndpoint: TOKEN_ENDPOINT,
    clock: () => now,
    replay: createMemoryReplayCache(() => now),
  });
});

let jtiCounter = 0;

/** The claims of a valid assertion by `clientId` at the test clock's now, with `changes` applied. */
function claims(clientId: string, changes: Partial<Record<keyof JwtPayload, unknown>> = {}): JwtPayload {
  const seconds = Math.floor(now / 1000);
  const base: JwtPayload = {
    iss: clientId,
    sub: clientId,
    aud: TOKEN_ENDPOINT,
    iat: seconds,
    exp: seconds + 60,
    jti: `jti-${++jtiCounter}`,
  };
  for (const [name, value] of Object.entries(changes)) {
    if (value === undefined) delete base[name];
    else base[name] = value;
  }
  return base;
}

/** Signs `payload` as an assertion (iat taken from the payload, not from the real clock). */
function sign(
  payload: JwtPayload,
  key: Key,
  options: { alg?: string; kid?: string; typ?: string; header?: JwsHeaderParameters } = {},
): Promise<string> {
  return signJwt(payload, key, { iat: payload.iat ?? false, ...options });
}

async function rejection(assertion: string, client: AssertingClient): Promise<InvalidClientAssertion> {
  const outcome = await verifier.verify(assertion, client).then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(outcome).toBeInstanceOf(InvalidClientAssertion);
  return outcome as InvalidClientAssertion;
}

async function expectRejected(
  assertion: string,
  client: AssertingClient,
  check: ClientAssertionCheck,
): Promise<InvalidClientAssertion> {
  const err = await rejection(assertion, client);
  expect({ check: err.check, reason: err.reason }).toMatchObject({ check });
  return err;
}

describe('valid assertions', () => {
  it('accepts an RS256 assertion signed by a key of the inline JWKS', async () => {
    const client = { clientId: 'rs-client', jwks: jwksOf(rsa, ec) };
    await verifier.verify(await sign(claims('rs-client'), rsa.privateKey, { alg: 'RS256' }), client);
  });

  it('accepts an ES256 assertion signed by a key of the inline JWKS', async () => {
    const client = { clientId: 'ec-client', jwks: jwksOf(rsa, ec) };
    await verifier.verify(await sign(claims('ec-client'), ec.privateKey, { alg: 'ES256' }), client);
  });

  it('accepts the issuer identifier as the audience (RFC 7523 update), alone or in a list', async () => {
    const client = { clientId: 'c', jwks: jwksOf(ec) };
    await verifier.verify(await sign(claims('c', { aud: ISSUER }), ec.privateKey), client);
    await verifier.verify(
      await sign(claims('c', { aud: ['https://other.example', ISSUER] }), ec.privateKey),
      client,
    );
    await verifier.verify(await sign(claims('c', { aud: [TOKEN_ENDPOINT] }), ec.privateKey), client);
  });

  it('accepts the explicit type client-authentication+jwt', async () => {
    const client = { clientId: 'c', jwks: jwksOf(ec) };
    const assertion = await sign(claims('c'), ec.privateKey, { typ: 'client-authentication+jwt' });
    await verifier.verify(assertion, client);
  });

  it('accepts an assertion without "kid" when the client has a single key', async () => {
    const client = { clientId: 'c', jwks: jwksOf(ec) };
    await verifier.verify(await signJwt(claims('c'), keyWithoutKid(ec), { iat: false }), client);
  });

  it('accepts clock skew of up to a minute on exp and nbf', async () => {
    const client = { clientId: 'c', jwks: jwksOf(ec) };
    const seconds = Math.floor(now / 1000);
    await verifier.verify(await sign(claims('c', { exp: seconds - 59 }), ec.privateKey), client);
    await verifier.verify(await sign(claims('c', { nbf: seconds + 59 }), ec.privateKey), client);
  });

  it('accepts PS256 and EdDSA assertions signed by another library (panva jose)', async () => {
    for (const alg of ['PS256', 'EdDSA'] as const) {
      const pair = await panvaGenerateKeyPair(alg, { extractable: true });
      const jwk = { ...(await exportJWK(pair.publicKey)), kid: `panva-${alg}` };
      const client = { clientId: `panva-${alg}`, jwks: { keys: [jwk] } } as AssertingClient;
      const seconds = Math.floor(now / 1000);
      const assertion = await new SignJWT({})
        .setProtectedHeader({ alg, kid: jwk.kid })
        .setIssuer(client.clientId)
        .setSubject(client.clientId)
        .setAudience(ISSUER)
        .setIssuedAt(seconds)
        .setExpirationTime(seconds + 120)
        .setJti(`panva-${alg}-jti`)
        .sign(pair.privateKey);
      await verifier.verify(assertion, client);
    }
  });

  it('lists only asymmetric algorithms for discovery', () => {
    expect([...CLIENT_ASSERTION_SIGNING_ALGORITHMS]).toEqual([
      'RS256',
      'PS256',
      'ES256',
      'ES384',
      'ES512',
      'EdDSA',
    ]);
  });
});

/** A copy of `pair`'s private key without a `kid`, so a signed header carries none. */
function keyWithoutKid(pair: GeneratedKeyPair): Key {
  const { kid: _kid, ...jwk } = exportJwk(pair.privateKey);
  return importJwk(jwk);
}

describe('the keys', () => {
  it('refuses a client with neither jwks nor jwks_uri', async () => {
    const err = await expectRejected(await sign(claims('c'), ec.privateKey), { clientId: 'c' }, 'no_keys');
    expect(err.reason).toBe('client has no registered keys');
  });

  it('refuses a signature by a key that is not the client’s, even under the client’s kid', async () => {
    const client = { clientId: 'c', jwks: jwksOf(ec) };
    await expectRejected(await sign(claims('c'), attacker.privateKey), client, 'signature');
  });

  it('refuses an assertion whose kid names no key of the client', async () => {
    const client = { clientId: 'c', jwks: jwksOf(ec) };
    await expectRejected(await sign(claims('c'), ec.privateKey, { kid: 'ec-unknown' }), client, 'signature');
  });

  it('refuses an assertion without kid when the client has several keys (OIDC Core §10.1)', async () => {
    const second = await generateKeyPair('ES256', { kid: 'ec-2' });
    const client = { clientId: 'c', jwks: jwksOf(ec, second) };
    await expectRejected(await signJwt(claims('c'), keyWithoutKid(ec), { iat: false }), client, 'kid');
  });

  it('never uses a key carried in the "jwk" header', async () => {
    const client = { clientId: 'c', jwks: jwksOf(ec) };
    const assertion = await sign(claims('c'), attacker.privateKey, { header: { jwk: publicJwk(attacker) } });
    await expectRejected(assertion, client, 'signature');
  });

  it('never fetches the "jku" or "x5u" header’s URL', async () => {
    const lure = jwksServer.serve('/lure.json', () => jwksOf(attacker));
    const client = { clientId: 'c', jwks: jwksOf(ec) };
    for (const header of [{ jku: lure }, { x5u: lure }]) {
      await expectRejected(await sign(claims('c'), attacker.privateKey, { header }), client, 'signature');
    }
    expect(jwksServer.count('/lure.json')).toBe(0);
  });

  it('refuses an invalid inline JWKS', async () => {
    const client = { clientId: 'c', jwks: { keys: [publicJwk(ec), publicJwk(ec)] } };
    await expectRejected(await sign(claims('c'), ec.privateKey), client, 'jwks_invalid');
  });
});

describe('the algorithm (RFC 8725 §3.1)', () => {
  const client = () => ({ clientId: 'c', jwks: jwksOf(rsa, ec) });

  it('refuses "none"', async () => {
    await expectRejected(encodeUnsecuredJwt(claims('c'), { iat: false }), client(), 'alg');
  });

  it('refuses HMAC (client_secret_jwt is not offered)', async () => {
    const secret = generateSecret('HS256', { kid: 'rsa-1' });
    await expectRejected(await sign(claims('c'), secret, { alg: 'HS256' }), client(), 'alg');
  });

  it('refuses an asymmetric algorithm that is not on the list', async () => {
    const rs384 = await generateKeyPair('RS384', { kid: 'rsa-384' });
    const withIt = { clientId: 'c', jwks: jwksOf(rs384) };
    await expectRejected(await sign(claims('c'), rs384.privateKey, { alg: 'RS384' }), withIt, 'alg');
  });

  it('names the algorithms it accepts', async () => {
    const secret = generateSecret('HS256');
    const err = await rejection(await sign(claims('c'), secret, { alg: 'HS256' }), client());
    expect(err.reason).toBe('"alg" must be one of RS256, PS256, ES256, ES384, ES512, EdDSA');
  });
});

describe('the form', () => {
  const client = () => ({ clientId: 'c', jwks: jwksOf(ec) });

  it('refuses what is not a signed JWT', async () => {
    for (const assertion of ['', 'not-a-jwt', 'a.b.c.d.e', 'bm90IGpzb24.e30.c2ln']) {
      await expectRejected(assertion, client(), 'malformed');
    }
  });

  it('refuses a JWT of another type (RFC 8725 §3.11)', async () => {
    for (const typ of ['dpop+jwt', 'oauth-authz-req+jwt', 'at+jwt']) {
      await expectRejected(await sign(claims('c'), ec.privateKey, { typ }), client(), 'typ');
    }
  });
});

describe('the claims (RFC 7523 §3)', () => {
  const client = () => ({ clientId: 'c', jwks: jwksOf(ec) });
  const seconds = () => Math.floor(now / 1000);

  it('refuses an "iss" other than the client_id', async () => {
    await expectRejected(await sign(claims('c', { iss: 'other' }), ec.privateKey), client(), 'iss');
    await expectRejected(await sign(claims('c', { iss: undefined }), ec.privateKey), client(), 'iss');
  });

  it('refuses a "sub" other than the client_id', async () => {
    await expectRejected(await sign(claims('c', { sub: 'other' }), ec.privateKey), client(), 'sub');
    await expectRejected(await sign(claims('c', { sub: undefined }), ec.privateKey), client(), 'sub');
  });

  it('refuses an "aud" that names neither the issuer nor the token endpoint', async () => {
    for (const aud of ['https://other.example/token', [`${TOKEN_ENDPOINT}/`], 'https://auth.example.com/']) {
      await expectRejected(await sign(claims('c', { aud }), ec.privateKey), client(), 'aud');
    }
    await expectRejected(await sign(claims('c', { aud: undefined }), ec.privateKey), client(), 'aud');
  });

  it('refuses an assertion without "exp"', async () => {
    await expectRejected(await sign(claims('c', { exp: undefined }), ec.privateKey), client(), 'exp');
  });

  it('refuses an expired assertion', async () => {
    const err = await expectRejected(
      await sign(claims('c', { exp: seconds() - 61 }), ec.privateKey),
      client(),
      'exp',
    );
    expect(err.reason).toBe('the assertion has expired');
  });

  it('refuses an "exp" more than five minutes (and a minute of skew) away', async () => {
    await verifier.verify(await sign(claims('c', { exp: seconds() + 360 }), ec.privateKey), client());
    await expectRejected(
      await sign(claims('c', { exp: seconds() + 361 }), ec.privateKey),
      client(),
      'lifetime',
    );
  });

  it('refuses an "nbf" more than a minute in the future', async () => {
    await expectRejected(await sign(claims('c', { nbf: seconds() + 61 }), ec.privateKey), client(), 'nbf');
  });

  it('refuses an assertion without "jti", or with an empty one', async () => {
    await expectRejected(await sign(claims('c', { jti: undefined }), ec.privateKey), client(), 'jti');
    await expectRejected(await sign(claims('c', { jti: '' }), ec.privateKey), client(), 'jti');
  });

  it('refuses claims of the wrong type', async () => {
    // Signed as raw JSON: the JWT signer itself refuses a string "exp".
    const raw = (payload: object) =>
      compactSign(JSON.stringify(payload), ec.privateKey, { protectedHeader: { alg: 'ES256', kid: 'ec-1' } });
    await expectRejected(raw(claims('c', { exp: String(seconds() + 60) })), client(), 'malformed');
    await expectRejected(raw(claims('c', { jti: 42 })), client(), 'malformed');
    await expectRejected(raw(claims('c', { aud: [ISSUER, 7] })), client(), 'malformed');
  });
});

describe('replay (RFC 7523 §3 item 7)', () => {
  const client = () => ({ clientId: 'c', jwks: jwksOf(ec) });

  it('accepts an assertion once and refuses it again until it expires', async () => {
    const assertion = await sign(claims('c', { exp: Math.floor(now / 1000) + 60 }), ec.privateKey);
    await verifier.verify(assertion, client());
    const err = await expectRejected(assertion, client(), 'replay');
    expect(err.reason).toBe('the assertion was already used (same "jti")');
    // Still refused at the edge of the clock tolerance, when the assertion itself would still pass.
    now += 119_000;
    await expectRejected(assertion, client(), 'replay');
    now += 1_000;
    await expectRejected(assertion, client(), 'exp');
  });

  it('refuses a new assertion that reuses a jti', async () => {
    await verifier.verify(await sign(claims('c', { jti: 'same' }), ec.privateKey), client());
    await expectRejected(await sign(claims('c', { jti: 'same' }), ec.privateKey), client(), 'replay');
  });

  it('keeps each client’s jtis apart', async () => {
    await verifier.verify(await sign(claims('c', { jti: 'shared' }), ec.privateKey), client());
    const other = { clientId: 'd', jwks: jwksOf(ec) };
    await verifier.verify(await sign(claims('d', { jti: 'shared' }), ec.privateKey), other);
  });

  it('does not spend a jti on an assertion that fails another check', async () => {
    await expectRejected(
      await sign(claims('c', { jti: 'kept', aud: 'https://x' }), ec.privateKey),
      client(),
      'aud',
    );
    await verifier.verify(await sign(claims('c', { jti: 'kept' }), ec.privateKey), client());
  });
});

describe('keys from jwks_uri', () => {
  let path: string;
  let served: JsonWebKeySet;
  beforeEach(() => {
    path = `/jwks-${++jtiCounter}.json`;
    served = jwksOf(rsa, ec);
  });
  afterEach(() => {
    jwksServer.routes.delete(path);
  });

  it('verifies with a key fetched from the client’s jwks_uri, and fetches it once', async () => {
    const client = { clientId: 'remote', jwksUri: jwksServer.serve(path, () => served) };
    await verifier.verify(await sign(claims('remote'), ec.privateKey), client);
    await verifier.verify(await sign(claims('remote'), rsa.privateKey, { alg: 'RS256' }), client);
    expect(jwksServer.count(path)).toBe(1);
  });

  it('fetches again when the client rotates to a new kid', async () => {
    const client = { clientId: 'rotating', jwksUri: jwksServer.serve(path, () => served) };
    await verifier.verify(await sign(claims('rotating'), ec.privateKey), client);
    const rotated = await generateKeyPair('ES256', { kid: 'ec-2' });
    served = jwksOf(rotated);
    // Past the 30 s cooldown of refetches for unknown kids, the new kid is looked up.
    now += 31_000;
    await verifier.verify(await sign(claims('rotating'), rotated.privateKey), client);
    expect(jwksServer.count(path)).toBe(2);
  });

  it('does not refetch for every unknown kid: at most once per cooldown', async () => {
    const client = { clientId: 'probed', jwksUri: jwksServer.serve(path, () => served) };
    await verifier.verify(await sign(claims('probed'), ec.privateKey), client);
    for (let i = 0; i < 5; i++) {
      const assertion = await sign(claims('probed'), attacker.privateKey, { kid: `made-up-${i}` });
      await expectRejected(assertion, client, 'signature');
    }
    expect(jwksServer.count(path)).toBe(1);
  });

  it('keeps one cached set per client id and URI', async () => {
    const url = jwksServer.serve(path, () => served);
    await verifier.verify(await sign(claims('one'), ec.privateKey), { clientId: 'one', jwksUri: url });
    await verifier.verify(await sign(claims('two'), ec.privateKey), { clientId: 'two', jwksUri: url });
    await verifier.verify(await sign(claims('one'), ec.privateKey), { clientId: 'one', jwksUri: url });
    expect(jwksServer.count(path)).toBe(2);
    // A changed jwks_uri is a new set, fetched from the new place.
    const moved = jwksServer.serve(`${path}.moved`, () => served);
    await verifier.verify(await sign(claims('one'), ec.privateKey), { clientId: 'one', jwksUri: moved });
    expect(jwksServer.count(`${path}.moved`)).toBe(1);
    jwksServer.routes.delete(`${path}.moved`);
  });

  it('refuses when the jwks_uri answers with an error', async () => {
    const client = { clientId: 'broken', jwksUri: jwksServer.url(`${path}.missing`) };
    const err = await expectRejected(await sign(claims('broken'), ec.privateKey), client, 'jwks_unavailable');
    expect(err.reason).toBe("the client's jwks_uri could not be fetched");
  });

  it('refuses when the jwks_uri does not answer in time', async () => {
    const slow = createClientAssertionVerifier({
      issuer: ISSUER,
      tokenEndpoint: TOKEN_ENDPOINT,
      clock: () => now,
      replay: createMemoryReplayCache(() => now),
      fetchTimeoutMs: 100,
    });
    jwksServer.routes.set(path, () => {}); // never answers
    const client = { clientId: 'slow', jwksUri: jwksServer.url(path) };
    const outcome = await slow.verify(await sign(claims('slow'), ec.privateKey), client).catch((err) => err);
    expect(outcome).toBeInstanceOf(InvalidClientAssertion);
    expect((outcome as InvalidClientAssertion).check).toBe('jwks_unavailable');
  });

  it('refuses a JWKS larger than 64 KiB', async () => {
    const padding = 'x'.repeat(64 * 1024);
    jwksServer.routes.set(path, (res) => {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ ...served, padding }));
    });
    const client = { clientId: 'big', jwksUri: jwksServer.url(path) };
    await expectRejected(await sign(claims('big'), ec.privateKey), client, 'jwks_invalid');
  });

  it('refuses a jwks_uri over plain http to a host other than loopback', async () => {
    const client = { clientId: 'plain', jwksUri: 'http://keys.example.com/jwks.json' };
    await expectRejected(await sign(claims('plain'), ec.privateKey), client, 'jwks_invalid');
  });
});
