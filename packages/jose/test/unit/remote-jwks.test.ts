import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  createRemoteJwks,
  createVerifier,
  exportJwk,
  type GeneratedKeyPair,
  generateKeyPair,
  generateSecret,
  type JwksFetch,
  JwksInvalid,
  JwksNoMatchingKey,
  JwksTimeout,
  type Key,
  signJwt,
  verifyJwt,
} from '../../src/index.js';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

interface TestServer {
  /** The JWKS URL on this server. */
  readonly url: string;
  readonly origin: string;
  /** Requests received so far. */
  readonly requests: IncomingMessage[];
  /** Replace what the server answers. */
  handler: Handler;
}

const servers: Server[] = [];

async function serve(handler: Handler): Promise<TestServer> {
  const requests: IncomingMessage[] = [];
  const state = { handler };
  const server = createServer((req, res) => {
    requests.push(req);
    res.on('error', () => {});
    state.handler(req, res);
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const origin = `http://127.0.0.1:${port}`;
  return {
    url: `${origin}/.well-known/jwks.json`,
    origin,
    requests,
    get handler() {
      return state.handler;
    },
    set handler(next) {
      state.handler = next;
    },
  };
}

afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});

/** Answers with a JSON body (with Content-Length) and the given headers. */
function json(body: unknown, headers: Record<string, string> = {}, status = 200): Handler {
  return (_req, res) => {
    const text = typeof body === 'string' ? body : JSON.stringify(body);
    res.writeHead(status, {
      'content-type': 'application/json',
      'content-length': String(Buffer.byteLength(text)),
      ...headers,
    });
    res.end(text);
  };
}

function setOf(...keys: Key[]): { keys: unknown[] } {
  return { keys: keys.map((key) => exportJwk(key, { public: true })) };
}

let k1: GeneratedKeyPair;
let k2: GeneratedKeyPair;
let rsa: GeneratedKeyPair;
let rogue: GeneratedKeyPair;

beforeAll(async () => {
  k1 = await generateKeyPair('ES256', { kid: 'k1' });
  k2 = await generateKeyPair('ES256', { kid: 'k2' });
  rsa = await generateKeyPair('RS256', { kid: 'r1' });
  rogue = await generateKeyPair('ES256', { kid: 'rogue' });
});

const T0 = 1_700_000_000_000;
let now = T0;
const clock = (): number => now;

afterEach(() => {
  now = T0;
});

function token(pair: GeneratedKeyPair, kid?: string): Promise<string> {
  return signJwt({ sub: 'user-1' }, pair.privateKey, { expiresIn: '5m', ...(kid ? { kid } : {}) });
}

const ES = { algorithms: ['ES256', 'RS256'] };

