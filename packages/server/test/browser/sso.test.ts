/**
 * Single sign-on as a user lives it, in real Chromium: two apps (tiny relying parties on loopback
 * ports, each exchanging its code with openid-client) send the browser to the provider. The first
 * asks for the password and consent; the second only for consent; a return visit shows no page at
 * all; `prompt=login` asks for the password again. Along the way the pages are checked with axe,
 * photographed at a laptop's and a phone's width, and held to their Content Security Policy.
 */
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import * as client from 'openid-client';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STYLESHEET_PATH } from '../../src/http/pages/stylesheet.js';
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

const SCOPE = 'openid profile email';
/** A second user, who has consented to nothing yet. */
const BOB_PASSWORD = 'another correct horse battery staple';

/** What a relying party saw come back to its redirect URI, and what became of it. */
interface Callback {
  query: URLSearchParams;
  /** The ID token's `sub` when the code exchange succeeded. */
  subject?: string;
  /** Why openid-client refused the response or the exchange. */
  failure?: string;
}

/**
 * A relying party as small as can be: `/login` sends the browser to the provider with a fresh PKCE
 * verifier, state and nonce (extra query parameters, such as `prompt`, go along); `/callback`
 * exchanges the code with openid-client, which checks everything the standards ask a client to
 * check, and says who signed in.
 */
class RelyingParty {
  readonly callbacks: Callback[] = [];
  private config: client.Configuration | undefined;
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

  get loginUrl(): string {
    return `${this.origin}/login`;
  }

  async listen(): Promise<void> {
    this.http.listen(0, '127.0.0.1');
    await once(this.http, 'listening');
    this.origin = `http://127.0.0.1:${(this.http.address() as { port: number }).port}`;
  }

  async discover(issuer: string, clientId: string, auth: client.ClientAuth): Promise<void> {
    this.config = await client.discovery(new URL(issuer), clientId, undefined, auth, {
      execute: [client.allowInsecureRequests, client.enableNonRepudiationChecks],
    });
  }

  async close(): Promise<void> {
    this.http.closeAllConnections();
    this.http.close();
    await once(this.http, 'close');
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
        ...Object.fromEntries(url.searchParams),
        redirect_uri: this.redirectUri,
        scope: SCOPE,
        code_challenge: await client.calculatePKCECodeChallenge(verifier),
        code_challenge_method: 'S256',
        state,
        nonce,
      });
      response.writeHead(302, { location: authorization.href }).end();
      return;
    }
    if (url.pathname === '/callback') {
      const callback: Callback = { query: url.searchParams };
      this.callbacks.push(callback);
      const state = url.searchParams.get('state') ?? '';
      const pending = this.pending.get(state);
      this.pending.delete(state);
      try {
        if (!pending) throw new Error('no authorization pending for this state');
        const tokens = await client.authorizationCodeGrant(config, url, {
          pkceCodeVerifier: pending.verifier,
          expectedState: state,
          expectedNonce: pending.nonce,
          idTokenExpected: true,
        });
        callback.subject = tokens.claims()!.sub;
      } catch (err) {
        const cause = (err as { cause?: unknown }).cause;
        callback.failure = `${String(err)}${cause ? ` (${JSON.stringify(cause)})` : ''}`;
      }
      const text = callback.subject !== undefined ? `Signed in as ${callback.subject}` : 'Sign-in failed';
      response
        .writeHead(callback.subject !== undefined ? 200 : 500, { 'content-type': 'text/html; charset=utf-8' })
        .end(
          `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${this.name}</title></head>` +
            `<body><main><h1>${escapeHtml(text)}</h1></main></body></html>`,
        );
      return;
    }
    response.writeHead(404).end();
  }
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** Messages Chromium logs when a page's Content Security Policy blocks something. */
function watchCsp(page: Page): string[] {
  const violations: string[] = [];
  page.on('console', (message) => {
    if (message.text().includes('Content Security Policy')) violations.push(message.text());
  });
  return violations;
}

/** The lengths of the page's stylesheets' rule lists (the DOM types are not in this package's lib). */
interface StyledDocument {
  document: { styleSheets: ArrayLike<{ href: string | null; cssRules: ArrayLike<unknown> }> };
}

