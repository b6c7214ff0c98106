import { createSigner, generateKeyPair, signJwtSync } from '@tessera/jose';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ADMIN_PASSWORD, post, removeDataDir, startServer, type TestServer } from './helpers.js';
import {
  addClients,
  basic,
  browserHeaders,
  clearsCookie,
  expectError,
  expectSecurityHeaders,
  form,
  loginApp,
  loginWeb,
  refreshApp,
  refreshWeb,
  setCookie,
  type TokenBody,
  userinfo,
} from './http.js';

let server: TestServer;
let backendSecret: string;
beforeEach(async () => {
  server = await startServer({ refreshGrace: 5, refreshIdleTtl: 120, refreshAbsoluteTtl: 300 });
  ({ backendSecret } = await addClients(server));
});
afterEach(async () => {
  await server.close();
  await removeDataDir(server.dataDir);
});

const login = (body: unknown, headers: Record<string, string> = {}) =>
  post(`${server.url}/login`, body, headers);
const good = { username: 'alice', password: ADMIN_PASSWORD, client_id: 'app' };

/** Every header but `date`, for comparing two answers byte for byte. */
async function snapshot(res: Response) {
  const headers = [...res.headers.entries()].filter(([name]) => name !== 'date');
  return { status: res.status, headers, body: await res.text() };
}

