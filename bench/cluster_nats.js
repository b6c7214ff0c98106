// Cluster propagation on NATS JetStream: two server instances (separate processes) share one
// PostgreSQL database and one JetStream stream (TESSERA_REVOCATION_BROKER, no Redis); two APIs
// protected by @tessera/guard run in processes of their own, one reading the stream directly
// (`revocations: { nats }`), one following instance B's event stream. A token is revoked on instance
// A (POST /revoke) and one API, each in turn, is asked with it until it answers 401; the delay from
// sending the revocation to that 401, over BENCH_CLUSTER_REVOCATIONS (1,000) revocations (half for
// each API), each first used once so the guard has it cached.
// Needs PostgreSQL (BENCH_DATABASE_URL, default TESSERA_TEST_DATABASE_URL or the local server) and
// NATS with JetStream (BENCH_NATS_URL, default TESSERA_TEST_NATS_URL or the local server); skipped
// without them. Runs the built packages (npm run build). Alone: `node bench/cluster_nats.js`.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'nats';
import pg from 'pg';
import { createServices, loadConfig } from '../packages/server/dist/index.js';
import { freePort, startProcess, stopProcess } from './processes.js';

const ADMIN_URL =
  process.env.BENCH_DATABASE_URL ||
  process.env.TESSERA_TEST_DATABASE_URL ||
  'postgres://postgres@127.0.0.1:5432/test';
const NATS_URL = process.env.BENCH_NATS_URL || process.env.TESSERA_TEST_NATS_URL || 'nats://127.0.0.1:4222';
const REVOCATIONS = Number(process.env.BENCH_CLUSTER_REVOCATIONS ?? 1000);
const MASTER_KEY = 'S'.repeat(43);

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

function summary(delays) {
  const sorted = [...delays].sort((x, y) => x - y);
  return {
    count: sorted.length,
    p50: +percentile(sorted, 50).toFixed(2),
    p90: +percentile(sorted, 90).toFixed(2),
    p99: +percentile(sorted, 99).toFixed(2),
    max: +sorted.at(-1).toFixed(2),
  };
}

/** Why NATS with JetStream cannot be used, or undefined. */
async function natsUnreachable() {
  let nc;
  try {
    nc = await connect({ servers: new URL(NATS_URL).host, timeout: 2000, reconnect: false });
    await (await nc.jetstreamManager()).getAccountInfo();
    return undefined;
  } catch (err) {
    return `NATS with JetStream at ${new URL(NATS_URL).host}: ${err.message}`;
  } finally {
    await nc?.close();
  }
}

async function deleteStream(stream) {
  const nc = await connect({ servers: new URL(NATS_URL).host });
  try {
    await (await nc.jetstreamManager()).streams.delete(stream).catch(() => false);
  } finally {
    await nc.close();
  }
}

/**
 * Propagation of revocations on NATS JetStream: `{ propagation: { nats, stream } }`, each
 * `{ count, p50, p90, p99, max }` in ms (`nats`: the API reading the stream directly; `stream`: the
 * API following instance B's event stream), or `{ skipped }` with the reason.
 */
