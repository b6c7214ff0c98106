/**
 * The browser helper itself, against a few pages served here: axe finds nothing serious on a good
 * page and does find a broken one, it runs under a CSP without 'unsafe-inline' (as the server's
 * pages have), screenshots are written at each viewport's size, and Chromium keeps a `__Host-`
 * cookie set over plain http on loopback (what the login pages rely on in development and tests).
 */
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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

/** The server pages' policy in miniature: no scripts at all, styles from the origin only. */
const CSP = "default-src 'none'; style-src 'self'; form-action 'self'";

/** A name that is not loopback, mapped to 127.0.0.1 inside Chromium (`--host-resolver-rules`). */
const NOT_LOOPBACK = 'tessera.test';

const FORM_PAGE = `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Sign in</title><link rel="stylesheet" href="/page.css"></head>
<body>
<main>
<h1>Sign in</h1>
<form method="post" action="/form">
<label for="username">Username</label>
<input id="username" name="username" autocomplete="username">
<button type="submit">Sign in</button>
</form>
</main>
</body>
</html>`;

// A text field nobody can name: axe's `label` rule, impact critical.
const BROKEN_PAGE = `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Broken</title><link rel="stylesheet" href="/page.css"></head>
<body>
<main>
<h1>Broken</h1>
<form method="post" action="/form"><input id="nameless" name="nameless"><button type="submit">Go</button></form>
</main>
</body>
</html>`;

// `color-scheme` lets the dark viewport render dark, as the server's pages do.
// Labelled, but outside any landmark: axe's `landmark-one-main` and `region`, impact moderate.
const NO_LANDMARKS_PAGE = `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>No landmarks</title><link rel="stylesheet" href="/page.css"></head>
<body>
<h1>No landmarks</h1>
<p>Text outside any landmark.</p>
</body>
</html>`;

const PAGE_CSS =
  ':root { color-scheme: light dark; } body { font: 16px/1.5 sans-serif; margin: 2rem; } label { display: block; }';

function pages(): Server {
  return createServer((request, response) => {
    response.setHeader('content-security-policy', CSP);
    switch (request.url) {
      case '/form':
        response.setHeader('content-type', 'text/html; charset=utf-8');
        response.end(FORM_PAGE);
        return;
      case '/broken':
        response.setHeader('content-type', 'text/html; charset=utf-8');
        response.end(BROKEN_PAGE);
        return;
      case '/no-landmarks':
        response.setHeader('content-type', 'text/html; charset=utf-8');
        response.end(NO_LANDMARKS_PAGE);
        return;
      case '/page.css':
        response.setHeader('content-type', 'text/css');
        response.end(PAGE_CSS);
        return;
      case '/set-cookie':
        // RFC 6265bis §4.1.3.2: a __Host- cookie must be Secure, have Path=/ and no Domain.
        response.setHeader('set-cookie', '__Host-x=1; Secure; HttpOnly; Path=/; SameSite=Lax');
        response.setHeader('content-type', 'text/plain');
        response.end('set');
        return;
      case '/cookies':
        response.setHeader('content-type', 'text/plain');
        response.end(request.headers.cookie ?? '');
        return;
      default:
        response.statusCode = 404;
        response.end();
    }
  });
}

/** `window.matchMedia`, as far as the tests use it (the DOM types are not in this package's lib). */
interface MediaQueries {
  matchMedia(query: string): { matches: boolean };
}

