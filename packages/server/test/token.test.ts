import { decodeJwtUnverified } from '@tessera/jose';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { breakWrites } from './failures.js';
import { ADMIN_PASSWORD, post, stopServer, type TestServer } from './helpers.js';
import {
  basic,
  expectError,
  expectSecurityHeaders,
  form,
  loginApp,
  refreshApp,
  startEndpointServer,
  type TokenBody,
  userinfo,
} from './http.js';
import { request } from './requests.js';

let server: TestServer;
let backendSecret: string;
beforeEach(async () => {
  ({ server, backendSecret } = await startEndpointServer());
});
afterEach(() => stopServer(server));

const login = (body: unknown, headers: Record<string, string> = {}) =>
  post(`${server.url}/login`, body, headers);
const good = { username: 'alice', password: ADMIN_PASSWORD, client_id: 'app' };

describe('POST /token and /token/refresh', () => {
  it('needs a grant_type on /token and knows only the grants it implements', async () => {
    const { refresh_token } = await loginApp(server);
    const missing = await post(`${server.url}/token`, { refresh_token, client_id: 'app' });
    expectSecurityHeaders(missing);
    await expectError(missing, 400, 'invalid_request');
    for (const grant_type of [
      'password',
      'implicit',
      'urn:ietf:params:oauth:grant-type:device_code',
      '',
      'REFRESH_TOKEN',
    ]) {
      const res = await post(`${server.url}/token`, { grant_type, refresh_token, client_id: 'app' });
      await expectError(res, 400, 'unsupported_grant_type');
    }
    // Known grants this public client may not use (RFC 6749 §4.4: client credentials are confidential).
    await expectError(
      await post(`${server.url}/token`, { grant_type: 'client_credentials', client_id: 'app' }),
      400,
      'unauthorized_client',
    );
    await expectError(
      await post(`${server.url}/token`, { grant_type: 'authorization_code', client_id: 'app' }),
      400,
      'invalid_request',
    );
    await expectError(
      await post(`${server.url}/token/refresh`, { grant_type: 'client_credentials', client_id: 'app' }),
      400,
      'unsupported_grant_type',
    );
    await expectError(
      await post(`${server.url}/token`, { grant_type: 7, refresh_token, client_id: 'app' }),
      400,
      'invalid_request',
    );
    // None of that consumed the token.
    expect((await refreshApp(server, refresh_token)).status).toBe(200);
  });

  it('needs a refresh_token', async () => {
    for (const url of ['/token', '/token/refresh']) {
      await expectError(
        await post(`${server.url}${url}`, { grant_type: 'refresh_token', client_id: 'app' }),
        400,
        'invalid_request',
      );
      await expectError(
        await post(`${server.url}${url}`, {
          grant_type: 'refresh_token',
          refresh_token: '',
          client_id: 'app',
        }),
        400,
        'invalid_request',
      );
    }
    // An empty POST (no cookie, no body) is the same.
    for (const url of ['/token', '/token/refresh']) {
      const res = await request(`${server.url}${url}`, { method: 'POST' });
      const body = await expectError(res, 400, 'invalid_request');
      expect(body.error_description).toMatch(url === '/token' ? /grant_type/ : /refresh_token/);
    }
  });

  it('answers an unknown or garbage refresh token with 400 invalid_grant, never echoing it', async () => {
    for (const token of ['x', 'A'.repeat(43), 'not a token at all', 'a.b.c']) {
      const res = await refreshApp(server, token);
      const body = await expectError(res, 400, 'invalid_grant');
      expect(body.error_description).toBe('refresh token is invalid');
    }
    await expectError(await refreshApp(server, 'r'.repeat(513)), 400, 'invalid_request');
  });

  it('refuses a token presented by another client, without consuming it', async () => {
    const { refresh_token } = await loginApp(server);
    await expectError(await refreshApp(server, refresh_token, 'other'), 400, 'invalid_grant');
    await expectError(await refreshApp(server, refresh_token, 'web'), 400, 'invalid_request');
    const res = await post(
      `${server.url}/token`,
      { grant_type: 'refresh_token', refresh_token },
      { authorization: basic('backend', backendSecret) },
    );
    await expectError(res, 400, 'invalid_grant');
    expect((await refreshApp(server, refresh_token)).status).toBe(200);
  });

  it('expires a token left unused past the idle lifetime', async () => {
    const { refresh_token } = await loginApp(server);
    server.advance(121_000);
    await expectError(await refreshApp(server, refresh_token), 400, 'invalid_grant');
  });

  it('expires the family at its absolute lifetime however often it rotates', async () => {
    let { refresh_token } = await loginApp(server);
    for (let i = 0; i < 3; i++) {
      server.advance(90_000); // 90 s, 180 s, 270 s: each inside the 120 s idle window
      const res = await refreshApp(server, refresh_token);
      expect(res.status).toBe(200);
      refresh_token = ((await res.json()) as Required<TokenBody>).refresh_token;
    }
    server.advance(31_000); // 301 s after login
    await expectError(await refreshApp(server, refresh_token), 400, 'invalid_grant');
  });

  it('refuses every token of a revoked family', async () => {
    const first = await loginApp(server);
    const second = (await (await refreshApp(server, first.refresh_token)).json()) as Required<TokenBody>;
    const logout = await request(`${server.url}/logout`, {
      method: 'POST',
      headers: { authorization: `Bearer ${second.access_token}` },
    });
    expect(logout.status).toBe(204);
    await expectError(await refreshApp(server, second.refresh_token), 400, 'invalid_grant');
    await expectError(await refreshApp(server, first.refresh_token), 400, 'invalid_grant');
  });

  it('refuses the refresh of a disabled user', async () => {
    const { refresh_token } = await loginApp(server);
    const alice = (await server.services.users.byUsername('alice'))!;
    await server.services.users.disable(alice.id);
    await expectError(await refreshApp(server, refresh_token), 400, 'invalid_grant');
  });

  it('authenticates confidential clients: wrong secret is 401 invalid_client with a Basic challenge', async () => {
    const body = { grant_type: 'refresh_token', refresh_token: 'whatever' };
    for (const res of [
      await post(`${server.url}/token`, body, { authorization: basic('backend', 'wrong') }),
      await post(`${server.url}/token`, { ...body, client_id: 'backend', client_secret: 'wrong' }),
      await post(`${server.url}/token`, { ...body, client_id: 'backend' }),
      await post(`${server.url}/token`, body, { authorization: basic('nobody', backendSecret) }),
      await post(`${server.url}/token`, body, { authorization: 'Basic bm9jb2xvbg==' }),
    ]) {
      expect(res.headers.get('www-authenticate')).toBe('Basic realm="tessera"');
      const error = await expectError(res, 401, 'invalid_client');
      expect(JSON.stringify(error)).not.toContain(backendSecret);
    }
    // With the right secret the client authenticates and the (bogus) grant is what fails.
    await expectError(
      await post(`${server.url}/token`, body, { authorization: basic('backend', backendSecret) }),
      400,
      'invalid_grant',
    );
    await expectError(
      await post(`${server.url}/token`, { ...body, client_id: 'backend', client_secret: backendSecret }),
      400,
      'invalid_grant',
    );
  });

  it('refuses two client authentication methods at once with 400 invalid_request', async () => {
    const res = await post(
      `${server.url}/token`,
      { grant_type: 'refresh_token', refresh_token: 'x', client_id: 'backend', client_secret: backendSecret },
      { authorization: basic('backend', backendSecret) },
    );
    const error = await expectError(res, 400, 'invalid_request');
    expect(JSON.stringify(error)).not.toContain(backendSecret);
    await expectError(
      await post(
        `${server.url}/token`,
        { grant_type: 'refresh_token', refresh_token: 'x', client_id: 'app' },
        { authorization: basic('backend', backendSecret) },
      ),
      400,
      'invalid_request',
    );
  });

  it('refreshes with a form-encoded body, on both paths, without caching', async () => {
    const { refresh_token } = await loginApp(server);
    const res = await form(`${server.url}/token`, {
      grant_type: 'refresh_token',
      refresh_token,
      client_id: 'app',
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.headers.get('pragma')).toBe('no-cache');
    expectSecurityHeaders(res);
    const body = (await res.json()) as Required<TokenBody>;
    expect(body).toMatchObject({ token_type: 'Bearer', scope: 'openid profile offline_access' });
    expect(body.refresh_token).not.toBe(refresh_token);

    const again = await form(`${server.url}/token/refresh`, {
      refresh_token: body.refresh_token,
      client_id: 'app',
    });
    expect(again.status).toBe(200);
    expect(again.headers.get('cache-control')).toBe('no-store');
    expect(again.headers.get('pragma')).toBe('no-cache');
    const next = (await again.json()) as Required<TokenBody>;
    expect(next.refresh_token).not.toBe(body.refresh_token);
    expect(Object.keys(next).sort()).toEqual([
      'access_token',
      'expires_in',
      'refresh_token',
      'scope',
      'token_type',
    ]);
    // The response never carries the presented token nor a client secret.
    expect(JSON.stringify(next)).not.toContain(body.refresh_token);
  });

  it('the login answer is not cacheable either', async () => {
    const res = await login(good);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.headers.get('pragma')).toBe('no-cache');
    expect(res.headers.getSetCookie()).toEqual([]);
  });

  it('refuses a repeated refresh_token form parameter', async () => {
    const { refresh_token } = await loginApp(server);
    await expectError(
      await form(`${server.url}/token`, {
        grant_type: 'refresh_token',
        refresh_token: [refresh_token, refresh_token],
        client_id: 'app',
      }),
      400,
      'invalid_request',
    );
  });
});

