/**
 * Redis for the scale-out tests: the shared server at `TESSERA_TEST_REDIS_URL` (default the local
 * one), a key prefix of each test's own so runs never see each other's keys, and throwaway
 * `redis-server` processes for the tests that stop and restart Redis.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { Redis } from 'ioredis';

export const REDIS_URL = process.env.TESSERA_TEST_REDIS_URL || 'redis://127.0.0.1:6379';

/** Why Redis cannot be used for the tests, or undefined when it can. */
export async function redisUnreachable(url = REDIS_URL): Promise<string | undefined> {
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.ping();
    return undefined;
  } catch (err) {
    return `Redis at ${new URL(url).host} is not reachable (${(err as Error).message})`;
  } finally {
    client.disconnect();
  }
}

/** A key prefix no other test or run uses. */
export function uniquePrefix(): string {
  return `tessera-test-${process.pid}-${randomBytes(4).toString('hex')}:`;
}

/** Deletes every key under `prefix` (the end of a test). */
export async function deleteKeys(prefix: string, url = REDIS_URL): Promise<void> {
  const client = new Redis(url, { maxRetriesPerRequest: 1 });
  client.on('error', () => {});
  try {
    let cursor = '0';
    do {
      const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      if (keys.length > 0) await client.del(...keys);
      cursor = next;
    } while (cursor !== '0');
  } finally {
    client.disconnect();
  }
}

/** A free TCP port on loopback. */
export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  await once(server, 'close');
  return port;
}

/**
 * A `redis-server` of the test's own on a fixed port, kept in memory only (as Redis often runs), so
 * the test can stop it and start it again empty, like a Redis restart in production.
 */
export class OwnRedis {
  private child: ChildProcess | undefined;
  private constructor(readonly port: number) {}

  static async start(): Promise<OwnRedis> {
    const redis = new OwnRedis(await freePort());
    await redis.start();
    return redis;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    const child = spawn(
      'redis-server',
      ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      { stdio: 'ignore' },
    );
    this.child = child;
    for (let i = 0; i < 100; i++) {
      if (!(await redisUnreachable(this.url))) return;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw new Error(`redis-server on port ${this.port} did not start`);
  }

  /** Kills the server (SIGKILL: no goodbye to its clients, as in a crash). */
  async stop(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (!child || child.exitCode !== null) return;
    child.kill('SIGKILL');
    await once(child, 'exit');
  }
}

/** Whether `redis-server` can be started here (the fault tests need their own). */
export async function redisServerMissing(): Promise<string | undefined> {
  const child = spawn('redis-server', ['--version'], { stdio: 'ignore' });
  const [code] = (await Promise.race([once(child, 'exit'), once(child, 'error')])) as [unknown];
  return code === 0 ? undefined : 'redis-server is not installed';
}
