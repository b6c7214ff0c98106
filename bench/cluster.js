// Cluster suite: Tessera scaled out. Two server instances (separate processes) share one PostgreSQL
// database and one Redis; an API protected by @tessera/guard runs in a third process, following the
// revocation stream of instance B. Measured:
//  - propagation: a token is revoked on instance A (POST /revoke), and the API (through B) is asked
//    with it until it answers 401; the delay from sending the revocation to that 401, over
//    BENCH_CLUSTER_REVOCATIONS (1,000) revocations, each first used once so the guard has it cached;
//  - refresh grant throughput on both instances at once (autocannon against each), each request
//    rotating its own refresh token.
// Needs PostgreSQL (BENCH_DATABASE_URL, default TESSERA_TEST_DATABASE_URL or the local server) and
// Redis (BENCH_REDIS_URL, default TESSERA_TEST_REDIS_URL or the local server); skipped without them.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { createServices, loadConfig } from '../packages/server/dist/index.js';
import { freePort, load, startProcess, stopProcess } from './processes.js';

const ADMIN_URL =
  process.env.BENCH_DATABASE_URL ||
  process.env.TESSERA_TEST_DATABASE_URL ||
  'postgres://postgres@127.0.0.1:5432/test';
const REDIS_URL =
  process.env.BENCH_REDIS_URL || process.env.TESSERA_TEST_REDIS_URL || 'redis://127.0.0.1:6379';
const REVOCATIONS = Number(process.env.BENCH_CLUSTER_REVOCATIONS ?? 1000);
const SESSIONS = Number(process.env.BENCH_CLUSTER_SESSIONS ?? 40_000);
const SECONDS = Number(process.env.BENCH_CLUSTER_SECONDS ?? 10);
const CONNECTIONS = Number(process.env.BENCH_CLUSTER_CONNECTIONS ?? 16);
const MASTER_KEY = 'C'.repeat(43);

async function admin(sql) {
  const client = new pg.Client({ connectionString: ADMIN_URL, connectionTimeoutMillis: 3000 });
  await client.connect();
  try {
    return await client.query(sql);
  } finally {
    await client.end();
  }
}

function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

