import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { createServer } from '../src/server.js';
import {
  ADMIN_PASSWORD,
  databaseUrlFor,
  post,
  removeDataDir,
  startServer,
  type TestServer,
} from './helpers.js';
import {
  addClients,
  basic,
  browserHeaders,
  expectError,
  expectSecurityHeaders,
  form,
  loginApp,
  loginWeb,
  refreshApp,
  refreshWeb,
  setCookie,
  type TokenBody,
  userinfo,
} from './http.js';

let server: TestServer;
const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanup.length) await cleanup.pop()!();
});

async function start(): Promise<TestServer> {
  server = await startServer({ refreshGrace: 5 });
  cleanup.push(async () => {
    await server.close();
    await removeDataDir(server.dataDir);
  });
  await addClients(server);
  return server;
}

const attempt = (username: string, password: string) =>
  post(`${server.url}/login`, { username, password, client_id: 'app' });
const WRONG = 'definitely not the password';

describe('progressive back-off on /login', () => {
  it('after 5 failures for an account the next attempt is 429 slow_down with Retry-After', async () => {
    await start();
    for (let i = 0; i < 5; i++) await expectError(await attempt('alice', WRONG), 400, 'invalid_grant');
    // Locked: even the right password is refused, so guessing during the wait proves nothing.
    const locked = await attempt('alice', ADMIN_PASSWORD);
    expect(locked.headers.get('retry-after')).toBe('1');
    expectSecurityHeaders(locked);
    await expectError(locked, 429, 'slow_down');
    // The lock is per account name, whatever its case; other accounts are not affected (this address
    // has used 5 of its 20 failures).
    await expectError(await attempt('ALICE', ADMIN_PASSWORD), 429, 'slow_down');
    await server.services.users.create('bob', 'bob password 12345');
    expect((await attempt('bob', 'bob password 12345')).status).toBe(200);

    // Once the wait is over the right password works.
    server.advance(1_001);
    expect((await attempt('alice', ADMIN_PASSWORD)).status).toBe(200);
  });

  it('each further failure doubles the wait', async () => {
    await start();
    for (let i = 0; i < 5; i++) await attempt('alice', WRONG);
    expect((await attempt('alice', WRONG)).headers.get('retry-after')).toBe('1');
    server.advance(1_001);
    await expectError(await attempt('alice', WRONG), 400, 'invalid_grant');
    expect((await attempt('alice', WRONG)).headers.get('retry-after')).toBe('2');
    server.advance(2_001);
    await expectError(await attempt('alice', WRONG), 400, 'invalid_grant');
    const locked = await attempt('alice', ADMIN_PASSWORD);
    expect(locked.headers.get('retry-after')).toBe('4');
    await expectError(locked, 429, 'slow_down');
    server.advance(4_001);
    expect((await attempt('alice', ADMIN_PASSWORD)).status).toBe(200);
  });

  it('throttles unknown accounts exactly like real ones (no enumeration by lockout)', async () => {
    await start();
    for (let i = 0; i < 5; i++) await expectError(await attempt('mallory', WRONG), 400, 'invalid_grant');
    const locked = await attempt('mallory', WRONG);
    expect(locked.headers.get('retry-after')).toBe('1');
    await expectError(locked, 429, 'slow_down');
  });

  it('a successful login resets the account counter', async () => {
    await start();
    for (let i = 0; i < 4; i++) await expectError(await attempt('alice', WRONG), 400, 'invalid_grant');
    expect((await attempt('alice', ADMIN_PASSWORD)).status).toBe(200);
    // Without the reset, the next failures would be the 5th and 6th, and the 6th attempt would wait.
    for (let i = 0; i < 4; i++) await expectError(await attempt('alice', WRONG), 400, 'invalid_grant');
    expect((await attempt('alice', ADMIN_PASSWORD)).status).toBe(200);
  });

  it('20 failures from one address across different usernames throttle that address', async () => {
    await start();
    for (let i = 0; i < 20; i++) await expectError(await attempt(`user${i}`, WRONG), 400, 'invalid_grant');
    // A fresh username, even alice with her real password, now waits.
    const locked = await attempt('alice', ADMIN_PASSWORD);
    expect(locked.headers.get('retry-after')).toBe('1');
    await expectError(locked, 429, 'slow_down');
    await expectError(await attempt('someone-new', WRONG), 429, 'slow_down');
    server.advance(1_001);
    expect((await attempt('alice', ADMIN_PASSWORD)).status).toBe(200);
  });

  it('a throttled attempt does not check the password; the lock is audited once, not each refusal', async () => {
    await start();
    for (let i = 0; i < 5; i++) await attempt('alice', WRONG);
    const afterLock = await server.services.audit.recent();
    for (let i = 0; i < 10; i++) expect((await attempt('alice', ADMIN_PASSWORD)).status).toBe(429);
    const events = await server.services.audit.recent();
    expect(events).toEqual(afterLock);
    const throttled = events.filter((e) => e.type === 'login_throttled');
    expect(throttled).toHaveLength(1);
    expect(throttled[0]).toMatchObject({ clientId: 'app', detail: { username: 'alice' } });
    expect(events.filter((e) => e.type === 'login_failed')).toHaveLength(5);
    expect(events.filter((e) => e.type === 'login_succeeded')).toHaveLength(0);
  });

  it('counts parallel guesses before checking any password, so a burst cannot slip past the limit', async () => {
    await start();
    const answers = await Promise.all(Array.from({ length: 20 }, () => attempt('alice', WRONG)));
    const statuses = answers.map((r) => r.status);
    expect(statuses.filter((s) => s === 400)).toHaveLength(5);
    expect(statuses.filter((s) => s === 429)).toHaveLength(15);
  });
});

