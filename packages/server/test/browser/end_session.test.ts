/**
 * RP-initiated logout as a user lives it, in real Chromium: an app (a tiny relying party on a
 * loopback port, built on openid-client) signs the browser in through /authorize, then signs it out
 * with the URL openid-client's buildEndSessionUrl makes (id_token_hint, post_logout_redirect_uri,
 * state). The browser lands back on the app with its state, and the provider asks for the password
 * again. Without a hint the provider asks first: the confirmation page is checked with axe, held to
 * its Content Security Policy (whose form-action must let the redirect after the post through), and
 * its button signs the browser out.
 */
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import * as client from 'openid-client';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SSO_COOKIE } from '../../src/http/sso_cookies.js';
import { ADMIN_PASSWORD, stopServer, type TestServer } from '../helpers.js';
import { startRealServer } from '../real_server.js';
import {
  browserUnavailable,
  checkAccessibility,
  describeViolations,
  launchChromium,
  newPage,
  saveScreenshot,
  seriousViolations,
  VIEWPORTS,
} from './chromium.js';

/**
 * The relying party: `/login` starts the code flow, `/callback` exchanges the code and keeps the ID
 * token, `/logout` sends the browser to the provider's end-session endpoint, `/signed-out` is where
 * it comes back to (the app's registered post-logout redirect URI).
 */
class RelyingParty {
  config: client.Configuration | undefined;
  idToken: string | undefined;
  /** The query of each visit to /signed-out. */
  readonly signedOut: URLSearchParams[] = [];
  private readonly pending = new Map<string, { verifier: string; nonce: string }>();
  private readonly http: Server;
  origin = '';

  constructor(readonly name: string) {
    this.http = createServer((request, response) => {
      this.handle(request, response).catch((err: unknown) => {
        response.statusCode = 500;
        response.end(String(err));
      });
    });
  }

  get redirectUri(): string {
    return `${this.origin}/callback`;
  }

  get postLogoutRedirectUri(): string {
    return `${this.origin}/signed-out`;
  }

  async listen(): Promise<void> {
    this.http.listen(0, '127.0.0.1');
    await once(this.http, 'listening');
    this.origin = `http://127.0.0.1:${(this.http.address() as { port: number }).port}`;
  }

  async discover(issuer: string, clientId: string): Promise<void> {
    this.config = await client.discovery(new URL(issuer), clientId, undefined, client.None(), {
      execute: [client.allowInsecureRequests, client.enableNonRepudiationChecks],
    });
  }

  async close(): Promise<void> {
    this.http.closeAllConnections();
    this.http.close();
    await once(this.http, 'close');
  }

