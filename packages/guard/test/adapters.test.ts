import { createServer, request as httpRequest, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { inspect } from 'node:util';
import { serve } from '@hono/node-server';
import { generateKeyPair } from '@tessera/jose';
import express from 'express';
import Fastify, { type FastifyInstance } from 'fastify';
import { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireAuth as expressAuth } from '../src/adapters/express.js';
import { requireAuth as fastifyAuth, tesseraGuard } from '../src/adapters/fastify.js';
import { type GuardEnv, requireAuth as honoAuth } from '../src/adapters/hono.js';
import { type AuthenticatedRequest, requireAuth as nodeAuth } from '../src/adapters/node.js';
import type { Guard, Principal } from '../src/index.js';
import { guardFor } from './helpers/guard.js';
import { AUDIENCE, startIssuer, type TestIssuer } from './helpers/issuer.js';
import { createPinoLogger } from './helpers/pino.js';

/**
 * Every adapter serves the same routes over real HTTP:
 * - `/orders`: scope `orders:read` → `{ sub, scopes }`
 * - `/admin`: role `admin`
 * - `/refunds`: scope `orders:refund`
 * - `/unavailable`: a guard whose revocation set is stale (fail-closed)
 * - `/whoami`: the principal as the app would write it out ({@link writtenOut})
 */
interface App {
  url: string;
  close(): Promise<void>;
}

let issuer: TestIssuer;
let guard: Guard;
let staleGuard: Guard;
/** A guard whose clock the key-rotation tests move past the key set's 30 s cool-down for unknown kids. */
let rotatingGuard: Guard;
let rotationAhead = 0;

beforeAll(async () => {
  issuer = await startIssuer();
  guard = guardFor(issuer).guard;
  // Its own clock runs 31 s ahead once ready: nothing proved liveness for longer than staleAfter.
  let ahead = 0;
  staleGuard = guardFor(issuer, { clock: () => issuer.clock.now() + ahead }).guard;
  rotatingGuard = guardFor(issuer, {
    clock: () => issuer.clock.now() + rotationAhead,
    revocations: 'off',
  }).guard;
  await Promise.all([guard.ready(), staleGuard.ready(), rotatingGuard.ready()]);
  ahead = 31_000;
});

afterAll(async () => {
  await guard.close();
  await staleGuard.close();
  await rotatingGuard.close();
  await issuer.close();
});

/**
 * The principal the adapter set, in every form an app writes one out: as JSON (a response body,
 * pino), through util.inspect with everything shown (console.log, error reports), and as a pino log
 * line; and whether the app can still read the token to forward it.
 */
function writtenOut(principal: Principal | null | undefined, authorization: string | undefined) {
  const pino = createPinoLogger();
  pino.log.info({ auth: principal }, 'request authenticated');
  return {
    json: JSON.stringify(principal),
    spread: JSON.stringify({ ...principal }),
    inspected: inspect(principal, { showHidden: true, getters: true, depth: null }),
    logged: pino.lines.join(''),
    tokenReadable: authorization === `Bearer ${principal?.token}`,
  };
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

async function startNode(): Promise<App> {
  const routes: Record<string, ReturnType<typeof nodeAuth>> = {
    '/orders': nodeAuth(guard, { scopes: ['orders:read'] }),
    '/admin': nodeAuth(guard, { roles: ['admin'] }),
    '/refunds': nodeAuth(guard, { scopes: ['orders:refund'] }),
    '/unavailable': nodeAuth(staleGuard),
    '/rotated': nodeAuth(rotatingGuard),
    '/whoami': nodeAuth(guard),
  };
  const server = createServer((req, res) => {
    const auth = routes[req.url ?? ''];
    if (!auth) {
      res.writeHead(404).end();
      return;
    }
    void auth(req, res, () => {
      const { auth: principal } = req as AuthenticatedRequest;
      res.writeHead(200, { 'content-type': 'application/json' });
      if (req.url === '/whoami') res.end(JSON.stringify(writtenOut(principal, req.headers.authorization)));
      else res.end(JSON.stringify({ sub: principal?.sub, scopes: principal?.scopes }));
    });
  });
  const url = await listen(server);
  return { url, close: () => closeServer(server) };
}

async function startExpress(): Promise<App> {
  const app = express();
  const reply = (req: express.Request, res: express.Response) => {
    res.json({ sub: req.auth?.sub, scopes: req.auth?.scopes });
  };
  app.get('/orders', expressAuth(guard, { scopes: ['orders:read'] }), reply);
  app.get('/admin', expressAuth(guard, { roles: ['admin'] }), reply);
  app.get('/refunds', expressAuth(guard, { scopes: ['orders:refund'] }), reply);
  app.get('/unavailable', expressAuth(staleGuard), reply);
  app.get('/rotated', expressAuth(rotatingGuard), reply);
  app.get('/whoami', expressAuth(guard), (req, res) => {
    res.json(writtenOut(req.auth, req.headers.authorization));
  });
  const server = createServer(app);
  const url = await listen(server);
  return { url, close: () => closeServer(server) };
}

async function startFastify(): Promise<App & { app: FastifyInstance }> {
  const app = Fastify();
  // Without skip-override, register() would give the plugin its own context, and the decoration
  // would not reach the routes below.
  await app.register(tesseraGuard, { guard });
  const reply = async (request: { auth: { sub: string; scopes: readonly string[] } | null }) => ({
    sub: request.auth?.sub,
    scopes: request.auth?.scopes,
  });
  app.get('/orders', { preHandler: fastifyAuth(guard, { scopes: ['orders:read'] }) }, reply);
  app.get('/admin', { preHandler: fastifyAuth(guard, { roles: ['admin'] }) }, reply);
  app.get('/refunds', { preHandler: fastifyAuth(guard, { scopes: ['orders:refund'] }) }, reply);
  app.get('/unavailable', { preHandler: fastifyAuth(staleGuard) }, reply);
  app.get('/rotated', { preHandler: fastifyAuth(rotatingGuard) }, reply);
  app.get('/whoami', { preHandler: fastifyAuth(guard) }, async (request) =>
    writtenOut(request.auth, request.headers.authorization),
  );
  app.get('/public', async (request) => ({ auth: request.auth }));
  const url = await app.listen({ port: 0, host: '127.0.0.1' });
  return { url, app, close: () => app.close() };
}

async function startHono(): Promise<App> {
  const app = new Hono<GuardEnv>();
  app.get('/orders', honoAuth(guard, { scopes: ['orders:read'] }), (c) =>
    c.json({ sub: c.get('auth').sub, scopes: c.get('auth').scopes }),
  );
  app.get('/admin', honoAuth(guard, { roles: ['admin'] }), (c) => c.json({ sub: c.get('auth').sub }));
  app.get('/refunds', honoAuth(guard, { scopes: ['orders:refund'] }), (c) =>
    c.json({ sub: c.get('auth').sub }),
  );
  app.get('/unavailable', honoAuth(staleGuard), (c) => c.json({ sub: c.get('auth').sub }));
  app.get('/rotated', honoAuth(rotatingGuard), (c) =>
    c.json({ sub: c.get('auth').sub, scopes: c.get('auth').scopes }),
  );
  app.get('/whoami', honoAuth(guard), (c) =>
    c.json(writtenOut(c.get('auth'), c.req.header('authorization'))),
  );
  const server = await new Promise<Server>((resolve) => {
    const created = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () =>
      resolve(created as Server),
    );
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { url, close: () => closeServer(server) };
}

interface Answer {
  status: number;
  headers: IncomingMessage['headers'];
  body: unknown;
}

/** A GET over node:http, so that a header can be sent twice (fetch would join the values). */
function get(url: string, authorization?: string | string[]): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: 'GET' }, (res) => {
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
    if (authorization !== undefined) req.setHeader('Authorization', authorization);
    req.end();
  });
}

