// The single-page app's static server: four files and a strict Content Security Policy, nothing else.
// Everything the app does happens in the browser, which talks to Tessera and the orders API directly.
// server.js reads the environment and listens; the test builds the server here.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';

const PUBLIC = new URL('./public/', import.meta.url);
/** In this repository, the client's TypeScript sources: the bundle is always what they say, no build. */
const CLIENT_SOURCES = fileURLToPath(new URL('../../packages/client/src/index.ts', import.meta.url));

/**
 * Builds the server: bundles public/app.js with `@tessera/client` (esbuild, once, in memory), fills
 * the page's settings in, and returns an http.Server, not yet listening.
 *
 * @param {object} options
 * @param {string} options.issuer the Tessera server, exactly its issuer URL
 * @param {string} options.ordersApi where the browser reaches the orders API, like `http://127.0.0.1:4100`
 * @param {string} [options.clientId] the client the app signs in as: the first-party `web` client,
 *   whose refresh token lives in an HttpOnly cookie of Tessera's
 * @param {(line: string) => void} [options.log]
 * @returns {Promise<import('node:http').Server>}
 */
export async function createSpaServer({ issuer, ordersApi, clientId = 'web', log = console.log }) {
  const script = await bundle();
  const page = (await readFile(new URL('index.html', PUBLIC), 'utf8'))
    .replace('{{issuer}}', escapeAttribute(issuer))
    .replace('{{clientId}}', escapeAttribute(clientId))
    .replace('{{ordersApi}}', escapeAttribute(ordersApi));
  const files = new Map([
    ['/', { type: 'text/html; charset=utf-8', body: Buffer.from(page) }],
    ['/app.js', { type: 'text/javascript; charset=utf-8', body: script }],
    ['/style.css', { type: 'text/css; charset=utf-8', body: await readFile(new URL('style.css', PUBLIC)) }],
    ['/icon.svg', { type: 'image/svg+xml', body: await readFile(new URL('icon.svg', PUBLIC)) }],
  ]);
  log(`app.js with @tessera/client: ${kB(script.length)} (${kB(gzipSync(script).length)} gzipped)`);

  const headers = {
    // The page may run its own script and style only (no inline code, no eval), talk to Tessera and
    // the orders API only, load nothing else, submit no form anywhere (the sign-in form is the
    // script's: without it, a password must not travel in a URL), and be framed by nobody.
    // Trusted Types: no string ever becomes HTML or script, so no DOM sink can be fed one.
    'content-security-policy': [
      "default-src 'none'",
      "script-src 'self'",
      "style-src 'self'",
      "img-src 'self'",
      `connect-src ${new URL(issuer).origin} ${new URL(ordersApi).origin}`,
      "form-action 'none'",
      "base-uri 'none'",
      "frame-ancestors 'none'",
      "require-trusted-types-for 'script'",
      "trusted-types 'none'",
    ].join('; '),
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
    'cross-origin-opener-policy': 'same-origin',
    'cache-control': 'no-cache',
  };

  return createServer((request, response) => {
    const { pathname } = new URL(request.url ?? '/', 'http://spa.invalid');
    const file = files.get(pathname);
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.writeHead(405, { ...headers, allow: 'GET, HEAD', 'content-type': 'text/plain' });
      return response.end('method not allowed\n');
    }
    if (!file) {
      response.writeHead(404, { ...headers, 'content-type': 'text/plain' });
      return response.end('not found\n');
    }
    response.writeHead(200, { ...headers, 'content-type': file.type, 'content-length': file.body.length });
    response.end(request.method === 'HEAD' ? undefined : file.body);
  });
}

/**
 * public/app.js and what it imports, as one ES module. In this repository `@tessera/client` comes
 * from its sources (esbuild reads TypeScript); copied out, from the installed package.
 */
async function bundle() {
  const result = await build({
    entryPoints: [fileURLToPath(new URL('app.js', PUBLIC))],
    bundle: true,
    write: false,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    minify: true,
    legalComments: 'none',
    alias: existsSync(CLIENT_SOURCES) ? { '@tessera/client': CLIENT_SOURCES } : {},
    logLevel: 'silent',
  });
  return Buffer.from(result.outputFiles[0].contents);
}

/** An issuer or API URL in a `content` attribute: whatever the environment says, it stays a value. */
function escapeAttribute(value) {
  return String(value).replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c],
  );
}

function kB(bytes) {
  return `${(bytes / 1024).toFixed(1)} kB`;
}