  private page(response: ServerResponse, heading: string): void {
    response
      .writeHead(200, { 'content-type': 'text/html; charset=utf-8' })
      .end(
        `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${this.name}</title></head>` +
          `<body><main><h1>${heading}</h1></main></body></html>`,
      );
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const url = new URL(request.url ?? '/', this.origin);
    const config = this.config!;
    if (url.pathname === '/login') {
      const verifier = client.randomPKCECodeVerifier();
      const state = client.randomState();
      const nonce = client.randomNonce();
      this.pending.set(state, { verifier, nonce });
      const authorization = client.buildAuthorizationUrl(config, {
        redirect_uri: this.redirectUri,
        scope: 'openid profile',
        code_challenge: await client.calculatePKCECodeChallenge(verifier),
        code_challenge_method: 'S256',
        state,
        nonce,
      });
      response.writeHead(302, { location: authorization.href }).end();
      return;
    }
    if (url.pathname === '/callback') {
      const state = url.searchParams.get('state') ?? '';
      const pending = this.pending.get(state);
      this.pending.delete(state);
      if (!pending) throw new Error('no authorization pending for this state');
      const tokens = await client.authorizationCodeGrant(config, url, {
        pkceCodeVerifier: pending.verifier,
        expectedState: state,
        expectedNonce: pending.nonce,
        idTokenExpected: true,
      });
      this.idToken = tokens.id_token;
      this.page(response, 'Signed in');
      return;
    }
    if (url.pathname === '/logout') {
      // RP-Initiated Logout 1.0 §2, as openid-client builds it (it adds client_id).
      const endSession = client.buildEndSessionUrl(config, {
        id_token_hint: this.idToken!,
        post_logout_redirect_uri: this.postLogoutRedirectUri,
        state: url.searchParams.get('state') ?? '',
      });
      response.writeHead(302, { location: endSession.href }).end();
      return;
    }
    if (url.pathname === '/logout-form') {
      // §2's form POST, from the app's own page: a cross-site post (the app is on 127.0.0.1, the
      // provider on localhost), which Chromium sends without the provider's SameSite=Lax cookie.
      const endSession = client.buildEndSessionUrl(config, {
        id_token_hint: this.idToken!,
        post_logout_redirect_uri: this.postLogoutRedirectUri,
        state: url.searchParams.get('state') ?? '',
      });
      const fields = [...endSession.searchParams]
        .map(([name, value]) => `<input type="hidden" name="${name}" value="${value}">`)
        .join('');
      response
        .writeHead(200, { 'content-type': 'text/html; charset=utf-8' })
        .end(
          `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${this.name}</title></head>` +
            `<body><main><h1>Sign out</h1><form method="post" action="${endSession.origin}${endSession.pathname}">` +
            `${fields}<button type="submit">Sign out of the provider</button></form></main></body></html>`,
        );
      return;
    }
    if (url.pathname === '/signed-out') {
      this.signedOut.push(url.searchParams);
      this.page(response, 'Signed out of the app');
      return;
    }
    response.writeHead(404).end();
  }
}

/** Messages Chromium logs when a page's Content Security Policy blocks something. */
function watchCsp(page: Page): string[] {
  const violations: string[] = [];
  page.on('console', (message) => {
    if (message.text().includes('Content Security Policy')) violations.push(message.text());
  });
  return violations;
}

