/**
 * The login throttle: progressive back-off on failed password logins, counted per client address
 * (as `request.ip` sees it, behind trusted proxies only) and per account.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Config } from '../src/config.js';
import { ADMIN_PASSWORD, removeDataDir, startServer, type TestServer } from './helpers.js';
import { addClients } from './http.js';

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
