import { afterEach, describe, expect, it } from 'vitest';
import { ADMIN_PASSWORD, post, removeDataDir, startServer, type TestServer } from './helpers.js';
import { addClients, expectError, expectSecurityHeaders } from './http.js';

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