describe.skipIf(browserUnavailable())('signing out of the provider from an app, in Chromium', () => {
  let server: TestServer;
  let issuer: string;
  let browser: Browser;
  const app = new RelyingParty('Notes');

  beforeAll(async () => {
    ({ server, issuer } = await startRealServer());
    await app.listen();
    await server.services.clients.add({
      clientId: 'notes',
      type: 'public',
      kind: 'spa',
      name: app.name,
      audiences: ['https://api.example'],
      scopes: ['openid', 'profile'],
      redirectUris: [app.redirectUri],
      postLogoutRedirectUris: [app.postLogoutRedirectUri],
      skipConsent: true,
    });
    await app.discover(issuer, 'notes');
    browser = await launchChromium();
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await app.close();
    if (server) await stopServer(server);
  });

  /** Signs the page's browser in to the app through the provider's sign-in page. */
  async function signIn(page: Page): Promise<void> {
    await page.goto(`${app.origin}/login`);
    await page.getByLabel('Username').fill('alice');
    await page.getByLabel('Password').fill(ADMIN_PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL((url) => url.href.startsWith(app.redirectUri));
    await expect(page.getByRole('heading', { level: 1 }).textContent()).resolves.toBe('Signed in');
  }

  /** The browser's SSO cookie, if it still has one, and whether it stands for a live session. */
  async function ssoSessionLive(page: Page): Promise<boolean> {
    const cookie = (await page.context().cookies(issuer)).find((c) => c.name === SSO_COOKIE);
    return cookie !== undefined && (await server.services.ssoSessions.byCookie(cookie.value)) !== undefined;
  }

  /** After a sign-out, a new sign-in at the app asks for the password again. */
  async function expectSignInAsked(page: Page): Promise<void> {
    await page.goto(`${app.origin}/login`);
    expect(page.url().startsWith(`${issuer}/authorize?`)).toBe(true);
    await expect(page.getByRole('heading', { level: 1 }).textContent()).resolves.toContain('Sign in');
    await expect(page.getByLabel('Password').count()).resolves.toBe(1);
  }

  it('signs out at once with the URL buildEndSessionUrl makes, and lands on the app with its state', async () => {
    const page = await newPage(browser, VIEWPORTS.light);
    const cspViolations = watchCsp(page);
    await signIn(page);
    expect(await ssoSessionLive(page)).toBe(true);
    const before = app.signedOut.length;
    await page.goto(`${app.origin}/logout?state=bye-123`);
    await page.waitForURL((url) => url.href.startsWith(app.postLogoutRedirectUri));
    expect(page.url()).toBe(`${app.postLogoutRedirectUri}?state=bye-123`);
    expect(app.signedOut.length).toBe(before + 1);
    expect(app.signedOut.at(-1)!.get('state')).toBe('bye-123');
    // The SSO session is gone: the cookie is cleared and the provider asks for the password again.
    expect(await ssoSessionLive(page)).toBe(false);
    await expectSignInAsked(page);
    expect(cspViolations).toEqual([]);
    await page.context().close();
  });

  it('signs out with a cross-site form POST, which carries no SSO cookie, once it follows the 303', async () => {
    const page = await newPage(browser, VIEWPORTS.light);
    const cspViolations = watchCsp(page);
    await signIn(page);
    expect(await ssoSessionLive(page)).toBe(true);
    await page.goto(`${app.origin}/logout-form?state=posted-1`);
    await page.getByRole('button', { name: 'Sign out of the provider' }).click();
    await page.waitForURL((url) => url.href.startsWith(app.postLogoutRedirectUri));
    expect(page.url()).toBe(`${app.postLogoutRedirectUri}?state=posted-1`);
    // Signed out of the provider, not only of the hinted session.
    expect(await ssoSessionLive(page)).toBe(false);
    await expectSignInAsked(page);
    expect(cspViolations).toEqual([]);
    await page.context().close();
  });

  it('asks first without a hint, and its button signs the browser out and sends it back', async () => {
    const page = await newPage(browser, VIEWPORTS.light);
    const cspViolations = watchCsp(page);
    await signIn(page);
    const endSession = new URL(`${issuer}/logout/end`);
    endSession.search = new URLSearchParams({
      client_id: 'notes',
      post_logout_redirect_uri: app.postLogoutRedirectUri,
      state: 'asked-1',
    }).toString();
    const response = await page.goto(endSession.href);
    expect(response?.status()).toBe(200);
    await expect(page.getByRole('heading', { level: 1 }).textContent()).resolves.toBe(
      `Sign out of ${issuer}?`,
    );
    // Showing the page ended nothing.
    expect(await ssoSessionLive(page)).toBe(true);
    await saveScreenshot(page, 'end-session-light');
    const violations = await checkAccessibility(page);
    expect(seriousViolations(violations), describeViolations(violations)).toEqual([]);
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForURL((url) => url.href.startsWith(app.postLogoutRedirectUri));
    expect(page.url()).toBe(`${app.postLogoutRedirectUri}?state=asked-1`);
    expect(await ssoSessionLive(page)).toBe(false);
    await expectSignInAsked(page);
    expect(cspViolations).toEqual([]);
    await page.context().close();
  });

  it('without anywhere to go back to, shows that the browser is signed out, usable at a phone width', async () => {
    const page = await newPage(browser, VIEWPORTS.narrow);
    const cspViolations = watchCsp(page);
    await signIn(page);
    await page.goto(`${issuer}/logout/end`);
    await saveScreenshot(page, 'end-session-narrow');
    const asked = await checkAccessibility(page);
    expect(seriousViolations(asked), describeViolations(asked)).toEqual([]);
    await page.getByRole('button', { name: 'Sign out' }).click();
    await expect(page.getByRole('heading', { level: 1 }).textContent()).resolves.toBe('You are signed out');
    await saveScreenshot(page, 'signed-out-narrow');
    const done = await checkAccessibility(page);
    expect(seriousViolations(done), describeViolations(done)).toEqual([]);
    expect(await ssoSessionLive(page)).toBe(false);
    expect(cspViolations).toEqual([]);
    await page.context().close();
  });
});
