/**
 * The audit table: what it records (never a secret), and how long it keeps it (`auditRetention`,
 * and `auditUsernameRetention` for the usernames typed into failed logins).
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Config } from '../src/config.js';
import { ADMIN_PASSWORD, eventually, post, removeDataDir, startServer, type TestServer } from './helpers.js';
import {
  addClients,
  browserHeaders,
  expectError,
  loginApp,
  loginWeb,
  refreshApp,
  type TokenBody,
} from './http.js';
import { request } from './requests.js';

let server: TestServer;
const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanup.length) await cleanup.pop()!();
});

async function start(overrides: Partial<Config> = {}): Promise<TestServer> {
  server = await startServer({ refreshGrace: 5, ...overrides });
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
    expect((await request(`${server.url}/logout`, { method: 'POST', headers: bearer })).status).toBe(204);
    const web = await loginWeb(server);
    secrets.push(web.access_token, web.cookie);
    const headers = browserHeaders(server, web.cookie);
    expect((await request(`${server.url}/logout`, { method: 'POST', headers })).status).toBe(204);
    const sixth = await loginApp(server);
    const all = { authorization: `Bearer ${sixth.access_token}` };
    expect((await request(`${server.url}/logout/all`, { method: 'POST', headers: all })).status).toBe(204);

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

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
/** The shortest retentions the settings allow: a day for rows, an hour for typed usernames. */
const RETENTION = { auditRetention: 86_400, auditUsernameRetention: 3_600 };

/** All rows, oldest first, as the store keeps them. */
async function rows() {
  return (await server.services.audit.recent(1_000)).reverse();
}

describe('audit retention', () => {
  it('erases the username typed into a failed or throttled login after auditUsernameRetention, keeping the rest', async () => {
    await start(RETENTION);
    const alice = (await server.services.users.byUsername('alice'))!;
    // "my password here" typed as a username, a wrong password for alice, then a lock.
    await expectError(await attempt('my password here', WRONG), 400, 'invalid_grant');
    for (let i = 0; i < 5; i++) await attempt('alice', WRONG);
    server.advance(HOUR - 1_000);
    await expectError(await attempt('bob', WRONG), 400, 'invalid_grant');
    server.advance(1_001);

    expect(
      await server.services.audit.prune(RETENTION.auditRetention, RETENTION.auditUsernameRetention),
    ).toEqual({
      deleted: 0,
      erased: 7,
    });
    const after = await rows();
    expect(after.map((e) => [e.type, e.detail])).toEqual([
      ['login_failed', {}],
      ...Array(4).fill(['login_failed', {}]),
      ['login_throttled', {}],
      ['login_failed', {}],
      // Recorded less than an hour ago: kept whole.
      ['login_failed', { username: 'bob' }],
    ]);
    // Who, from where and when stay until the row itself goes.
    expect(after[1]).toMatchObject({ userId: alice.id, clientId: 'app', ip: '127.0.0.1' });
    const stored = JSON.stringify(await server.services.db.selectFrom('audit_events').selectAll().execute());
    expect(stored).not.toContain('my password here');
  });

  it('deletes rows older than auditRetention', async () => {
    await start(RETENTION);
    await loginApp(server);
    await expectError(await attempt('alice', WRONG), 400, 'invalid_grant');
    server.advance(DAY - 1_000);
    await expectError(await attempt('carol', WRONG), 400, 'invalid_grant');
    server.advance(1_001);

    const { deleted } = await server.services.audit.prune(
      RETENTION.auditRetention,
      RETENTION.auditUsernameRetention,
    );
    expect(deleted).toBe(2);
    expect((await rows()).map((e) => e.type)).toEqual(['login_failed']);
  });

  it('is part of the server’s housekeeping, every minute', async () => {
    // Only setInterval is simulated: the server's housekeeping timer fires when the test says.
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    cleanup.push(async () => {
      vi.useRealTimers();
    });
    await start(RETENTION);
    await expectError(await attempt('my password here', WRONG), 400, 'invalid_grant');
    server.advance(HOUR + 1_000);
    await loginApp(server);
    vi.advanceTimersByTime(60_000);
    await eventually(async () => (await rows())[0]?.detail.username === undefined, 'the username erased');
    expect((await rows()).map((e) => [e.type, e.detail.username])).toEqual([
      ['login_failed', undefined],
      ['login_succeeded', undefined],
    ]);
  });
});
