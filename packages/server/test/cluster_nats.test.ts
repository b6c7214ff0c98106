/**
 * Tessera scaled out on NATS JetStream, as processes: three server instances sharing one PostgreSQL
 * database and one JetStream stream (`TESSERA_REVOCATION_BROKER`, no Redis), and three APIs
 * protected by @tessera/guard in processes of their own: two reading the stream directly
 * (`revocations: { nats }`), one following instance C's event stream. A revocation made on any
 * instance must be refused by every guard, within 100 ms at the 99th percentile (the product's
 * propagation requirement, measured as test/propagation.ts defines it, the same as on RabbitMQ);
 * and nothing may be lost when NATS restarts mid-run.
 *
 * NATS is the machine's own nats-server (JetStream on disk): the restart test stops it with SIGTERM
 * and starts it again with the same command line, always, even when the test fails.
 */
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { createServices } from '../src/services.js';
import { buildSources, ROOT, type SourceBuild } from './build.js';
import { type Proc, prepareStore, start, statusAt, stop } from './cluster_processes.js';
import { TEST_STORE } from './databases.js';
import { ADMIN_PASSWORD, createTestDatabase, dropTestDatabase, eventually, post } from './helpers.js';
import { form } from './http.js';
import {
  deleteStream,
  findSystemNats,
  NATS_URL,
  natsSkip,
  startSystemNats,
  stopSystemNats,
  storedMessages,
  type TestStream,
  uniqueStream,
} from './nats.js';
import { measurePropagation, P99_LIMIT_MS, REVOCATIONS, reportPropagation } from './propagation.js';
import { freePort } from './redis.js';

async function why(): Promise<string | undefined> {
  if (TEST_STORE !== 'postgres')
    return 'the cluster needs PostgreSQL (the brokers project runs on it when it is reachable)';
  const missing = await natsSkip('the NATS cluster tests');
  if (missing && process.env.CI === 'true') throw new Error(`${missing} (required on CI)`);
  return missing;
}
const skip = await why();
if (skip) console.warn(`skipping the NATS cluster tests: ${skip}`);

const AUDIENCE = 'https://api.cluster-nats.test';
/** Longer than the 3 s between the instances' heartbeats; short enough for the outage test. */
const STALE_AFTER = 8;

/** Asks `guard` until it answers `status` (polling with a deadline, never a timing assertion). */
const untilStatus = (guard: Proc, token: string, status: number, ms = 15_000) =>
  eventually(async () => (await statusAt(guard, token)) === status, `${guard.url} to answer ${status}`, ms);

