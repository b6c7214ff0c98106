/**
 * Where the client keeps things, in real Chromium against a real Tessera server over HTTP (CORS
 * for the test page's origin): no token in any storage a script can read, in either mode; the DPoP
 * key non-extractable in IndexedDB and the same after a reload.
 */
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { browserUnavailable, launchChromium } from '../../../server/test/browser/chromium.js';
import { ADMIN_PASSWORD, stopServer, type TestServer } from '../../../server/test/helpers.js';
import { startRealServer } from '../../../server/test/real_server.js';
import {
  eventCount,
  openApp,
  readyState,
  startTestPage,
  type TestPage,
  type TestWindow,
  waitForEvents,
} from './test_page.js';

/** Everything a script on the page can read back, as text (the DPoP key pair as a description). */
interface StorageDump {
  localStorage: Record<string, string>;
  sessionStorage: Record<string, string>;
  cookie: string;
  databases: string[];
  /** The client's IndexedDB entries: key → what the value is. */
  entries: Record<string, string>;
  caches: string[];
}

function dumpStorage(page: Page): Promise<StorageDump> {
  return page.evaluate(async () => {
    const dump = (storage: Storage) => Object.fromEntries(Object.entries(storage));
    const databases = (await indexedDB.databases()).map((db) => db.name ?? '');
    const entries: Record<string, string> = {};
    if (databases.includes('tessera-client')) {
      const db = await new Promise<IDBDatabase>((resolve, reject) => {
        const open = indexedDB.open('tessera-client');
        open.onsuccess = () => resolve(open.result);
        open.onerror = () => reject(open.error);
      });
      const store = db.transaction('state').objectStore('state');
      const [keys, values] = await Promise.all(
        [store.getAllKeys(), store.getAll()].map(
          (request) =>
            new Promise<unknown[]>((resolve) => {
              request.onsuccess = () => resolve(request.result);
            }),
        ),
      );
      keys!.forEach((key, i) => {
        const value = values![i] as { privateKey?: CryptoKey; publicKey?: CryptoKey } | number;
        entries[String(key)] =
          typeof value === 'object' && value.privateKey instanceof CryptoKey
            ? `CryptoKeyPair(private extractable=${value.privateKey.extractable} ${value.privateKey.algorithm.name})`
            : JSON.stringify(value);
      });
      db.close();
    }
    return {
      localStorage: dump(localStorage),
      sessionStorage: dump(sessionStorage),
      cookie: document.cookie,
      databases,
      entries,
      caches: await caches.keys(),
    };
  });
}

/** Access and refresh tokens as they crossed the network (the test reads responses; the page cannot). */
function captureTokens(page: Page, issuer: string): Set<string> {
  const tokens = new Set<string>();
  page.on('response', async (response) => {
    if (!response.url().startsWith(issuer) || response.request().method() !== 'POST' || !response.ok())
      return;
    const body = await response.json().catch(() => undefined);
    for (const name of ['access_token', 'refresh_token', 'id_token'])
      if (body?.[name]) tokens.add(body[name]);
    for (const header of await response.headersArray())
      if (header.name.toLowerCase() === 'set-cookie') tokens.add(header.value.split(';')[0]!.split('=')[1]!);
  });
  return tokens;
}

