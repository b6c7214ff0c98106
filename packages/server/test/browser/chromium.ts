/**
 * A real browser for the server's tests: Debian's Chromium driven through playwright-core, which
 * never downloads a browser of its own (scripts/install-chromium.sh installs the system one). Tests
 * open pages in it, check them with axe-core and keep screenshots for a human to look at.
 */
import { accessSync, constants } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { AxeResults, ImpactValue, Result, RunOptions } from 'axe-core';
import { type Browser, chromium, type Page } from 'playwright-core';

/** Where Chromium is: `CHROMIUM_PATH`, else where Debian's `chromium` package puts it. */
const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

const SCREENSHOTS = fileURLToPath(new URL('../artifacts/screenshots/', import.meta.url));

/** A browser window's size and the colour scheme it asks pages for (`prefers-color-scheme`). */
export interface Viewport {
  readonly width: number;
  readonly height: number;
  readonly colorScheme: 'light' | 'dark';
}

/** The windows pages are checked in: a laptop, the same in dark mode, and a small phone. */
export const VIEWPORTS = {
  light: { width: 1280, height: 800, colorScheme: 'light' },
  dark: { width: 1280, height: 800, colorScheme: 'dark' },
  narrow: { width: 360, height: 740, colorScheme: 'light' },
} as const satisfies Record<string, Viewport>;

let warned = false;

/**
 * Why the browser tests cannot run here, or undefined when they can (saying so once, as the other
 * skipped suites do). On CI (`CI=true`) a missing browser is a failure rather than a skip, as with
 * PostgreSQL and Redis: it throws, saying why.
 *
 * @example
 * describe.skipIf(browserUnavailable())('the login page', () => { … });
 */
export function browserUnavailable(): string | undefined {
  try {
    accessSync(CHROMIUM_PATH, constants.X_OK);
    return undefined;
  } catch {
    const reason =
      `Chromium is not installed at ${CHROMIUM_PATH} ` +
      '(run scripts/install-chromium.sh, or set CHROMIUM_PATH to a Chromium or Chrome executable)';
    if (process.env.CI === 'true') throw new Error(`${reason} (required on CI)`);
    if (!warned) console.warn(`skipping the browser tests: ${reason}`);
    warned = true;
    return reason;
  }
}

/**
 * Starts headless Chromium. `args` come after the defaults, for the odd test that needs a switch of
 * its own (such as `--host-resolver-rules` to give loopback a name that is not loopback).
 */
export async function launchChromium(options: { args?: readonly string[] } = {}): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: [
      '--headless',
      // Containers and CI run as root, where Chromium's sandbox cannot start; the pages are our own.
      '--no-sandbox',
      // No requests the test did not make: tests must pass with only loopback reachable.
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      ...(options.args ?? []),
    ],
  });
}

/** A fresh page in a context of its own (no cookies shared with other pages) sized as `viewport`. */
export async function newPage(browser: Browser, viewport: Viewport = VIEWPORTS.light): Promise<Page> {
  const context = await browser.newContext({
    viewport: { width: viewport.width, height: viewport.height },
    colorScheme: viewport.colorScheme,
  });
  return context.newPage();
}

/**
 * Saves a full-page PNG as packages/server/test/artifacts/screenshots/<name>.png (ignored by git)
 * and returns its path. `name` is a file name, not a path.
 */
export async function saveScreenshot(page: Page, name: string): Promise<string> {
  if (!/^[\w.-]+$/.test(name) || name.startsWith('.')) {
    throw new TypeError(`screenshot name ${JSON.stringify(name)} must be letters, digits, '_', '-' or '.'`);
  }
  await mkdir(SCREENSHOTS, { recursive: true });
  const path = `${SCREENSHOTS}${name}.png`;
  await page.screenshot({ path, fullPage: true });
  return path;
}

/** The rules a page is held to: WCAG 2.0 and 2.1, levels A and AA, and axe's best practices. */
const AXE_OPTIONS: RunOptions = {
  runOnly: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'],
};

let axeSource: Promise<string> | undefined;

/** The page as axe sees it inside the browser (the DOM types are not in this package's lib). */
interface AxePage {
  axe?: { run(context: unknown, options: RunOptions): Promise<AxeResults> };
  document: unknown;
}

/**
 * Runs axe-core on the page's current document and returns what it finds wrong.
 *
 * axe goes in through `page.evaluate`, which the DevTools protocol runs outside the page's Content
 * Security Policy, so it works on pages whose CSP forbids inline scripts (ours do); `addScriptTag`
 * would be blocked by that CSP. chromium.test.ts checks both facts.
 */
export async function checkAccessibility(page: Page): Promise<Result[]> {
  axeSource ??= readFile(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
  const source = await axeSource;
  // Once per document: a navigation starts a new one, without axe.
  const loaded = await page.evaluate(() => (globalThis as unknown as AxePage).axe !== undefined);
  if (!loaded) await page.evaluate(source);
  const results = await page.evaluate((options) => {
    const inPage = globalThis as unknown as AxePage;
    return inPage.axe!.run(inPage.document, options);
  }, AXE_OPTIONS);
  return results.violations;
}

const SERIOUS: readonly ImpactValue[] = ['serious', 'critical'];

/** The violations that keep someone from using the page: axe's `serious` and `critical`. */
export function seriousViolations(violations: readonly Result[]): Result[] {
  return violations.filter((violation) => violation.impact != null && SERIOUS.includes(violation.impact));
}

/**
 * Violations as an assertion message a reader can act on: for each rule its id, impact and help
 * text, then every element it failed on, by CSS selector.
 *
 * @example
 * expect(seriousViolations(violations), describeViolations(violations)).toEqual([]);
 */
export function describeViolations(violations: readonly Result[]): string {
  if (violations.length === 0) return 'no accessibility violations';
  const lines = [`${violations.length} accessibility violation(s):`];
  for (const violation of violations) {
    lines.push(`- ${violation.id} (${violation.impact ?? 'no impact given'}): ${violation.help}`);
    for (const node of violation.nodes) {
      // A target is one selector per frame (outermost first), each one per shadow root it crosses.
      const selector = node.target
        .map((part) => (Array.isArray(part) ? part.join(' >>> ') : part))
        .join(' >> ');
      lines.push(`    ${selector}`);
    }
  }
  return lines.join('\n');
}
