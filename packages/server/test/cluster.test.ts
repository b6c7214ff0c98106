/**
 * Tessera scaled out, as processes: three server instances sharing one PostgreSQL database and one
 * Redis, and three APIs protected by @tessera/guard in processes of their own (two following the
 * event stream of instance B and C, one reading Redis directly). Revocations made on instance A
 * must be enforced by every guard; refreshes spread over instances must rotate once; and the
 * cluster must ride out Redis dying and an instance being killed mid-load.
 *
 * Redis here is a `redis-server` of the test's own (memory only), so it can be killed and started
 * again empty; the servers and guards run from the transpiled sources (test/build.ts).
 */
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeJwtUnverified } from '@tessera/jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { createServices } from '../src/services.js';
import { buildSources, ROOT, type SourceBuild } from './build.js';
import { type Proc, prepareStore, start, statusAt, stop } from './cluster_processes.js';
import { TEST_STORE } from './databases.js';
import { ADMIN_PASSWORD, createTestDatabase, dropTestDatabase, eventually, post } from './helpers.js';
import { form } from './http.js';
import { freePort, OwnRedis, redisServerMissing } from './redis.js';

const skip =
  TEST_STORE !== 'postgres' ? 'the cluster runs in the server-postgres project' : await redisServerMissing();
if (skip && TEST_STORE === 'postgres' && process.env.CI === 'true')
  throw new Error(`${skip} (required on CI)`);
if (skip && TEST_STORE === 'postgres') console.warn(`skipping the cluster tests: ${skip}`);

const AUDIENCE = 'https://api.cluster.test';
/**
 * Seconds a guard may go without hearing from its revocation source: short, for the fault test, but
 * longer than the 5 s between the server's heartbeats (and the guard's blocking Redis reads).
 */
const STALE_AFTER = 8;