describe.skipIf(browserUnavailable())('@tessera/client storage in Chromium', () => {
  let server: TestServer;
  let issuer: string;
  let testPage: TestPage;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;

  beforeAll(async () => {
    testPage = await startTestPage();
    ({ server, issuer } = await startRealServer({ accessTokenTtl: 4, webOrigins: [testPage.origin] }));
    testPage.issuer = issuer;
    await server.services.clients.add({
      clientId: 'spa',
      type: 'public',
      kind: 'spa',
      skipConsent: true,
      audiences: [server.services.config.audience],
      scopes: ['openid', 'profile'],
      redirectUris: [testPage.redirectUri],
    });
    browser = await launchChromium();
  }, 60_000);
  afterEach(() => context?.close());
  afterAll(async () => {
    await browser?.close();
    await testPage?.close();
    if (server) await stopServer(server);
  });

  async function open(path: string): Promise<Set<string>> {
    context = await browser.newContext();
    page = await context.newPage();
    const tokens = captureTokens(page, issuer);
    await openApp(page, `${testPage.origin}${path}`);
    return tokens;
  }

  const state = () => page.evaluate(() => (globalThis as unknown as TestWindow).auth.state);

  /** Redirect mode: from the app to the provider's sign-in page and back with a code. */
  async function signInThroughProvider(): Promise<void> {
    await page.evaluate(() => {
      void (globalThis as unknown as TestWindow).auth.loginWithRedirect();
    });
    await page.waitForURL((url) => url.href.startsWith(`${issuer}/authorize`));
    await page.getByLabel('Username').fill('alice');
    await page.getByLabel('Password').fill(ADMIN_PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL((url) => url.href.startsWith(testPage.redirectUri));
    expect(await readyState(page)).toMatchObject({ loggedIn: true, user: { client_id: 'spa' } });
  }

  function expectNoToken(dump: StorageDump, tokens: Set<string>): void {
    const text = JSON.stringify(dump);
    for (const token of tokens) expect(text).not.toContain(token);
  }

  it('first-party: after a login, a refresh and a reload no token is in any storage', async () => {
    const tokens = await open('/');
    const refreshes = await eventCount(page, 'refresh');
    await page.evaluate(
      (password) => (globalThis as unknown as TestWindow).auth.login({ username: 'alice', password }),
      ADMIN_PASSWORD,
    );
    await waitForEvents(page, 'refresh', refreshes + 1);
    await page.reload();
    expect(await readyState(page)).toMatchObject({ loggedIn: true });
    expect(tokens.size).toBeGreaterThanOrEqual(4); // access tokens and cookie values seen on the wire

    const dump = await dumpStorage(page);
    expectNoToken(dump, tokens);
    expect(dump).toEqual({
      localStorage: {},
      sessionStorage: {},
      cookie: '', // the refresh cookie is HttpOnly
      databases: ['tessera-client'],
      entries: {
        [`tessera:${issuer}:web:dpop`]: 'CryptoKeyPair(private extractable=false ECDSA)',
        [`tessera:${issuer}:web:newest`]: expect.stringMatching(/^\d+$/),
      },
      caches: [],
    });
    // The refresh token is there all the same, where scripts cannot reach it.
    const cookies = await context.cookies(issuer);
    expect(cookies).toEqual([
      expect.objectContaining({
        name: '__Host-tessera_refresh',
        httpOnly: true,
        secure: true,
        sameSite: 'Strict',
      }),
    ]);
  });

  it('redirect mode: after the round trip sessionStorage is empty again and no token is anywhere', async () => {
    const tokens = await open('/spa');
    await signInThroughProvider();
    // The code and state are gone from the address bar.
    expect(page.url()).toBe(testPage.redirectUri);

    const dump = await dumpStorage(page);
    expectNoToken(dump, tokens);
    expect(dump.localStorage).toEqual({});
    expect(dump.sessionStorage).toEqual({}); // the verifier was removed when the callback read it
    expect(Object.keys(dump.entries).sort()).toEqual([
      `tessera:${issuer}:spa:dpop`,
      `tessera:${issuer}:spa:newest`,
    ]);
  });

  it('redirect mode: a new tab gets the session, refresh token included, from an open tab', async () => {
    await open('/spa');
    await signInThroughProvider();
    const second = await context.newPage();
    const toServer: string[] = [];
    second.on('request', (request) => {
      if (request.url().startsWith(issuer)) toServer.push(new URL(request.url()).pathname);
    });
    expect(await openApp(second, `${testPage.origin}/spa`)).toMatchObject({ loggedIn: true });
    expect(toServer).toEqual([]);
    // The first tab goes; the second renews the session alone, with the refresh token it was given.
    const refreshes = await eventCount(second, 'refresh');
    await page.close();
    await waitForEvents(second, 'refresh', refreshes + 1);
    expect(toServer).toContain('/token');
    expect(await second.evaluate(() => (globalThis as unknown as TestWindow).auth.state.loggedIn)).toBe(true);
  });

  it('the DPoP key is non-extractable, survives a reload, and stays the key the session is bound to', async () => {
    await open('/');
    await page.evaluate(
      (password) => (globalThis as unknown as TestWindow).auth.login({ username: 'alice', password }),
      ADMIN_PASSWORD,
    );
    const readKey = () =>
      page.evaluate(async (name) => {
        const db = await new Promise<IDBDatabase>((resolve) => {
          const request = indexedDB.open('tessera-client');
          request.onsuccess = () => resolve(request.result);
        });
        const pair = await new Promise<CryptoKeyPair>((resolve) => {
          const request = db.transaction('state').objectStore('state').get(name);
          request.onsuccess = () => resolve(request.result);
        });
        db.close();
        const exported = await crypto.subtle.exportKey('jwk', pair.privateKey).then(
          () => 'exported',
          (err: DOMException) => err.name,
        );
        const { x, y } = await crypto.subtle.exportKey('jwk', pair.publicKey);
        return { extractable: pair.privateKey.extractable, exported, publicKey: `${x}.${y}` };
      }, `tessera:${issuer}:web:dpop`);
    const before = await readKey();
    expect(before).toMatchObject({ extractable: false, exported: 'InvalidAccessError' });
    const boundTo = (await state()).user?.cnf;
    expect(boundTo).toEqual({ jkt: expect.stringMatching(/^[\w-]{43}$/) });

    await page.reload();
    // The session comes back by the cookie: the server accepts the refresh only with the same key.
    expect(await readyState(page)).toMatchObject({ loggedIn: true, user: { cnf: boundTo } });
    expect(await readKey()).toEqual(before);
  });
});
