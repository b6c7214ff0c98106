/**
 * CORS for browser apps on other origins (http/cors.ts), through the whole app: preflights and
 * grants for registered origins only, credentials only for the web client's origins, `*` for the
 * public documents, and the cookie endpoints' CSRF checks with the web client's registered origins.
 * Chromium's side of it (the cookie across origins) is in browser/cors.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.js';
import { CORS_ENDPOINTS, CORS_MAX_AGE } from '../src/http/cors.js';
import { createWebOrigins, WEB_ORIGINS_TTL_MS } from '../src/http/cors_origins.js';
import type { Client } from '../src/store/clients.js';
import { ADMIN_PASSWORD, post, startServer, stopServer, type TestServer } from './helpers.js';
import { expectError, REFRESH_COOKIE, setCookie, type TokenBody } from './http.js';
import { request } from './requests.js';

/** The web client's origin from the `webOrigins` setting (a development server of the app). */
const DEV = 'http://localhost:5173';
/** The web client's origin registered with `tessera client update web --web-origin`. */
const WEB = 'https://app.example.com';
/** A browser app (spa) registered with a redirect URI on this origin, and no web origins listed. */
const SPA = 'https://spa.example.com';
/** A web origin the spa client lists explicitly. */
const SPA_LISTED = 'https://admin.spa.example.com';
const EVIL = 'https://evil.example';

let server: TestServer;
let issuerOrigin: string;

beforeAll(async () => {
  server = await startServer({ webOrigins: [DEV] });
  issuerOrigin = new URL(server.services.config.issuer).origin;
  await server.services.clients.update('web', { webOrigins: [WEB] });
  await server.services.clients.add({
    clientId: 'spa',
    type: 'public',
    kind: 'spa',
    audiences: [],
    scopes: ['openid', 'offline_access'],
    redirectUris: [`${SPA}/callback`],
    webOrigins: [SPA_LISTED],
  });
});
afterAll(() => stopServer(server));

function preflight(path: string, origin: string | undefined, method = 'POST', headers?: string) {
  return request(`${server.url}${path}`, {
    method: 'OPTIONS',
    headers: {
      ...(origin !== undefined ? { origin } : {}),
      'access-control-request-method': method,
      ...(headers !== undefined ? { 'access-control-request-headers': headers } : {}),
    },
  });
}

const varies = (res: Response) =>
  (res.headers.get('vary') ?? '').split(/\s*,\s*/).map((v) => v.toLowerCase());

const login = (headers: Record<string, string>, body: Record<string, string> = {}) =>
  post(`${server.url}/login`, { username: 'alice', password: ADMIN_PASSWORD, ...body }, headers);

