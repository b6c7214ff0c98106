/**
 * The token debugger as HTTP sees it (`app.inject()`, no browser): the page and its two files, their
 * types, security headers and cache validators, and what the page and script may never contain.
 * What the page does in a browser is browser/debugger.test.ts.
 */
import { readFileSync } from 'node:fs';
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEBUGGER_SCRIPT, DEBUGGER_STYLESHEET } from '../src/http/pages/debugger_assets.js';
import { renderDebuggerPage } from '../src/http/pages/debugger_page.js';
import { STYLESHEET_PATH } from '../src/http/pages/stylesheet.js';
import { DEBUGGER_POLICY } from '../src/http/routes/debugger.js';
import { startServer, stopServer, type TestServer } from './helpers.js';

const POLICY =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src data:; form-action 'none'; frame-ancestors 'none'; base-uri 'none'";

let server: TestServer;
beforeAll(async () => {
  server = await startServer();
});
afterAll(async () => {
  await stopServer(server);
});

function get(url: string, headers: Record<string, string> = {}): Promise<LightMyRequestResponse> {
  return server.app.inject({ method: 'GET', url, headers });
}

describe('GET /debugger', () => {
  it('serves the page under a CSP with no inline code, no eval, fetches to this origin only', async () => {
    const res = await get('/debugger');
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(res.headers['content-security-policy']).toBe(POLICY);
    expect(DEBUGGER_POLICY).toBe(POLICY);
    expect(res.headers['referrer-policy']).toBe('no-referrer');
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['x-frame-options']).toBe('DENY');
    expect(res.headers['cross-origin-opener-policy']).toBe('same-origin');
  });

  it('is revalidated on every use, with a strong ETag, and answers a current copy with 304', async () => {
    const res = await get('/debugger');
    expect(res.headers['cache-control']).toBe('no-cache');
    const etag = String(res.headers.etag);
    expect(etag).toMatch(/^"[\w-]{43}"$/);

    for (const ifNoneMatch of [etag, `W/${etag}`, `"other", ${etag}`, '*']) {
      const again = await get('/debugger', { 'if-none-match': ifNoneMatch });
      expect(again.statusCode, ifNoneMatch).toBe(304);
      expect(again.body).toBe('');
      expect(again.headers.etag).toBe(etag);
    }
    expect((await get('/debugger', { 'if-none-match': '"stale"' })).statusCode).toBe(200);
  });

  it('loads its script and styles from this origin, with no inline script, style or form', async () => {
    const page = (await get('/debugger')).body;
    const scripts = [...page.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/g)];
    expect(scripts.map((script) => script[1]!.trim())).toEqual(['type="module" src="/assets/debugger.js"']);
    expect(scripts[0]![2]).toBe('');
    expect([...page.matchAll(/<link rel="stylesheet" href="([^"]+)">/g)].map((link) => link[1])).toEqual([
      STYLESHEET_PATH,
      '/assets/debugger.css',
    ]);
    expect(page).not.toMatch(
      /<style|\sstyle=|\son[a-z]+=|<form|javascript:|https?:\/\/(?!localhost|127\.0\.0\.1)/i,
    );
    // Everything the page loads: an empty inline icon (so that no browser asks for /favicon.ico),
    // two stylesheets and the script, all from this origin.
    expect([...page.matchAll(/\s(?:src|href)="([^"]*)"/g)].map((link) => link[1])).toEqual([
      'data:,',
      STYLESHEET_PATH,
      '/assets/debugger.css',
      '/assets/debugger.js',
    ]);
  });

  it('points the page at the jwks_uri of discovery, as a path on its own origin', async () => {
    const discovery = (await get('/.well-known/openid-configuration')).json() as { jwks_uri: string };
    const page = (await get('/debugger')).body;
    expect(page).toContain(`data-jwks-path="${new URL(discovery.jwks_uri).pathname}"`);
    expect(page).toContain(`data-issuer="${server.services.config.issuer}"`);
  });

  it('keeps text in the page text, whatever the issuer', () => {
    const page = renderDebuggerPage({ issuer: '"><script>alert(1)</script>', jwksPath: '/jwks' });
    expect(page).toContain('data-issuer="&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"');
    expect(page.match(/<script/g)).toHaveLength(1);
  });

  it('answers HEAD without a body, and nothing else', async () => {
    const head = await server.app.inject({ method: 'HEAD', url: '/debugger' });
    expect(head.statusCode).toBe(200);
    expect(head.body).toBe('');
    for (const method of ['POST', 'PUT', 'DELETE'] as const) {
      const res = await server.app.inject({ method, url: '/debugger', payload: { token: 'x' } });
      expect(res.statusCode, method).toBe(404);
      expect(res.json()).toMatchObject({ error: 'invalid_request' });
    }
  });
});

describe('the debugger files', () => {
  it('serves the script as JavaScript, revalidated, with a strong ETag', async () => {
    const res = await get('/assets/debugger.js');
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['cache-control']).toBe('no-cache');
    expect(res.headers.etag).toBe(DEBUGGER_SCRIPT.etag);
    expect(res.body).toBe(
      readFileSync(new URL('../src/http/pages/debugger_assets/debugger.js', import.meta.url), 'utf8'),
    );
    const again = await get('/assets/debugger.js', { 'if-none-match': DEBUGGER_SCRIPT.etag });
    expect(again.statusCode).toBe(304);
    expect(again.body).toBe('');
  });

  it('serves the stylesheet as CSS, revalidated, with no URL in it', async () => {
    const res = await get('/assets/debugger.css');
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('text/css; charset=utf-8');
    expect(res.headers['cache-control']).toBe('no-cache');
    expect(res.headers.etag).toBe(DEBUGGER_STYLESHEET.etag);
    expect(res.body).toBe(DEBUGGER_STYLESHEET.body);
    // Nothing loaded from anywhere: the CSP would block it, and the page must work offline.
    expect(res.body).not.toMatch(/url\(|@import|@font-face/);
  });

  it('has a script that makes one request, evaluates no strings, and keeps no token', () => {
    const script = DEBUGGER_SCRIPT.body;
    // The JWKS fetch is the only network call; nothing is stored, put in a URL or written as markup.
    expect(script.match(/\bfetch\(/g)).toHaveLength(1);
    expect(script).toMatch(/fetch\(JWKS_PATH, \{\s*mode: 'same-origin',\s*credentials: 'omit'/);
    expect(script).not.toMatch(
      /\beval\(|new Function|setTimeout\(['"`]|innerHTML|outerHTML|insertAdjacentHTML|document\.write|localStorage|sessionStorage|indexedDB|document\.cookie|history\.(push|replace)State|location\.(hash|search|href)\s*=|XMLHttpRequest|sendBeacon|WebSocket|EventSource|\bimport\(/,
    );
  });

  it('answers 404 for any other file', async () => {
    for (const url of [
      '/assets/debugger.js.map',
      '/assets/debugger.ts',
      '/assets/debugger_assets.js',
      '/assets/../debugger.js',
      '/debugger/',
      '/debugger/assets/debugger.js',
      '/debugger.js',
    ]) {
      const res = await get(url);
      expect(res.statusCode, url).toBe(404);
      expect(res.headers['content-type'], url).toMatch(/^application\/json/);
    }
  });
});