describe('scope on refresh (RFC 6749 §6)', () => {
  const refreshWithScope = (refresh_token: string, scope: string) =>
    post(`${server.url}/token`, { grant_type: 'refresh_token', refresh_token, client_id: 'app', scope });

  it('narrows the access token to a subset of the original grant', async () => {
    const { refresh_token } = await loginApp(server);
    const res = await refreshWithScope(refresh_token, 'openid');
    expect(res.status).toBe(200);
    const body = (await res.json()) as TokenBody;
    expect(body.scope).toBe('openid');
    expect((decodeJwtUnverified(body.access_token) as { scope: string }).scope).toBe('openid');
  });

  it('refuses a scope beyond the original grant with 400 invalid_scope, and leaves the refresh token usable', async () => {
    const { refresh_token } = await loginApp(server);
    await expectError(await refreshWithScope(refresh_token, 'openid admin'), 400, 'invalid_scope');
    expect((await refreshApp(server, refresh_token)).status).toBe(200);
  });

  it('checks the scope of a duplicate refresh inside the grace window too (400 invalid_scope)', async () => {
    const { refresh_token } = await loginApp(server);
    expect((await refreshApp(server, refresh_token)).status).toBe(200);
    await expectError(await refreshWithScope(refresh_token, 'openid admin'), 400, 'invalid_scope');
    // (control) The same duplicate without the wider scope is answered: it is inside the grace window.
    expect((await refreshApp(server, refresh_token)).status).toBe(200);
  });
});