describe('createRemoteJwks: verification', () => {
  it('verifies with verifyJwt, createVerifier.verifyAsync and (once loaded) verify', async () => {
    const server = await serve(json(setOf(k1.publicKey, rsa.publicKey)));
    const jwks = createRemoteJwks(server.url, { clock });
    expect(jwks.origin).toBe(server.origin);
    expect(jwks.status().state).toBe('empty');

    const t1 = await token(k1);
    const { payload, key } = await verifyJwt(t1, jwks, ES);
    expect(payload.sub).toBe('user-1');
    expect(key.kid).toBe('k1');

    const verifier = createVerifier({ key: jwks, ...ES });
    const tr = await token(rsa);
    expect((await verifier.verifyAsync(tr)).key.kid).toBe('r1');
    expect(verifier.verify(t1).payload.sub).toBe('user-1');
    expect(server.requests).toHaveLength(1);

    expect(jwks.keys.map((k) => k.kid)).toEqual(['k1', 'r1']);
    expect(jwks.fresh).toBe(true);
    expect(jwks.stale).toBe(false);
    expect(jwks.lastError).toBeUndefined();
    expect(jwks.status()).toMatchObject({
      origin: server.origin,
      state: 'fresh',
      keys: 2,
      kids: ['k1', 'r1'],
      fetches: 1,
      consecutiveFailures: 0,
      fetchedAt: T0,
      expiresAt: T0 + 10 * 60_000,
    });
  });

  it('verifies a token without kid against the keys that fit its alg', async () => {
    const server = await serve(json(setOf(k1.publicKey, rsa.publicKey)));
    const jwks = createRemoteJwks(server.url, { clock });
    // A bare KeyObject carries no kid, so the token has none.
    const t = await signJwt({ sub: 'x' }, rsa.privateKey.keyObject, { alg: 'RS256', expiresIn: '5m' });
    const result = await verifyJwt(t, jwks, ES);
    expect(result.protectedHeader.kid).toBeUndefined();
    expect(result.key.kid).toBe('r1');
  });

  it('never uses the token’s jku or x5u', async () => {
    const attacker = await serve(json(setOf(rogue.publicKey)));
    const server = await serve(json(setOf(k1.publicKey)));
    const jwks = createRemoteJwks(server.url, { clock });
    const forged = await signJwt({ sub: 'admin' }, rogue.privateKey, {
      expiresIn: '5m',
      header: { jku: attacker.url, x5u: attacker.url },
    });
    await expect(verifyJwt(forged, jwks, ES)).rejects.toBeInstanceOf(JwksNoMatchingKey);
    expect(attacker.requests).toHaveLength(0);
    expect(server.requests).toHaveLength(1);
  });

  it('select never fetches in the call, but starts a background load that a later verify uses', async () => {
    const server = await serve(json(setOf(k1.publicKey)));
    const jwks = createRemoteJwks(server.url, { clock });
    const verifier = createVerifier({ key: jwks, ...ES });
    const t = await token(k1);
    expect(() => verifier.verify(t)).toThrow(JwksNoMatchingKey);
    expect(jwks.keys).toHaveLength(0);
    await vi.waitFor(() => expect(jwks.fresh).toBe(true));
    expect(verifier.verify(t).key.kid).toBe('k1');
    expect(server.requests).toHaveLength(1);
  });

  it('select on an expired set answers from memory and refreshes in the background', async () => {
    const server = await serve(json(setOf(k1.publicKey), { 'cache-control': 'max-age=60' }));
    const jwks = createRemoteJwks(server.url, { clock });
    await jwks.reload();
    server.handler = json(setOf(k1.publicKey, k2.publicKey), { 'cache-control': 'max-age=60' });
    now = T0 + 60_000;
    expect(jwks.select({ alg: 'ES256', kid: 'k1' })).toHaveLength(1);
    expect(jwks.select({ alg: 'ES256', kid: 'k2' })).toHaveLength(0);
    await vi.waitFor(() => expect(jwks.fresh).toBe(true));
    expect(jwks.select({ alg: 'ES256', kid: 'k2' })).toHaveLength(1);
    expect(server.requests).toHaveLength(2);
  });

  it('a failing background fetch is recorded, not an unhandled rejection', async () => {
    const server = await serve(json('oops', {}, 500));
    const jwks = createRemoteJwks(server.url, { clock });
    expect(jwks.select({ alg: 'ES256', kid: 'k1' })).toEqual([]);
    await vi.waitFor(() => expect(jwks.lastError).toBeDefined());
    expect(jwks.lastError?.code).toBe('ERR_JOSE_GENERIC');
    // Within the cooldown, neither select nor resolve tries again.
    expect(jwks.select({ alg: 'ES256', kid: 'k1' })).toEqual([]);
    await expect(jwks.resolve({ alg: 'ES256', kid: 'k1' })).rejects.toBe(jwks.lastError);
    expect(server.requests).toHaveLength(1);
  });
});