describe.skipIf(skip)(
  'a cluster of three instances on NATS JetStream, three guarded APIs',
  { timeout: 180_000 },
  () => {
    let build: SourceBuild;
    let databaseUrl: string;
    let dataDir: string;
    let nats: TestStream;
    const instances: Proc[] = [];
    const guards: Proc[] = [];

    beforeAll(async () => {
      build = buildSources('cluster-nats');
      copyFileSync(join(ROOT, 'packages/server/test/fixtures/instance.js'), join(build.dir, 'instance.js'));
      copyFileSync(join(ROOT, 'bench/guard_process.js'), join(build.dir, 'guard.js'));
      databaseUrl = (await createTestDatabase())!;
      dataDir = mkdtempSync(join(tmpdir(), 'tessera-cluster-nats-'));
      nats = uniqueStream();
      const ports = [await freePort(), await freePort(), await freePort()];
      const issuer = `http://127.0.0.1:${ports[0]}`;
      const env = {
        DATABASE_URL: databaseUrl,
        TESSERA_REVOCATION_BROKER: nats.url(),
        TESSERA_MASTER_KEY: 'N'.repeat(43),
        TESSERA_ISSUER: issuer,
        TESSERA_AUDIENCE: AUDIENCE,
        TESSERA_DATA_DIR: dataDir,
        TESSERA_LOG_LEVEL: 'silent',
        // A hundred revocations of one user in a minute: the budget is not what is measured here.
        TESSERA_REVOCATION_RATE_USER: '1000000',
        TESSERA_REVOCATION_RATE_CLIENT: '1000000',
      };
      const secret = await prepareStore(env, AUDIENCE, issuer);
      for (const port of ports)
        instances.push(await start(join(build.dir, 'instance.js'), { ...env, TESSERA_PORT: String(port) }));
      const [, b, c] = instances as [Proc, Proc, Proc];
      const guardEnv = {
        GUARD_ISSUER: issuer,
        GUARD_AUDIENCE: AUDIENCE,
        GUARD_STALE_AFTER: String(STALE_AFTER),
      };
      const viaNats = { GUARD_NATS: NATS_URL, GUARD_NATS_STREAM: nats.stream };
      guards.push(
        await start(join(build.dir, 'guard.js'), {
          ...guardEnv,
          ...viaNats,
          GUARD_JWKS: `${b.url}/.well-known/jwks.json`,
        }),
        await start(join(build.dir, 'guard.js'), {
          ...guardEnv,
          ...viaNats,
          GUARD_JWKS: `${c.url}/.well-known/jwks.json`,
        }),
        await start(join(build.dir, 'guard.js'), {
          ...guardEnv,
          GUARD_JWKS: `${c.url}/.well-known/jwks.json`,
          GUARD_STREAM: `${c.url}/revocations`,
          GUARD_CLIENT_ID: 'orders-api',
          GUARD_CLIENT_SECRET: secret,
        }),
      );
    }, 90_000);

    afterAll(async () => {
      for (const proc of [...guards, ...instances]) await stop(proc);
      if (nats) await deleteStream(nats.stream);
      if (databaseUrl) await dropTestDatabase(databaseUrl);
      if (dataDir) rmSync(dataDir, { recursive: true, force: true });
      build?.remove();
    }, 30_000);

    async function login(instance: Proc) {
      const res = await post(`${instance.url}/login`, {
        username: 'alice',
        password: ADMIN_PASSWORD,
        client_id: 'app',
      });
      expect(res.status).toBe(200);
      return (await res.json()) as { access_token: string; refresh_token: string };
    }
    const logout = (instance: Proc, token: string) =>
      fetch(`${instance.url}/logout`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
    const revoke = (instance: Proc, token: string) =>
      form(`${instance.url}/revoke`, { token, client_id: 'app' });

    it('a revocation on any instance is refused by every guard', async () => {
      const [a, b, c] = instances as [Proc, Proc, Proc];
      const one = await login(a);
      const two = await login(b);
      const three = await login(c);
      for (const token of [one, two, three])
        for (const guard of guards) expect(await statusAt(guard, token.access_token)).toBe(200);
      expect((await logout(a, one.access_token)).status).toBe(204);
      expect((await revoke(b, two.access_token)).status).toBe(200);
      expect((await logout(c, three.access_token)).status).toBe(204);
      for (const token of [one, two, three])
        for (const guard of guards) await untilStatus(guard, token.access_token, 401);
    });

    it(`propagation over ${REVOCATIONS} revocations: p99 ≤ ${P99_LIMIT_MS} ms at every guard`, async () => {
      const { samples, loadBefore } = await measurePropagation(instances, guards);
      reportPropagation(
        'NATS cluster',
        ['NATS guard (B keys)', 'NATS guard (C keys)', 'SSE of C'],
        samples,
        loadBefore,
      );
    });

    it('NATS restarted mid-run: revocations made while it was down reach every guard once it is back', async () => {
      const system = findSystemNats();
      if (!system) throw new Error('no nats-server process on this machine to restart');
      const [a, b, c] = instances as [Proc, Proc, Proc];
      const [natsGuard1, natsGuard2, sseGuard] = guards as [Proc, Proc, Proc];
      const one = await login(a);
      const two = await login(b);
      let fresh: { access_token: string } | undefined;
      try {
        await stopSystemNats(system);
        // PostgreSQL is the truth: revocations go on, each row waiting for NATS.
        expect((await logout(a, one.access_token)).status).toBe(204);
        expect((await revoke(b, two.access_token)).status).toBe(200);
        // The event-stream guard hears of them from C's store sync.
        for (const token of [one, two]) await untilStatus(sseGuard, token.access_token, 401);
        // The guards reading NATS cannot know of them: once staleAfter has passed without a
        // heartbeat they refuse every token (503) rather than accept one that may be revoked.
        fresh = await login(c);
        for (const guard of [natsGuard1, natsGuard2]) {
          await eventually(
            async () => (await statusAt(guard, fresh!.access_token)) === 503,
            'a NATS guard to fail closed',
            (STALE_AFTER + 10) * 1000,
          );
          for (const token of [one, two]) expect(await statusAt(guard, token.access_token)).toBe(503);
        }
      } finally {
        await startSystemNats(system);
      }
      // Back with its data: the instances deliver what waited, heartbeats resume, every guard refuses
      // the revoked tokens and accepts a good one again.
      for (const guard of guards) {
        for (const token of [one, two]) await untilStatus(guard, token.access_token, 401, 30_000);
        await untilStatus(guard, fresh!.access_token, 200, 30_000);
      }
      const stored = (await storedMessages(nats.stream)).filter((m) => m.message?.type === 'revocation');
      const rows = await (async () => {
        const services = await createServices(
          loadConfig({
            DATABASE_URL: databaseUrl,
            TESSERA_MASTER_KEY: 'N'.repeat(43),
            TESSERA_DATA_DIR: dataDir,
          }),
        );
        try {
          return await services.db.selectFrom('revocations').select(['id', 'published_at']).execute();
        } finally {
          await services.close();
        }
      })();
      // Nothing lost, nothing twice: every row delivered, each on the stream once.
      expect(rows.filter((row) => row.published_at === null)).toEqual([]);
      const rowIds = stored.map((m) => (m.message?.type === 'revocation' ? m.message.rowId : 0));
      expect(new Set(rowIds).size).toBe(rowIds.length);
      expect(rowIds.sort((x, y) => x - y)).toEqual(rows.map((row) => Number(row.id)).sort((x, y) => x - y));
      for (const instance of instances)
        await eventually(
          async () => (await fetch(`${instance.url}/readyz`)).status === 200,
          'every instance ready',
        );
    });
  },
);