const REALM = `realm="${AUDIENCE}"`;

/** RFC 6750 §3.1: 401 with an `invalid_token` challenge and the one generic description. */
function expectInvalidToken(answer: Answer): void {
  expect(answer.status).toBe(401);
  expect(answer.headers['www-authenticate']).toBe(
    `Bearer ${REALM}, error="invalid_token", error_description="the access token is not valid"`,
  );
  expect(answer.body).toEqual({ error: 'invalid_token', error_description: 'the access token is not valid' });
}

describe.each([
  ['node:http', startNode],
  ['Express 5', startExpress],
  ['Fastify 5', startFastify],
  ['Hono', startHono],
] as const)('%s adapter', (_name, startApp) => {
  let app: App;
  beforeAll(async () => {
    app = await startApp();
  });
  afterAll(async () => {
    await app.close();
  });

  it('lets a valid token through with the principal', async () => {
    const answer = await get(`${app.url}/orders`, `Bearer ${issuer.token()}`);
    expect(answer.status).toBe(200);
    expect(answer.body).toEqual({ sub: 'user-1', scopes: ['orders:read', 'orders:write'] });
  });

  it('401 without a token, with a bare Bearer challenge', async () => {
    const answer = await get(`${app.url}/orders`);
    expect(answer.status).toBe(401);
    expect(answer.headers['www-authenticate']).toBe(`Bearer ${REALM}`);
    expect(answer.headers['content-type']).toMatch(/^application\/json/);
    expect(answer.headers['cache-control']).toBe('no-store');
    expect(answer.body).toEqual({ error: 'unauthorized', error_description: 'an access token is required' });
  });

  it('401 invalid_token for a token that is not valid', async () => {
    const answer = await get(`${app.url}/orders`, `Bearer ${issuer.token({}, { typ: 'JWT' })}`);
    expectInvalidToken(answer);
  });

  it('400 invalid_request for a malformed or repeated Authorization header', async () => {
    const token = issuer.token();
    for (const authorization of [
      'Bearer',
      `Bearer ${token} ${token}`,
      [`Bearer ${token}`, `Bearer ${token}`],
    ]) {
      const answer = await get(`${app.url}/orders`, authorization);
      expect(answer.status).toBe(400);
      expect(answer.headers['www-authenticate']).toBe(
        `Bearer ${REALM}, error="invalid_request", error_description="the Authorization header is malformed"`,
      );
      expect(answer.body).toEqual({
        error: 'invalid_request',
        error_description: 'the Authorization header is malformed',
      });
    }
  });

  it('403 insufficient_scope naming the scope, or without it for a role', async () => {
    const token = issuer.token();
    const scope = await get(`${app.url}/refunds`, `Bearer ${token}`);
    expect(scope.status).toBe(403);
    expect(scope.headers['www-authenticate']).toBe(
      `Bearer ${REALM}, error="insufficient_scope", error_description="the access token does not grant the required scope", scope="orders:refund"`,
    );
    expect(scope.body).toMatchObject({ error: 'insufficient_scope' });
    const role = await get(`${app.url}/admin`, `Bearer ${token}`);
    expect(role.status).toBe(403);
    expect(role.headers['www-authenticate']).not.toContain('scope="');
    expect(role.body).toMatchObject({ error: 'insufficient_scope' });
  });

  // The guard answers from the keys it holds without waiting; only a token signed with a key it
  // does not hold yet waits for the key set. Both ways end in the same answers.
  it('lets through a token signed with a key published after the guard started, fetching it first', async () => {
    const { publicKey, privateKey } = await generateKeyPair('ES256', { kid: `rotated-${_name}` });
    issuer.extraKeys.push(publicKey);
    rotationAhead += 31_000; // past the cool-down since the guard's last fetch
    const fetchesBefore = issuer.jwksRequests;
    const answer = await get(
      `${app.url}/rotated`,
      `Bearer ${issuer.token({}, { key: privateKey, expiresIn: 3600 })}`,
    );
    expect(answer.status).toBe(200);
    expect(answer.body).toEqual({ sub: 'user-1', scopes: ['orders:read', 'orders:write'] });
    expect(issuer.jwksRequests).toBe(fetchesBefore + 1);
    // The key is held now: the next token signed with it is answered without another fetch.
    const again = await get(
      `${app.url}/rotated`,
      `Bearer ${issuer.token({}, { key: privateKey, expiresIn: 3600 })}`,
    );
    expect(again.status).toBe(200);
    expect(issuer.jwksRequests).toBe(fetchesBefore + 1);
  });

  it('401 invalid_token for a kid the key set still lacks after fetching', async () => {
    const { privateKey } = await generateKeyPair('ES256', { kid: `never-published-${_name}` });
    rotationAhead += 31_000;
    const fetchesBefore = issuer.jwksRequests;
    const answer = await get(
      `${app.url}/rotated`,
      `Bearer ${issuer.token({}, { key: privateKey, expiresIn: 3600 })}`,
    );
    expect(issuer.jwksRequests).toBe(fetchesBefore + 1);
    expectInvalidToken(answer);
  });

  it('sets a principal whose JSON, inspection and pino log never contain the token, which stays readable', async () => {
    const token = issuer.token();
    const answer = await get(`${app.url}/whoami`, `Bearer ${token}`);
    expect(answer.status).toBe(200);
    const { tokenReadable, ...forms } = answer.body as Record<string, string | boolean>;
    expect(Object.keys(forms)).toEqual(['json', 'spread', 'inspected', 'logged']);
    for (const [form, text] of Object.entries(forms)) {
      // The principal was written out, claims and all…
      expect(text, form).toContain('user-1');
      expect(text, form).toContain('orders:write');
      // …and the bearer token is nowhere in it, not even its signature.
      expect(text, form).not.toContain(token);
      expect(text, form).not.toContain(token.split('.')[2]);
    }
    expect(tokenReadable).toBe(true);
  });

  it('503 temporarily_unavailable with Retry-After while revocations are stale', async () => {
    const answer = await get(`${app.url}/unavailable`, `Bearer ${issuer.token()}`);
    expect(answer.status).toBe(503);
    expect(answer.headers['retry-after']).toBe('5');
    expect(answer.headers['www-authenticate']).toBeUndefined();
    expect(answer.body).toEqual({
      error: 'temporarily_unavailable',
      error_description: 'the access token cannot be checked right now; retry later',
    });
  });
});