export async function runCluster() {
  const name = `tessera_bench_${process.pid}`;
  try {
    await admin(`CREATE DATABASE ${name}`);
  } catch (err) {
    console.log(`\nCluster: skipped (PostgreSQL at ${new URL(ADMIN_URL).host}: ${err.message})`);
    return { skipped: err.message };
  }
  const databaseUrl = new URL(ADMIN_URL);
  databaseUrl.pathname = `/${name}`;
  const prefix = `tessera-bench-${process.pid}:`;
  const dataDir = mkdtempSync(join(tmpdir(), 'tessera-cluster-'));
  const processes = [];
  try {
    // The same `iss` on every instance (in production the load balancer's URL): here A's address.
    const ports = [await freePort(), await freePort()];
    const issuer = `http://127.0.0.1:${ports[0]}`;
    const env = {
      DATABASE_URL: databaseUrl.href,
      REDIS_URL,
      TESSERA_REDIS_PREFIX: prefix,
      TESSERA_MASTER_KEY: MASTER_KEY,
      TESSERA_ISSUER: issuer,
      TESSERA_AUDIENCE: 'https://api.example',
      TESSERA_DATA_DIR: dataDir,
      TESSERA_LOG_LEVEL: 'silent',
      // One user revokes a thousand tokens here: lift the per-user and per-client revocation budgets.
      TESSERA_REVOCATION_RATE_USER: '1000000',
      TESSERA_REVOCATION_RATE_CLIENT: '10000000',
    };
    // Users, clients, sessions and access tokens, written straight to the shared store.
    const services = await createServices(loadConfig(env), Date.now);
    const user = await services.users.create('bench', 'correct horse battery staple');
    await services.clients.add({
      clientId: 'app',
      type: 'public',
      audiences: ['https://api.example'],
      scopes: ['openid'],
    });
    // The API's own client: the revocation stream is for authenticated resource servers.
    const { secret: apiSecret } = await services.clients.add({
      clientId: 'orders-api',
      type: 'confidential',
      audiences: ['https://api.example'],
      scopes: [],
    });
    const refreshTokens = [];
    for (let i = 0; i < SESSIONS; i++)
      refreshTokens.push((await services.refreshTokens.start(user.id, 'app', 'openid')).refreshToken);
    const accessTokens = [];
    for (let i = 0; i < REVOCATIONS; i++) {
      const session = await services.refreshTokens.start(user.id, 'app', 'openid');
      accessTokens.push(
        services.accessTokens.issue({
          user,
          clientId: 'app',
          scope: 'openid',
          sid: session.familyId,
          audience: 'https://api.example',
          ttl: services.config.accessTokenTtl,
        }).token,
      );
    }
    await services.close();

    const a = await startProcess('cluster_instance.js', { ...env, TESSERA_PORT: String(ports[0]) });
    processes.push(a);
    const b = await startProcess('cluster_instance.js', { ...env, TESSERA_PORT: String(ports[1]) });
    processes.push(b);
    const api = await startProcess('guard_process.js', {
      GUARD_ISSUER: issuer,
      GUARD_AUDIENCE: 'https://api.example',
      GUARD_JWKS: `${b.url}/.well-known/jwks.json`,
      GUARD_STREAM: `${b.url}/revocations`,
      GUARD_CLIENT_ID: 'orders-api',
      GUARD_CLIENT_SECRET: apiSecret,
    });
    processes.push(api);
    console.log(
      `\nCluster (2 instances + 1 guarded API, each its own process; PostgreSQL + Redis on this machine; ${REVOCATIONS} revocations)`,
    );

    // Propagation: revoke on A, rejected by the API that follows B.
    const delays = [];
    for (const token of accessTokens) {
      const headers = { authorization: `Bearer ${token}` };
      const before = await fetch(`${api.url}/protected`, { headers });
      if (before.status !== 200) throw new Error(`the API refused a live token: ${before.status}`);
      await before.arrayBuffer();
      const start = performance.now();
      const revoked = await fetch(`${a.url}/revoke`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: `token=${token}&client_id=app`,
      });
      if (revoked.status !== 200) throw new Error(`revoke answered ${revoked.status}`);
      for (;;) {
        const res = await fetch(`${api.url}/protected`, { headers });
        await res.arrayBuffer();
        if (res.status === 401) break;
        if (performance.now() - start > 10_000) throw new Error('a revocation did not reach the API in 10 s');
      }
      delays.push(performance.now() - start);
    }
    delays.sort((x, y) => x - y);
    const propagation = {
      count: delays.length,
      p50: +percentile(delays, 50).toFixed(2),
      p90: +percentile(delays, 90).toFixed(2),
      p99: +percentile(delays, 99).toFixed(2),
      max: +delays.at(-1).toFixed(2),
    };
    console.log(
      `  revocation on A → 401 at the API following B: p50 ${propagation.p50} ms, p90 ${propagation.p90} ms, p99 ${propagation.p99} ms, max ${propagation.max} ms (n = ${propagation.count})`,
    );

    // Refresh throughput on both instances at once.
    let next = 0;
    const refreshLoad = (url) =>
      load({
        url: `${url}/token`,
        duration: SECONDS,
        connections: CONNECTIONS,
        requests: [
          {
            method: 'POST',
            headers: { 'content-type': 'application/x-www-form-urlencoded' },
            setupRequest(request) {
              const token = refreshTokens[next++ % refreshTokens.length];
              return { ...request, body: `grant_type=refresh_token&client_id=app&refresh_token=${token}` };
            },
          },
        ],
      });
    const results = await Promise.all([refreshLoad(a.url), refreshLoad(b.url)]);
    const ok = results.reduce((sum, r) => sum + r['2xx'], 0);
    const refresh = {
      total: Math.round(ok / SECONDS),
      perInstance: Math.round(ok / SECONDS / 2),
      p50: Math.max(...results.map((r) => r.latency.p50)),
      p99: Math.max(...results.map((r) => r.latency.p99)),
      non2xx: results.reduce((sum, r) => sum + r.non2xx, 0),
      tokensUsed: next,
    };
    console.log(
      `  POST /token refresh grant, 2 instances: ${refresh.total} req/s in all, ${refresh.perInstance} per instance (one process = one core), p50 ${refresh.p50} ms, p99 ${refresh.p99} ms, non-2xx ${refresh.non2xx}`,
    );
    if (next > refreshTokens.length)
      console.log('  (more requests than prepared sessions: raise BENCH_CLUSTER_SESSIONS)');
    return { propagation, refresh };
  } finally {
    for (const proc of processes.reverse()) await stopProcess(proc);
    rmSync(dataDir, { recursive: true, force: true });
    await admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch(() => {});
    const { Redis } = await import('ioredis');
    const redis = new Redis(REDIS_URL);
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
  }
}
