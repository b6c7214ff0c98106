import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ADMIN_PASSWORD, post, removeDataDir, startServer, type TestServer } from './helpers.js';
import { addClients, expectError, loginApp, type TokenBody } from './http.js';

let server: TestServer;
beforeEach(async () => {
  server = await startServer();
  await addClients(server);
});
afterEach(async () => {
  await server.close();
  await removeDataDir(server.dataDir);
});

const refresh = (token: string, extra: Record<string, string> = {}) =>
  post(`${server.url}/token`, {
    grant_type: 'refresh_token',
    refresh_token: token,
    client_id: 'app',
    ...extra,
  });

describe('scope on refresh (RFC 6749 §6)', () => {
  it('narrows the access token to a subset of the original grant', async () => {
    const { refresh_token } = await loginApp(server);
    const res = await refresh(refresh_token, { scope: 'openid' });
    expect(res.status).toBe(200);
    const body = (await res.json()) as TokenBody;
    expect(body.scope).toBe('openid');
    const claims = JSON.parse(Buffer.from(body.access_token.split('.')[1]!, 'base64url').toString()) as {
      scope: string;
    };
    expect(claims.scope).toBe('openid');
  });

  it('refuses a scope beyond the original grant, and leaves the refresh token usable', async () => {
    const { refresh_token } = await loginApp(server);
    await expectError(await refresh(refresh_token, { scope: 'openid admin' }), 400, 'invalid_scope');
    expect((await refresh(refresh_token)).status).toBe(200);
  });
});

describe('login CSRF for the web client', () => {
  it('refuses a browser login posted from another origin', async () => {
    const res = await post(
      `${server.url}/login`,
      { username: 'alice', password: ADMIN_PASSWORD },
      { origin: 'https://evil.example' },
    );
    await expectError(res, 403, 'invalid_request');
    expect(res.headers.get('set-cookie')).toBeNull();
  });

  it('accepts a login from the issuer origin and from non-browser callers without Origin', async () => {
    const origin = new URL(server.services.config.issuer).origin;
    expect(
      (await post(`${server.url}/login`, { username: 'alice', password: ADMIN_PASSWORD }, { origin })).status,
    ).toBe(200);
    expect((await post(`${server.url}/login`, { username: 'alice', password: ADMIN_PASSWORD })).status).toBe(
      200,
    );
  });
});