describe('createRemoteJwks: caching', () => {
  it('honours Cache-Control max-age', async () => {
    const server = await serve(json(setOf(k1.publicKey), { 'cache-control': 'public, max-age=120' }));
    const jwks = createRemoteJwks(server.url, { clock });
    const t = await token(k1);
    await verifyJwt(t, jwks, ES);
    now = T0 + 119_999;
    await verifyJwt(t, jwks, ES);
    expect(server.requests).toHaveLength(1);
    expect(jwks.fresh).toBe(true);
    now = T0 + 120_000;
    expect(jwks.fresh).toBe(false);
    await verifyJwt(t, jwks, ES);
    expect(server.requests).toHaveLength(2);
    expect(jwks.status().expiresAt).toBe(T0 + 240_000);
  });

  it('uses cacheMaxAge (default 10 minutes) without a Cache-Control header', async () => {
    const server = await serve(json(setOf(k1.publicKey)));
    const jwks = createRemoteJwks(server.url, { clock });
    const t = await token(k1);
    await verifyJwt(t, jwks, ES);
    now = T0 + 10 * 60_000 - 1;
    await verifyJwt(t, jwks, ES);
    expect(server.requests).toHaveLength(1);
    now = T0 + 10 * 60_000;
    await verifyJwt(t, jwks, ES);
    expect(server.requests).toHaveLength(2);
  });

  it('clamps a short max-age up to minCacheAge (default 30 s)', async () => {
    const server = await serve(json(setOf(k1.publicKey), { 'cache-control': 'max-age=1' }));
    const jwks = createRemoteJwks(server.url, { clock });
    const t = await token(k1);
    await verifyJwt(t, jwks, ES);
    now = T0 + 29_999;
    await verifyJwt(t, jwks, ES);
    expect(server.requests).toHaveLength(1);
    now = T0 + 30_000;
    await verifyJwt(t, jwks, ES);
    expect(server.requests).toHaveLength(2);
  });

  it('clamps a long max-age down to maxCacheAge (default 24 h)', async () => {
    const server = await serve(json(setOf(k1.publicKey), { 'cache-control': 'max-age=31536000' }));
    const jwks = createRemoteJwks(server.url, { clock });
    const t = await token(k1);
    await verifyJwt(t, jwks, ES);
    now = T0 + 24 * 3600_000 - 1;
    await verifyJwt(t, jwks, ES);
    expect(server.requests).toHaveLength(1);
    now = T0 + 24 * 3600_000;
    await verifyJwt(t, jwks, ES);
    expect(server.requests).toHaveLength(2);
  });

  it.each([
    ['no-cache', { 'cache-control': 'no-cache' }, 30_000],
    ['no-store', { 'cache-control': 'no-store, max-age=600' }, 30_000],
    ['max-age=0', { 'cache-control': 'max-age=0' }, 30_000],
    ['quoted max-age', { 'cache-control': 'max-age="300"' }, 300_000],
    ['malformed max-age counts as stale', { 'cache-control': 'max-age=soon' }, 30_000],
    ['the shorter of s-maxage and max-age', { 'cache-control': 'max-age=900, s-maxage=300' }, 300_000],
    ['s-maxage alone', { 'cache-control': 's-maxage=400' }, 400_000],
    ['max-age less Age', { 'cache-control': 'max-age=300', age: '100' }, 200_000],
    ['unrelated directives', { 'cache-control': 'public, must-revalidate' }, 600_000],
    ['first of duplicate max-age', { 'cache-control': 'max-age=200, max-age=900' }, 200_000],
  ])('freshness lifetime: %s', async (_name, headers, lifetime) => {
    const server = await serve(json(setOf(k1.publicKey), headers));
    const jwks = createRemoteJwks(server.url, { clock });
    await jwks.reload();
    expect(jwks.status().expiresAt! - jwks.status().fetchedAt!).toBe(lifetime);
  });

  it('applies custom minCacheAge, maxCacheAge and cacheMaxAge (spans or milliseconds)', async () => {
    const server = await serve(json(setOf(k1.publicKey), { 'cache-control': 'max-age=10' }));
    const options = { clock, minCacheAge: '1m', maxCacheAge: 120_000, cacheMaxAge: '1h' } as const;
    const lifetime = async (): Promise<number> => {
      const jwks = createRemoteJwks(server.url, options);
      await jwks.reload();
      return jwks.status().expiresAt! - jwks.status().fetchedAt!;
    };
    expect(await lifetime()).toBe(60_000);
    server.handler = json(setOf(k1.publicKey), { 'cache-control': 'max-age=3600' });
    expect(await lifetime()).toBe(120_000);
    server.handler = json(setOf(k1.publicKey));
    expect(await lifetime()).toBe(120_000);
    server.handler = json(setOf(k1.publicKey), { 'cache-control': 'max-age=90' });
    expect(await lifetime()).toBe(90_000);
  });
});

