/**
 * Pieces for the cluster tests on a message broker (cluster_nats.test.ts): processes started from
 * the transpiled sources (test/build.ts) that print one JSON line ({ url }) when they listen, a
 * guarded API's answer, propagation statistics, and the machine's own nats-server, which a test
 * stops and starts again exactly as it was (its JetStream data stays on disk).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { natsUnreachable } from './nats.js';

export interface Proc {
  child: ChildProcess;
  url: string;
}

/** Starts `node script` with only `env` (and PATH); resolves with the URL it prints. */
export async function startProcess(script: string, env: Record<string, string>): Promise<Proc> {
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

export async function stopProcess(proc: Proc, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (proc.child.exitCode !== null || proc.child.signalCode !== null) return;
  const exited = new Promise((resolve) => proc.child.once('exit', resolve));
  proc.child.kill(signal);
  await exited;
}

/** What a guarded API answers `token` on its protected route. */
export async function statusAt(guard: Proc, token: string): Promise<number> {
  const res = await fetch(`${guard.url}/protected`, { headers: { authorization: `Bearer ${token}` } });
  await res.arrayBuffer();
  return res.status;
}

/**
 * Asks `guard` with `token` until it answers `status`, a millisecond apart (tight enough to time a
 * propagation, loose enough not to starve the processes being timed of the machine's two cores);
 * gives up after `ms` (a hang bound, never asserted as a duration).
 */
export async function untilStatus(guard: Proc, token: string, status: number, ms = 15_000): Promise<void> {
  const until = Date.now() + ms;
  while ((await statusAt(guard, token)) !== status) {
    if (Date.now() > until) throw new Error(`${guard.url} did not answer ${status} within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

/** The p-th percentile of ascending `sorted` (nearest rank). */
export function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

/** The machine's nats-server: its process id and exact command line. */
export interface SystemNats {
  pid: number;
  argv: string[];
}

/** The running nats-server process, read from /proc; undefined when there is none. */
export function findSystemNats(): SystemNats | undefined {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/comm`, 'utf8').trim() !== 'nats-server') continue;
      const argv = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').filter(Boolean);
      if (argv.length > 0) return { pid: Number(entry), argv };
    } catch {
      // The process ended while we looked.
    }
  }
  return undefined;
}

/** SIGTERM to the nats-server (it shuts down cleanly, JetStream flushed), and waits for it to exit. */
export async function stopSystemNats(nats: SystemNats, ms = 30_000): Promise<void> {
  process.kill(nats.pid, 'SIGTERM');
  const until = Date.now() + ms;
  while (existsSync(`/proc/${nats.pid}`) && !isZombie(nats.pid)) {
    if (Date.now() > until) throw new Error(`nats-server ${nats.pid} did not exit`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function isZombie(pid: number): boolean {
  try {
    return /^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return true;
  }
}

/**
 * Starts nats-server again with the same command line, detached (it outlives the test, as the
 * machine's service), unless one is running already; resolves once it answers with JetStream.
 */
export async function startSystemNats(nats: SystemNats, ms = 30_000): Promise<void> {
  if (findSystemNats() === undefined) {
    const child = spawn(nats.argv[0]!, nats.argv.slice(1), { detached: true, stdio: 'ignore' });
    child.unref();
  }
  const until = Date.now() + ms;
  while ((await natsUnreachable()) !== undefined) {
    if (Date.now() > until) throw new Error('nats-server did not come back');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