describe('a preflight', () => {
  it('from a web origin of the web client is granted with credentials, at every endpoint a browser app calls', async () => {
    for (const origin of [WEB, DEV]) {
      for (const [path, methods] of Object.entries(CORS_ENDPOINTS)) {
        for (const method of methods) {
          const res = await preflight(path, origin, method, 'content-type,dpop,x-tessera-csrf,authorization');
          expect(res.status, `${method} ${path} from ${origin}`).toBe(204);
          expect(res.headers.get('access-control-allow-origin')).toBe(origin);
          expect(res.headers.get('access-control-allow-credentials')).toBe('true');
          expect(res.headers.get('access-control-allow-methods')?.split(', ')).toEqual(methods);
          expect(res.headers.get('access-control-allow-headers')?.split(', ').sort()).toEqual([
            'authorization',
            'content-type',
            'dpop',
            'x-tessera-csrf',
          ]);
          expect(res.headers.get('access-control-max-age')).toBe(String(CORS_MAX_AGE));
          expect(varies(res)).toContain('origin');
        }
      }
    }
  });

  it("from another client's origin (a spa's redirect-URI origin, or one it lists) is granted without credentials", async () => {
    for (const origin of [SPA, SPA_LISTED]) {
      const res = await preflight('/token', origin, 'POST', 'dpop, content-type');
      expect(res.status).toBe(204);
      expect(res.headers.get('access-control-allow-origin')).toBe(origin);
      expect(res.headers.has('access-control-allow-credentials')).toBe(false);
    }
  });

  it('from an origin nobody registered is refused with a 403 that says why, and no grant', async () => {
    const lookalikes = [
      EVIL,
      `${WEB}.evil.example`,
      'http://app.example.com', // the registered host, over http
      'https://app.example.com:8443', // another port is another origin
      'https://APP.example.com', // browsers never send it so; not the registered string
      `${WEB}/`,
      'http://localhost:5174',
      `http://127.0.0.1:5173`, // the same machine, another origin than http://localhost:5173
    ];
    for (const origin of lookalikes) {
      const res = await preflight('/login', origin);
      const body = await expectError(res, 403, 'invalid_request');
      expect(body.error_description, origin).toContain('is not registered for CORS');
      expect(res.headers.has('access-control-allow-origin'), origin).toBe(false);
      expect(res.headers.has('access-control-allow-credentials'), origin).toBe(false);
    }
  });

  it('from the origin "null" (a sandboxed frame, a file: page) is refused', async () => {
    const res = await preflight('/token/refresh', 'null');
    const body = await expectError(res, 403, 'invalid_request');
    expect(body.error_description).toContain('null');
    expect(res.headers.has('access-control-allow-origin')).toBe(false);
    expect(res.headers.has('access-control-allow-credentials')).toBe(false);
  });

  it('for a method or a header the endpoint does not take is refused', async () => {
    const wrongMethod = await preflight('/login', WEB, 'DELETE');
    expect((await expectError(wrongMethod, 403, 'invalid_request')).error_description).toContain('DELETE');
    const getLogin = await preflight('/login', WEB, 'GET');
    await expectError(getLogin, 403, 'invalid_request');
    const wrongHeader = await preflight('/token', WEB, 'POST', 'content-type, x-forwarded-for');
    expect((await expectError(wrongHeader, 403, 'invalid_request')).error_description).toContain(
      'x-forwarded-for',
    );
  });

  it('without an Origin, or from the issuer itself, is not a cross-origin request and gets no grant', async () => {
    for (const origin of [undefined, issuerOrigin]) {
      const res = await preflight('/login', origin);
      await expectError(res, 403, 'invalid_request');
      expect(res.headers.has('access-control-allow-origin')).toBe(false);
    }
  });

  it('is not answered at endpoints no browser app calls across origins', async () => {
    for (const path of ['/introspect', '/authorize', '/revocations', '/authorize/login'])
      await expectError(await preflight(path, WEB), 404, 'invalid_request');
  });

  it('a plain OPTIONS (no Access-Control-Request-Method) learns the methods', async () => {
    const res = await request(`${server.url}/userinfo`, { method: 'OPTIONS' });
    expect(res.status).toBe(204);
    expect(res.headers.get('allow')).toBe('GET, POST, OPTIONS');
  });
});

describe('an actual request', () => {
  it("from a web origin of the web client gets the grant with credentials, the refresh cookie, and the DPoP headers' exposure", async () => {
    const res = await login({ origin: WEB });
    expect(res.status).toBe(200);
    expect(res.headers.get('access-control-allow-origin')).toBe(WEB);
    expect(res.headers.get('access-control-allow-credentials')).toBe('true');
    expect(res.headers.get('access-control-expose-headers')?.split(', ').sort()).toEqual([
      'dpop-nonce',
      'www-authenticate',
    ]);
    expect(varies(res)).toContain('origin');
    // The cookie keeps every attribute it has on the issuer's own pages.
    const cookie = setCookie(res)!;
    expect(cookie.attributes.map((a) => a.toLowerCase())).toEqual(
      expect.arrayContaining(['httponly', 'secure', 'samesite=strict', 'path=/']),
    );

    const refreshed = await request(`${server.url}/token/refresh`, {
      method: 'POST',
      headers: { origin: WEB, 'x-tessera-csrf': '1', cookie: `${REFRESH_COOKIE}=${cookie.value}` },
    });
    expect(refreshed.status).toBe(200);
    expect(refreshed.headers.get('access-control-allow-origin')).toBe(WEB);
    expect(refreshed.headers.get('access-control-allow-credentials')).toBe('true');
    const { access_token } = (await refreshed.json()) as TokenBody;

    const me = await request(`${server.url}/userinfo`, {
      headers: { origin: WEB, authorization: `Bearer ${access_token}` },
    });
    expect(me.status).toBe(200);
    expect(me.headers.get('access-control-allow-origin')).toBe(WEB);

    const logout = await request(`${server.url}/logout`, {
      method: 'POST',
      headers: {
        origin: WEB,
        'x-tessera-csrf': '1',
        cookie: `${REFRESH_COOKIE}=${setCookie(refreshed)!.value}`,
      },
    });
    expect(logout.status).toBe(204);
    expect(logout.headers.get('access-control-allow-origin')).toBe(WEB);
  });

  it('is granted on error answers too, so the app can read the error and the challenge', async () => {
    const res = await request(`${server.url}/userinfo`, {
      headers: { origin: SPA, authorization: 'Bearer not-a-token' },
    });
    await expectError(res, 401, 'invalid_token');
    expect(res.headers.get('access-control-allow-origin')).toBe(SPA);
    expect(res.headers.has('access-control-allow-credentials')).toBe(false);
    expect(res.headers.get('access-control-expose-headers')).toContain('www-authenticate');
    expect(res.headers.get('www-authenticate')).toMatch(/^Bearer /);
  });

  it("from another client's origin is granted without credentials (its tokens travel in the body)", async () => {
    const res = await login({ origin: SPA }, { client_id: 'spa' });
    expect(res.status).toBe(200);
    expect(res.headers.get('access-control-allow-origin')).toBe(SPA);
    expect(res.headers.has('access-control-allow-credentials')).toBe(false);
    expect(setCookie(res)).toBeUndefined();
  });

  it('from an origin nobody registered gets no grant, even where the request itself is allowed', async () => {
    const res = await request(`${server.url}/userinfo`, {
      headers: { origin: EVIL, authorization: 'Bearer not-a-token' },
    });
    expect(res.status).toBe(401);
    expect(res.headers.has('access-control-allow-origin')).toBe(false);
    expect(varies(res)).toContain('origin');
  });

  it('from the issuer itself needs no grant and gets none', async () => {
    const res = await login({ origin: issuerOrigin });
    expect(res.status).toBe(200);
    expect(res.headers.has('access-control-allow-origin')).toBe(false);
  });
});