describe('createRemoteJwks: unknown kids and rotation', () => {
  it('refetches at most once per cooldown for tokens with unknown kids', async () => {
    const server = await serve(json(setOf(k1.publicKey)));
    const jwks = createRemoteJwks(server.url, { clock });
    await verifyJwt(await token(k1), jwks, ES);
    expect(server.requests).toHaveLength(1);

    const forged = await Promise.all(Array.from({ length: 50 }, () => token(rogue, randomUUID())));
    now = T0 + 1000;
    for (const t of forged) await expect(verifyJwt(t, jwks, ES)).rejects.toBeInstanceOf(JwksNoMatchingKey);
    await Promise.all(forged.map((t) => expect(verifyJwt(t, jwks, ES)).rejects.toThrow(JwksNoMatchingKey)));
    expect(server.requests).toHaveLength(1);

    now = T0 + 30_000;
    await Promise.all(forged.map((t) => expect(verifyJwt(t, jwks, ES)).rejects.toThrow(JwksNoMatchingKey)));
    for (const t of forged) await expect(verifyJwt(t, jwks, ES)).rejects.toBeInstanceOf(JwksNoMatchingKey);
    expect(server.requests).toHaveLength(2);

    now = T0 + 59_999;
    for (const t of forged) await expect(verifyJwt(t, jwks, ES)).rejects.toBeInstanceOf(JwksNoMatchingKey);
    expect(server.requests).toHaveLength(2);
    now = T0 + 60_000;
    for (const t of forged) await expect(verifyJwt(t, jwks, ES)).rejects.toBeInstanceOf(JwksNoMatchingKey);
    expect(server.requests).toHaveLength(3);

    // The synchronous path obeys the same cooldown with its background fetches.
    const verifier = createVerifier({ key: jwks, ...ES });
    now = T0 + 90_000;
    for (const t of forged) expect(() => verifier.verify(t)).toThrow(JwksNoMatchingKey);
    await vi.waitFor(() => expect(jwks.status().fetchedAt).toBe(T0 + 90_000));
    for (const t of forged) expect(() => verifier.verify(t)).toThrow(JwksNoMatchingKey);
    expect(server.requests).toHaveLength(4);
  });

  it('honours a custom cooldown', async () => {
    const server = await serve(json(setOf(k1.publicKey)));
    const jwks = createRemoteJwks(server.url, { clock, cooldown: '5m' });
    await jwks.reload();
    const t = await token(rogue);
    now = T0 + 5 * 60_000 - 1;
    await expect(verifyJwt(t, jwks, ES)).rejects.toBeInstanceOf(JwksNoMatchingKey);
    expect(server.requests).toHaveLength(1);
    now = T0 + 5 * 60_000;
    await expect(verifyJwt(t, jwks, ES)).rejects.toBeInstanceOf(JwksNoMatchingKey);
    expect(server.requests).toHaveLength(2);
  });

  it('picks up a rotated key once the cooldown has passed', async () => {
    const server = await serve(json(setOf(k1.publicKey)));
    const jwks = createRemoteJwks(server.url, { clock });
    const verifier = createVerifier({ key: jwks, ...ES });
    const t1 = await token(k1);
    const t2 = await token(k2);
    await verifier.verifyAsync(t1);

    server.handler = json(setOf(k1.publicKey, k2.publicKey));
    now = T0 + 5000;
    await expect(verifier.verifyAsync(t2)).rejects.toBeInstanceOf(JwksNoMatchingKey);
    expect(server.requests).toHaveLength(1);

    now = T0 + 30_000;
    expect((await verifier.verifyAsync(t2)).key.kid).toBe('k2');
    expect((await verifier.verifyAsync(t1)).key.kid).toBe('k1');
    expect(verifier.verify(t2).key.kid).toBe('k2');
    expect(server.requests).toHaveLength(2);

    // k1 retired: gone once the set is refreshed.
    server.handler = json(setOf(k2.publicKey));
    now = T0 + 30_000 + 10 * 60_000;
    await expect(verifier.verifyAsync(t1)).rejects.toBeInstanceOf(JwksNoMatchingKey);
    expect(jwks.keys.map((k) => k.kid)).toEqual(['k2']);
  });

  it('an unknown kid whose refetch fails reports the failure', async () => {
    const server = await serve(json(setOf(k1.publicKey)));
    const jwks = createRemoteJwks(server.url, { clock });
    await jwks.reload();
    server.handler = json('down', {}, 503);
    now = T0 + 30_000;
    await expect(verifyJwt(await token(k2), jwks, ES)).rejects.toMatchObject({
      code: 'ERR_JOSE_GENERIC',
      message: expect.stringContaining('503'),
    });
    // The set held is still served.
    expect((await verifyJwt(await token(k1), jwks, ES)).key.kid).toBe('k1');
  });
});

