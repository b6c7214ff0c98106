/**
 * The login throttle: progressive back-off on failed password logins, counted per account at each
 * client address, per client address (as `request.ip` sees it, behind trusted proxies only), and per
 * account across addresses. The policy is checked once through the HTTP app and, in detail, against
 * both implementations: in memory (one machine) and in Redis (scaled out).
 */
import { once } from 'node:events';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Config } from '../src/config.js';
import {
  ACCOUNT_POLICY,
  createLoginThrottle,
  createRedisLoginThrottle,
  type LoginThrottle,
} from '../src/http/login_throttle.js';
import { openRedis } from '../src/shared/redis.js';
import { ADMIN_PASSWORD, post, removeDataDir, startServer, type TestServer } from './helpers.js';
import { addClients, expectError, expectSecurityHeaders } from './http.js';
import { deleteKeys, REDIS_URL, redisUnreachable, uniquePrefix } from './redis.js';

const redisMissing = await redisUnreachable();
if (redisMissing && process.env.CI === 'true') throw new Error(`${redisMissing} (required on CI)`);
if (redisMissing) console.warn(`skipping the Redis login throttle tests: ${redisMissing}`);

const WRONG = 'definitely not the password';
/** Failed logins one client address may make before it waits (ADDRESS_POLICY.free). */
const ADDRESS_FREE = 20;

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanup.length) await cleanup.pop()!();
});

async function start(overrides: Partial<Config> = {}): Promise<TestServer> {
  const server = await startServer(overrides);
  cleanup.push(async () => {
    await server.close();
    await removeDataDir(server.dataDir);
  });
  await addClients(server);
  return server;
}

/** A password login over the socket, as a client sends it. */
const attempt = (server: TestServer, username: string, password: string) =>
  post(`${server.url}/login`, { username, password, client_id: 'app' });

/** A password login through the whole app, from the socket peer `from`, optionally forwarded. */
async function login(
  server: TestServer,
  {
    username,
    password,
    from,
    forwardedFor,
  }: { username: string; password: string; from: string; forwardedFor?: string },
) {
  const res = await server.app.inject({
    method: 'POST',
    url: '/login',
    remoteAddress: from,
    headers: forwardedFor === undefined ? {} : { 'x-forwarded-for': forwardedFor },
    payload: { username, password, client_id: 'app' },
  });
  return { status: res.statusCode, retryAfter: res.headers['retry-after'] };
}

/** Spends a client address's whole failure budget, one unknown username per attempt (no account locks). */
async function exhaustAddress(server: TestServer, from: string, forwardedFor?: (i: number) => string) {
  for (let i = 0; i < ADDRESS_FREE; i++) {
    const res = await login(server, {
      username: `user${i}`,
      password: WRONG,
      from,
      forwardedFor: forwardedFor?.(i),
    });
    expect(res.status).toBe(400);
  }
}

