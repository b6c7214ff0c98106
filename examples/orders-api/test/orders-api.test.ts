import { mkdtempSync, rmSync } from 'node:fs';
import { createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Guard } from '@tessera/guard';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, loadConfig, type TesseraServer } from '../../../packages/server/src/index.js';
import { buildApp } from '../app.js';

// The example against a real Tessera server in this process, both built from the sources: log in at
// the server, call the orders API with the access token, log out, and watch the API refuse it.

const PASSWORD = 'correct horse battery staple';
const CLIENT_ID = 'shop';

let dataDir: string;
let server: TesseraServer;
let issuer: string;
let app: FastifyInstance;
let guard: Guard;
let api: string;
/** Every line the example logged (pino JSON, debug level and up). */
const logLines: string[] = [];
/** Every access token issued in this file, to check that none reaches the example's logs. */
const tokens: string[] = [];

/** A port free right now: the issuer URL must name the port the server will listen on. */
async function freePort(): Promise<number> {
  const probe = createNetServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as { port: number };
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

async function login(username: string, scope?: string): Promise<string> {
  const response = await fetch(`${issuer}/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username, password: PASSWORD, client_id: CLIENT_ID, ...(scope ? { scope } : {}) }),
  });
  expect(response.status).toBe(200);
  const { access_token: token } = (await response.json()) as { access_token: string };
  tokens.push(token);
  return token;
}

function call(path: string, token?: string, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  if (token !== undefined) headers.set('authorization', `Bearer ${token}`);
  return fetch(`${api}${path}`, { ...init, headers });
}

function placeOrder(token: string, body: unknown): Promise<Response> {
  return call('/orders', token, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
}

const refusals = () =>
  logLines
    .map((line) => JSON.parse(line) as { msg: string; reason?: string; status?: number; path?: string })
    .filter((entry) => entry.msg === 'request refused');

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'orders-api-test-'));
  const config = loadConfig(
    {},
    {},
    {
      dataDir,
      port: await freePort(),
      masterKey: 'A'.repeat(43),
      logLevel: 'silent',
    },
  );
  server = await createServer(config, { logger: false });
  const { users, clients } = server.services;
  await users.create('alice', PASSWORD);
  await users.create('root', PASSWORD, { roles: ['admin'] });
  await users.create('sam', PASSWORD, { permissions: ['orders:cancel'] });
  await clients.add({
    clientId: CLIENT_ID,
    type: 'public',
    audiences: [config.audience],
    scopes: ['openid', 'offline_access', 'orders:write'],
  });
  // The API's own client: the revocation stream is for authenticated resource servers.
  const { secret } = await clients.add({
    clientId: 'orders-api',
    type: 'confidential',
    audiences: [config.audience],
    scopes: [],
  });
  await server.listen();
  issuer = config.issuer;

  ({ app, guard } = await buildApp({
    issuer,
    audience: config.audience,
    client: { id: 'orders-api', secret: secret! },
    logger: { level: 'debug', stream: { write: (line: string) => logLines.push(line) } },
  }));
  api = await app.listen({ host: '127.0.0.1', port: 0 });
  await guard.ready();
});

afterAll(async () => {
  await guard?.close();
  await app?.close();
  await server?.close();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

describe('the orders API behind @tessera/guard', () => {
  it('is alive, and ready once it holds the keys and a live revocation list', async () => {
    expect((await call('/healthz')).status).toBe(200);
    const ready = await call('/readyz');
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ ready: true, revocations: 'live', keys: 'fresh' });
  });

  it('answers 401 with bare Bearer and DPoP challenges without a token, and logs why at debug level', async () => {
    const response = await call('/orders');
    expect(response.status).toBe(401);
    // RFC 6750 §3.1 and RFC 9449 §7.1: one challenge per scheme the API takes, without an error code.
    expect(response.headers.get('www-authenticate')).toMatch(
      new RegExp(`^Bearer realm="${issuer}", DPoP realm="${issuer}", algs="[\\w ]+"$`),
    );
    expect(await response.json()).toEqual({
      error: 'unauthorized',
      error_description: 'an access token is required',
    });
    expect(refusals()).toContainEqual(
      expect.objectContaining({ path: '/orders', status: 401, reason: 'no Authorization header' }),
    );
  });

  it('places orders with the orders:write scope and lists only the caller’s own', async () => {
    const alice = await login('alice');
    const root = await login('root');
    const placed = await placeOrder(alice, { item: 'espresso beans', quantity: 2 });
    expect(placed.status).toBe(201);
    const order = (await placed.json()) as { id: string; owner: string };
    expect(order).toMatchObject({ item: 'espresso beans', quantity: 2, status: 'placed' });
    expect(order.owner).toMatch(/^usr_/);
    expect((await placeOrder(root, { item: 'grinder' })).status).toBe(201);

    const mine = await call('/orders', alice);
    expect(mine.status).toBe(200);
    expect(await mine.json()).toEqual({
      orders: [expect.objectContaining({ id: order.id, owner: order.owner })],
    });
  });

  it('refuses to place an order without the scope: 403 insufficient_scope naming it', async () => {
    const readOnly = await login('alice', 'openid');
    expect((await call('/orders', readOnly)).status).toBe(200); // signed in is enough to read
    const response = await placeOrder(readOnly, { item: 'tea' });
    expect(response.status).toBe(403);
    expect(response.headers.get('www-authenticate')).toContain('error="insufficient_scope"');
    expect(response.headers.get('www-authenticate')).toContain('scope="orders:write"');
    expect(await response.json()).toMatchObject({ error: 'insufficient_scope' });
    expect(refusals()).toContainEqual(
      expect.objectContaining({ status: 403, reason: 'missing scope orders:write' }),
    );
  });

  it('shows every order to the admin role only', async () => {
    const refused = await call('/admin/orders', await login('alice'));
    expect(refused.status).toBe(403);
    expect(await refused.json()).toMatchObject({ error: 'insufficient_scope' });

    const allowed = await call('/admin/orders', await login('root'));
    expect(allowed.status).toBe(200);
    const { orders } = (await allowed.json()) as { orders: { item: string }[] };
    expect(orders.map((o) => o.item).sort()).toEqual(['espresso beans', 'grinder']);
  });

  it('cancels an order only with the orders:cancel permission', async () => {
    const alice = await login('alice');
    const { id } = (await (await placeOrder(alice, { item: 'milk frother' })).json()) as { id: string };
    expect((await call(`/orders/${id}`, alice, { method: 'DELETE' })).status).toBe(403);

    const sam = await login('sam');
    const cancelled = await call(`/orders/${id}`, sam, { method: 'DELETE' });
    expect(cancelled.status).toBe(200);
    expect(await cancelled.json()).toMatchObject({ id, status: 'cancelled' });
    expect((await call('/orders/ord_missing', sam, { method: 'DELETE' })).status).toBe(404);
  });

  it('refuses a token soon after its session logs out at the server (the revocation stream)', async () => {
    const alice = await login('alice');
    expect((await call('/orders', alice)).status).toBe(200); // verified once: now in the token cache
    const logout = await fetch(`${issuer}/logout`, {
      method: 'POST',
      headers: { authorization: `Bearer ${alice}` },
    });
    expect(logout.status).toBe(204);

    const started = Date.now();
    let response = await call('/orders', alice);
    while (response.status === 200 && Date.now() - started < 5_000) {
      await new Promise((resolve) => setTimeout(resolve, 10));
      response = await call('/orders', alice);
    }
    expect(response.status).toBe(401);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(response.headers.get('www-authenticate')).toContain('error="invalid_token"');
    expect(await response.json()).toEqual({
      error: 'invalid_token',
      error_description: 'the access token is not valid',
    });
    expect(refusals()).toContainEqual(expect.objectContaining({ status: 401, reason: 'revoked (sid)' }));
  });

  it('never logs a token', () => {
    expect(tokens.length).toBeGreaterThan(0);
    const log = logLines.join('');
    for (const token of tokens) expect(log).not.toContain(token.split('.')[2]);
    expect(log).not.toContain('Bearer ');
  });

  it('is not ready (503) while the issuer cannot be reached', async () => {
    const unreachable = `http://127.0.0.1:${await freePort()}`;
    const other = await buildApp({ issuer: unreachable, audience: unreachable, logger: false });
    try {
      const ready = await other.app.inject('/readyz');
      expect(ready.statusCode).toBe(503);
      expect(ready.json()).toMatchObject({ ready: false, revocations: 'connecting' });
      expect((await other.app.inject('/healthz')).statusCode).toBe(200);
      const guarded = await other.app.inject({ url: '/orders', headers: { authorization: 'Bearer abc' } });
      expect(guarded.statusCode).toBe(503);
      expect(guarded.headers['retry-after']).toBeDefined();
    } finally {
      await other.app.close();
    }
  });
});