describe('createRemoteJwks: concurrency', () => {
  it('concurrent resolves share one in-flight fetch', async () => {
    // The server holds each answer until the test has started every caller and seen the request
    // arrive, so all of them are waiting on the same fetch.
    let release = () => {};
    const server = await serve((req, res) => {
      release = () => json(setOf(k1.publicKey))(req, res);
    });
    /** Starts the callers, answers the one request once it has arrived, and waits for them all. */
    const whileOneFetchIsHeld = async (callers: Promise<unknown>[], requests: number): Promise<unknown[]> => {
      await vi.waitFor(() => expect(server.requests).toHaveLength(requests), { timeout: 5_000, interval: 5 });
      release();
      return Promise.all(callers);
    };
    const jwks = createRemoteJwks(server.url, { clock });
    const t = await token(k1);
    const verifier = createVerifier({ key: jwks, ...ES });
    const results = await whileOneFetchIsHeld(
      [
        ...Array.from({ length: 20 }, () => verifyJwt(t, jwks, ES)),
        ...Array.from({ length: 20 }, () => verifier.verifyAsync(t)),
        jwks.reload(),
        jwks.reload(),
      ],
      1,
    );
    expect(results).toHaveLength(42);
    expect(server.requests).toHaveLength(1);

    // Concurrent refreshes of an expired set, and concurrent unknown-kid refetches, share one fetch too.
    now = T0 + 10 * 60_000;
    await whileOneFetchIsHeld(
      Array.from({ length: 20 }, () => verifyJwt(t, jwks, ES)),
      2,
    );
    expect(server.requests).toHaveLength(2);
    now += 30_000;
    const unknown = await token(k2);
    await whileOneFetchIsHeld(
      Array.from({ length: 20 }, () =>
        expect(verifyJwt(unknown, jwks, ES)).rejects.toBeInstanceOf(JwksNoMatchingKey),
      ),
      3,
    );
    expect(server.requests).toHaveLength(3);
  });
});