describe.skipIf(skip)('a cluster of three instances, three guarded APIs', { timeout: 120_000 }, () => {
  let build: SourceBuild;
  let redis: OwnRedis;
  let databaseUrl: string;
  let dataDir: string;
  const instances: Proc[] = [];
  const guards: Proc[] = [];
  let env: Record<string, string>;
  let issuer: string;

  beforeAll(async () => {
    build = buildSources('cluster');
    copyFileSync(join(ROOT, 'packages/server/test/fixtures/instance.js'), join(build.dir, 'instance.js'));
    copyFileSync(join(ROOT, 'bench/guard_process.js'), join(build.dir, 'guard.js'));
    redis = await OwnRedis.start();
    databaseUrl = (await createTestDatabase())!;
    dataDir = mkdtempSync(join(tmpdir(), 'tessera-cluster-'));
    // One issuer for all (in production, the load balancer's URL): here instance A's address.
    const ports = [await freePort(), await freePort(), await freePort()];
    issuer = `http://127.0.0.1:${ports[0]}`;
    env = {
      DATABASE_URL: databaseUrl,
      REDIS_URL: redis.url,
      TESSERA_MASTER_KEY: 'K'.repeat(43),
      TESSERA_ISSUER: issuer,
      TESSERA_AUDIENCE: AUDIENCE,
      TESSERA_DATA_DIR: dataDir,
      TESSERA_LOG_LEVEL: 'silent',
      TESSERA_REFRESH_GRACE: '2s',
    };
    const apiSecret = await prepareStore(env, AUDIENCE, issuer);
    for (const port of ports)
      instances.push(await start(join(build.dir, 'instance.js'), { ...env, TESSERA_PORT: String(port) }));
    const [, b, c] = instances as [Proc, Proc, Proc];
    const guardEnv = {
      GUARD_ISSUER: issuer,
      GUARD_AUDIENCE: AUDIENCE,
      GUARD_STALE_AFTER: String(STALE_AFTER),
      GUARD_ON_STALE: 'fail-closed',
    };
    // The guards that follow an instance's stream authenticate as the APIs' client.
    const client = { GUARD_CLIENT_ID: 'orders-api', GUARD_CLIENT_SECRET: apiSecret as string };
    guards.push(
      await start(join(build.dir, 'guard.js'), {
        ...guardEnv,
        GUARD_JWKS: `${b.url}/.well-known/jwks.json`,
        GUARD_STREAM: `${b.url}/revocations`,
        ...client,
      }),
      await start(join(build.dir, 'guard.js'), {
        ...guardEnv,
        GUARD_JWKS: `${c.url}/.well-known/jwks.json`,
        GUARD_STREAM: `${c.url}/revocations`,
        ...client,
      }),
      await start(join(build.dir, 'guard.js'), {
        ...guardEnv,
        GUARD_JWKS: `${b.url}/.well-known/jwks.json`,
        GUARD_REDIS: redis.url,
        GUARD_REDIS_KEY: 'tessera:revocations',
      }),
    );
  }, 60_000);

  afterAll(async () => {
    for (const proc of [...guards, ...instances]) await stop(proc);
    await redis?.stop();
    if (databaseUrl) await dropTestDatabase(databaseUrl);
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
    build?.remove();
  }, 30_000);

  const a = () => instances[0]!;
  async function login(instance = a()) {
    const res = await post(`${instance.url}/login`, {
      username: 'alice',
      password: ADMIN_PASSWORD,
      client_id: 'app',
    });
    expect(res.status).toBe(200);
    return (await res.json()) as { access_token: string; refresh_token: string };
  }
  const refresh = (instance: Proc, token: string) =>
    form(`${instance.url}/token`, { grant_type: 'refresh_token', client_id: 'app', refresh_token: token });

  /** Every guard accepts `token`, then `act` runs on A, then every guard refuses it: the delays. */
  async function enforcedEverywhere(token: string, act: () => Promise<void>): Promise<number[]> {
    for (const guard of guards) expect(await statusAt(guard, token)).toBe(200);
    const started = performance.now();
    await act();
    return Promise.all(
      guards.map(async (guard) => {
        await eventually(async () => (await statusAt(guard, token)) === 401, `${guard.url} to refuse`);
        return performance.now() - started;
      }),
    );
  }

  const delays: Record<string, number[]> = {};
  afterAll(() => {
    for (const [what, ms] of Object.entries(delays))
      console.log(
        `revocation on A → refused by the guards (B, C, Redis): ${what}: ${ms.map((d) => d.toFixed(1)).join(' / ')} ms`,
      );
  });

  it('logout on A (sid) is enforced by every guard', async () => {
    const session = await login();
    delays.logout = await enforcedEverywhere(session.access_token, async () => {
      const res = await fetch(`${a().url}/logout`, {
        method: 'POST',
        headers: { authorization: `Bearer ${session.access_token}` },
      });
      expect(res.status).toBe(204);
    });
  });

  it('revoking an access token on A (jti) is enforced by every guard', async () => {
    const session = await login();
    delays.revoke = await enforcedEverywhere(session.access_token, async () => {
      expect(
        (await form(`${a().url}/revoke`, { token: session.access_token, client_id: 'app' })).status,
      ).toBe(200);
    });
  });

  it('log out everywhere on A (sub + ver) is enforced by every guard, for every session', async () => {
    const one = await login(instances[1]);
    const two = await login(instances[2]);
    delays['logout-all'] = await enforcedEverywhere(one.access_token, async () => {
      const res = await fetch(`${a().url}/logout/all`, {
        method: 'POST',
        headers: { authorization: `Bearer ${one.access_token}` },
      });
      expect(res.status).toBe(204);
    });
    for (const guard of guards) expect(await statusAt(guard, two.access_token)).toBe(401);
  });

  it('reuse detection on A revokes the family everywhere', async () => {
    const session = await login(instances[1]);
    const rotated = await refresh(instances[1]!, session.refresh_token);
    expect(rotated.status).toBe(200);
    const { access_token } = (await rotated.json()) as { access_token: string };
    await new Promise((resolve) => setTimeout(resolve, 2_100)); // past the grace window
    delays.reuse = await enforcedEverywhere(access_token, async () => {
      expect((await refresh(a(), session.refresh_token)).status).toBe(400);
    });
  });

  it('concurrent refreshes of one token spread over the three instances yield one successor', async () => {
    const session = await login();
    const answers = await Promise.all(
      Array.from({ length: 30 }, (_, i) => refresh(instances[i % 3]!, session.refresh_token)),
    );
    const bodies = (await Promise.all(answers.map((r) => r.json()))) as { refresh_token?: string }[];
    expect(answers.map((r) => r.status)).toEqual(answers.map(() => 200));
    expect(new Set(bodies.map((b) => b.refresh_token)).size).toBe(1);
    // The successor works once more, on any instance.
    expect((await refresh(instances[2]!, bodies[0]!.refresh_token!)).status).toBe(200);
  });

  it('Redis dies and comes back: stream guards keep enforcing through the store; the Redis guard fails closed', async () => {
    const before = await login();
    await redis.stop();
    const [viaB, viaC, viaRedis] = guards as [Proc, Proc, Proc];
    // The guard reading Redis directly cannot know of revocations: after STALE_AFTER it refuses
    // every token (503, not blaming the token) rather than accept one that may be revoked.
    await eventually(
      async () => (await statusAt(viaRedis, before.access_token)) === 503,
      'the Redis guard to fail closed',
    );

    // Logins and logouts go on (PostgreSQL is the truth); the stream guards hear of the logout
    // from their instance's store sync, within a second or so, and never accept the token again.
    const session = await login(instances[1]);
    for (const guard of [viaB, viaC]) expect(await statusAt(guard, session.access_token)).toBe(200);
    const logout = await fetch(`${a().url}/logout`, {
      method: 'POST',
      headers: { authorization: `Bearer ${session.access_token}` },
    });
    expect(logout.status).toBe(204);
    for (const guard of [viaB, viaC]) {
      await eventually(
        async () => (await statusAt(guard, session.access_token)) === 401,
        'a stream guard to refuse',
      );
    }
    expect(await statusAt(viaRedis, session.access_token)).toBe(503);
    const seen: number[] = [];
    for (let i = 0; i < 20; i++)
      for (const guard of guards) seen.push(await statusAt(guard, session.access_token));
    expect(seen.filter((status) => status === 200)).toEqual([]);

    // Redis comes back empty; the instances publish every live revocation again, and the Redis
    // guard, live again, refuses the token revoked while Redis was down and accepts good ones.
    await redis.start();
    const fresh = await login(instances[2]);
    await eventually(
      async () => (await statusAt(viaRedis, fresh.access_token)) === 200,
      'the Redis guard to recover',
    );
    expect(await statusAt(viaRedis, session.access_token)).toBe(401);
    for (const instance of instances)
      await eventually(
        async () => (await fetch(`${instance.url}/readyz`)).status === 200,
        'every instance ready',
      );
  });

  it('an instance killed mid-load: clients carry on elsewhere, no family is lost or duplicated', async () => {
    // One after another: simultaneous logins of one account count as guesses until each succeeds.
    const sessions = [];
    for (let i = 0; i < 6; i++) sessions.push(await login(instances[i % 3]));
    const tokens = sessions.map((s) => s.refresh_token);
    let stopped = false;
    const alive = () => instances.filter((p) => p.child.exitCode === null && p.child.signalCode === null);
    const failures: string[] = [];
    // Each client refreshes in a loop, round robin over the instances; a failed connection is
    // retried at once on the next instance with the same token (as a load balancer would).
    const clients = tokens.map(async (_, i) => {
      let turn = i;
      while (!stopped) {
        const targets = alive();
        const target = targets[turn++ % targets.length]!;
        try {
          const res = await refresh(target, tokens[i]!);
          if (res.status !== 200) failures.push(`${res.status} ${JSON.stringify(await res.json())}`);
          else tokens[i] = ((await res.json()) as { refresh_token: string }).refresh_token;
        } catch {
          // The instance died with this request in flight: try the next one.
        }
      }
    });
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    await stop(instances[2]!, 'SIGKILL');
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    stopped = true;
    await Promise.all(clients);
    expect(failures).toEqual([]);
    // Every family has exactly one live token, the one its client holds, and it still works.
    const services = await createServices(loadConfig(env));
    try {
      for (let i = 0; i < sessions.length; i++) {
        const sid = (decodeJwtUnverified(sessions[i]!.access_token) as { sid: string }).sid;
        const live = await services.db
          .selectFrom('refresh_tokens')
          .select('token_hash')
          .where('family_id', '=', sid)
          .where('rotated_at', 'is', null)
          .execute();
        expect(live).toHaveLength(1);
      }
    } finally {
      await services.close();
    }
    for (const token of tokens) expect((await refresh(a(), token)).status).toBe(200);
  });
});
