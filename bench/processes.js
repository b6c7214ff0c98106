// Child processes for the HTTP benchmarks: each prints one JSON line on stdout when it is ready.
import { spawn, spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { createInterface } from 'node:readline';
import autocannon from 'autocannon';

/** Starts `node <script>` (a file in bench/ or an absolute path) and resolves to its JSON line, plus `child`. */
export async function startProcess(script, env = {}, args = []) {
  const path = script.startsWith('/') ? script : new URL(`./${script}`, import.meta.url).pathname;
  const child = spawn(process.execPath, [path, ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, ...env },
  });
  const line = await new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout });
    lines.on('line', (text) => {
      if (text.startsWith('{')) resolve(text);
    });
    child.once('exit', (code) => reject(new Error(`${script} exited with ${code}`)));
  });
  return { child, ...JSON.parse(line) };
}

/** Stops a process from startProcess and waits for it to exit. */
export async function stopProcess(proc) {
  if (proc.child.exitCode !== null) return;
  const exited = new Promise((resolve) => proc.child.once('exit', resolve));
  proc.child.kill('SIGTERM');
  await exited;
}

/** One autocannon run. */
export function load(options) {
  return new Promise((resolve, reject) => {
    autocannon(options, (err, result) => (err ? reject(err) : resolve(result)));
  });
}

/** Successful requests per second of an autocannon result. */
export const rate = (result, seconds) => Math.round(result['2xx'] / (result.duration || seconds));

/** A free TCP port on loopback (for a server whose URL must be known before it starts). */
export function freePort() {
  return new Promise((resolve) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

/**
 * Pins a process, every thread of it, to a CPU list such as `1` or `0-2` (Linux, with taskset);
 * false when that cannot be done here.
 */
export function pin(pid, cpus) {
  if (process.platform !== 'linux') return false;
  const result = spawnSync('taskset', ['-a', '-p', '-c', cpus, String(pid)], { stdio: 'ignore' });
  return result.status === 0;
}