describe('createRemoteJwks: failures', () => {
  it('times out on a server that never answers', { timeout: 5000 }, async () => {
    const server = await serve(() => {});
    const jwks = createRemoteJwks(server.url, { clock, timeout: 100 });
    const error = await jwks.resolve({ alg: 'ES256', kid: 'k1' }).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(JwksTimeout);
    expect((error as JwksTimeout).message).toContain(server.origin);
    expect(jwks.lastError).toBe(error);
    expect(jwks.status()).toMatchObject({ state: 'empty', consecutiveFailures: 1 });
  });

  it('times out on a body that never ends', { timeout: 5000 }, async () => {
    const server = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"keys":[');
    });
    const jwks = createRemoteJwks(server.url, { clock, timeout: 150 });
    await expect(jwks.reload()).rejects.toBeInstanceOf(JwksTimeout);
  });

  it('times out even when a custom fetch ignores the signal', { timeout: 5000 }, async () => {
    const jwks = createRemoteJwks('https://issuer.example/jwks.json', {
      clock,
      timeout: 100,
      fetch: () => new Promise<Response>(() => {}),
    });
    await expect(jwks.reload()).rejects.toBeInstanceOf(JwksTimeout);
  });

  it('refuses a body over maxResponseBytes announced by Content-Length', async () => {
    const body = JSON.stringify({ keys: [], padding: 'x'.repeat(600 * 1024) });
    const server = await serve(json(body));
    const jwks = createRemoteJwks(server.url, { clock });
    const error = await jwks.reload().catch((err: unknown) => err);
    expect(error).toBeInstanceOf(JwksInvalid);
    expect((error as Error).message).toMatch(/maxResponseBytes \(524288\)/);
    expect((error as Error).message).toContain(server.origin);
  });

  it('refuses a streamed body (no Content-Length) once it grows past maxResponseBytes', async () => {
    let closedEarly: boolean | undefined;
    const server = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.on('close', () => {
        closedEarly = !res.writableFinished;
      });
      const chunk = Buffer.alloc(64 * 1024, 0x20);
      let sent = 0;
      res.write('{"keys":[');
      const pump = (): void => {
        while (sent < 256) {
          sent++;
          if (!res.write(chunk)) {
            res.once('drain', pump);
            return;
          }
        }
        res.end(']}');
      };
      pump();
    });
    const jwks = createRemoteJwks(server.url, { clock });
    await expect(jwks.reload()).rejects.toBeInstanceOf(JwksInvalid);
    await vi.waitFor(() => expect(closedEarly).toBe(true));
  });

  it.each([
    ['with', true],
    ['without', false],
  ])('applies a custom maxResponseBytes %s Content-Length', async (_name, withLength) => {
    const text = JSON.stringify(setOf(k1.publicKey));
    const server = await serve((_req, res) => {
      res.writeHead(200, withLength ? { 'content-length': String(Buffer.byteLength(text)) } : {});
      res.end(text);
    });
    const small = createRemoteJwks(server.url, { clock, maxResponseBytes: 100 });
    await expect(small.reload()).rejects.toBeInstanceOf(JwksInvalid);
    const exact = createRemoteJwks(server.url, { clock, maxResponseBytes: Buffer.byteLength(text) });
    await exact.reload();
    expect(exact.keys).toHaveLength(1);
  });

  // Built lazily: the keys exist only once beforeAll has run.
  const failures: [string, () => Handler, string][] = [
    ['HTTP 500', () => json('internal error', {}, 500), 'ERR_JOSE_GENERIC'],
    ['garbage', () => json('<html>not json</html>'), 'ERR_JWKS_INVALID'],
    ['not a JWKS', () => json({ issuer: 'x' }), 'ERR_JWKS_INVALID'],
    [
      'duplicate kids',
      () =>
        json({
          keys: setOf(k1.publicKey, k2.publicKey).keys.map((jwk) => ({ ...(jwk as object), kid: 'same' })),
        }),
      'ERR_JWKS_INVALID',
    ],
    ['invalid UTF-8', () => (_req, res) => res.end(Buffer.from([0x7b, 0xff, 0x7d])), 'ERR_JWKS_INVALID'],
    ['a dropped connection', () => (req) => req.socket.destroy(), 'ERR_JOSE_GENERIC'],
  ];

  it.each(failures)(
    'serves the last good set while refreshes fail (%s), then fails',
    async (_name, failing, code) => {
      const server = await serve(json(setOf(k1.publicKey), { 'cache-control': 'max-age=60' }));
      const jwks = createRemoteJwks(server.url, { clock, staleIfError: '10m' });
      const t = await token(k1);
      await verifyJwt(t, jwks, ES);

      server.handler = failing();
      now = T0 + 61_000;
      expect((await verifyJwt(t, jwks, ES)).key.kid).toBe('k1');
      expect(server.requests).toHaveLength(2);
      expect(jwks.fresh).toBe(false);
      expect(jwks.stale).toBe(true);
      expect(jwks.lastError?.code).toBe(code);
      expect(jwks.lastError?.message).toContain(server.origin);
      expect(jwks.status()).toMatchObject({ state: 'stale', keys: 1, consecutiveFailures: 1 });
      expect(jwks.status().lastError).toMatchObject({ code, at: T0 + 61_000 });

      // No retry within the cooldown, and synchronous verification keeps working.
      now = T0 + 80_000;
      expect((await verifyJwt(t, jwks, ES)).key.kid).toBe('k1');
      expect(createVerifier({ key: jwks, ...ES }).verify(t).key.kid).toBe('k1');
      expect(server.requests).toHaveLength(2);

      // Last moment of the stale window: a retry (after the cooldown), which fails, old keys still serve.
      now = T0 + 60_000 + 10 * 60_000 - 1;
      expect((await verifyJwt(t, jwks, ES)).key.kid).toBe('k1');
      expect(server.requests).toHaveLength(3);

      // Past staleIfError: nothing is served and the failure is the answer.
      now = T0 + 60_000 + 10 * 60_000;
      await expect(verifyJwt(t, jwks, ES)).rejects.toMatchObject({ code });
      expect(jwks.keys).toEqual([]);
      expect(jwks.stale).toBe(false);
      expect(jwks.status().state).toBe('expired');
      expect(() => createVerifier({ key: jwks, ...ES }).verify(t)).toThrow(JwksNoMatchingKey);

      // Recovery after the cooldown.
      server.handler = json(setOf(k1.publicKey));
      now += 30_000;
      expect((await verifyJwt(t, jwks, ES)).key.kid).toBe('k1');
      expect(jwks.fresh).toBe(true);
      expect(jwks.lastError).toBeUndefined();
      expect(jwks.status()).toMatchObject({ state: 'fresh', consecutiveFailures: 0 });
    },
  );

  it('staleIfError: 0 fails as soon as a refresh of an expired set fails', async () => {
    const server = await serve(json(setOf(k1.publicKey), { 'cache-control': 'max-age=60' }));
    const jwks = createRemoteJwks(server.url, { clock, staleIfError: 0 });
    const t = await token(k1);
    await verifyJwt(t, jwks, ES);
    server.handler = json('no', {}, 502);
    now = T0 + 60_000;
    await expect(verifyJwt(t, jwks, ES)).rejects.toMatchObject({ code: 'ERR_JOSE_GENERIC' });
  });

  it('names the origin and HTTP status, never the path, query or headers', async () => {
    const server = await serve(json('nope', {}, 404));
    const jwks = createRemoteJwks(`${server.url}?api_key=s3cr3t-query`, {
      clock,
      headers: { authorization: 'Bearer s3cr3t-header' },
    });
    const error = (await jwks.reload().catch((err: unknown) => err)) as Error;
    expect(error).toMatchObject({ code: 'ERR_JOSE_GENERIC' });
    expect(error.message).toContain(server.origin);
    expect(error.message).toContain('HTTP 404');
    expect(error.message).not.toContain('s3cr3t');
    expect(error.message).not.toContain('.well-known');
    expect(JSON.stringify(jwks.status())).not.toContain('s3cr3t');
    expect(server.requests[0]?.headers.authorization).toBe('Bearer s3cr3t-header');
  });

  it('does not follow redirects', async () => {
    const elsewhere = await serve(json(setOf(k1.publicKey)));
    const server = await serve((_req, res) => {
      res.writeHead(302, { location: elsewhere.url });
      res.end();
    });
    const jwks = createRemoteJwks(server.url, { clock });
    await expect(jwks.reload()).rejects.toMatchObject({
      code: 'ERR_JOSE_GENERIC',
      message: expect.stringContaining('HTTP 302'),
    });
    expect(elsewhere.requests).toHaveLength(0);
  });

  it('reports a refused connection without details beyond its code', async () => {
    const server = await serve(() => {});
    const url = server.url;
    for (const s of servers.splice(0)) await new Promise<void>((resolve) => s.close(() => resolve()));
    const jwks = createRemoteJwks(url, { clock });
    await expect(jwks.reload()).rejects.toMatchObject({
      code: 'ERR_JOSE_GENERIC',
      message: expect.stringMatching(
        /could not fetch the JWKS from http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\)/,
      ),
    });
  });
});

