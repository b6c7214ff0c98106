import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ADMIN_PASSWORD, post, stopServer, type TestServer } from './helpers.js';
import {
  browserHeaders,
  clearsCookie,
  expectError,
  loginApp,
  loginWeb,
  refreshApp,
  refreshWeb,
  setCookie,
  startEndpointServer,
  type TokenBody,
  userinfo,
} from './http.js';
import { request } from './requests.js';

let server: TestServer;
beforeEach(async () => {
  ({ server } = await startEndpointServer());
});
afterEach(() => stopServer(server));

const login = (body: unknown, headers: Record<string, string> = {}) =>
  post(`${server.url}/login`, body, headers);

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
      { cookie: ok.cookie, origin: ok.origin },
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
        await request(`${server.url}/logout`, { method: 'POST', headers: bad }),
        403,
        'invalid_request',
      );
    }
    expect((await userinfo(server, access_token)).status).toBe(200);

    const res = await request(`${server.url}/logout`, { method: 'POST', headers });
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
      await request(`${server.url}/logout/all`, { method: 'POST', headers: { cookie: headers.cookie! } }),
      403,
      'invalid_request',
    );
    const res = await request(`${server.url}/logout/all`, { method: 'POST', headers });
    expect(res.status).toBe(204);
    expect(clearsCookie(res)).toBe(true);
    expect((await userinfo(server, web.access_token)).status).toBe(401);
    expect((await userinfo(server, app.access_token)).status).toBe(401);
    await expectError(await refreshApp(server, app.refresh_token), 400, 'invalid_grant');
  });
});
