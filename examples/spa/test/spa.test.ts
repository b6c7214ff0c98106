import { mkdtempSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Guard } from '@tessera/guard';
import type { FastifyInstance } from 'fastify';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, loadConfig, type TesseraServer } from '../../../packages/server/src/index.js';
import {
  browserUnavailable,
  checkAccessibility,
  describeViolations,
  launchChromium,
  newPage,
  saveScreenshot,
  seriousViolations,
  VIEWPORTS,
} from '../../../packages/server/test/browser/chromium.js';
import { buildApp } from '../../orders-api/app.js';
import { createSpaServer } from '../spa_server.js';

// The README's walkthrough as a test: a real Tessera server in this process (from the sources), the
// orders API behind its guard, and the app's static server, each on a port of its own; the app is
// registered as a web origin of the first-party `web` client, and a user signs in in Chromium.

const PASSWORD = 'correct horse battery staple';
const FULL_NAME = 'Alice Liddell';

let dataDir: string;
let tessera: TesseraServer;
let issuer: string;
let orders: { app: FastifyInstance; guard: Guard; url: string };
let spa: { server: Server; url: string };
/** What the static server logged. */
const logLines: string[] = [];

/** A port free right now: the issuer and the app's origin must name the ports they will listen on. */
async function freePort(): Promise<number> {
  const probe = createNetServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as { port: number };
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'spa-test-'));
  // The app on localhost:<port> and Tessera on localhost:<port>: the same site, as the README runs
  // them, so the browser sends Tessera's SameSite=Strict refresh cookie with the app's requests.
  const tesseraPort = await freePort();
  const spaUrl = `http://localhost:${await freePort()}`;
  const config = loadConfig(
    {},
    {},
    {
      dataDir,
      port: tesseraPort,
      issuer: `http://localhost:${tesseraPort}`,
      masterKey: 'A'.repeat(43),
      logLevel: 'silent',
    },
  );
  tessera = await createServer(config, { logger: false });
  issuer = config.issuer;
  const { users, clients } = tessera.services;
  await users.create('alice', PASSWORD, { name: FULL_NAME });
  // As the README's `tessera client update web --web-origin … --scope …` does.
  await clients.update('web', {
    webOrigins: [spaUrl],
    scopes: ['openid', 'profile', 'offline_access', 'orders:write'],
  });
  const { secret } = await clients.add({
    clientId: 'orders-api',
    type: 'confidential',
    audiences: [config.audience],
    scopes: [],
  });
  await tessera.listen();

  const { app, guard } = await buildApp({
    issuer,
    audience: config.audience,
    client: { id: 'orders-api', secret: secret! },
    logger: false,
    corsOrigins: [spaUrl],
  });
  orders = { app, guard, url: await app.listen({ host: '127.0.0.1', port: 0 }) };
  await guard.ready();

  const server = await createSpaServer({
    issuer,
    ordersApi: orders.url,
    log: (line: string) => logLines.push(line),
  });
  await new Promise<void>((resolve) => server.listen(Number(new URL(spaUrl).port), 'localhost', resolve));
  spa = { server, url: spaUrl };
});