export async function runClusterNats({ revocations = REVOCATIONS } = {}) {
  const unreachable = await natsUnreachable();
  if (unreachable) {
    console.log(`\nCluster on NATS: skipped (${unreachable})`);
    return { skipped: unreachable };
  }
  const name = `tessera_bench_nats_${process.pid}`;
  try {
    await admin(`CREATE DATABASE ${name}`);
  } catch (err) {
    console.log(`\nCluster on NATS: skipped (PostgreSQL at ${new URL(ADMIN_URL).host}: ${err.message})`);
    return { skipped: err.message };
  }
  const databaseUrl = new URL(ADMIN_URL);
  databaseUrl.pathname = `/${name}`;
  const suffix = `${process.pid}_${randomBytes(4).toString('hex')}`;
  const stream = `TESSERA_BENCH_${suffix}`;
  const dataDir = mkdtempSync(join(tmpdir(), 'tessera-cluster-nats-'));
  const processes = [];
  try {
    const ports = [await freePort(), await freePort()];
    const issuer = `http://127.0.0.1:${ports[0]}`;
    const env = {
      DATABASE_URL: databaseUrl.href,
      TESSERA_MASTER_KEY: MASTER_KEY,
      TESSERA_ISSUER: issuer,
      TESSERA_AUDIENCE: 'https://api.example',
      TESSERA_DATA_DIR: dataDir,
      TESSERA_LOG_LEVEL: 'silent',
      TESSERA_REVOCATION_RATE_USER: '1000000',
      TESSERA_REVOCATION_RATE_CLIENT: '10000000',
    };
    // Users, clients and access tokens, written straight to the shared store.
    const services = await createServices(loadConfig(env), Date.now);
    const user = await services.users.create('bench', 'correct horse battery staple');
    await services.clients.add({
      clientId: 'app',
      type: 'public',
      audiences: ['https://api.example'],
      scopes: ['openid'],
    });
    const { secret: apiSecret } = await services.clients.add({
      clientId: 'orders-api',
      type: 'confidential',
      audiences: ['https://api.example'],
      scopes: [],
    });
    const accessTokens = [];
    for (let i = 0; i < revocations; i++) {
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

    const broker = `${NATS_URL}?stream=${stream}&subject=tessera.bench.${suffix.toLowerCase()}`;
    const instanceEnv = { ...env, TESSERA_REVOCATION_BROKER: broker };
    const a = await startProcess('cluster_instance.js', { ...instanceEnv, TESSERA_PORT: String(ports[0]) });
    processes.push(a);
    const b = await startProcess('cluster_instance.js', { ...instanceEnv, TESSERA_PORT: String(ports[1]) });
    processes.push(b);
    const guardEnv = {
      GUARD_ISSUER: issuer,
      GUARD_AUDIENCE: 'https://api.example',
      GUARD_JWKS: `${b.url}/.well-known/jwks.json`,
    };
    const viaNats = await startProcess('guard_process.js', {
      ...guardEnv,
      GUARD_NATS: NATS_URL,
      GUARD_NATS_STREAM: stream,
    });
    processes.push(viaNats);
    const viaStream = await startProcess('guard_process.js', {
      ...guardEnv,
      GUARD_STREAM: `${b.url}/revocations`,
      GUARD_CLIENT_ID: 'orders-api',
      GUARD_CLIENT_SECRET: apiSecret,
    });
    processes.push(viaStream);
    console.log(
      `\nCluster on NATS JetStream (2 instances + 2 guarded APIs, each its own process; PostgreSQL + NATS on this machine; ${revocations} revocations)`,
    );

    // One API asked per revocation, the two in turn, tightly (as bench/cluster.js asks its one API):
    // two pollers at once would each slow the other down on a small machine.
    const apis = [viaNats, viaStream];
    const delays = apis.map(() => []);
    for (const [n, token] of accessTokens.entries()) {
      const api = apis[n % apis.length];
      const headers = { authorization: `Bearer ${token}` };
      const before = await fetch(`${api.url}/protected`, { headers });
      if (before.status !== 200) throw new Error(`an API refused a live token: ${before.status}`);
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
        if (performance.now() - start > 10_000) throw new Error('a revocation did not reach an API in 10 s');
      }
      delays[n % apis.length].push(performance.now() - start);
    }
    const propagation = { nats: summary(delays[0]), stream: summary(delays[1]) };
    for (const [what, s] of [
      ['the API reading the NATS stream', propagation.nats],
      ['the API following B’s event stream', propagation.stream],
    ])
      console.log(
        `  revocation on A → 401 at ${what}: p50 ${s.p50} ms, p90 ${s.p90} ms, p99 ${s.p99} ms, max ${s.max} ms (n = ${s.count})`,
      );
    return { propagation };
  } finally {
    for (const proc of processes.reverse()) await stopProcess(proc);
    rmSync(dataDir, { recursive: true, force: true });
    await admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch(() => {});
    await deleteStream(stream).catch(() => {});
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await runClusterNats();