describe.skipIf(browserUnavailable())('single sign-on across two apps in Chromium', () => {
  let server: TestServer;
  let issuer: string;
  let aliceId: string;
  let browser: Browser;
  const gallery = new RelyingParty('Photo Gallery');
  const recipes = new RelyingParty('Recipe Box');

  beforeAll(async () => {
    ({ server, issuer } = await startRealServer());
    aliceId = (await server.services.users.byUsername('alice'))!.id;
    await server.services.users.create('bob', BOB_PASSWORD);
    await gallery.listen();
    await recipes.listen();
    // App A is a server-side web app with a secret; app B a single-page app without one.
    const { secret } = await server.services.clients.add({
      clientId: 'gallery',
      type: 'confidential',
      kind: 'web',
      name: gallery.name,
      audiences: ['https://api.example'],
      scopes: ['openid', 'profile', 'email'],
      redirectUris: [gallery.redirectUri],
      tokenEndpointAuthMethod: 'client_secret_basic',
    });
    await server.services.clients.add({
      clientId: 'recipes',
      type: 'public',
      kind: 'spa',
      name: recipes.name,
      audiences: ['https://api.example'],
      scopes: ['openid', 'profile', 'email'],
      redirectUris: [recipes.redirectUri],
    });
    await gallery.discover(issuer, 'gallery', client.ClientSecretBasic(secret!));
    await recipes.discover(issuer, 'recipes', client.None());
    browser = await launchChromium();
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await gallery.close();
    await recipes.close();
    if (server) await stopServer(server);
  });

  /** Waits for the browser to land on `app` and for the app to say who signed in. */
  async function expectSignedIn(page: Page, app: RelyingParty): Promise<void> {
    await page.waitForURL((url) => url.href.startsWith(app.redirectUri));
    const callback = app.callbacks.at(-1)!;
    expect(callback.query.get('iss')).toBe(issuer);
    expect(callback.failure).toBeUndefined();
    expect(callback.subject).toBe(aliceId);
    await expect(page.getByRole('heading', { level: 1 }).textContent()).resolves.toBe(
      `Signed in as ${aliceId}`,
    );
  }

  describe('one browser, two apps', () => {
    let context: BrowserContext;
    let page: Page;
    let cspViolations: string[];

    beforeAll(async () => {
      page = await newPage(browser, VIEWPORTS.light);
      context = page.context();
      cspViolations = watchCsp(page);
    });
    afterAll(() => context?.close());

    it('asks for the password and consent on the first visit, then app A gets its code', async () => {
      const stylesheet = page.waitForResponse((response) => response.url() === `${issuer}${STYLESHEET_PATH}`);
      const response = await page.goto(gallery.loginUrl);
      expect(response?.url().startsWith(`${issuer}/authorize?`)).toBe(true);
      expect(response?.status()).toBe(200);

      // The page's policy allows no inline code at all, and its one stylesheet loads under it.
      const policy = response?.headers()['content-security-policy'] ?? '';
      expect(policy).toContain("default-src 'none'");
      expect(policy).toContain("style-src 'self'");
      expect(policy).not.toContain('unsafe-inline');
      expect((await stylesheet).status()).toBe(200);
      const rules = await page.evaluate(() =>
        Array.from((globalThis as unknown as StyledDocument).document.styleSheets, (sheet) => ({
          href: sheet.href,
          rules: sheet.cssRules.length,
        })),
      );
      expect(rules).toEqual([{ href: `${issuer}${STYLESHEET_PATH}`, rules: expect.any(Number) }]);
      expect(rules[0]!.rules).toBeGreaterThan(0);

      await expect(page.getByRole('heading', { level: 1 }).textContent()).resolves.toContain('Sign in');
      await expect(page.getByRole('heading', { level: 1 }).textContent()).resolves.toContain(gallery.name);
      await saveScreenshot(page, 'login-light');
      const loginViolations = await checkAccessibility(page);
      expect(seriousViolations(loginViolations), describeViolations(loginViolations)).toEqual([]);

      await page.getByLabel('Username').fill('alice');
      await page.getByLabel('Password').fill(ADMIN_PASSWORD);
      await page.getByRole('button', { name: 'Sign in' }).click();

      // Not first-party: the user is asked.
      await expect(page.getByRole('heading', { level: 1 }).textContent()).resolves.toBe(
        `${gallery.name} wants access to your account`,
      );
      await saveScreenshot(page, 'consent-light');
      const consentViolations = await checkAccessibility(page);
      expect(seriousViolations(consentViolations), describeViolations(consentViolations)).toEqual([]);
      await page.getByRole('button', { name: 'Allow' }).click();

      await expectSignedIn(page, gallery);
      expect(cspViolations).toEqual([]);
    });

    it('signs in to app B without the password (single sign-on), asking only for consent', async () => {
      await page.goto(recipes.loginUrl);
      await expect(page.getByRole('heading', { level: 1 }).textContent()).resolves.toBe(
        `${recipes.name} wants access to your account`,
      );
      expect(await page.getByLabel('Password').count()).toBe(0);
      await page.getByRole('button', { name: 'Allow' }).click();
      await expectSignedIn(page, recipes);
      expect(cspViolations).toEqual([]);
    });

    it('sends the browser straight back to app A with a code on a return visit, showing no page', async () => {
      const fromProvider: { url: string; status: number }[] = [];
      const listener = (response: { url(): string; status(): number }) => {
        if (response.url().startsWith(issuer))
          fromProvider.push({ url: response.url(), status: response.status() });
      };
      page.on('response', listener);
      const callbacksBefore = gallery.callbacks.length;
      await page.goto(gallery.loginUrl);
      page.off('response', listener);
      await expectSignedIn(page, gallery);
      expect(gallery.callbacks.length).toBe(callbacksBefore + 1);
      // The provider answered with one redirect and nothing else: no page was shown.
      expect(fromProvider).toEqual([{ url: expect.stringMatching(/\/authorize\?/), status: 303 }]);
    });

    it('asks for the password again with prompt=login (OIDC Core §3.1.2.1), as "Confirm it\'s you"', async () => {
      await page.goto(`${gallery.loginUrl}?prompt=login`);
      await expect(page.getByRole('heading', { level: 1 }).textContent()).resolves.toContain(
        "Confirm it's you",
      );
      // The account is the one signed in: its name is filled in, only the password is asked.
      await expect(page.getByLabel('Username').inputValue()).resolves.toBe('alice');
      await page.getByLabel('Password').fill(ADMIN_PASSWORD);
      await page.getByRole('button', { name: 'Sign in' }).click();
      // Consent was given on the first visit: straight back to the app.
      await expectSignedIn(page, gallery);
      expect(cspViolations).toEqual([]);
    });
  });

  it('keeps the username and announces a wrong password in the alert region', async () => {
    const page = await newPage(browser, VIEWPORTS.light);
    const cspViolations = watchCsp(page);
    await page.goto(gallery.loginUrl);
    await page.getByLabel('Username').fill('alice');
    await page.getByLabel('Password').fill('not the password');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect(page.getByRole('alert').textContent()).resolves.toContain(
      'The username or password is not right.',
    );
    await expect(page.getByLabel('Username').inputValue()).resolves.toBe('alice');
    await expect(page.getByLabel('Password').inputValue()).resolves.toBe('');
    const violations = await checkAccessibility(page);
    expect(seriousViolations(violations), describeViolations(violations)).toEqual([]);
    expect(cspViolations).toEqual([]);
    await page.context().close();
  });

  it('shows the login and consent pages usably at a phone width', async () => {
    const page = await newPage(browser, VIEWPORTS.narrow);
    const cspViolations = watchCsp(page);
    await page.goto(recipes.loginUrl);
    await saveScreenshot(page, 'login-narrow');
    const loginViolations = await checkAccessibility(page);
    expect(seriousViolations(loginViolations), describeViolations(loginViolations)).toEqual([]);
    // Bob has not allowed any app yet, so the consent page follows.
    await page.getByLabel('Username').fill('bob');
    await page.getByLabel('Password').fill(BOB_PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect(page.getByRole('heading', { level: 1 }).textContent()).resolves.toBe(
      `${recipes.name} wants access to your account`,
    );
    await saveScreenshot(page, 'consent-narrow');
    const consentViolations = await checkAccessibility(page);
    expect(seriousViolations(consentViolations), describeViolations(consentViolations)).toEqual([]);
    expect(cspViolations).toEqual([]);
    await page.context().close();
  });

  it('shows an error page, and redirects nowhere, for a redirect URI the app did not register', async () => {
    const page = await newPage(browser, VIEWPORTS.light);
    const elsewhere: string[] = [];
    page.on('request', (request) => {
      if (!request.url().startsWith(issuer)) elsewhere.push(request.url());
    });
    const authorization = new URL(`${issuer}/authorize`);
    authorization.search = new URLSearchParams({
      client_id: 'recipes',
      redirect_uri: 'http://127.0.0.1:9/attacker',
      response_type: 'code',
      scope: SCOPE,
      code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()),
      code_challenge_method: 'S256',
    }).toString();
    const response = await page.goto(authorization.href);
    // RFC 6749 §4.1.2.1: the user is told, and the unregistered URI is never visited.
    expect(response?.status()).toBe(400);
    expect(page.url()).toBe(authorization.href);
    expect(elsewhere).toEqual([]);
    await expect(page.getByRole('heading', { level: 1 }).textContent()).resolves.toBe('Invalid redirect');
    await saveScreenshot(page, 'error-light');
    const violations = await checkAccessibility(page);
    expect(seriousViolations(violations), describeViolations(violations)).toEqual([]);
    await page.context().close();
  });
});