/** Width and height of a PNG, from its IHDR chunk (the first one, right after the signature). */
function pngSize(png: Buffer): { width: number; height: number } {
  expect(png.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
  return { width: png.readUInt32BE(16), height: png.readUInt32BE(20) };
}

describe.skipIf(browserUnavailable())('headless Chromium for the server tests', () => {
  let server: Server;
  let port: number;
  let browser: Browser;

  beforeAll(async () => {
    server = pages();
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    port = (server.address() as { port: number }).port;
    browser = await launchChromium({ args: [`--host-resolver-rules=MAP ${NOT_LOOPBACK} 127.0.0.1`] });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    if (server?.listening) {
      server.close();
      await once(server, 'close');
    }
  });

  describe('accessibility checks', () => {
    it('find nothing wrong with a page whose form is labelled and inside a main landmark', async () => {
      const page = await newPage(browser);
      await page.goto(`http://127.0.0.1:${port}/form`);
      const violations = await checkAccessibility(page);
      expect(violations, describeViolations(violations)).toEqual([]);
      await page.context().close();
    });

    it('report a text field without a label as a serious violation, naming the field', async () => {
      const page = await newPage(browser);
      await page.goto(`http://127.0.0.1:${port}/broken`);
      const serious = seriousViolations(await checkAccessibility(page));
      expect(serious.map((violation) => violation.id)).toContain('label');
      const message = describeViolations(serious);
      expect(message).toMatch(/^- label \(critical\): /m);
      expect(message).toContain('#nameless');
      await page.context().close();
    });

    it('report moderate findings, which seriousViolations leaves out', async () => {
      const page = await newPage(browser);
      await page.goto(`http://127.0.0.1:${port}/no-landmarks`);
      const violations = await checkAccessibility(page);
      expect(violations.map((violation) => violation.id)).toContain('landmark-one-main');
      expect(violations.every((violation) => violation.impact === 'moderate')).toBe(true);
      expect(seriousViolations(violations)).toEqual([]);
      await page.context().close();
    });

    it('run again after a navigation, on the new document', async () => {
      const page = await newPage(browser);
      await page.goto(`http://127.0.0.1:${port}/form`);
      expect(seriousViolations(await checkAccessibility(page))).toEqual([]);
      await page.goto(`http://127.0.0.1:${port}/broken`);
      expect(seriousViolations(await checkAccessibility(page))).not.toEqual([]);
      await page.context().close();
    });

    it('work on a page whose CSP refuses inline scripts, which addScriptTag cannot inject into', async () => {
      const page = await newPage(browser);
      const response = await page.goto(`http://127.0.0.1:${port}/form`);
      expect(response?.headers()['content-security-policy']).toBe(CSP);
      // The CSP is in force: a <script> added to the page is blocked...
      await expect(page.addScriptTag({ content: 'globalThis.injected = true' })).rejects.toThrow(
        /Content Security Policy/,
      );
      expect(await page.evaluate(() => 'injected' in globalThis)).toBe(false);
      // ...while page.evaluate, which the DevTools protocol runs outside the CSP, loads and runs axe.
      expect(seriousViolations(await checkAccessibility(page))).toEqual([]);
      await page.context().close();
    });
  });

  describe('screenshots', () => {
    for (const [name, viewport] of Object.entries(VIEWPORTS)) {
      it(`are written as PNGs the width of the ${name} viewport`, async () => {
        const page = await newPage(browser, viewport);
        await page.goto(`http://127.0.0.1:${port}/form`);
        const prefersDark = await page.evaluate(
          () => (globalThis as unknown as MediaQueries).matchMedia('(prefers-color-scheme: dark)').matches,
        );
        expect(prefersDark).toBe(viewport.colorScheme === 'dark');
        const path = await saveScreenshot(page, `chromium-helper-form-${name}`);
        expect(path).toMatch(
          /\/packages\/server\/test\/artifacts\/screenshots\/chromium-helper-form-\w+\.png$/,
        );
        const size = pngSize(await readFile(path));
        expect(size.width).toBe(viewport.width);
        expect(size.height).toBeGreaterThanOrEqual(viewport.height);
        await page.context().close();
      });
    }

    it('refuse a name that would put the file outside the screenshots folder', async () => {
      const page = await newPage(browser);
      for (const name of ['../escape', 'a/b', '.hidden', '']) {
        await expect(saveScreenshot(page, name)).rejects.toThrow(TypeError);
      }
      await page.context().close();
    });
  });

  // Whether the login pages' `__Host-` cookies work when the server is reached over plain http on
  // loopback. Browsers treat loopback origins as potentially trustworthy (W3C Secure Contexts), so
  // they may accept a Secure cookie from them; a plain-http origin elsewhere may not.
  describe('a Secure __Host- cookie set over plain http', () => {
    for (const host of ['localhost', '127.0.0.1']) {
      it(`is stored and sent back by Chromium on http://${host}`, async () => {
        const page = await newPage(browser);
        await page.goto(`http://${host}:${port}/set-cookie`);
        expect(await page.context().cookies()).toEqual([
          expect.objectContaining({ name: '__Host-x', value: '1', domain: host, secure: true, path: '/' }),
        ]);
        await page.goto(`http://${host}:${port}/cookies`);
        expect(await page.textContent('body')).toBe('__Host-x=1');
        await page.context().close();
      });
    }

    it('is dropped on a plain-http origin that is not loopback', async () => {
      const page = await newPage(browser);
      await page.goto(`http://${NOT_LOOPBACK}:${port}/set-cookie`);
      expect(await page.textContent('body')).toBe('set');
      expect(await page.context().cookies()).toEqual([]);
      await page.goto(`http://${NOT_LOOPBACK}:${port}/cookies`);
      expect(await page.textContent('body')).toBe('');
      await page.context().close();
    });
  });
});
