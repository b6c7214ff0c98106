import { mkdtempSync, rmSync } from 'node:fs';
import { createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, loadConfig, type TesseraServer } from '../../../packages/server/src/index.js';
import { buildGateway } from '../app.js';
import { buildUpstream } from '../upstream.js';

// The walkthrough as a test: a real Tessera server, the gateway and two upstream services behind
// guards of their own, all in this process over real HTTP. The user's token reaches the gateway only;
// each upstream receives a token for its own audience, naming the gateway in `act`.

const PASSWORD = 'correct horse battery staple';
const ORDERS = 'urn:orders';
const INVENTORY = 'urn:inventory';

let dataDir: string;
let server: TesseraServer;
let issuer: string;
let gatewaySecret: string;
const apps: FastifyInstance[] = [];
let gateway: string;
let exchanger: Awaited<ReturnType<typeof buildGateway>>['exchanger'];
const upstreamUrls: Record<string, string> = {};

async function freePort(): Promise<number> {
  const probe = createNetServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as { port: number };
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

async function login(username = 'alice'): Promise<string> {
  const response = await fetch(`${issuer}/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username, password: PASSWORD, client_id: 'shop' }),
  });
  expect(response.status).toBe(200);
  return ((await response.json()) as { access_token: string }).access_token;
}

const call = (base: string, path: string, token: string, init: RequestInit = {}) =>
  fetch(`${base}${path}`, { ...init, headers: { ...init.headers, authorization: `Bearer ${token}` } });

async function startGateway(
  delegation: boolean,
): Promise<{ url: string; built: Awaited<ReturnType<typeof buildGateway>> }> {
  const built = await buildGateway({
    issuer,
    audience: issuer,
    client: { id: 'gateway', secret: gatewaySecret },
    upstreams: {
      orders: { url: upstreamUrls.orders!, audience: ORDERS },
      inventory: { url: upstreamUrls.inventory!, audience: INVENTORY, scope: 'inventory:read' },
    },
    delegation,
    logger: false,
  });
  apps.push(built.app);
  const url = await built.app.listen({ host: '127.0.0.1', port: 0 });
  await built.guard.ready();
  return { url, built };
}

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'gateway-test-'));
  const config = loadConfig(
    {},
    {},
    { dataDir, port: await freePort(), masterKey: 'A'.repeat(43), logLevel: 'silent' },
  );
  server = await createServer(config, { logger: false });
  issuer = config.issuer;
  const { users, clients } = server.services;
  await users.create('alice', PASSWORD);
  // The user's app: its tokens are for the gateway (the server's default audience, its issuer).
  await clients.add({
    clientId: 'shop',
    type: 'public',
    audiences: [config.audience],
    scopes: ['openid', 'orders:read', 'orders:write', 'inventory:read'],
  });
  // The gateway may exchange its users' tokens for the two upstreams' audiences, as their actor.
  gatewaySecret = (
    await clients.add({
      clientId: 'gateway',
      type: 'confidential',
      kind: 'service',
      audiences: [config.audience],
      scopes: [],
      tokenExchange: { targets: [ORDERS, INVENTORY], delegation: true },
    })
  ).secret!;
  await server.listen();

  for (const [name, audience, actor] of [
    ['orders', ORDERS, 'required'],
    ['inventory', INVENTORY, undefined],
  ] as const) {
    const { secret } = await clients.add({
      clientId: `${name}-service`,
      type: 'confidential',
      kind: 'service',
      audiences: [audience],
      scopes: [],
    });
    const { app, guard } = await buildUpstream({
      name,
      issuer,
      audience,
      client: { id: `${name}-service`, secret: secret! },
      ...(actor ? { actor } : {}),
      logger: false,
    });
    apps.push(app);
    upstreamUrls[name] = await app.listen({ host: '127.0.0.1', port: 0 });
    await guard.ready();
  }
  const started = await startGateway(true);
  gateway = started.url;
  exchanger = started.built.exchanger;
});

afterAll(async () => {
  for (const app of apps.reverse()) await app.close();
  await server?.close();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

describe('the gateway exchanges the user’s token for one per upstream', () => {
  it('gives each upstream a token for its own audience only, naming the gateway as the actor', async () => {
    const alice = await login();
    const aliceId = (await server.services.users.byUsername('alice'))!.id;
    const orders = await call(gateway, '/orders/whoami', alice);
    expect(orders.status).toBe(200);
    expect(await orders.json()).toMatchObject({
      service: 'orders',
      sub: aliceId,
      aud: ORDERS,
      actor: { sub: 'gateway', clientId: 'gateway' },
      clientId: 'gateway',
    });
    const inventory = await call(gateway, '/inventory/whoami', alice);
    expect(await inventory.json()).toMatchObject({
      service: 'inventory',
      sub: aliceId,
      aud: INVENTORY,
      actor: { sub: 'gateway', clientId: 'gateway' },
      // The gateway asks the inventory for at most inventory:read.
      scopes: ['inventory:read'],
    });

    // The user's own token is refused by the upstreams (its aud is the gateway's)…
    expect((await call(upstreamUrls.orders!, '/whoami', alice)).status).toBe(401);
    expect((await call(upstreamUrls.inventory!, '/whoami', alice)).status).toBe(401);
    // …and so is one upstream's token at the other.
    const ordersToken = await exchanger.tokenFor(alice, ORDERS);
    expect((await call(upstreamUrls.orders!, '/whoami', ordersToken)).status).toBe(200);
    expect((await call(upstreamUrls.inventory!, '/whoami', ordersToken)).status).toBe(401);
  });

  it('reuses one exchange per user token and upstream until shortly before it expires', async () => {
    const alice = await login();
    const first = (await (await call(gateway, '/orders/whoami', alice)).json()) as { jti: string };
    const second = (await (await call(gateway, '/orders/whoami', alice)).json()) as { jti: string };
    expect(second.jti).toBe(first.jti);
    // Another login is another token: an exchange of its own.
    const third = (await (await call(gateway, '/orders/whoami', await login())).json()) as { jti: string };
    expect(third.jti).not.toBe(first.jti);
  });

  it('forwards the method, query and body as they came', async () => {
    const response = await call(gateway, '/orders/notes?x=1', await login(), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ text: 'ring twice' }),
    });
    expect(response.status).toBe(201);
    expect(await response.json()).toMatchObject({ service: 'orders', note: { text: 'ring twice' } });
  });

  it('refuses without a valid user token, and answers 404 for an unknown service', async () => {
    expect((await fetch(`${gateway}/orders/whoami`)).status).toBe(401);
    expect((await call(gateway, '/orders/whoami', 'not-a-token')).status).toBe(401);
    expect((await call(gateway, '/billing/whoami', await login())).status).toBe(404);
  });

  it('after the user logs out, the gateway and every upstream refuse what they were given', async () => {
    const alice = await login();
    expect((await call(gateway, '/orders/whoami', alice)).status).toBe(200);
    const ordersToken = await exchanger.tokenFor(alice, ORDERS);
    const logout = await fetch(`${issuer}/logout`, {
      method: 'POST',
      headers: { authorization: `Bearer ${alice}` },
    });
    expect(logout.status).toBe(204);
    const deadline = Date.now() + 10_000;
    while ((await call(gateway, '/orders/whoami', alice)).status !== 401) {
      if (Date.now() > deadline) throw new Error('the gateway still accepts the token');
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    // The exchanged token carries alice's session: the upstream's own guard refuses it too.
    while ((await call(upstreamUrls.orders!, '/whoami', ordersToken)).status !== 401) {
      if (Date.now() > deadline) throw new Error('the upstream still accepts the exchanged token');
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  });

  it('without delegation the tokens name no actor, and an upstream requiring one refuses them', async () => {
    const { url } = await startGateway(false);
    const alice = await login();
    const inventory = await call(url, '/inventory/whoami', alice);
    expect(inventory.status).toBe(200);
    expect(await inventory.json()).toMatchObject({ aud: INVENTORY, actor: null });
    const orders = await call(url, '/orders/whoami', alice);
    expect(orders.status).toBe(403);
    expect(orders.headers.get('www-authenticate')).toContain('error="insufficient_scope"');
  });
});