describe('POST /login', () => {
  it('refuses missing, extra, wrong-typed, empty and overlong fields with 400 invalid_request', async () => {
    const bad: unknown[] = [
      { password: ADMIN_PASSWORD, client_id: 'app' },
      { username: 'alice', client_id: 'app' },
      {},
      { ...good, remember_me: true },
      { ...good, client_secret: 'x' },
      { ...good, username: 42 },
      { ...good, password: ['correct horse battery staple'] },
      { ...good, password: { $ne: '' } },
      { ...good, client_id: 7 },
      { ...good, scope: ['openid'] },
      { ...good, username: '' },
      { ...good, password: '' },
      { ...good, client_id: '' },
      { ...good, username: 'a'.repeat(65) },
      { ...good, password: 'p'.repeat(1025) },
      { ...good, scope: 's'.repeat(1025) },
      null,
      [good],
      'alice',
    ];
    for (const body of bad) {
      const res = await login(body);
      expectSecurityHeaders(res);
      await expectError(res, 400, 'invalid_request');
    }
    // Malformed JSON is a 400 too.
    const malformed = await fetch(`${server.url}/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"username": "alice", "password": ',
    });
    await expectError(malformed, 400, 'invalid_request');
    // Neither a parse error nor prototype poisoning echoes the body back.
    for (const raw of [
      `{"username":"alice","password":"${ADMIN_PASSWORD}" x}`,
      `{"__proto__":{"admin":true},"username":"alice","password":"${ADMIN_PASSWORD}"}`,
      `{"constructor":{"prototype":{"admin":true}},"username":"alice","password":"${ADMIN_PASSWORD}"}`,
    ]) {
      const res = await fetch(`${server.url}/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: raw,
      });
      const error = await expectError(res, 400, 'invalid_request');
      expect(JSON.stringify(error)).not.toContain(ADMIN_PASSWORD);
    }
    await expectError(
      await fetch(`${server.url}/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: `__proto__=x&username=alice&password=${encodeURIComponent(ADMIN_PASSWORD)}`,
      }),
      400,
      'invalid_request',
    );
    // None of these counted as a failed login: the real password still works at once.
    expect((await login(good)).status).toBe(200);
  });

  it('accepts the longest allowed username and password lengths as ordinary failures', async () => {
    await expectError(await login({ ...good, username: 'a'.repeat(64) }), 400, 'invalid_grant');
    await expectError(await login({ ...good, password: 'p'.repeat(1024) }), 400, 'invalid_grant');
  });

  it('accepts only JSON and forms: text/plain and multipart get 415 invalid_request', async () => {
    const text = await fetch(`${server.url}/login`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: JSON.stringify(good),
    });
    expectSecurityHeaders(text);
    await expectError(text, 415, 'invalid_request');

    const multipart = new FormData();
    for (const [name, value] of Object.entries(good)) multipart.append(name, value);
    const mp = await fetch(`${server.url}/login`, { method: 'POST', body: multipart });
    expect(mp.headers.get('x-content-type-options')).toBe('nosniff');
    await expectError(mp, 415, 'invalid_request');

    const xml = await fetch(`${server.url}/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/xml' },
      body: '<login/>',
    });
    await expectError(xml, 415, 'invalid_request');
  });

  it('accepts a form-encoded body', async () => {
    const res = await form(`${server.url}/login`, good);
    expect(res.status).toBe(200);
    const body = (await res.json()) as TokenBody;
    expect(body).toMatchObject({ token_type: 'Bearer', scope: 'openid profile offline_access' });
    expect((await userinfo(server, body.access_token)).status).toBe(200);
  });

  it('refuses a form with a repeated field (RFC 6749 §3.2) and extra form fields', async () => {
    await expectError(
      await form(`${server.url}/login`, { ...good, username: ['alice', 'bob'] }),
      400,
      'invalid_request',
    );
    await expectError(await form(`${server.url}/login`, { ...good, extra: '1' }), 400, 'invalid_request');
  });

  it('refuses bodies over 16 KiB with 413 invalid_request, JSON or form', async () => {
    const big = { ...good, scope: 'openid '.repeat(3000) };
    const json = await login(big);
    expectSecurityHeaders(json);
    await expectError(json, 413, 'invalid_request');
    await expectError(await form(`${server.url}/login`, big), 413, 'invalid_request');
  });

  it('answers an unknown client 401 invalid_client with a Basic challenge', async () => {
    const res = await login({ ...good, client_id: 'nope' });
    expect(res.headers.get('www-authenticate')).toBe('Basic realm="tessera"');
    await expectError(res, 401, 'invalid_client');
  });

  it('does not log a confidential client in with a password: 400 unauthorized_client', async () => {
    const res = await login(
      { username: 'alice', password: ADMIN_PASSWORD },
      { authorization: basic('backend', backendSecret) },
    );
    await expectError(res, 400, 'unauthorized_client');
    // Without its secret the confidential client does not even authenticate.
    await expectError(await login({ ...good, client_id: 'backend' }), 401, 'invalid_client');
    // A public client has no secret to send.
    await expectError(
      await login({ username: 'alice', password: ADMIN_PASSWORD }, { authorization: basic('app', 'x') }),
      401,
      'invalid_client',
    );
  });

  it('refuses a scope the client may not ask for with 400 invalid_scope', async () => {
    await expectError(await login({ ...good, scope: 'openid admin' }), 400, 'invalid_scope');
    const narrowed = (await (await login({ ...good, scope: 'openid' })).json()) as TokenBody;
    expect(narrowed.scope).toBe('openid');
  });

  it('gives a wrong password, an unknown user and a disabled user the identical answer', async () => {
    const wrong = await snapshot(await login({ ...good, password: 'not the password at all' }));
    const unknown = await snapshot(await login({ ...good, username: 'mallory' }));
    expect(wrong.status).toBe(400);
    expect(JSON.parse(wrong.body)).toEqual({
      error: 'invalid_grant',
      error_description: 'invalid username or password',
    });
    expect(unknown).toEqual(wrong);

    const bob = await server.services.users.create('bob', 'bob password 12345');
    await server.services.users.disable(bob.id);
    const disabled = await snapshot(
      await login({ username: 'bob', password: 'bob password 12345', client_id: 'app' }),
    );
    expect(disabled).toEqual(wrong);
    const disabledWrong = await snapshot(
      await login({ username: 'bob', password: 'wrong password 123', client_id: 'app' }),
    );
    expect(disabledWrong).toEqual(wrong);
  });
});