describe('progressive back-off through POST /login', () => {
  it('after 5 failures for an account at an address the next attempt there is 429 slow_down with Retry-After', async () => {
    const server = await start();
    for (let i = 0; i < 5; i++)
      await expectError(await attempt(server, 'alice', WRONG), 400, 'invalid_grant');
    // Locked: even the right password is refused, so guessing during the wait proves nothing.
    const locked = await attempt(server, 'alice', ADMIN_PASSWORD);
    expect(locked.headers.get('retry-after')).toBe('1');
    expectSecurityHeaders(locked);
    await expectError(locked, 429, 'slow_down');
    // The lock is the account's, whatever the case of its name; other accounts are not affected (this
    // address has used 5 of its 20 failures).
    await expectError(await attempt(server, 'ALICE', ADMIN_PASSWORD), 429, 'slow_down');
    await server.services.users.create('bob', 'bob password 12345');
    expect((await attempt(server, 'bob', 'bob password 12345')).status).toBe(200);

    // Once the wait is over the right password works.
    server.advance(1_001);
    expect((await attempt(server, 'alice', ADMIN_PASSWORD)).status).toBe(200);
  });

  it('each further failure doubles the wait', async () => {
    const server = await start();
    for (let i = 0; i < 5; i++) await attempt(server, 'alice', WRONG);
    expect((await attempt(server, 'alice', WRONG)).headers.get('retry-after')).toBe('1');
    server.advance(1_001);
    await expectError(await attempt(server, 'alice', WRONG), 400, 'invalid_grant');
    expect((await attempt(server, 'alice', WRONG)).headers.get('retry-after')).toBe('2');
    server.advance(2_001);
    await expectError(await attempt(server, 'alice', WRONG), 400, 'invalid_grant');
    const locked = await attempt(server, 'alice', ADMIN_PASSWORD);
    expect(locked.headers.get('retry-after')).toBe('4');
    await expectError(locked, 429, 'slow_down');
    server.advance(4_001);
    expect((await attempt(server, 'alice', ADMIN_PASSWORD)).status).toBe(200);
  });

  it('throttles unknown accounts exactly like real ones (no enumeration by lockout)', async () => {
    const server = await start();
    for (let i = 0; i < 5; i++)
      await expectError(await attempt(server, 'mallory', WRONG), 400, 'invalid_grant');
    const locked = await attempt(server, 'mallory', WRONG);
    expect(locked.headers.get('retry-after')).toBe('1');
    await expectError(locked, 429, 'slow_down');
  });

  it('a successful login resets the account counter', async () => {
    const server = await start();
    for (let i = 0; i < 4; i++)
      await expectError(await attempt(server, 'alice', WRONG), 400, 'invalid_grant');
    expect((await attempt(server, 'alice', ADMIN_PASSWORD)).status).toBe(200);
    // Without the reset, the next failures would be the 5th and 6th, and the 6th attempt would wait.
    for (let i = 0; i < 4; i++)
      await expectError(await attempt(server, 'alice', WRONG), 400, 'invalid_grant');
    expect((await attempt(server, 'alice', ADMIN_PASSWORD)).status).toBe(200);
  });

  it('20 failures from one address across different usernames throttle that address', async () => {
    const server = await start();
    for (let i = 0; i < 20; i++)
      await expectError(await attempt(server, `user${i}`, WRONG), 400, 'invalid_grant');
    // A fresh username, even alice with her real password, now waits.
    const locked = await attempt(server, 'alice', ADMIN_PASSWORD);
    expect(locked.headers.get('retry-after')).toBe('1');
    await expectError(locked, 429, 'slow_down');
    await expectError(await attempt(server, 'someone-new', WRONG), 429, 'slow_down');
    server.advance(1_001);
    expect((await attempt(server, 'alice', ADMIN_PASSWORD)).status).toBe(200);
  });

  it('a throttled attempt does not check the password; the lock is audited once, not each refusal', async () => {
    const server = await start();
    for (let i = 0; i < 5; i++) await attempt(server, 'alice', WRONG);
    const afterLock = await server.services.audit.recent();
    for (let i = 0; i < 10; i++) expect((await attempt(server, 'alice', ADMIN_PASSWORD)).status).toBe(429);
    const events = await server.services.audit.recent();
    expect(events).toEqual(afterLock);
    const throttled = events.filter((e) => e.type === 'login_throttled');
    expect(throttled).toHaveLength(1);
    expect(throttled[0]).toMatchObject({ clientId: 'app', detail: { username: 'alice' } });
    expect(events.filter((e) => e.type === 'login_failed')).toHaveLength(5);
    expect(events.filter((e) => e.type === 'login_succeeded')).toHaveLength(0);
  });

  it('counts parallel guesses before checking any password, so a burst cannot slip past the limit', async () => {
    const server = await start();
    const answers = await Promise.all(Array.from({ length: 20 }, () => attempt(server, 'alice', WRONG)));
    const statuses = answers.map((r) => r.status);
    expect(statuses.filter((s) => s === 400)).toHaveLength(5);
    expect(statuses.filter((s) => s === 429)).toHaveLength(15);
  });
});