describe('the web client cookie checks (CSRF) with registered origins', () => {
  it('refuse a web-client login from any origin but the issuer and the web origins of the web client', async () => {
    for (const origin of [SPA, SPA_LISTED, EVIL, 'null', `${WEB}.evil.example`]) {
      const res = await login({ origin });
      const body = await expectError(res, 403, 'invalid_request');
      expect(body.error_description).toContain('web origin of the web client');
      expect(setCookie(res)).toBeUndefined();
    }
    // The spa may log in as itself from its origin (above), never as the web client.
    expect((await login({ origin: DEV })).status).toBe(200);
  });

  it("refuse a cookie refresh or logout from another client's origin, and still require the CSRF header", async () => {
    const cookie = setCookie(await login({ origin: WEB }))!.value;
    const attempt = (path: string, headers: Record<string, string>) =>
      request(`${server.url}${path}`, {
        method: 'POST',
        headers: { cookie: `${REFRESH_COOKIE}=${cookie}`, ...headers },
      });
    for (const path of ['/token/refresh', '/logout', '/logout/all']) {
      const refused: Record<string, string>[] = [
        { origin: SPA, 'x-tessera-csrf': '1' },
        { origin: EVIL, 'x-tessera-csrf': '1' },
        { origin: 'null', 'x-tessera-csrf': '1' },
        { origin: WEB }, // a registered origin without the CSRF header
        { 'x-tessera-csrf': '1' }, // no Origin at all
      ];
      for (const headers of refused) {
        const res = await attempt(path, headers);
        await expectError(res, 403, 'invalid_request');
      }
    }
    // Every refusal left the session as it was.
    expect((await attempt('/token/refresh', { origin: DEV, 'x-tessera-csrf': '1' })).status).toBe(200);
  });
});

describe('the public documents', () => {
  it('answer Access-Control-Allow-Origin: * to anyone, without credentials', async () => {
    for (const path of [
      '/.well-known/jwks.json',
      '/.well-known/openid-configuration',
      '/.well-known/oauth-authorization-server',
    ]) {
      for (const origin of [EVIL, 'null', WEB]) {
        const res = await request(`${server.url}${path}`, { headers: { origin } });
        expect(res.status).toBe(200);
        expect(res.headers.get('access-control-allow-origin')).toBe('*');
        expect(res.headers.has('access-control-allow-credentials')).toBe(false);
      }
      const pre = await preflight(path, EVIL, 'GET');
      expect(pre.status).toBe(204);
      expect(pre.headers.get('access-control-allow-origin')).toBe('*');
      expect(pre.headers.get('access-control-allow-methods')).toBe('GET');
      expect(pre.headers.has('access-control-allow-credentials')).toBe(false);
    }
  });
});

