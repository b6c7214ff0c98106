/**
 * CORS as Chromium enforces it (http/cors.ts): a page on one origin calls the server on another.
 * The web client's registered origin logs in with `credentials: 'include'`, keeps the
 * `__Host-tessera_refresh` cookie (HttpOnly, Secure, SameSite=Strict: `localhost` on another port is
 * the same site) and refreshes with it; another client's origin gets CORS without credentials and
 * reads the challenge header it exposes; an unregistered origin gets nothing through.
 */
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_PASSWORD, stopServer, type TestServer } from '../helpers.js';
import { startRealServer } from '../real_server.js';
import { browserUnavailable, launchChromium, newPage } from './chromium.js';

/** A blank page on its own origin (`http://localhost:<port>`), for scripts to run fetch from. */
async function blankPageServer(): Promise<{ origin: string; http: Server }> {
  const http = createServer((_request, response) => {
    response.setHeader('content-type', 'text/html; charset=utf-8');
    response.end('<!doctype html><html lang="en"><title>app</title><h1>app</h1></html>');
  });
  http.listen(0, '127.0.0.1');
  await once(http, 'listening');
  return { origin: `http://localhost:${(http.address() as { port: number }).port}`, http };
}

/** What a fetch made by the page came to: the status and what the script could read, or the failure. */
interface Outcome {
  status?: number;
  body?: Record<string, unknown>;
  challenge?: string | null;
  failure?: string;
}

/** Runs `fetch(url, init)` inside the page, as the page's own script would. */
function fetchFromPage(page: Page, url: string, init: RequestInit): Promise<Outcome> {
  return page.evaluate(
    async ({ url, init }) => {
      try {
        const response = await fetch(url, init);
        const text = await response.text();
        return {
          status: response.status,
          body: text ? (JSON.parse(text) as Record<string, unknown>) : {},
          challenge: response.headers.get('www-authenticate'),
        };
      } catch (err) {
        return { failure: String(err) };
      }
    },
    { url, init: init as Record<string, unknown> },
  );
}

describe.skipIf(browserUnavailable())('a browser app on another origin, in Chromium', () => {
  let server: TestServer;
  let issuer: string;
  let browser: Browser;
  let page: Page;
  const pages: Server[] = [];
  let webApp = '';
  let spaApp = '';
  let stranger = '';

  beforeAll(async () => {
    const [web, spa, other] = await Promise.all([blankPageServer(), blankPageServer(), blankPageServer()]);
    pages.push(web.http, spa.http, other.http);
    [webApp, spaApp, stranger] = [web.origin, spa.origin, other.origin];
    ({ server, issuer } = await startRealServer());
    // As `tessera client update web --web-origin …` and `tessera client add … --web-origin …` do.
    await server.services.clients.update('web', { webOrigins: [webApp] });
    await server.services.clients.add({
      clientId: 'spa',
      type: 'public',
      kind: 'spa',
      audiences: [],
      scopes: ['openid'],
      redirectUris: [`${spaApp}/callback`],
    });
    browser = await launchChromium();
    page = await newPage(browser);
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    for (const http of pages) {
      http.close();
      http.closeAllConnections();
    }
    if (server) await stopServer(server);
  });

  it("logs in from the web client's origin, keeps the refresh cookie and refreshes with it", async () => {
    await page.goto(`${webApp}/`);
    const login = await fetchFromPage(page, `${issuer}/login`, {
      method: 'POST',
      credentials: 'include',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'alice', password: ADMIN_PASSWORD }),
    });
    expect(login.failure).toBeUndefined();
    expect(login.status).toBe(200);
    expect(login.body).not.toHaveProperty('refresh_token');
    const first = login.body!.access_token as string;

    // The browser kept the cookie as the server set it, out of the page's reach.
    const cookies = await page.context().cookies(issuer);
    expect(cookies.find((c) => c.name === '__Host-tessera_refresh')).toMatchObject({
      httpOnly: true,
      secure: true,
      sameSite: 'Strict',
      path: '/',
    });
    const readable = await page.evaluate(
      () => (globalThis as unknown as { document: { cookie: string } }).document.cookie,
    );
    expect(readable).not.toContain('tessera_refresh');

    // No body: the refresh token is the cookie, which the browser sends only if it kept it.
    const refresh = await fetchFromPage(page, `${issuer}/token/refresh`, {
      method: 'POST',
      credentials: 'include',
      headers: { 'x-tessera-csrf': '1' },
    });
    expect(refresh.failure).toBeUndefined();
    expect(refresh.status).toBe(200);
    expect(refresh.body!.access_token).toEqual(expect.any(String));
    expect(refresh.body!.access_token).not.toBe(first);

    const logout = await fetchFromPage(page, `${issuer}/logout`, {
      method: 'POST',
      credentials: 'include',
      headers: { 'x-tessera-csrf': '1' },
    });
    expect(logout.status).toBe(204);
    const after = await fetchFromPage(page, `${issuer}/token/refresh`, {
      method: 'POST',
      credentials: 'include',
      headers: { 'x-tessera-csrf': '1' },
    });
    expect(after.status).toBe(400);
  });

  it("gives another client's origin CORS without credentials, and the challenge header to read", async () => {
    await page.goto(`${spaApp}/`);
    const bearer = await fetchFromPage(page, `${issuer}/userinfo`, {
      headers: { authorization: 'Bearer not-a-token' },
    });
    expect(bearer.failure).toBeUndefined();
    expect(bearer.status).toBe(401);
    expect(bearer.body).toMatchObject({ error: 'invalid_token' });
    // Readable only because the server exposes it (Access-Control-Expose-Headers).
    expect(bearer.challenge).toMatch(/^Bearer error="invalid_token"/);

    // A credentialed call is refused by the browser: no Access-Control-Allow-Credentials here.
    const credentialed = await fetchFromPage(page, `${issuer}/token/refresh`, {
      method: 'POST',
      credentials: 'include',
      headers: { 'x-tessera-csrf': '1' },
    });
    expect(credentialed.failure).toMatch(/TypeError/);
  });

  it('lets nothing through to an origin nobody registered, but the public documents', async () => {
    await page.goto(`${stranger}/`);
    const login = await fetchFromPage(page, `${issuer}/login`, {
      method: 'POST',
      credentials: 'include',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'alice', password: ADMIN_PASSWORD }),
    });
    expect(login.failure).toMatch(/TypeError/);
    const userinfo = await fetchFromPage(page, `${issuer}/userinfo`, {
      headers: { authorization: 'Bearer not-a-token' },
    });
    expect(userinfo.failure).toMatch(/TypeError/);
    const jwks = await fetchFromPage(page, `${issuer}/.well-known/jwks.json`, {});
    expect(jwks.status).toBe(200);
    expect(jwks.body!.keys).toEqual(expect.any(Array));
  });
});