describe('createRemoteJwks: what a remote set may hold', () => {
  it('refuses a set of secret keys', async () => {
    const secret = generateSecret('HS256', { kid: 'hmac' });
    const jwk = exportJwk(secret);
    const server = await serve(json({ keys: [jwk] }));
    const jwks = createRemoteJwks(server.url, { clock });
    const error = (await jwks.reload().catch((err: unknown) => err)) as Error;
    expect(error).toBeInstanceOf(JwksInvalid);
    expect(error.message).toMatch(/secret/);
    expect(error.message).not.toContain(jwk.k as string);
    expect(jwks.keys).toEqual([]);
    const t = await signJwt({ sub: 'x' }, secret, { expiresIn: '5m' });
    await expect(verifyJwt(t, jwks, { algorithms: ['HS256'] })).rejects.toBeInstanceOf(JwksInvalid);
  });

  it('refuses a set that publishes private keys', async () => {
    const server = await serve(json({ keys: [exportJwk(k1.privateKey)] }));
    const jwks = createRemoteJwks(server.url, { clock });
    await expect(jwks.reload()).rejects.toThrow(/private key material/);
  });

  it('skips unusable keys and lists them', async () => {
    const server = await serve(
      json({ keys: [exportJwk(k1.publicKey, { public: true }), { kty: 'XYZ', kid: 'odd' }] }),
    );
    const jwks = createRemoteJwks(server.url, { clock });
    await jwks.reload();
    expect(jwks.keys.map((k) => k.kid)).toEqual(['k1']);
    expect(jwks.skipped).toMatchObject([{ kid: 'odd' }]);
    expect(jwks.status().skipped).toBe(1);
  });
});