describe('POST /token and /token/refresh', () => {
  it('needs a grant_type on /token and knows only refresh_token', async () => {
    const { refresh_token } = await loginApp(server);
    const missing = await post(`${server.url}/token`, { refresh_token, client_id: 'app' });
    expectSecurityHeaders(missing);
    await expectError(missing, 400, 'invalid_request');
    for (const grant_type of ['password', 'client_credentials', 'authorization_code', '', 'REFRESH_TOKEN']) {
      const res = await post(`${server.url}/token`, { grant_type, refresh_token, client_id: 'app' });
      await expectError(res, 400, 'unsupported_grant_type');
    }
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
      const res = await fetch(`${server.url}${url}`, { method: 'POST' });
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
    const logout = await fetch(`${server.url}/logout`, {
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

describe('the first-party web client (cookie delivery)', () => {
  it('login sets a __Host- cookie (HttpOnly, Secure, SameSite=Strict, Path=/) and no refresh_token', async () => {
    for (const body of [
      { username: 'alice', password: ADMIN_PASSWORD },
      { username: 'alice', password: ADMIN_PASSWORD, client_id: 'web' },
    ]) {
      const res = await login(body);
      expect(res.status).toBe(200);
      const json = (await res.json()) as TokenBody;
      expect(json).not.toHaveProperty('refresh_token');
      expect(typeof json.access_token).toBe('string');
      const cookie = setCookie(res)!;
      expect(cookie.value).toMatch(/^[\w-]{43}$/);
      const attrs = cookie.attributes.map((a) => a.toLowerCase());
      expect(attrs).toContain('httponly');
      expect(attrs).toContain('secure');
      expect(attrs).toContain('samesite=strict');
      expect(attrs).toContain('path=/');
      expect(attrs.some((a) => a.startsWith('domain='))).toBe(false);
      expect(res.headers.get('cache-control')).toBe('no-store');
    }
  });

  it('refresh by cookie needs the issuer Origin and the CSRF header, else 403 invalid_request', async () => {
    const { cookie } = await loginWeb(server);
    const ok = browserHeaders(server, cookie);
    const variants: Record<string, string>[] = [
      { cookie: ok.cookie },
      { cookie: ok.cookie, 'x-tessera-csrf': '1' },
      { cookie: ok.cookie, origin: ok.origin! },
      { ...ok, origin: 'https://evil.example' },
      { ...ok, origin: 'null' },
      { ...ok, origin: `${ok.origin}.evil.example` },
      { ...ok, 'x-tessera-csrf': '0' },
      { ...ok, 'x-tessera-csrf': 'true' },
    ];
    for (const headers of variants) {
      const res = await refreshWeb(server, headers);
      await expectError(res, 403, 'invalid_request');
      expect(res.headers.getSetCookie()).toEqual([]);
    }
    // The same with a body naming the web client and the grant.
    const viaToken = await post(
      `${server.url}/token`,
      { grant_type: 'refresh_token', client_id: 'web' },
      { cookie: ok.cookie },
    );
    await expectError(viaToken, 403, 'invalid_request');
    // None of the refused attempts consumed the cookie.
    expect((await refreshWeb(server, ok)).status).toBe(200);
  });

  it('the web client may not send its refresh token in the body', async () => {
    const { cookie } = await loginWeb(server);
    await expectError(
      await post(`${server.url}/token`, {
        grant_type: 'refresh_token',
        refresh_token: cookie,
        client_id: 'web',
      }),
      400,
      'invalid_request',
    );
  });

  it('with Origin and the CSRF header a cookie refresh rotates and sets a new cookie', async () => {
    const { cookie } = await loginWeb(server);
    const res = await refreshWeb(server, browserHeaders(server, cookie));
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.headers.get('pragma')).toBe('no-cache');
    const body = (await res.json()) as TokenBody;
    expect(body).not.toHaveProperty('refresh_token');
    expect((await userinfo(server, body.access_token)).status).toBe(200);
    const next = setCookie(res)!;
    expect(next.value).toMatch(/^[\w-]{43}$/);
    expect(next.value).not.toBe(cookie);
    expect(next.attributes.map((a) => a.toLowerCase())).toEqual(
      expect.arrayContaining(['httponly', 'secure', 'samesite=strict', 'path=/']),
    );
    // Through POST /token with a JSON body as well.
    const viaToken = await post(
      `${server.url}/token`,
      { grant_type: 'refresh_token' },
      browserHeaders(server, next.value),
    );
    expect(viaToken.status).toBe(200);
    expect(setCookie(viaToken)!.value).not.toBe(next.value);
  });

  it('a reused cookie token revokes the family and clears the cookie', async () => {
    const { cookie } = await loginWeb(server);
    const first = await refreshWeb(server, browserHeaders(server, cookie));
    const successor = setCookie(first)!.value;
    const { access_token } = (await first.json()) as TokenBody;
    server.advance(10_000); // past the 5 s grace window
    const reuse = await refreshWeb(server, browserHeaders(server, cookie));
    expect(clearsCookie(reuse)).toBe(true);
    await expectError(reuse, 400, 'invalid_grant');
    // The whole family is gone: the live successor and its access token.
    const after = await refreshWeb(server, browserHeaders(server, successor));
    expect(clearsCookie(after)).toBe(true);
    await expectError(after, 400, 'invalid_grant');
    expect((await userinfo(server, access_token)).status).toBe(401);
  });

  it('an unknown cookie is invalid_grant and is cleared', async () => {
    const res = await refreshWeb(server, browserHeaders(server, 'A'.repeat(43)));
    expect(clearsCookie(res)).toBe(true);
    await expectError(res, 400, 'invalid_grant');
  });

  it('/logout with the cookie needs the CSRF checks, then ends the session and clears the cookie', async () => {
    const { cookie, access_token } = await loginWeb(server);
    const headers = browserHeaders(server, cookie);
    const refused: Record<string, string>[] = [
      { cookie: headers.cookie! },
      { cookie: headers.cookie!, origin: headers.origin! },
      { cookie: headers.cookie!, 'x-tessera-csrf': '1' },
      { ...headers, origin: 'https://evil.example' },
    ];
    for (const bad of refused) {
      await expectError(
        await fetch(`${server.url}/logout`, { method: 'POST', headers: bad }),
        403,
        'invalid_request',
      );
    }
    expect((await userinfo(server, access_token)).status).toBe(200);

    const res = await fetch(`${server.url}/logout`, { method: 'POST', headers });
    expect(res.status).toBe(204);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(clearsCookie(res)).toBe(true);
    expect((await userinfo(server, access_token)).status).toBe(401);
    await expectError(await refreshWeb(server, headers), 400, 'invalid_grant');
  });

  it('/logout/all with the cookie ends every session of the user', async () => {
    const web = await loginWeb(server);
    const app = await loginApp(server);
    const headers = browserHeaders(server, web.cookie);
    await expectError(
      await fetch(`${server.url}/logout/all`, { method: 'POST', headers: { cookie: headers.cookie! } }),
      403,
      'invalid_request',
    );
    const res = await fetch(`${server.url}/logout/all`, { method: 'POST', headers });
    expect(res.status).toBe(204);
    expect(clearsCookie(res)).toBe(true);
    expect((await userinfo(server, web.access_token)).status).toBe(401);
    expect((await userinfo(server, app.access_token)).status).toBe(401);
    await expectError(await refreshApp(server, app.refresh_token), 400, 'invalid_grant');
  });
});

describe('POST /revoke (RFC 7009)', () => {
  const revoke = (fields: Record<string, string>, headers: Record<string, string> = {}) =>
    post(`${server.url}/revoke`, fields, headers);

  async function expectRevokeOk(res: Response) {
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expectSecurityHeaders(res);
    expect(await res.text()).toBe('');
  }

  it('answers 200 for unknown and garbage tokens', async () => {
    for (const token of ['nope', 'A'.repeat(43), 'a.b.c', 'eyJhbGciOiJub25lIn0.e30.']) {
      await expectRevokeOk(await revoke({ token, client_id: 'app' }));
      await expectRevokeOk(await revoke({ token, client_id: 'app', token_type_hint: 'access_token' }));
    }
  });

  it('a refresh token revokes its family, and the family access tokens via sid', async () => {
    const first = await loginApp(server);
    const second = (await (await refreshApp(server, first.refresh_token)).json()) as Required<TokenBody>;
    const other = await loginApp(server);
    await expectRevokeOk(
      await revoke({ token: second.refresh_token, client_id: 'app', token_type_hint: 'refresh_token' }),
    );
    await expectError(await refreshApp(server, second.refresh_token), 400, 'invalid_grant');
    expect((await userinfo(server, second.access_token)).status).toBe(401);
    expect((await userinfo(server, first.access_token)).status).toBe(401);
    // Another session of the same user is untouched.
    expect((await userinfo(server, other.access_token)).status).toBe(200);
    expect((await refreshApp(server, other.refresh_token)).status).toBe(200);
    // Revoking again is still 200 (form-encoded this time).
    await expectRevokeOk(
      await form(`${server.url}/revoke`, { token: second.refresh_token, client_id: 'app' }),
    );
  });

  it('a refresh token is found whatever the hint says', async () => {
    const session = await loginApp(server);
    await expectRevokeOk(
      await revoke({ token: session.refresh_token, client_id: 'app', token_type_hint: 'access_token' }),
    );
    await expectError(await refreshApp(server, session.refresh_token), 400, 'invalid_grant');
  });

  it('an access token revokes only that token (its jti)', async () => {
    const session = await loginApp(server);
    const sibling = (await (await refreshApp(server, session.refresh_token)).json()) as Required<TokenBody>;
    await expectRevokeOk(await revoke({ token: session.access_token, client_id: 'app' }));
    expect((await userinfo(server, session.access_token)).status).toBe(401);
    // Same session, other access token: still fine; the session still refreshes.
    expect((await userinfo(server, sibling.access_token)).status).toBe(200);
    expect((await refreshApp(server, sibling.refresh_token)).status).toBe(200);
  });

  it("another client's token: 200, but nothing is revoked", async () => {
    const session = await loginApp(server);
    await expectRevokeOk(await revoke({ token: session.refresh_token, client_id: 'other' }));
    await expectRevokeOk(await revoke({ token: session.access_token, client_id: 'other' }));
    await expectRevokeOk(
      await revoke({ token: session.access_token }, { authorization: basic('backend', backendSecret) }),
    );
    expect((await userinfo(server, session.access_token)).status).toBe(200);
    expect((await refreshApp(server, session.refresh_token)).status).toBe(200);
  });

  it('refuses a bad token_type_hint with 400 unsupported_token_type', async () => {
    const session = await loginApp(server);
    for (const token_type_hint of ['id_token', 'ACCESS_TOKEN', '']) {
      await expectError(
        await revoke({ token: session.refresh_token, client_id: 'app', token_type_hint }),
        400,
        'unsupported_token_type',
      );
    }
    expect((await refreshApp(server, session.refresh_token)).status).toBe(200);
  });

  it('refuses a missing token with 400 invalid_request', async () => {
    await expectError(await revoke({ client_id: 'app' }), 400, 'invalid_request');
    await expectError(await revoke({ token: '', client_id: 'app' }), 400, 'invalid_request');
    await expectError(await form(`${server.url}/revoke`, { client_id: 'app' }), 400, 'invalid_request');
  });

  it('authenticates the client', async () => {
    const session = await loginApp(server);
    await expectError(await revoke({ token: session.refresh_token }), 400, 'invalid_request');
    const unknown = await revoke({ token: session.refresh_token, client_id: 'nope' });
    expect(unknown.headers.get('www-authenticate')).toBe('Basic realm="tessera"');
    await expectError(unknown, 401, 'invalid_client');
    await expectError(
      await revoke({ token: session.refresh_token }, { authorization: basic('backend', 'wrong') }),
      401,
      'invalid_client',
    );
    expect((await refreshApp(server, session.refresh_token)).status).toBe(200);
  });
});

describe('POST /logout and /logout/all', () => {
  for (const path of ['/logout', '/logout/all']) {
    it(`${path} without credentials is 401 invalid_token with a Bearer challenge`, async () => {
      for (const headers of [
        {},
        { authorization: 'Basic YTpi' },
        { authorization: 'Bearer' },
        { cookie: 'other=1' },
      ] as Record<string, string>[]) {
        const res = await fetch(`${server.url}${path}`, { method: 'POST', headers });
        expect(res.headers.get('www-authenticate')).toMatch(/^Bearer /);
        expectSecurityHeaders(res);
        await expectError(res, 401, 'invalid_token');
      }
    });

    it(`${path} with a revoked, expired or foreign token is 401 invalid_token`, async () => {
      const revoked = await loginApp(server);
      const logout = await fetch(`${server.url}/logout`, {
        method: 'POST',
        headers: { authorization: `Bearer ${revoked.access_token}` },
      });
      expect(logout.status).toBe(204);
      const again = await fetch(`${server.url}${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${revoked.access_token}` },
      });
      expect(again.headers.get('www-authenticate')).toMatch(/^Bearer error="invalid_token"/);
      await expectError(again, 401, 'invalid_token');

      const live = await loginApp(server);
      server.advance(16 * 60_000);
      const expired = await fetch(`${server.url}${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${live.access_token}` },
      });
      expect(expired.headers.get('www-authenticate')).toMatch(/^Bearer error="invalid_token"/);
      await expectError(expired, 401, 'invalid_token');
      // The refused logout ended nothing.
      const family = await server.services.refreshTokens.familyOf(live.refresh_token);
      const row = await server.services.db
        .selectFrom('refresh_token_families')
        .select('revoked_at')
        .where('id', '=', family!.familyId)
        .executeTakeFirstOrThrow();
      expect(row.revoked_at).toBeNull();

      const foreign = await fetch(`${server.url}${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${await foreignToken(server)}` },
      });
      await expectError(foreign, 401, 'invalid_token');
    });
  }

  it('/logout with an unknown or revoked cookie is 401', async () => {
    const unknown = await fetch(`${server.url}/logout`, {
      method: 'POST',
      headers: browserHeaders(server, 'A'.repeat(43)),
    });
    await expectError(unknown, 401, 'invalid_token');
  });

  it('a revoked, rotated or expired cookie no longer authenticates /logout or /logout/all', async () => {
    // Ended: the cookie of a logged-out session (a copy an attacker kept, say) cannot end other sessions.
    const ended = await loginWeb(server);
    const endedHeaders = browserHeaders(server, ended.cookie);
    expect((await fetch(`${server.url}/logout`, { method: 'POST', headers: endedHeaders })).status).toBe(204);
    const app = await loginApp(server);
    for (const path of ['/logout', '/logout/all']) {
      const res = await fetch(`${server.url}${path}`, { method: 'POST', headers: endedHeaders });
      expect(res.headers.get('www-authenticate')).toMatch(/^Bearer /);
      await expectError(res, 401, 'invalid_token');
    }
    expect((await userinfo(server, app.access_token)).status).toBe(200);

    // Rotated: only the live cookie of a session speaks for it.
    const web = await loginWeb(server);
    const rotated = await refreshWeb(server, browserHeaders(server, web.cookie));
    expect(rotated.status).toBe(200);
    const live = setCookie(rotated)!.value;
    await expectError(
      await fetch(`${server.url}/logout/all`, {
        method: 'POST',
        headers: browserHeaders(server, web.cookie),
      }),
      401,
      'invalid_token',
    );
    expect((await userinfo(server, app.access_token)).status).toBe(200);

    // Expired: past the idle lifetime.
    server.advance(121_000);
    await expectError(
      await fetch(`${server.url}/logout/all`, { method: 'POST', headers: browserHeaders(server, live) }),
      401,
      'invalid_token',
    );
    const alice = (await server.services.users.byUsername('alice'))!;
    expect(alice.tokenVersion).toBe(0);
  });
});