describe('the client address behind load balancers (trustProxy)', () => {
  const PROXY = '10.0.0.1';

  it('ignores X-Forwarded-For from a peer that is not a trusted proxy', async () => {
    const server = await start({ trustProxy: [PROXY] });
    // A client that forges a new X-Forwarded-For on every guess still spends its own budget.
    await exhaustAddress(server, '192.0.2.7', (i) => `198.51.100.${i}`);
    const next = await login(server, {
      username: 'alice',
      password: ADMIN_PASSWORD,
      from: '192.0.2.7',
      forwardedFor: '198.51.100.200',
    });
    expect(next).toEqual({ status: 429, retryAfter: '1' });
  });

  it('believes X-Forwarded-For from a trusted proxy: each client behind it has a budget of its own', async () => {
    const server = await start({ trustProxy: ['10.0.0.0/8'] });
    await exhaustAddress(server, PROXY, () => '198.51.100.1');
    const guesser = { from: PROXY, forwardedFor: '198.51.100.1' };
    expect(await login(server, { username: 'alice', password: ADMIN_PASSWORD, ...guesser })).toMatchObject({
      status: 429,
    });
    // Another client behind the same load balancer is not locked out by the guesser.
    const neighbour = { from: PROXY, forwardedFor: '198.51.100.2' };
    expect(await login(server, { username: 'alice', password: ADMIN_PASSWORD, ...neighbour })).toMatchObject({
      status: 200,
    });
    // The audit trail names the client, not the load balancer.
    const [succeeded] = await server.services.audit.recent(1);
    expect(succeeded).toMatchObject({ type: 'login_succeeded', ip: '198.51.100.2' });
  });

  it('without trustProxy the load balancer is the client (every client behind it shares one budget)', async () => {
    const server = await start();
    await exhaustAddress(server, PROXY, (i) => `198.51.100.${i}`);
    expect(
      await login(server, {
        username: 'alice',
        password: ADMIN_PASSWORD,
        from: PROXY,
        forwardedFor: '198.51.100.99',
      }),
    ).toMatchObject({ status: 429 });
  });

  it('counts the addresses of one IPv6 /64 as one client (an attacker holds the whole /64)', async () => {
    const server = await start({ trustProxy: [PROXY] });
    await exhaustAddress(server, PROXY, (i) => `2001:db8:a:b::${(i + 1).toString(16)}`);
    const sameNetwork = { from: PROXY, forwardedFor: '2001:db8:a:b:ffff:ffff:ffff:fffe' };
    expect(
      await login(server, { username: 'alice', password: ADMIN_PASSWORD, ...sameNetwork }),
    ).toMatchObject({
      status: 429,
    });
    const nextNetwork = { from: PROXY, forwardedFor: '2001:db8:a:c::1' };
    expect(
      await login(server, { username: 'alice', password: ADMIN_PASSWORD, ...nextNetwork }),
    ).toMatchObject({
      status: 200,
    });
  });

  it('counts an IPv4-mapped IPv6 address as the IPv4 address', async () => {
    const server = await start();
    await exhaustAddress(server, '::ffff:192.0.2.9');
    expect(
      await login(server, { username: 'alice', password: ADMIN_PASSWORD, from: '192.0.2.9' }),
    ).toMatchObject({
      status: 429,
    });
  });
});

describe('an account under attack from one address', () => {
  it('is locked at that address only: its owner logs in from another', async () => {
    const server = await start();
    const attacker = '192.0.2.66';
    for (let i = 0; i < 5; i++)
      expect(await login(server, { username: 'alice', password: WRONG, from: attacker })).toMatchObject({
        status: 400,
      });
    expect(await login(server, { username: 'alice', password: ADMIN_PASSWORD, from: attacker })).toEqual({
      status: 429,
      retryAfter: '1',
    });
    // The owner, at home, is not held up by the guesser's lock.
    expect(
      await login(server, { username: 'alice', password: ADMIN_PASSWORD, from: '198.51.100.7' }),
    ).toMatchObject({ status: 200 });
    // And the guesser still waits.
    expect(
      await login(server, { username: 'alice', password: ADMIN_PASSWORD, from: attacker }),
    ).toMatchObject({
      status: 429,
    });
  });
});