describe('createRemoteJwks: custom fetch and headers', () => {
  it('uses the custom fetch with the configured headers', async () => {
    const server = await serve(json(setOf(k1.publicKey)));
    const calls: { url: string; init: RequestInit }[] = [];
    const spy: JwksFetch = (url, init) => {
      calls.push({ url, init });
      return fetch(url, init);
    };
    const jwks = createRemoteJwks(new URL(server.url), {
      clock,
      fetch: spy,
      headers: { 'User-Agent': 'tessera-test/1.0', Accept: 'application/jwk-set+json' },
    });
    await verifyJwt(await token(k1), jwks, ES);
    expect(calls).toHaveLength(1);
    expect(calls[0]?.url).toBe(server.url);
    expect(calls[0]?.init).toMatchObject({ method: 'GET', redirect: 'manual' });
    expect(calls[0]?.init.signal).toBeInstanceOf(AbortSignal);
    expect(server.requests[0]?.headers['user-agent']).toBe('tessera-test/1.0');
    expect(server.requests[0]?.headers.accept).toBe('application/jwk-set+json');
  });

  it('works with a custom fetch that answers by itself, Cache-Control included', async () => {
    let count = 0;
    const jwks = createRemoteJwks('https://issuer.example/.well-known/jwks.json', {
      clock,
      fetch: async () => {
        count++;
        return new Response(JSON.stringify(setOf(k1.publicKey)), {
          headers: { 'cache-control': 'max-age=300' },
        });
      },
    });
    const t = await token(k1);
    await verifyJwt(t, jwks, ES);
    now = T0 + 299_999;
    await verifyJwt(t, jwks, ES);
    expect(count).toBe(1);
    now = T0 + 300_000;
    await verifyJwt(t, jwks, ES);
    expect(count).toBe(2);
  });

  it('wraps a throwing custom fetch without leaking its message', async () => {
    const jwks = createRemoteJwks('https://issuer.example/jwks?key=s3cr3t', {
      clock,
      fetch: () => {
        throw new Error('proxy said https://issuer.example/jwks?key=s3cr3t is down');
      },
    });
    const error = (await jwks.reload().catch((err: unknown) => err)) as Error;
    expect(error).toMatchObject({ code: 'ERR_JOSE_GENERIC' });
    expect(error.message).toBe('could not fetch the JWKS from https://issuer.example (Error)');
  });
});

describe('createRemoteJwks: URL and options', () => {
  it.each([
    'http://example.com/jwks.json',
    'http://10.0.0.1/jwks.json',
    'http://127.0.0.1.example.com/jwks.json',
  ])('refuses plain http to a non-loopback host: %s', (url) => {
    expect(() => createRemoteJwks(url)).toThrow(/plain http/);
  });

  it.each([
    'http://127.0.0.1:8080/jwks.json',
    'http://127.1.2.3/jwks.json',
    'http://localhost/jwks.json',
    'http://LOCALHOST:3000/jwks.json',
    'http://[::1]:8080/jwks.json',
    'https://auth.example.com/.well-known/jwks.json',
  ])('accepts %s', (url) => {
    expect(createRemoteJwks(url).origin).toBe(new URL(url).origin);
  });

  it('accepts plain http anywhere with allowInsecureHttp', () => {
    expect(createRemoteJwks('http://auth.internal/jwks', { allowInsecureHttp: true }).origin).toBe(
      'http://auth.internal',
    );
  });

  it.each([
    ['ftp://example.com/jwks.json', /https/],
    ['file:///etc/jwks.json', /https/],
    ['https://user:pass@example.com/jwks.json', /credentials/],
    ['/relative/jwks.json', /valid absolute URL/],
  ])('refuses %s', (url, message) => {
    expect(() => createRemoteJwks(url)).toThrow(message);
  });

  it.each([
    [{ timeout: 0 }, /timeout/],
    [{ timeout: -1 }, /timeout/],
    [{ cooldown: '30' }, /cooldown/],
    [{ cooldown: 'soon' }, /cooldown/],
    [{ staleIfError: Number.NaN }, /staleIfError/],
    [{ maxResponseBytes: 0 }, /maxResponseBytes/],
    [{ maxResponseBytes: 1.5 }, /maxResponseBytes/],
    [{ minCacheAge: '2h', maxCacheAge: '1h' }, /minCacheAge/],
  ])('refuses options %j', (options, message) => {
    expect(() => createRemoteJwks('https://auth.example.com/jwks', options)).toThrow(message);
  });
});
