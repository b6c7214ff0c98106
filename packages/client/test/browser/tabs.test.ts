/**
 * Several tabs of one app in real Chromium (pages of one browser context: one cookie jar, one
 * IndexedDB, one set of Web Locks and BroadcastChannels), against a real Tessera server over HTTP
 * with CORS for the app's origin. Access tokens live 4 s, so the client refreshes 1 s before
 * expiry (a quarter of the lifetime) and the tests wait for that refresh as an event.
 */
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { browserUnavailable, launchChromium } from '../../../server/test/browser/chromium.js';
import { ADMIN_PASSWORD, stopServer, type TestServer } from '../../../server/test/helpers.js';
import { startRealServer } from '../../../server/test/real_server.js';
import { freePort } from '../../../server/test/redis.js';
import { startHoldingProxy } from './holding_proxy.js';
import { eventCount, openApp, startTestPage, type TestWindow, waitForEvents } from './test_page.js';

const METRICS_TOKEN = 'client-tabs-metrics-token-0123456789abcdef';

describe.skipIf(browserUnavailable())('@tessera/client across tabs in Chromium', () => {
  let server: TestServer;
  let issuer: string;
  let page: Awaited<ReturnType<typeof startTestPage>>;
  let browser: Browser;
  let context: BrowserContext;
  let proxy: Awaited<ReturnType<typeof startHoldingProxy>>;

  beforeAll(async () => {
    page = await startTestPage();
    // The browser reaches the server through a proxy that can hold a request (see holding_proxy.ts).
    const [proxyPort, serverPort] = [await freePort(), await freePort()];
    issuer = `http://localhost:${proxyPort}`;
    ({ server } = await startRealServer({
      port: serverPort,
      issuer,
      accessTokenTtl: 4,
      refreshGrace: 5,
      metricsToken: METRICS_TOKEN,
      webOrigins: [page.origin],
    }));
    proxy = await startHoldingProxy(proxyPort, serverPort);
    page.issuer = issuer;
    browser = await launchChromium();
  }, 60_000);
  afterEach(() => context?.close());
  afterAll(async () => {
    await browser?.close();
    await proxy?.close();
    await page?.close();
    if (server) await stopServer(server);
  });

  /** `count` tabs of the app in a fresh context, each ready (logged out). */
  async function openTabs(count: number): Promise<Page[]> {
    context = await browser.newContext();
    const tabs: Page[] = [];
    for (let i = 0; i < count; i++) {
      const tab = await context.newPage();
      expect(await openApp(tab, `${page.origin}/`)).toMatchObject({ loggedIn: false });
      tabs.push(tab);
    }
    return tabs;
  }

  /** Logs in in `tabs[0]` and waits until every tab has the session. */
  async function logIn(tabs: Page[]): Promise<void> {
    const before = await Promise.all(tabs.map((tab) => eventCount(tab, 'login')));
    await tabs[0]!.evaluate(
      (password) => (globalThis as unknown as TestWindow).auth.login({ username: 'alice', password }),
      ADMIN_PASSWORD,
    );
    await Promise.all(tabs.map((tab, i) => waitForEvents(tab, 'login', before[i]! + 1)));
  }

  /** The server's refresh counters by outcome (GET /metrics). */
  async function refreshes(): Promise<
    Record<'rotated' | 'replayed' | 'reuse_detected' | 'rejected', number>
  > {
    const text = await (
      await fetch(`${issuer}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } })
    ).text();
    const count = (outcome: string) =>
      Number(
        new RegExp(`^tessera_refreshes_total\\{outcome="${outcome}"\\} (\\d+)$`, 'm').exec(text)?.[1] ?? 0,
      );
    return {
      rotated: count('rotated'),
      replayed: count('replayed'),
      reuse_detected: count('reuse_detected'),
      rejected: count('rejected'),
    };
  }

  const expiresAt = (tab: Page) =>
    tab.evaluate(() => (globalThis as unknown as TestWindow).auth.state.expiresAt);

  it('five tabs at expiry: exactly one rotation at the server, shared by all, no reuse', async () => {
    const tabs = await openTabs(5);
    await logIn(tabs);
    const first = await expiresAt(tabs[0]!);
    const before = await refreshes();
    const counts = await Promise.all(tabs.map((tab) => eventCount(tab, 'refresh')));

    // Every tab's timer fires at the same moment; one takes the lock, the others get its tokens.
    await Promise.all(tabs.map((tab, i) => waitForEvents(tab, 'refresh', counts[i]! + 1)));
    const after = await refreshes();
    expect(after.rotated - before.rotated).toBe(1);
    expect(after.replayed - before.replayed).toBe(0);
    expect(after.reuse_detected).toBe(0);
    const renewed = await Promise.all(tabs.map(expiresAt));
    expect(new Set(renewed).size).toBe(1);
    expect(renewed[0]).toBeGreaterThan(first!);

    // A sixth tab gets the session from the others, without a request to the server.
    const sixth = await context.newPage();
    const toServer: string[] = [];
    sixth.on('request', (request) => {
      if (request.url().startsWith(issuer)) toServer.push(request.url());
    });
    expect(await openApp(sixth, `${page.origin}/`)).toMatchObject({ loggedIn: true, expiresAt: renewed[0] });
    expect(toServer).toEqual([]);
  });

  it('the tab holding the lock closes mid-refresh: another tab completes it', async () => {
    const tabs = await openTabs(3);
    await logIn(tabs);
    const before = await refreshes();
    // The first refresh to leave any tab (its lock holder) is held by the proxy, never reaching the
    // server, until that tab is gone.
    const held = proxy.holdNext('POST', '/token/refresh');
    let holder: Page | undefined;
    for (const tab of tabs) {
      tab.on('request', (request) => {
        if (!holder && request.method() === 'POST' && request.url() === `${issuer}/token/refresh`)
          holder = tab;
      });
    }
    await held.arrived;
    await expect.poll(() => holder).toBeDefined();
    const others = tabs.filter((tab) => tab !== holder);
    const counts = await Promise.all(others.map((tab) => eventCount(tab, 'refresh')));
    await holder!.close();
    await held.abandoned;

    await Promise.all(others.map((tab, i) => waitForEvents(tab, 'refresh', counts[i]! + 1)));
    const after = await refreshes();
    // The server saw one refresh: the held one never arrived, and no tab repeated the other's.
    expect(after.rotated - before.rotated).toBe(1);
    expect(after.replayed - before.replayed).toBe(0);
    expect(after.reuse_detected).toBe(0);
    const renewed = await Promise.all(others.map(expiresAt));
    expect(renewed[0]).toBe(renewed[1]);
    for (const tab of others) {
      expect(await tab.evaluate(() => (globalThis as unknown as TestWindow).auth.state.loggedIn)).toBe(true);
    }
  });

  it('a logout in one tab reaches the others within a second', async () => {
    const tabs = await openTabs(3);
    await logIn(tabs);
    await tabs[0]!.evaluate(() => (globalThis as unknown as TestWindow).auth.logout());
    for (const tab of tabs.slice(1)) {
      await tab.waitForFunction(() => !(globalThis as unknown as TestWindow).auth.state.loggedIn, undefined, {
        timeout: 1000,
      });
      const { events } = await tab.evaluate(() => ({ events: (globalThis as unknown as TestWindow).events }));
      expect(events.at(-1)).toEqual({ name: 'logout', detail: { reason: 'other_tab' } });
    }
    // And the server ended the session: a new tab finds none to restore.
    const fresh = await context.newPage();
    expect(await openApp(fresh, `${page.origin}/`)).toMatchObject({ loggedIn: false });
  });
});