afterAll(async () => {
  spa?.server.closeAllConnections();
  if (spa) await new Promise((resolve) => spa.server.close(resolve));
  await orders?.app.close();
  await tessera?.close();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

describe('the static server', () => {
  it('serves the page with a strict Content Security Policy: nothing inline, connections to Tessera and the API only', async () => {
    const response = await fetch(`${spa.url}/`);
    expect(response.status).toBe(200);
    const csp = response.headers.get('content-security-policy')!;
    expect(csp.split('; ')).toEqual([
      "default-src 'none'",
      "script-src 'self'",
      "style-src 'self'",
      "img-src 'self'",
      `connect-src ${issuer} ${new URL(orders.url).origin}`,
      "form-action 'none'",
      "base-uri 'none'",
      "frame-ancestors 'none'",
      "require-trusted-types-for 'script'",
      "trusted-types 'none'",
    ]);
    expect(response.headers.get('x-content-type-options')).toBe('nosniff');
    const html = await response.text();
    expect(html).toContain(`<meta name="tessera-issuer" content="${issuer}">`);
    // No inline script or style for the CSP to refuse: every script and style is a file of its own.
    expect(html).not.toMatch(/<script(?![^>]*\ssrc=)[^>]*>/);
    expect(html).not.toMatch(/<style|\sstyle=|\son\w+=/);
  });

  it('serves the bundle with the client, and nothing but its four files', async () => {
    const script = await fetch(`${spa.url}/app.js`);
    expect(script.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect((await script.text()).length).toBeGreaterThan(1000);
    expect(logLines.some((line) => /^app\.js with @tessera\/client: .* gzipped\)$/.test(line))).toBe(true);
    expect((await fetch(`${spa.url}/../package.json`)).status).toBe(404);
    expect((await fetch(`${spa.url}/spa_server.js`)).status).toBe(404);
    expect((await fetch(`${spa.url}/`, { method: 'POST' })).status).toBe(405);
  });
});

describe('the orders API lets the app’s origin call it, and no other', () => {
  const preflight = (origin: string) =>
    fetch(`${orders.url}/orders`, {
      method: 'OPTIONS',
      headers: {
        origin,
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'authorization, content-type, dpop',
      },
    });

  it('answers the app’s preflight, without credentials', async () => {
    const response = await preflight(spa.url);
    expect(response.status).toBe(204);
    expect(response.headers.get('access-control-allow-origin')).toBe(spa.url);
    expect(response.headers.get('access-control-allow-headers')).toBe('authorization, content-type, dpop');
    expect(response.headers.get('access-control-allow-credentials')).toBeNull();
  });

  it('gives another origin no CORS headers, so its pages cannot read the answers', async () => {
    for (const origin of ['http://localhost:1', 'http://evil.example', 'null']) {
      const response = await preflight(origin);
      expect(response.headers.get('access-control-allow-origin')).toBeNull();
      const read = await fetch(`${orders.url}/healthz`, { headers: { origin } });
      expect(read.headers.get('access-control-allow-origin')).toBeNull();
      expect(read.headers.get('vary')).toContain('origin');
    }
  });
});

/** What the page keeps where scripts can read it: Web Storage, cookies, IndexedDB, Cache Storage. */
interface InPage {
  localStorage: WebStorage;
  sessionStorage: WebStorage;
  document: { cookie: string };
  indexedDB: {
    databases(): Promise<{ name?: string }[]>;
    open(name: string): { result: IdbDatabase; onsuccess: () => void; onerror: () => void };
  };
  caches: { keys(): Promise<string[]> };
}
interface WebStorage {
  length: number;
  key(index: number): string | null;
  getItem(key: string): string | null;
}
interface IdbDatabase {
  objectStoreNames: ArrayLike<string>;
  transaction(store: string): {
    objectStore(name: string): {
      getAll(): { result: unknown[]; onsuccess: () => void };
      getAllKeys(): { result: unknown[]; onsuccess: () => void };
    };
  };
  close(): void;
}

/** Everything in the page's storage as text (a CryptoKey shows as its algorithm and extractability). */
function storageDump(page: Page): Promise<string> {
  return page.evaluate(async () => {
    const w = globalThis as unknown as InPage;
    const found: string[] = [w.document.cookie];
    for (const storage of [w.localStorage, w.sessionStorage]) {
      for (let i = 0; i < storage.length; i++) {
        const key = storage.key(i)!;
        found.push(key, storage.getItem(key) ?? '');
      }
    }
    const request = <T>(r: { result: T; onsuccess: () => void }) =>
      new Promise<T>((resolve) => {
        r.onsuccess = () => resolve(r.result);
      });
    for (const { name } of await w.indexedDB.databases()) {
      if (!name) continue;
      const opening = w.indexedDB.open(name);
      const db = await new Promise<IdbDatabase>((resolve, reject) => {
        opening.onsuccess = () => resolve(opening.result);
        opening.onerror = reject;
      });
      for (const store of Array.from(db.objectStoreNames)) {
        const objects = db.transaction(store).objectStore(store);
        const keys = await request(objects.getAllKeys());
        const values = await request(objects.getAll());
        found.push(
          store,
          JSON.stringify(keys),
          JSON.stringify(values, (_key, value) =>
            value?.constructor?.name === 'CryptoKey'
              ? { algorithm: value.algorithm, extractable: value.extractable, type: value.type }
              : value,
          ),
        );
      }
      db.close();
    }
    found.push(...(await w.caches.keys()));
    return found.join('\n');
  });
}

describe.skipIf(browserUnavailable())('the app in a real browser', () => {
  let browser: Browser;
  let page: Page;
  /** Every access token Tessera handed the page, read off the wire: none may be kept anywhere. */
  const issued: string[] = [];

  beforeAll(async () => {
    browser = await launchChromium();
    page = await newPage(browser);
    page.context().on('response', async (response) => {
      if (!response.url().startsWith(issuer) || !response.ok()) return;
      const body = await response.json().catch(() => undefined);
      if (typeof body?.access_token === 'string') issued.push(body.access_token);
    });
  });

  afterAll(async () => {
    await browser?.close();
  });

  const signIn = async (target: Page) => {
    await target.getByRole('heading', { name: 'Sign in' }).waitFor();
    await target.getByLabel('Username').fill('alice');
    await target.getByLabel('Password').fill(PASSWORD);
    await target.getByRole('button', { name: 'Sign in' }).click();
    await target.getByRole('heading', { name: `Hello, ${FULL_NAME}` }).waitFor();
  };

  it('shows the sign-in form to a visitor, accessible at 360 px wide', async () => {
    await page.setViewportSize({ width: VIEWPORTS.narrow.width, height: VIEWPORTS.narrow.height });
    await page.goto(`${spa.url}/`);
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    const violations = await checkAccessibility(page);
    expect(seriousViolations(violations), describeViolations(violations)).toEqual([]);
    // Nothing is wider than the screen: no sideways scrolling on a phone.
    expect(await page.evaluate(() => (globalThis as unknown as InPageSize).document.body.scrollWidth)).toBe(
      VIEWPORTS.narrow.width,
    );
    await saveScreenshot(page, 'spa-sign-in-narrow');
  });

  it('says so when the password is wrong, and signs nobody in', async () => {
    await page.getByLabel('Username').fill('alice');
    await page.getByLabel('Password').fill('not the password');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('alert').filter({ hasText: 'do not match' }).waitFor();
    expect(await page.getByRole('heading', { name: 'Sign in' }).isVisible()).toBe(true);
  });

  it('signs in, shows the user’s name, a DPoP-bound session and their orders, and places one', async () => {
    await page.setViewportSize({ width: VIEWPORTS.light.width, height: VIEWPORTS.light.height });
    await signIn(page);
    expect(await page.locator('#token-dpop').textContent()).toBe('yes');
    expect(await page.locator('#token-expiry').textContent()).toMatch(/^in \d+\u00a0min \d+\u00a0s$/);
    await page.getByText('No orders yet').waitFor();

    await page.getByLabel('Item').selectOption('Oat flat white');
    await page.getByLabel('Quantity').fill('2');
    await page.getByRole('button', { name: 'Place order' }).click();
    await page.getByRole('status').filter({ hasText: 'Order placed: 2 × Oat flat white.' }).waitFor();
    await page.getByRole('listitem').filter({ hasText: 'Oat flat white' }).waitFor();
    await page.getByLabel('Item').selectOption('Cardamom bun');
    await page.getByRole('button', { name: 'Place order' }).click();
    await page.getByRole('listitem').filter({ hasText: 'Cardamom bun' }).waitFor();
    await page.getByRole('button', { name: 'Refresh list' }).click();
    expect(await page.getByRole('listitem').count()).toBe(2);

    const violations = await checkAccessibility(page);
    expect(seriousViolations(violations), describeViolations(violations)).toEqual([]);
    await saveScreenshot(page, 'spa-signed-in');
  });

  it('keeps no token in any storage a script can read, nor on the page', async () => {
    expect(issued.length).toBeGreaterThan(0);
    const stored = await storageDump(page);
    const shown = await page.content();
    for (const token of issued) {
      expect(stored).not.toContain(token);
      expect(shown).not.toContain(token);
    }
    expect(stored).not.toMatch(/eyJ[\w-]+\.[\w-]+\./);
    // The refresh token is Tessera's HttpOnly cookie, out of the page's reach.
    const cookies = await page.context().cookies(issuer);
    expect(cookies.map(({ name, httpOnly }) => ({ name, httpOnly }))).toEqual([
      { name: '__Host-tessera_refresh', httpOnly: true },
    ]);
  });

  it('holds a DPoP-bound token: taken off the wire, it is refused without the browser’s key (RFC 9449 §7)', async () => {
    const token = issued.at(-1)!;
    // As a Bearer token (§7.2: a bound token is never accepted so), and as DPoP without a proof.
    for (const authorization of [`Bearer ${token}`, `DPoP ${token}`]) {
      const response = await fetch(`${orders.url}/orders`, { headers: { authorization } });
      expect(response.status).toBe(401);
    }
  });

  it('is accessible in dark mode, and fits a 360 px phone signed in too', async () => {
    await page.emulateMedia({ colorScheme: 'dark' });
    const violations = await checkAccessibility(page);
    expect(seriousViolations(violations), describeViolations(violations)).toEqual([]);
    await saveScreenshot(page, 'spa-signed-in-dark');
    await page.emulateMedia({ colorScheme: 'light' });
    await page.setViewportSize({ width: VIEWPORTS.narrow.width, height: VIEWPORTS.narrow.height });
    expect(await page.evaluate(() => (globalThis as unknown as InPageSize).document.body.scrollWidth)).toBe(
      VIEWPORTS.narrow.width,
    );
    await saveScreenshot(page, 'spa-signed-in-narrow');
    await page.setViewportSize({ width: VIEWPORTS.light.width, height: VIEWPORTS.light.height });
  });

  it('says so when the orders API cannot be reached, and stays signed in', async () => {
    const ordersApi = `${orders.url}/**`;
    await page.route(ordersApi, (route) => route.abort('connectionrefused'));
    await page.getByRole('button', { name: 'Refresh list' }).click();
    await page.getByRole('alert').filter({ hasText: 'The orders API could not be reached' }).waitFor();
    expect(await page.getByRole('heading', { name: `Hello, ${FULL_NAME}` }).isVisible()).toBe(true);
    await page.unroute(ordersApi);
    await page.getByRole('button', { name: 'Refresh list' }).click();
    await page.getByRole('alert').filter({ hasText: 'could not be reached' }).waitFor({ state: 'detached' });
    expect(await page.getByRole('listitem').count()).toBe(2);
  });

  it('signs out in one tab, and the other tab follows', async () => {
    const second = await page.context().newPage();
    await second.goto(`${spa.url}/`);
    // The second tab is signed in by the refresh cookie, with no password.
    await second.getByRole('heading', { name: `Hello, ${FULL_NAME}` }).waitFor();
    await second.getByRole('listitem').filter({ hasText: 'Cardamom bun' }).waitFor();

    await page.getByRole('button', { name: 'Sign out', exact: true }).click();
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    await second.getByRole('status').filter({ hasText: 'signed out in another tab' }).waitFor();
    await second.getByRole('heading', { name: 'Sign in' }).waitFor();
    expect(await second.getByRole('listitem').count()).toBe(0);
    await second.close();

    // A reload finds no session: the cookie went with it.
    await page.reload();
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    expect(await page.context().cookies(issuer)).toEqual([]);
  });

  it('signs out everywhere: every session of the user ends', async () => {
    await signIn(page);
    const other = await newPage(browser);
    await other.goto(`${spa.url}/`);
    await signIn(other);

    await page.getByRole('button', { name: 'Sign out everywhere' }).click();
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    // The other browser's session ended too: its next call is refused, and it says so.
    await other.getByRole('button', { name: 'Refresh list' }).click();
    await other.getByRole('heading', { name: 'Sign in' }).waitFor();
    await other.context().close();
  });
});

interface InPageSize {
  document: { body: { scrollWidth: number } };
}
