// Cluster suite: Tessera scaled out, once per revocation feed between the instances, side by side
// (Redis's stream; a RabbitMQ stream queue with TESSERA_REVOCATION_BROKER=amqp://…; a NATS
// JetStream stream with TESSERA_REVOCATION_BROKER=nats://…). For each: two server instances (separate processes) on one PostgreSQL database,
// and two APIs protected by @tessera/guard in processes of their own, one following the revocation
// event stream of instance B (SSE), one reading the feed directly. Measured:
//  - propagation: a token is revoked on instance A (POST /revoke), and each API is asked with it
//    until it answers 401; the delay from sending the revocation to that 401, over
//    BENCH_CLUSTER_REVOCATIONS (1,000) revocations, each first used once so the guards have it cached;
//  - fan-out: BENCH_CLUSTER_SUBSCRIBERS (1,000) SSE subscribers on instance B (what 1,000 guards
//    following that instance are to it), BENCH_CLUSTER_FANOUT_REVOCATIONS (50) revocations on A:
//    the delay from sending each to its event at every subscriber, and B's CPU time meanwhile;
//  - (Redis run) refresh grant throughput on both instances at once (autocannon against each), each
//    request rotating its own refresh token.
// Needs PostgreSQL (BENCH_DATABASE_URL, default TESSERA_TEST_DATABASE_URL or the local server);
// Redis (BENCH_REDIS_URL), RabbitMQ (BENCH_RABBITMQ_URL) and NATS (BENCH_NATS_URL) runs are skipped
// without them; BENCH_CLUSTER_FEEDS (e.g. `NATS` or `Redis,RabbitMQ`) runs only those.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
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
const RABBITMQ_URL =
  process.env.BENCH_RABBITMQ_URL ||
  process.env.TESSERA_TEST_RABBITMQ_URL ||
  'amqp://guest:guest@127.0.0.1:5672';
const NATS_URL = process.env.BENCH_NATS_URL || process.env.TESSERA_TEST_NATS_URL || 'nats://127.0.0.1:4222';
const REVOCATIONS = Number(process.env.BENCH_CLUSTER_REVOCATIONS ?? 1000);
const SESSIONS = Number(process.env.BENCH_CLUSTER_SESSIONS ?? 40_000);
const SECONDS = Number(process.env.BENCH_CLUSTER_SECONDS ?? 10);
const CONNECTIONS = Number(process.env.BENCH_CLUSTER_CONNECTIONS ?? 16);
const SUBSCRIBERS = Number(process.env.BENCH_CLUSTER_SUBSCRIBERS ?? 1000);
const FANOUT_REVOCATIONS = Number(process.env.BENCH_CLUSTER_FANOUT_REVOCATIONS ?? 50);
const MASTER_KEY = 'C'.repeat(43);
/** Clock ticks per second of /proc/<pid>/stat (USER_HZ, 100 on Linux). */
const TICKS = 100;

/**
 * The feeds between instances, side by side. Each: what the instances are given, what a guard
 * reading the feed directly is given, whether its broker answers, and what to clean up after.
 */
const FEEDS = [
  {
    name: 'Redis',
    refresh: true,
    async setup(id) {
      const prefix = `tessera-bench-${id}:`;
      return {
        server: { REDIS_URL, TESSERA_REDIS_PREFIX: prefix },
        guard: { GUARD_REDIS: REDIS_URL, GUARD_REDIS_KEY: `${prefix}revocations` },
        async cleanup() {
          const { Redis } = await import('ioredis');
          const redis = new Redis(REDIS_URL);
          const keys = await redis.keys(`${prefix}*`);
          if (keys.length > 0) await redis.del(...keys);
          redis.disconnect();
        },
      };
    },
  },
  {
    name: 'RabbitMQ',
    async setup(id) {
      const stream = `tessera-bench-${id}`;
      const broker = new URL(RABBITMQ_URL);
      broker.searchParams.set('stream', stream);
      const amqp = (await import('amqplib')).default;
      await (await amqp.connect(RABBITMQ_URL)).close(); // reachable, or this run is skipped
      return {
        server: { TESSERA_REVOCATION_BROKER: broker.href },
        guard: { GUARD_RABBITMQ: RABBITMQ_URL, GUARD_RABBITMQ_STREAM: stream },
        async cleanup() {
          const connection = await amqp.connect(RABBITMQ_URL);
          await (await connection.createChannel()).deleteQueue(stream);
          await connection.close();
        },
      };
    },
  },
  {
    name: 'NATS',
    async setup(id) {
      // JetStream stream names take no dots or dashes beyond the server's rule: letters, digits, _.
      const stream = `TESSERA_BENCH_${id}`;
      const subject = `tessera.bench.${id}`;
      const broker = new URL(NATS_URL);
      broker.searchParams.set('stream', stream);
      broker.searchParams.set('subject', subject);
      const { connect } = await import('nats');
      const servers = new URL(NATS_URL).host;
      // Reachable with JetStream, or this run is skipped.
      const probe = await connect({ servers, timeout: 2000, reconnect: false });
      try {
        await (await probe.jetstreamManager()).getAccountInfo();
      } finally {
        await probe.close();
      }
      return {
        server: { TESSERA_REVOCATION_BROKER: broker.href },
        guard: { GUARD_NATS: NATS_URL, GUARD_NATS_STREAM: stream },
        async cleanup() {
          const nc = await connect({ servers });
          await (await nc.jetstreamManager()).streams.delete(stream).catch(() => false);
          await nc.close();
        },
      };
    },
  },
];

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
const describe = (s) => `p50 ${s.p50} ms, p90 ${s.p90} ms, p99 ${s.p99} ms, max ${s.max} ms (n = ${s.count})`;