/** A throttle with a clock of the test's own, in memory or in Redis. */
interface Subject {
  throttle: LoginThrottle;
  advance(ms: number): void;
}

const silent = { info() {}, warn() {}, error() {}, debug() {} };

async function memorySubject(): Promise<Subject> {
  let now = Date.now();
  const advance = (ms: number) => {
    now += ms;
  };
  return { throttle: createLoginThrottle(() => now), advance };
}

async function redisSubject(): Promise<Subject> {
  let now = Date.now();
  const prefix = uniquePrefix();
  const redis = openRedis(REDIS_URL, prefix, silent);
  if (!redis.ready()) await once(redis.client, 'ready');
  cleanup.push(async () => {
    await redis.close();
    await deleteKeys(prefix);
  });
  const advance = (ms: number) => {
    now += ms;
  };
  return { throttle: createRedisLoginThrottle(redis, silent, () => now), advance };
}

const implementations = [
  { name: 'in memory', subject: memorySubject, skip: undefined },
  { name: 'in Redis', subject: redisSubject, skip: redisMissing },
];

for (const { name, subject, skip } of implementations) {
  describe.skipIf(skip)(`the throttle ${name}`, () => {
    /** Fails `count` attempts on `username`, each from a different address; returns the addresses. */
    async function spread(throttle: LoginThrottle, username: string, count: number, network = '203.0.113') {
      for (let i = 0; i < count; i++)
        expect(await throttle.begin(username, `${network}.${i + 1}`)).toMatchObject({ retryAfter: 0 });
    }

    it('locks an account at the guessing address after 5 failures, not at other addresses', async () => {
      const { throttle } = await subject();
      for (let i = 0; i < 4; i++)
        expect(await throttle.begin('alice', '192.0.2.1')).toEqual({ retryAfter: 0, lockStarted: false });
      expect(await throttle.begin('alice', '192.0.2.1')).toEqual({ retryAfter: 0, lockStarted: true });
      expect(await throttle.begin('alice', '192.0.2.1')).toEqual({ retryAfter: 1, lockStarted: false });
      expect(await throttle.begin('alice', '192.0.2.2')).toEqual({ retryAfter: 0, lockStarted: false });
    });

    it('slows a guesser spread over many addresses with an account-wide wait of at most a minute', async () => {
      const { throttle, advance } = await subject();
      await spread(throttle, 'alice', ACCOUNT_POLICY.free);
      expect(await throttle.begin('alice', '198.51.100.1')).toEqual({ retryAfter: 1, lockStarted: false });
      // Each further failure doubles the account-wide wait, up to a minute and no further: nobody can
      // keep an account locked for long, however many addresses they guess from.
      const waits: number[] = [];
      for (let i = 0; i < 10; i++) {
        const { retryAfter } = await throttle.begin('alice', `198.51.100.${i + 10}`);
        waits.push(retryAfter);
        advance(retryAfter * 1000 + 1);
        expect(await throttle.begin('alice', `198.51.100.${i + 10}`)).toMatchObject({ retryAfter: 0 });
      }
      expect(waits).toEqual([1, 2, 4, 8, 16, 32, 60, 60, 60, 60]);
    });

    it('spares an address the account has logged in from before from the account-wide wait', async () => {
      const { throttle } = await subject();
      expect(await throttle.begin('alice', '198.51.100.7')).toMatchObject({ retryAfter: 0 });
      await throttle.succeeded('alice', '198.51.100.7');
      await spread(throttle, 'alice', ACCOUNT_POLICY.free);
      expect((await throttle.begin('alice', '198.51.100.8')).retryAfter).toBeGreaterThan(0);
      // The owner at home goes on as usual (the guessers never failed there).
      expect(await throttle.begin('alice', '198.51.100.7')).toMatchObject({ retryAfter: 0 });
    });

    it('locks an address after 20 failures across accounts, counting an IPv6 /64 as one address', async () => {
      const { throttle } = await subject();
      for (let i = 0; i < 20; i++)
        expect(await throttle.begin(`user${i}`, `2001:db8:1:2::${i + 1}`)).toMatchObject({ retryAfter: 0 });
      expect(await throttle.begin('alice', '2001:db8:1:2:aaaa::1')).toMatchObject({ retryAfter: 1 });
      expect(await throttle.begin('alice', '2001:db8:1:3::1')).toMatchObject({ retryAfter: 0 });
    });

    it('starts over at an address after a successful login there, and gives the attempt back', async () => {
      const { throttle } = await subject();
      for (let i = 0; i < 4; i++) await throttle.begin('alice', '192.0.2.1');
      await throttle.succeeded('alice', '192.0.2.1');
      for (let i = 0; i < 4; i++)
        expect(await throttle.begin('alice', '192.0.2.1')).toEqual({ retryAfter: 0, lockStarted: false });
    });
  });
}