/** An access token with every right claim, signed by a key the server never published. */
async function foreignToken(server: TestServer, kid?: string): Promise<string> {
  const { privateKey } = await generateKeyPair('ES256');
  const alice = (await server.services.users.byUsername('alice'))!;
  return createSigner({
    key: privateKey,
    kid: kid ?? server.services.keys.signer().kid,
    typ: 'at+jwt',
    issuer: server.services.config.issuer,
    audience: server.services.config.audience,
    expiresIn: 900,
    jti: true,
    clock: server.now,
  }).sign({
    sub: alice.id,
    client_id: 'app',
    scope: 'openid',
    sid: 'sid_forged',
    ver: alice.tokenVersion,
    roles: ['admin'],
    permissions: [],
  });
}

describe('GET /userinfo', () => {
  const get = (headers: Record<string, string> = {}) => fetch(`${server.url}/userinfo`, { headers });

  it('without a token: 401 with a bare Bearer challenge', async () => {
    const res = await get();
    expect(res.headers.get('www-authenticate')).toBe('Bearer realm="tessera"');
    expectSecurityHeaders(res);
    await expectError(res, 401, 'invalid_token');
  });

  it('a malformed Authorization header is 401 with a Bearer challenge', async () => {
    const { access_token } = await loginApp(server);
    for (const authorization of [
      'Bearer',
      'Bearer ',
      `Basic ${access_token}`,
      `Bearer ${access_token} extra`,
      `Bearer  ${access_token}x`,
      `Token ${access_token}`,
      access_token,
      'Bearer not-a-jwt',
      `Bearer ${access_token.slice(0, -4)}AAAA`,
      `Bearer ${access_token.split('.').slice(0, 2).join('.')}`,
    ]) {
      const res = await get({ authorization });
      expect(res.headers.get('www-authenticate')).toMatch(/^Bearer /);
      await expectError(res, 401, 'invalid_token');
    }
  });

  it('refuses a token signed by another key, even with a known kid', async () => {
    for (const kid of [undefined, 'unknown-kid']) {
      const res = await get({ authorization: `Bearer ${await foreignToken(server, kid)}` });
      expect(res.headers.get('www-authenticate')).toMatch(/^Bearer error="invalid_token"/);
      await expectError(res, 401, 'invalid_token');
    }
  });

  it('refuses a token signed by the real key but with the wrong typ, issuer or no expiry', async () => {
    const signer = server.services.keys.signer();
    const alice = (await server.services.users.byUsername('alice'))!;
    const claims = {
      sub: alice.id,
      client_id: 'app',
      scope: 'openid',
      sid: 'sid_x',
      ver: alice.tokenVersion,
      roles: [],
      permissions: [],
    };
    const base = {
      kid: signer.kid,
      issuer: server.services.config.issuer,
      audience: server.services.config.audience,
      expiresIn: 900,
      jti: true as const,
      currentDate: new Date(server.now()),
    };
    // Sanity: the same recipe with the right typ is accepted, so each refusal below is for its one defect.
    const right = signJwtSync(claims, signer.key, { ...base, typ: 'at+jwt' });
    expect((await get({ authorization: `Bearer ${right}` })).status).toBe(200);
    const wrong = [
      signJwtSync(claims, signer.key, { ...base, typ: 'JWT' }),
      signJwtSync(claims, signer.key, { ...base }),
      signJwtSync(claims, signer.key, { ...base, typ: 'at+jwt', issuer: 'https://evil.example' }),
      signJwtSync(claims, signer.key, { ...base, typ: 'at+jwt', expiresIn: undefined }),
      signJwtSync({ ...claims, sid: undefined }, signer.key, { ...base, typ: 'at+jwt' }),
    ];
    for (const token of wrong) {
      const res = await get({ authorization: `Bearer ${token}` });
      await expectError(res, 401, 'invalid_token');
    }
  });

  it('refuses an expired token, and alg none', async () => {
    const { access_token } = await loginApp(server);
    expect((await userinfo(server, access_token)).status).toBe(200);
    server.advance(15 * 60_000 + 61_000);
    const expired = await userinfo(server, access_token);
    expect(expired.headers.get('www-authenticate')).toMatch(/^Bearer error="invalid_token"/);
    await expectError(expired, 401, 'invalid_token');

    const [, payload] = access_token.split('.');
    const none = `${Buffer.from('{"alg":"none","typ":"at+jwt"}').toString('base64url')}.${payload}.`;
    await expectError(await userinfo(server, none), 401, 'invalid_token');
  });

  it('answers a valid token without caching', async () => {
    const { access_token } = await loginApp(server);
    const res = await userinfo(server, access_token);
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expectSecurityHeaders(res);
    expect(await res.json()).toMatchObject({ preferred_username: 'alice', roles: ['customer'] });
  });
});