/** CPU time (ms) a process has used, from /proc (Linux); undefined elsewhere. */
function cpuMs(pid) {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS;
  } catch {
    return undefined;
  }
}

/**
 * One subscriber to `GET /revocations`: calls `onEvent(value, receivedAt)` for every revocation
 * event, and resolves `ready` once the snapshot is complete.
 */
async function subscribe(url, authorization, onEvent) {
  const controller = new AbortController();
  const res = await fetch(`${url}/revocations`, {
    headers: { accept: 'text/event-stream', authorization },
    signal: controller.signal,
  });
  if (res.status !== 200) throw new Error(`/revocations answered ${res.status}`);
  let ready;
  const snapshot = new Promise((resolve) => {
    ready = resolve;
  });
  void (async () => {
    const decoder = new TextDecoder();
    let buffer = '';
    try {
      for await (const chunk of res.body) {
        buffer += decoder.decode(chunk, { stream: true });
        let end = buffer.indexOf('\n\n');
        while (end >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          if (block.includes(': snapshot complete')) ready();
          const data = block.split('\n').find((line) => line.startsWith('data: '));
          if (block.includes('event: revocation') && data)
            onEvent(JSON.parse(data.slice(6)).value, performance.now());
          end = buffer.indexOf('\n\n');
        }
      }
    } catch {
      // Aborted at the end.
    }
  })();
  await snapshot;
  return () => controller.abort();
}

/** Runs the suite on every feed of {@link FEEDS} (or those BENCH_CLUSTER_FEEDS / `only` names). */
export async function runCluster({ only = process.env.BENCH_CLUSTER_FEEDS?.split(',') } = {}) {
  try {
    await admin('SELECT 1');
  } catch (err) {
    console.log(`\nCluster: skipped (PostgreSQL at ${new URL(ADMIN_URL).host}: ${err.message})`);
    return { skipped: err.message };
  }
  const results = {};
  for (const feed of FEEDS) if (!only || only.includes(feed.name)) results[feed.name] = await runFeed(feed);
  const measured = Object.entries(results).filter(([, r]) => r.propagation);
  if (measured.length > 0) {
    console.log('\n  Side by side (revocation on A → 401; fan-out to subscribers of B):');
    for (const [name, r] of measured)
      console.log(
        `    ${name.padEnd(9)} via B's SSE p99 ${r.propagation.sse.p99} ms · direct p99 ${r.propagation.direct.p99} ms · ${SUBSCRIBERS} subscribers p99 ${r.fanout.delivery.p99} ms, B CPU ${r.fanout.cpuMsPerRevocation ?? '?'} ms per revocation`,
      );
  }
  return results;
}