describe('the audit table', () => {
  it('records login success and failure, reuse detection, revocation and logout, without secrets', async () => {
    await start();
    const secrets: string[] = [ADMIN_PASSWORD, WRONG];

    await expectError(await attempt('alice', WRONG), 400, 'invalid_grant');
    await expectError(await attempt('nobody', WRONG), 400, 'invalid_grant');
    const first = await loginApp(server);
    secrets.push(first.access_token, first.refresh_token);

    // Reuse detection.
    const second = (await (await refreshApp(server, first.refresh_token)).json()) as Required<TokenBody>;
    secrets.push(second.access_token, second.refresh_token);
    server.advance(10_000);
    await expectError(await refreshApp(server, first.refresh_token), 400, 'invalid_grant');

    // Revocation of a refresh token (session) and of an access token (jti).
    const third = await loginApp(server);
    secrets.push(third.access_token, third.refresh_token);
    expect(
      (await post(`${server.url}/revoke`, { token: third.refresh_token, client_id: 'app' })).status,
    ).toBe(200);
    const fourth = await loginApp(server);
    secrets.push(fourth.access_token, fourth.refresh_token);
    expect(
      (await post(`${server.url}/revoke`, { token: fourth.access_token, client_id: 'app' })).status,
    ).toBe(200);

    // Logout (bearer and cookie), and logout everywhere.
    const fifth = await loginApp(server);
    secrets.push(fifth.access_token, fifth.refresh_token);
    const bearer = { authorization: `Bearer ${fifth.access_token}` };
    expect((await fetch(`${server.url}/logout`, { method: 'POST', headers: bearer })).status).toBe(204);
    const web = await loginWeb(server);
    secrets.push(web.access_token, web.cookie);
    const headers = browserHeaders(server, web.cookie);
    expect((await fetch(`${server.url}/logout`, { method: 'POST', headers })).status).toBe(204);
    const sixth = await loginApp(server);
    const all = { authorization: `Bearer ${sixth.access_token}` };
    expect((await fetch(`${server.url}/logout/all`, { method: 'POST', headers: all })).status).toBe(204);

    const alice = (await server.services.users.byUsername('alice'))!;
    const events = (await server.services.audit.recent()).reverse();
    const types = events.map((e) => e.type);
    expect(types).toEqual([
      'login_failed',
      'login_failed',
      'login_succeeded',
      'refresh_reuse_detected',
      'login_succeeded',
      'session_revoked',
      'login_succeeded',
      'token_revoked',
      'login_succeeded',
      'session_revoked',
      'login_succeeded',
      'session_revoked',
      'login_succeeded',
      'user_logged_out_everywhere',
    ]);
    expect(events[0]).toMatchObject({ userId: alice.id, clientId: 'app', detail: { username: 'alice' } });
    expect(events[1]).toMatchObject({ userId: null, clientId: 'app', detail: { username: 'nobody' } });
    expect(events[2]).toMatchObject({ userId: alice.id, clientId: 'app', ip: '127.0.0.1' });
    const sid = events[2]!.detail.sid;
    expect(sid).toMatch(/^sid_/);
    expect(events[3]).toMatchObject({ userId: alice.id, clientId: 'app', detail: { sid } });
    expect(events[5]).toMatchObject({ userId: alice.id, detail: { reason: 'revoke' } });
    expect(events[7]).toMatchObject({ userId: alice.id, detail: { jti: expect.any(String) } });
    expect(events[9]).toMatchObject({ userId: alice.id, clientId: 'app', detail: { reason: 'logout' } });
    expect(events[11]).toMatchObject({ userId: alice.id, clientId: 'web', detail: { reason: 'logout' } });
    expect(events[13]).toMatchObject({ userId: alice.id, detail: { sessions: expect.any(Number) } });
    for (const event of events) expect(event.createdAt).toBeGreaterThan(0);

    const stored = JSON.stringify(await server.services.db.selectFrom('audit_events').selectAll().execute());
    for (const secret of secrets) expect(stored).not.toContain(secret);
  });
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
      expect(log).toContain('"origin":');
    }
  });
});