describe('everything else', () => {
  it('an unknown route is a 404 JSON error with the security headers', async () => {
    for (const [method, path] of [
      ['GET', '/nope'],
      ['POST', '/nope'],
      ['GET', '/login'],
      ['DELETE', '/token'],
      ['GET', '/../etc/passwd'],
    ] as const) {
      const res = await fetch(`${server.url}${path}`, { method });
      expectSecurityHeaders(res);
      await expectError(res, 404, 'invalid_request');
    }
  });

  it('every response carries the security headers', async () => {
    const { access_token } = await loginApp(server);
    const responses = [
      await fetch(`${server.url}/.well-known/jwks.json`),
      await fetch(`${server.url}/.well-known/openid-configuration`),
      await userinfo(server, access_token),
      await login({ ...good, password: 'wrong password 12' }),
      await login(good),
      await fetch(`${server.url}/nope`),
      await post(`${server.url}/token`, {}),
      await post(`${server.url}/revoke`, { token: 'x', client_id: 'app' }),
    ];
    for (const res of responses) {
      expectSecurityHeaders(res);
      expect(res.headers.get('cross-origin-resource-policy')).toBe('same-origin');
      // An http:// issuer: no HSTS (it would be ignored anyway, and would pin the wrong thing).
      expect(res.headers.get('strict-transport-security')).toBeNull();
      await res.arrayBuffer();
    }
  });

  it('error answers set no cookies', async () => {
    const res = await post(`${server.url}/login`, { ...good, password: 'wrong password 12' });
    expect(res.headers.getSetCookie()).toEqual([]);
    await res.arrayBuffer();
    const web = await login({ username: 'alice', password: 'wrong password 12' });
    expect(web.headers.getSetCookie()).toEqual([]);
    await web.arrayBuffer();
  });
});