async function runFeed(feed) {
  const id = `${process.pid}_${randomBytes(3).toString('hex')}`;
  let broker;
  try {
    broker = await feed.setup(id);
  } catch (err) {
    console.log(`\nCluster on ${feed.name}: skipped (${err.message})`);
    return { skipped: err.message };
  }
  const name = `tessera_bench_${id}`;
  await admin(`CREATE DATABASE ${name}`);
  const databaseUrl = new URL(ADMIN_URL);
  databaseUrl.pathname = `/${name}`;
  const dataDir = mkdtempSync(join(tmpdir(), 'tessera-cluster-'));
  const processes = [];
  try {
    // The same `iss` on every instance (in production the load balancer's URL): here A's address.
    const ports = [await freePort(), await freePort()];
    const issuer = `http://127.0.0.1:${ports[0]}`;
    const env = {
      DATABASE_URL: databaseUrl.href,
      ...broker.server,
      TESSERA_MASTER_KEY: MASTER_KEY,
      TESSERA_ISSUER: issuer,
      TESSERA_AUDIENCE: 'https://api.example',
      TESSERA_DATA_DIR: dataDir,
      TESSERA_LOG_LEVEL: 'silent',
      // One user revokes a thousand tokens here: lift the per-user and per-client revocation budgets.
      TESSERA_REVOCATION_RATE_USER: '1000000',
      TESSERA_REVOCATION_RATE_CLIENT: '10000000',
      // The fan-out's subscribers all come from this machine.
      TESSERA_MAX_REVOCATION_STREAMS: String(SUBSCRIBERS + 100),
      TESSERA_MAX_REVOCATION_STREAMS_PER_ADDRESS: String(SUBSCRIBERS + 100),
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
    if (feed.refresh)
      for (let i = 0; i < SESSIONS; i++)
        refreshTokens.push((await services.refreshTokens.start(user.id, 'app', 'openid')).refreshToken);
    const accessTokens = [];
    for (let i = 0; i < REVOCATIONS + FANOUT_REVOCATIONS; i++) {
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
    const guardEnv = {
      GUARD_ISSUER: issuer,
      GUARD_AUDIENCE: 'https://api.example',
      GUARD_JWKS: `${b.url}/.well-known/jwks.json`,
    };
    const viaSse = await startProcess('guard_process.js', {
      ...guardEnv,
      GUARD_STREAM: `${b.url}/revocations`,
      GUARD_CLIENT_ID: 'orders-api',
      GUARD_CLIENT_SECRET: apiSecret,
    });
    processes.push(viaSse);
    const direct = await startProcess('guard_process.js', { ...guardEnv, ...broker.guard });
    processes.push(direct);
    console.log(
      `\nCluster on ${feed.name} (2 instances + 2 guarded APIs, each its own process; PostgreSQL and ${feed.name} on this machine; ${REVOCATIONS} revocations)`,
    );

    // Propagation: revoke on A, rejected by the API that follows B and by the one reading the feed.
    const revoke = async (token) => {
      const revoked = await fetch(`${a.url}/revoke`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: `token=${token}&client_id=app`,
      });
      if (revoked.status !== 200) throw new Error(`revoke answered ${revoked.status}`);
    };
    const refusedAfter = async (api, headers, start) => {
      for (;;) {
        const res = await fetch(`${api.url}/protected`, { headers });
        await res.arrayBuffer();
        if (res.status === 401) return performance.now() - start;
        if (performance.now() - start > 10_000) throw new Error('a revocation did not reach an API in 10 s');
      }
    };
    const sse = [];
    const straight = [];
    for (const token of accessTokens.slice(0, REVOCATIONS)) {
      const headers = { authorization: `Bearer ${token}` };
      for (const api of [viaSse, direct]) {
        const before = await fetch(`${api.url}/protected`, { headers });
        if (before.status !== 200) throw new Error(`the API refused a live token: ${before.status}`);
        await before.arrayBuffer();
      }
      const start = performance.now();
      await revoke(token);
      const [one, two] = await Promise.all([
        refusedAfter(viaSse, headers, start),
        refusedAfter(direct, headers, start),
      ]);
      sse.push(one);
      straight.push(two);
    }
    const propagation = { sse: summary(sse), direct: summary(straight) };
    console.log(`  revocation on A → 401 at the API following B's SSE: ${describe(propagation.sse)}`);
    console.log(`  revocation on A → 401 at the API reading ${feed.name}: ${describe(propagation.direct)}`);

    // Fan-out: every subscriber of B hears each revocation made on A.
    const authorization = `Basic ${Buffer.from(`orders-api:${apiSecret}`).toString('base64')}`;
    const waiting = new Map();
    const closers = [];
    for (let i = 0; i < SUBSCRIBERS; i += 50)
      closers.push(
        ...(await Promise.all(
          Array.from({ length: Math.min(50, SUBSCRIBERS - i) }, (_, j) =>
            subscribe(b.url, authorization, (value, at) => waiting.get(value)?.(i + j, at)),
          ),
        )),
      );
    const delivery = [];
    const cpuBefore = cpuMs(b.child.pid);
    const wallBefore = performance.now();
    for (const token of accessTokens.slice(REVOCATIONS)) {
      const { jti } = JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString());
      // An instance may relay an entry twice (from its store sync, without an id, and from the
      // feed): each subscriber's first delivery counts.
      const heard = new Set();
      const start = performance.now();
      const all = new Promise((resolve) => {
        waiting.set(jti, (subscriber, at) => {
          if (heard.has(subscriber)) return;
          heard.add(subscriber);
          delivery.push(at - start);
          if (heard.size === SUBSCRIBERS) resolve();
        });
      });
      await revoke(token);
      await all;
      waiting.delete(jti);
    }
    const cpuAfter = cpuMs(b.child.pid);
    const wall = performance.now() - wallBefore;
    for (const close of closers) close();
    const cpu = cpuBefore === undefined ? undefined : cpuAfter - cpuBefore;
    const fanout = {
      subscribers: SUBSCRIBERS,
      revocations: FANOUT_REVOCATIONS,
      delivery: summary(delivery),
      cpuMsPerRevocation: cpu === undefined ? undefined : +(cpu / FANOUT_REVOCATIONS).toFixed(1),
      cpuShare: cpu === undefined ? undefined : +(cpu / wall).toFixed(2),
    };
    console.log(
      `  fan-out, ${SUBSCRIBERS} SSE subscribers of B, ${FANOUT_REVOCATIONS} revocations on A → every subscriber: ${describe(fanout.delivery)}; B's CPU ${fanout.cpuMsPerRevocation ?? '?'} ms per revocation (${fanout.cpuShare ?? '?'} of a core while it ran)`,
    );
    if (!feed.refresh) return { propagation, fanout };

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
    return { propagation, fanout, refresh };
  } finally {
    for (const proc of processes.reverse()) await stopProcess(proc);
    rmSync(dataDir, { recursive: true, force: true });
    await admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch(() => {});
    await broker.cleanup().catch(() => {});
  }
}
