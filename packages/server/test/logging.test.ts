/**
 * What reaches the server's logs: never a credential. Each test runs a real server with every log
 * line captured (level trace), sends real requests over its socket, and searches the whole capture.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { createServer } from '../src/server.js';
import { createLogger } from '../src/shared/logger.js';
import { dpopKey, proofFor } from './dpop.js';
import { ADMIN_PASSWORD, databaseUrlFor, post, removeDataDir, type TestServer } from './helpers.js';
import {
  basic,
  browserHeaders,
  expectError,
  form,
  loginApp,
  loginWeb,
  refreshApp,
  refreshWeb,
  setCookie,
  type TokenBody,
  userinfo,
} from './http.js';

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanup.length) await cleanup.pop()!();
});

/** What an operator debugging a deployment might switch on: every request and response header. */
const HEADER_SERIALIZERS = {
  req: (req: { method: string; url: string; headers: Record<string, unknown> }) => ({
    method: req.method,
    url: req.url,
    headers: req.headers,
  }),
  res: (reply: { statusCode: number; getHeaders(): Record<string, unknown> }) => ({
    statusCode: reply.statusCode,
    headers: reply.getHeaders(),
  }),
};

describe('log redaction', () => {
  it.each([
    ['the default serializers', {}],
    ['serializers that log every header', { serializers: HEADER_SERIALIZERS }],
  ])('no token, password, cookie or master key reaches the logs with %s', async (_name, extra) => {
    const lines: string[] = [];
    const stream = { write: (line: string) => void lines.push(line) };
    const dataDir = mkdtempSync(join(tmpdir(), 'tessera-test-'));
    const masterKey = 'Mk9v3-xQ_7pLwR2sT8uY1zA4bC6dE0fG5hJ3kL7mN9o';
    const databaseUrl = await databaseUrlFor(dataDir);
    const config = loadConfig({}, {}, { dataDir, databaseUrl, port: 0, masterKey, logLevel: 'trace' });
    const logged = await createServer(config, { logger: { ...extra, stream } });
    cleanup.push(async () => {
      await logged.close();
      await removeDataDir(dataDir);
    });
    await logged.services.users.create('alice', ADMIN_PASSWORD);
    const { secret } = await logged.services.clients.add({
      clientId: 'backend',
      type: 'confidential',
      audiences: [config.audience],
      scopes: ['openid'],
    });
    await logged.services.clients.add({
      clientId: 'app',
      type: 'public',
      audiences: [config.audience],
      scopes: ['openid'],
    });
    const url = await logged.listen();
    // The helpers take a TestServer; this one has the fields they use.
    const s = Object.assign(logged, { url, dataDir, advance: () => {}, now: Date.now }) as TestServer;
    const secrets: string[] = [ADMIN_PASSWORD, masterKey, secret!, 'wrong password value'];

    // Password logins, good and bad, JSON and form; a malformed body that contains a password.
    await expectError(
      await post(`${url}/login`, { username: 'alice', password: 'wrong password value', client_id: 'app' }),
      400,
      'invalid_grant',
    );
    expect((await form(`${url}/login`, { username: 'alice', password: ADMIN_PASSWORD })).status).toBe(200);
    await fetch(`${url}/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: `{"username":"alice","password":"${ADMIN_PASSWORD}"`,
    });

    // The app: tokens in bodies and Authorization headers.
    const app = await loginApp(s);
    secrets.push(app.access_token, app.refresh_token);
    const rotated = (await (await refreshApp(s, app.refresh_token)).json()) as Required<TokenBody>;
    secrets.push(rotated.access_token, rotated.refresh_token);
    expect((await userinfo(s, rotated.access_token)).status).toBe(200);
    await fetch(`${url}/userinfo`, { headers: { authorization: `Bearer ${rotated.access_token}x` } });
    await post(
      `${url}/introspect`,
      { token: rotated.access_token },
      { authorization: basic('backend', secret!) },
    );
    await post(`${url}/token`, { grant_type: 'refresh_token', refresh_token: 'x', client_secret: secret });
    await post(
      `${url}/token`,
      { grant_type: 'refresh_token', refresh_token: 'x' },
      {
        authorization: basic('backend', 'a wrong secret'),
      },
    );
    expect(
      (
        await fetch(`${url}/logout`, {
          method: 'POST',
          headers: { authorization: `Bearer ${rotated.access_token}` },
        })
      ).status,
    ).toBe(204);

    // A DPoP login (RFC 9449): each proof is a credential until the server has used it up.
    const key = await dpopKey();
    const dpopLogin = (proof: string) =>
      fetch(`${url}/login`, {
        method: 'POST',
        headers: { dpop: proof },
        body: new URLSearchParams({ username: 'alice', password: ADMIN_PASSWORD, client_id: 'app' }),
      });
    const unused = await proofFor(s, key, '/login');
    const asked = await dpopLogin(unused);
    const proof = await proofFor(s, key, '/login', { nonce: asked.headers.get('dpop-nonce')! });
    const bound = await dpopLogin(proof);
    expect(bound.status).toBe(200);
    const boundTokens = (await bound.json()) as Required<TokenBody>;
    secrets.push(unused, proof, boundTokens.access_token, boundTokens.refresh_token);

    // The web client: the refresh token in cookies, both ways.
    const web = await loginWeb(s);
    secrets.push(web.access_token, web.cookie);
    const refreshed = await refreshWeb(s, browserHeaders(s, web.cookie));
    expect(refreshed.status).toBe(200);
    const next = setCookie(refreshed)!.value;
    secrets.push(next, ((await refreshed.json()) as TokenBody).access_token);
    await refreshWeb(s, { cookie: browserHeaders(s, next).cookie! }); // refused: no CSRF header
    await post(`${url}/revoke`, { token: web.access_token, client_id: 'web' });
    expect((await fetch(`${url}/logout`, { method: 'POST', headers: browserHeaders(s, next) })).status).toBe(
      204,
    );
    // Reuse after logout, and a request that fails inside the server's own code paths.
    await refreshWeb(s, browserHeaders(s, next));
    await fetch(`${url}/nope`, {
      headers: { authorization: `Bearer ${app.access_token}`, cookie: `a=${web.cookie}` },
    });

    await logged.close();
    cleanup.pop();
    cleanup.push(() => removeDataDir(dataDir));
    const log = lines.join('');
    // The capture worked: requests were logged, with their headers redacted where serialized.
    expect(log).toContain('incoming request');
    expect(log).toContain('/token/refresh');
    for (const value of secrets) {
      expect(value.length).toBeGreaterThan(8);
      expect(log.includes(value), `a secret reached the log: ${value.slice(0, 6)}…`).toBe(false);
    }
    // Nor the base64 of a Basic credential.
    expect(log).not.toContain(basic('backend', secret!).slice(6));
    if ('serializers' in extra) {
      // The headers were logged, and the credential-bearing ones redacted.
      expect(log).toContain('"x-tessera-csrf":"[redacted]"');
      expect(log).toContain('"authorization":"[redacted]"');
      expect(log).toContain('"cookie":"[redacted]"');
      expect(log).toContain('"set-cookie":"[redacted]"');
      expect(log).toContain('"dpop":"[redacted]"');
      expect(log).toContain('"origin":');
    }
  });
});

describe('URLs in the logs', () => {
  it.each([
    ['the default serializers', {}],
    ['serializers that log every header', { serializers: HEADER_SERIALIZERS }],
  ])('carry no query string, so a token in one never reaches the logs, with %s', async (_name, extra) => {
    const lines: string[] = [];
    const stream = { write: (line: string) => void lines.push(line) };
    const dataDir = mkdtempSync(join(tmpdir(), 'tessera-test-'));
    const databaseUrl = await databaseUrlFor(dataDir);
    const config = loadConfig({}, {}, { dataDir, databaseUrl, port: 0, logLevel: 'trace' });
    const logged = await createServer(config, { logger: { ...extra, stream } });
    cleanup.push(async () => {
      await logged.close();
      await removeDataDir(dataDir);
    });
    await logged.services.users.create('alice', ADMIN_PASSWORD);
    await logged.services.clients.add({
      clientId: 'app',
      type: 'public',
      audiences: [config.audience],
      scopes: ['openid', 'offline_access'],
    });
    const url = await logged.listen();
    const s = Object.assign(logged, { url, dataDir, advance: () => {}, now: Date.now }) as TestServer;
    const { access_token, refresh_token } = await loginApp(s);

    // Tokens where clients sometimes put them: in the query of the token endpoint, of a bearer
    // endpoint, of an unknown path; and in the Referer of a page that had one in its own URL.
    const code = 'SplxlOBeZQQYbYS6WxSbIA-authorization-code';
    const answers = await Promise.all([
      fetch(`${url}/token?grant_type=refresh_token&refresh_token=${refresh_token}&client_id=app`, {
        method: 'POST',
      }),
      fetch(`${url}/userinfo?access_token=${access_token}`, {
        headers: { referer: `https://app.example/callback?code=${code}&state=x` },
      }),
      fetch(`${url}/callback?code=${code}`),
      fetch(`${url}/%zz?refresh_token=${refresh_token}`),
    ]);
    expect(answers.map((res) => res.status)).toEqual([400, 401, 404, 400]);
    // The refresh token in the query was never used: it still works.
    expect((await refreshApp(s, refresh_token)).status).toBe(200);

    await logged.close();
    cleanup.pop();
    cleanup.push(() => removeDataDir(dataDir));
    const log = lines.join('');
    for (const secret of [access_token, refresh_token, code])
      expect(log.includes(secret), `a token reached the log: ${secret.slice(0, 6)}…`).toBe(false);
    expect(log).not.toMatch(/[?&](refresh_token|access_token|code)=/);
    // The capture worked: the requests were logged, each with its path (and the Referer, when the
    // serializers log headers).
    for (const path of ['"url":"/token"', '"url":"/userinfo"', '"url":"/callback"'])
      expect(log).toContain(path);
    if ('serializers' in extra) expect(log).toContain('"referer":"https://app.example/callback"');
  });

  it('are cut from messages and errors that name one, in the services’ log as in Fastify’s', () => {
    const lines: string[] = [];
    const log = createLogger(
      { logLevel: 'trace' },
      { stream: { write: (line: string) => void lines.push(line) } },
    );
    const token = 'eyJhbGciOiJFUzI1NiJ9.in-a-message';
    log.info(`Route GET:/userinfo?access_token=${token} not found`);
    log.error(
      { err: new Error(`Reply was already sent in the "/token?refresh_token=${token}" route`) },
      'failed',
    );
    const out = lines.join('');
    expect(out).toContain('Route GET:/userinfo not found');
    expect(out).toContain('\\"/token\\" route');
    expect(out).not.toContain(token);
  });
});