describe('Fastify plugin', () => {
  it("is not encapsulated: request.auth is null on the instance's other routes", async () => {
    const app = await startFastify();
    try {
      const answer = await get(`${app.url}/public`);
      expect(answer.body).toEqual({ auth: null });
      expect(app.app.printPlugins()).toContain('@tessera/guard');
    } finally {
      await app.close();
    }
  });

  it('refuses to register without a guard', async () => {
    const app = Fastify();
    await expect(app.register(tesseraGuard, {} as { guard: Guard })).rejects.toThrow(/guard/);
    await app.close();
  });
});

describe('Fastify adapter with a guard of its own making (any object with the Guard interface)', () => {
  // A test double goes through its own require(); what it throws that is not a refusal is a bug
  // elsewhere and belongs to Fastify's error handling (500), thrown at once or rejected later.
  it.each([
    [
      'thrown',
      () => {
        throw new Error('boom');
      },
    ],
    ['rejected', () => Promise.reject(new Error('boom'))],
  ] as const)('hands an error %s by the check to Fastify (500), and runs no handler', async (_how, check) => {
    const double = { authenticate: check, require: () => check } as unknown as Guard;
    const app = Fastify();
    await app.register(tesseraGuard, { guard: double });
    let handled = false;
    app.get('/x', { preHandler: fastifyAuth(double) }, async () => {
      handled = true;
      return {};
    });
    try {
      const answer = await app.inject({ method: 'GET', url: '/x' });
      expect(answer.statusCode).toBe(500);
      expect(handled).toBe(false);
    } finally {
      await app.close();
    }
  });

  it('sets request.auth from a principal the double resolves', async () => {
    const principal = { sub: 'double' };
    const double = {
      authenticate: async () => principal,
      require: () => async () => principal,
    } as unknown as Guard;
    const app = Fastify();
    await app.register(tesseraGuard, { guard: double });
    app.get('/x', { preHandler: fastifyAuth(double) }, async (request) => ({ sub: request.auth?.sub }));
    try {
      expect((await app.inject({ method: 'GET', url: '/x' })).json()).toEqual({ sub: 'double' });
    } finally {
      await app.close();
    }
  });
});

describe('node:http adapter', () => {
  it('hands errors thrown after authentication to next, not to the client as a 401', async () => {
    const auth = nodeAuth(guard);
    const seen: unknown[] = [];
    const server = createServer((req, res) => {
      void auth(req, res, (err?: unknown) => {
        if (err) seen.push(err);
        res.end('ok');
      });
    });
    const url = await listen(server);
    try {
      const answer = await fetch(url, { headers: { authorization: `Bearer ${issuer.token()}` } });
      expect(answer.status).toBe(200);
      expect(await answer.text()).toBe('ok');
      expect(seen).toEqual([]);
    } finally {
      await closeServer(server);
    }
  });
});
