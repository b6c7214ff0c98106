import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { Page } from 'playwright-core';
import type { AuthClient, AuthEventName } from '../../src/index.js';
import { bundleClient } from '../bundle.js';

/**
 * The apps under test: pages on their own origin (`http://localhost:<port>`, another port than the
 * server's, so every call to the server is cross-origin, with CORS) that load the esbuild bundle of
 * the client — the very file an app would ship — and create one client each. Tests drive them
 * through `globalThis.auth` with `page.evaluate`.
 */
export interface TestPage {
  origin: string;
  /** Where the redirect-mode app (client `spa`) receives the code: `<origin>/spa/callback`. */
  redirectUri: string;
  /** The issuer the apps talk to (set once the server is up: it must know the page's origin first). */
  issuer: string;
  close(): Promise<void>;
}

export async function startTestPage(): Promise<TestPage> {
  const bundle = await bundleClient();
  // `/` is a first-party app (client `web`, the login form's); `/spa/…` a redirect-mode app (client `spa`).
  const app = (issuer: string) => `
import { createAuthClient } from '/client.js';
const spa = location.pathname.startsWith('/spa');
const auth = createAuthClient(
  spa
    ? { issuer: ${JSON.stringify(issuer)}, mode: 'redirect', clientId: 'spa', redirectUri: location.origin + '/spa/callback' }
    : { issuer: ${JSON.stringify(issuer)} },
);
const events = [];
for (const name of ['login', 'refresh', 'logout', 'error']) auth.on(name, (detail) => events.push({ name, detail }));
const started = location.pathname === '/spa/callback' ? auth.handleRedirectCallback().then(() => auth.ready()) : auth.ready();
Object.assign(globalThis, { auth, events, started });
`;
  const html =
    '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>@tessera/client test</title>' +
    '<script type="module" src="/app.js"></script></head><body><main><h1>Test</h1></main></body></html>';
  const server: Server = createServer((request, response) => {
    const path = new URL(request.url ?? '/', 'http://localhost').pathname;
    const [type, body] =
      path === '/client.js'
        ? ['text/javascript', bundle]
        : path === '/app.js'
          ? ['text/javascript', app(testPage.issuer)]
          : ['/', '/spa', '/spa/callback'].includes(path)
            ? ['text/html', html]
            : [undefined, undefined];
    if (body === undefined) return void response.writeHead(404).end();
    response
      .writeHead(200, { 'content-type': `${type}; charset=utf-8`, 'cache-control': 'no-store' })
      .end(body);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  // `localhost`, like the server's issuer: same-site with it (the cookie is SameSite=Strict), and
  // a secure context for WebCrypto, Web Locks and the `__Host-` cookie.
  const origin = `http://localhost:${port}`;
  const testPage: TestPage = {
    origin,
    redirectUri: `${origin}/spa/callback`,
    issuer: '',
    async close() {
      server.closeAllConnections();
      server.close();
    },
  };
  return testPage;
}

/** What the test page puts on `globalThis`. */
export interface TestWindow {
  auth: AuthClient;
  events: { name: AuthEventName; detail: unknown }[];
  started: Promise<unknown>;
}

/** Opens an app of the test page (`/` or `/spa`) in `page`, waits for its client to be ready; its state. */
export async function openApp(page: Page, url: string) {
  await page.goto(url);
  return readyState(page);
}

/** Waits for the client of the page now open to be ready; returns its state. */
export async function readyState(page: Page) {
  await page.waitForFunction(() => 'started' in globalThis);
  return page.evaluate(async () => {
    const { auth, started } = globalThis as unknown as TestWindow;
    await started;
    return auth.state;
  });
}

/** How many `event`s the page's client has emitted so far. */
export function eventCount(page: Page, event: AuthEventName): Promise<number> {
  return page.evaluate(
    (event) => (globalThis as unknown as TestWindow).events.filter((e) => e.name === event).length,
    event,
  );
}

/**
 * Waits until the page's client has emitted `event` `count` times in all (read the count with
 * {@link eventCount} before acting, so no event is missed), failing after `timeout` ms.
 */
export async function waitForEvents(page: Page, event: AuthEventName, count: number, timeout = 10_000) {
  await page.waitForFunction(
    ({ event, count }) =>
      (globalThis as unknown as TestWindow).events.filter((e) => e.name === event).length >= count,
    { event, count },
    { timeout },
  );
}