describe('a change of registrations', () => {
  it('reaches the server within the origin cache TTL, added or removed', async () => {
    const NEW = 'https://new.example.com';
    // Read once, so the list in memory predates the change.
    expect((await preflight('/token', NEW)).status).toBe(403);
    await server.services.clients.update('spa', { webOrigins: [SPA_LISTED, NEW] });
    server.advance(WEB_ORIGINS_TTL_MS);
    expect((await preflight('/token', NEW)).status).toBe(204);

    await server.services.clients.update('spa', { webOrigins: [SPA_LISTED] });
    server.advance(WEB_ORIGINS_TTL_MS);
    const res = await request(`${server.url}/userinfo`, {
      headers: { origin: NEW, authorization: 'Bearer not-a-token' },
    });
    expect(res.headers.has('access-control-allow-origin')).toBe(false);
  });
});

describe('the list of web origins each instance keeps', () => {
  /** The store as the list sees it: counts its reads, and fails them while `down`. */
  function store() {
    const state = { reads: 0, down: false };
    const clients = [
      { type: 'first-party', kind: null, redirectUris: [], webOrigins: [WEB] },
      { type: 'public', kind: 'spa', redirectUris: [`${SPA}/callback`], webOrigins: [] },
    ] as unknown as Client[];
    const list = async () => {
      state.reads += 1;
      if (state.down) throw new Error('connection refused');
      return clients;
    };
    return { state, list };
  }

  it('is read once per TTL, one read shared by every lookup meanwhile, and never for an unknown origin', async () => {
    const { state, list } = store();
    let now = 0;
    const origins = createWebOrigins({ list }, { webOrigins: [DEV] }, () => now);
    const asked = [WEB, SPA, DEV, EVIL, 'https://a.example', 'https://b.example'];
    const answers = await Promise.all(
      asked.flatMap((origin) => [origins.trust(origin), origins.trust(origin)]),
    );
    expect(answers).toEqual([
      'first-party',
      'first-party',
      'client',
      'client',
      'first-party',
      'first-party',
      ...new Array(6).fill(undefined),
    ]);
    expect(state.reads).toBe(1);
    now += WEB_ORIGINS_TTL_MS - 1;
    await origins.trust('https://c.example');
    expect(state.reads).toBe(1);
    now += 1;
    await origins.trust(WEB);
    expect(state.reads).toBe(2);
  });

  it('keeps answering from the last list while the store cannot be read; without one the error reaches the request', async () => {
    const { state, list } = store();
    let now = 0;
    const origins = createWebOrigins({ list }, { webOrigins: [] }, () => now);
    state.down = true;
    await expect(origins.trust(WEB)).rejects.toThrow('connection refused');
    state.down = false;
    expect(await origins.trust(WEB)).toBe('first-party');
    state.down = true;
    now += WEB_ORIGINS_TTL_MS;
    expect(await origins.trust(WEB)).toBe('first-party');
    expect(await origins.trust(EVIL)).toBeUndefined();
    // Each lookup after a failure tries the store again.
    expect(state.reads).toBe(4);
    state.down = false;
    expect(await origins.trust(SPA)).toBe('client');
    expect(state.reads).toBe(5);
    expect(await origins.trust(SPA)).toBe('client');
    expect(state.reads).toBe(5);
  });
});

describe('the webOrigins setting (TESSERA_WEB_ORIGINS)', () => {
  it('takes exact origins, comma-separated', () => {
    const config = loadConfig({ TESSERA_WEB_ORIGINS: 'http://localhost:5173, https://app.example.com' });
    expect(config.webOrigins).toEqual(['http://localhost:5173', 'https://app.example.com']);
    expect(loadConfig({}).webOrigins).toEqual([]);
  });

  it('refuses anything that is not an exact https (or loopback http) origin, naming the setting', () => {
    for (const value of [
      '*',
      'null',
      'https://*.example.com',
      'http://app.example.com',
      'https://app.example.com/',
      'https://app.example.com/path',
      'app.example.com',
    ]) {
      expect(() => loadConfig({ TESSERA_WEB_ORIGINS: value }), value).toThrow(ConfigError);
      expect(() => loadConfig({}, { 'web-origins': value }), value).toThrow(
        /webOrigins \(TESSERA_WEB_ORIGINS/,
      );
    }
  });
});