describe('the in-memory throttle under memory pressure', () => {
  it('never forgets a lock or its back-off, however many other counters arrive', async () => {
    let now = Date.now();
    const throttle = createLoginThrottle(() => now);
    for (let i = 0; i < 5; i++) await throttle.begin('alice', '192.0.2.1');
    expect(await throttle.begin('alice', '192.0.2.1')).toMatchObject({ retryAfter: 1 });
    // A flood of other usernames, from as many addresses: more than the throttle keeps (100,000).
    for (let i = 0; i < 100_001; i++)
      await throttle.begin(`flood${i}`, `10.${i >> 16}.${(i >> 8) & 255}.${i & 255}`);
    expect(await throttle.begin('alice', '192.0.2.1')).toMatchObject({ retryAfter: 1 });
    // Once the wait is over, the next failure still doubles it: the count was not reset either.
    now += 1_001;
    expect(await throttle.begin('alice', '192.0.2.1')).toEqual({ retryAfter: 0, lockStarted: true });
    expect(await throttle.begin('alice', '192.0.2.1')).toMatchObject({ retryAfter: 2 });
  });

  it('when its table of locks is full, refuses attempts that would start a lock and keeps every lock', async () => {
    let now = Date.now();
    const log = { ...silent, warn: vi.fn() };
    const throttle = createLoginThrottle(() => now, { log, limits: { maxCounters: 1_000, maxLocks: 2 } });
    for (const [user, address] of [
      ['alice', '192.0.2.1'],
      ['bob', '192.0.2.2'],
    ]) {
      for (let i = 0; i < 5; i++) await throttle.begin(user!, address!);
    }
    for (let i = 0; i < 4; i++)
      expect(await throttle.begin('carol', '192.0.2.3')).toMatchObject({ retryAfter: 0 });
    // Carol's fifth failure would start a third lock: refused uncounted, until the oldest lock's
    // window (15 minutes) has passed.
    const refused = await throttle.begin('carol', '192.0.2.3');
    expect(refused.retryAfter).toBeGreaterThan(800);
    expect(refused.retryAfter).toBeLessThanOrEqual(900);
    expect(log.warn).toHaveBeenCalledTimes(1);
    expect(await throttle.begin('alice', '192.0.2.1')).toMatchObject({ retryAfter: 1 });
    expect(await throttle.begin('bob', '192.0.2.2')).toMatchObject({ retryAfter: 1 });
    // Refusals that start nothing new go on as before.
    expect(await throttle.begin('dave', '192.0.2.4')).toEqual({ retryAfter: 0, lockStarted: false });

    now += 900_001;
    expect(await throttle.begin('carol', '192.0.2.3')).toMatchObject({ retryAfter: 0 });
    for (let i = 0; i < 4; i++) await throttle.begin('carol', '192.0.2.3');
    expect(await throttle.begin('carol', '192.0.2.3')).toMatchObject({ retryAfter: 1 });
  });
});
