import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { createServices } from '../src/services.js';
import { ADMIN_PASSWORD, post, removeDataDir, startServer, type TestServer } from './helpers.js';
import { addClients, basic, expectError, loginApp } from './http.js';

let server: TestServer;
beforeEach(async () => {
  server = await startServer({ refreshGrace: 5 });
  await addClients(server);
});
afterEach(async () => {
  await server.close();
  await removeDataDir(server.dataDir);
});

describe('introspection tells a resource server only about tokens meant for it (RFC 7662 §4)', () => {
  it('answers inactive for access and refresh tokens of a client that targets another audience', async () => {
    await server.services.clients.add({
      clientId: 'billing-app',
      type: 'public',
      audiences: ['https://billing'],
      scopes: ['openid'],
    });
    const { secret } = await server.services.clients.add({
      clientId: 'orders-api',
      type: 'confidential',
      audiences: ['https://orders'],
      scopes: [],
    });
    const login = await post(`${server.url}/login`, {
      username: 'alice',
      password: ADMIN_PASSWORD,
      client_id: 'billing-app',
    });
    const tokens = (await login.json()) as { access_token: string; refresh_token: string };
    for (const token of [tokens.access_token, tokens.refresh_token]) {
      const res = await post(
        `${server.url}/introspect`,
        { token },
        { authorization: basic('orders-api', secret!) },
      );
      expect(await res.json()).toEqual({ active: false });
    }
  });
});

describe('scope on a duplicate refresh inside the grace window', () => {
  it('is checked like any other refresh', async () => {
    const { refresh_token } = await loginApp(server);
    const first = await post(`${server.url}/token`, {
      grant_type: 'refresh_token',
      refresh_token,
      client_id: 'app',
    });
    expect(first.status).toBe(200);
    const duplicate = await post(`${server.url}/token`, {
      grant_type: 'refresh_token',
      refresh_token,
      client_id: 'app',
      scope: 'openid admin',
    });
    await expectError(duplicate, 400, 'invalid_scope');
  });
});

describe('logout without any credentials', () => {
  it('gets a bare Bearer challenge, without an error code (RFC 6750 §3.1)', async () => {
    const res = await fetch(`${server.url}/logout`, { method: 'POST' });
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe('Bearer realm="tessera"');
  });
});

describe('revocations written by another process', () => {
  it('reach the running server (its checks and its stream) through sync', async () => {
    const { access_token } = await loginApp(server);
    const user = await server.services.users.byUsername('alice');
    // A second process on the same data directory, as `tessera user disable` would be.
    const cli = await createServices(
      loadConfig({}, {}, { ...server.services.config, dataDir: server.dataDir }),
    );
    try {
      await cli.revocations.revoke('sub', user!.id, 99);
    } finally {
      await cli.close();
    }
    const seen: string[] = [];
    const unsubscribe = server.services.revocations.feed.subscribe((event) => void seen.push(event.kind));
    await server.services.revocations.sync();
    unsubscribe();
    expect(seen).toEqual(['sub']);
    expect(server.services.revocations.isRevoked({ sub: user!.id, ver: 0 })).toBe(true);
    expect(
      (await fetch(`${server.url}/userinfo`, { headers: { authorization: `Bearer ${access_token}` } }))
        .status,
    ).toBe(401);
  });
});