describe('refresh-token reuse ends the session all or nothing', () => {
  it('a failure while ending the session leaves it as it was; the next reuse ends it and publishes the sid', async () => {
    const first = await loginApp(server);
    const { sid } = decodeJwtUnverified(first.access_token) as { sid: string };
    const rotated = await refreshApp(server, first.refresh_token);
    expect(rotated.status).toBe(200);
    const successor = (await rotated.json()) as Required<TokenBody>;
    server.advance(10_000); // past the grace window: presenting the first token again is theft

    const broken = await breakWrites(server.services.db, 'revocations', 'insert');
    const failed = await refreshApp(server, first.refresh_token);
    expect(failed.status).toBeGreaterThanOrEqual(500);
    await broken.heal();
    expect((await server.services.refreshTokens.familyOf(successor.refresh_token))?.active).toBe(true);
    expect(server.services.revocations.isRevoked({ sid })).toBe(false);

    await expectError(await refreshApp(server, first.refresh_token), 400, 'invalid_grant');
    expect(server.services.revocations.isRevoked({ sid })).toBe(true);
    expect((await server.services.refreshTokens.familyOf(successor.refresh_token))?.active).toBe(false);
    expect((await userinfo(server, successor.access_token)).status).toBe(401);
    const row = await server.services.db
      .selectFrom('revocations')
      .select(['kind', 'value'])
      .where('value', '=', sid)
      .execute();
    expect(row).toEqual([{ kind: 'sid', value: sid }]);
  });
});
