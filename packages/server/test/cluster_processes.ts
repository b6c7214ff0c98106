/**
 * The pieces of the cluster tests (cluster.test.ts on Redis, cluster_rabbitmq.test.ts on RabbitMQ):
 * server instances and guarded APIs as processes of their own, run from the transpiled sources
 * (test/build.ts), and the store they share, prepared before they start.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { loadConfig } from '../src/config.js';
import { createServices } from '../src/services.js';
import { ADMIN_PASSWORD } from './helpers.js';

export interface Proc {
  child: ChildProcess;
  url: string;
}

/** Starts `node <script>` with only `env` (and PATH); resolves once it printed its `{ url }` line. */
export async function start(script: string, env: Record<string, string>): Promise<Proc> {
  const child = spawn(process.execPath, [script], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { PATH: process.env.PATH ?? '', ...env },
  });
  let errors = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    errors += chunk.toString();
  });
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (text) => {
      if (text.startsWith('{')) resolve(text);
    });
    child.once('exit', (code) => reject(new Error(`${script} exited with ${code}: ${errors}`)));
  });
  return { child, url: (JSON.parse(line) as { url: string }).url };
}

export async function stop(proc: Proc, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (proc.child.exitCode !== null || proc.child.signalCode !== null) return;
  const exited = new Promise((resolve) => proc.child.once('exit', resolve));
  proc.child.kill(signal);
  await exited;
}

/** What a guarded API answers for `token` at `/protected`. */
export const statusAt = async (guard: Proc, token: string) => {
  const res = await fetch(`${guard.url}/protected`, { headers: { authorization: `Bearer ${token}` } });
  await res.arrayBuffer();
  return res.status;
};

/**
 * The shared store before the instances start (the server configured by `env`): the user `alice`,
 * the public client `app` (tokens for the APIs' `audience` and the server itself, where the app logs
 * out, RFC 9068 §4), and the APIs' confidential client `orders-api`, whose secret it returns (the
 * revocation stream is for authenticated resource servers).
 */
export async function prepareStore(
  env: Record<string, string>,
  audience: string,
  issuer: string,
): Promise<string> {
  const services = await createServices(loadConfig(env));
  try {
    await services.users.create('alice', ADMIN_PASSWORD);
    await services.clients.add({
      clientId: 'app',
      type: 'public',
      audiences: [audience, issuer],
      scopes: ['openid'],
    });
    const { secret } = await services.clients.add({
      clientId: 'orders-api',
      type: 'confidential',
      audiences: [audience],
      scopes: [],
    });
    return secret as string;
  } finally {
    await services.close();
  }
}
