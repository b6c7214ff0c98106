/**
 * The one definition of revocation propagation the broker cluster tests measure
 * (cluster_rabbitmq.test.ts, cluster_nats.test.ts): from the moment the revocation is committed —
 * the revoke request's response received — to each guard's first refusal of the token, every guard
 * asked in a tight loop (the next ask as soon as the last answer is in, no sleep), all at once. The
 * product's requirement is p99 ≤ 100 ms; the one timing the suite asserts, with one rule for when.
 */
import { cpus, loadavg } from 'node:os';
import { expect } from 'vitest';
import { type Proc, statusAt } from './cluster_processes.js';
import { ADMIN_PASSWORD, post } from './helpers.js';
import { form } from './http.js';

/** The product's requirement: a revocation is refused everywhere within this, at the 99th percentile. */
export const P99_LIMIT_MS = 100;
/** Revocations measured: enough that the 99th percentile is not the single worst one. */
export const REVOCATIONS = 100;
/**
 * Runnable processes per core (1-minute load average, before the measurement) above which, outside
 * CI, the machine is oversubscribed by other work and a latency percentile measures that work, not
 * Tessera: the requirement is then reported, not asserted. Under CI=true it always is.
 */
const OVERSUBSCRIBED_PER_CORE = 2;

/** The p-th percentile of ascending `sorted` (nearest rank). */
export function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

export function summary(list: number[]): string {
  const sorted = [...list].sort((x, y) => x - y);
  return `p50 ${percentile(sorted, 50).toFixed(1)} ms, p99 ${percentile(sorted, 99).toFixed(1)} ms, max ${sorted.at(-1)!.toFixed(1)} ms (n = ${sorted.length})`;
}

/**
 * Asks `guard` about `token` back to back until it refuses it (401): when, on this process's
 * `performance.now()` clock. Any answer but 200 or 401 fails the test (a stale guard's 503 is not a
 * propagation). Gives up after `ms` (a hang bound, not a timing assertion).
 */
export async function refusedAt(guard: Proc, token: string, ms = 10_000): Promise<number> {
  const until = performance.now() + ms;
  for (;;) {
    const status = await statusAt(guard, token);
    if (status === 401) return performance.now();
    expect(status).toBe(200);
    if (performance.now() > until) throw new Error(`${guard.url} never refused the token`);
  }
}

/**
 * Revokes with `revoke` (resolving once its response is in) and times every guard's first refusal
 * from then: one sample per guard, ms.
 */
export async function propagation(
  guards: Proc[],
  token: string,
  revoke: () => Promise<void>,
): Promise<number[]> {
  await revoke();
  const committedAt = performance.now();
  const refused = await Promise.all(guards.map((guard) => refusedAt(guard, token)));
  return refused.map((at) => at - committedAt);
}

/**
 * Prints p50/p99/max per guard and over all, then asserts p99 ≤ {@link P99_LIMIT_MS} under CI=true
 * always and elsewhere unless `loadBefore` (the 1-minute load average per core taken before the
 * measurement) shows the machine oversubscribed — saying so, with the numbers.
 */
export function reportPropagation(
  feed: string,
  names: string[],
  samples: number[][],
  loadBefore: number,
): void {
  for (const [g, list] of samples.entries())
    console.log(`${feed}: revocation committed → 401 at ${names[g]}: ${summary(list)}`);
  const all = samples.flat().sort((x, y) => x - y);
  const p99 = percentile(all, 99);
  console.log(
    `${feed}: revocation committed → 401 at every guard: ${summary(all)}; load ${loadBefore.toFixed(1)} per core before`,
  );
  if (process.env.CI !== 'true' && loadBefore > OVERSUBSCRIBED_PER_CORE) {
    console.warn(
      `${feed}: NOT ASSERTED: p99 ${p99.toFixed(1)} ms against the ${P99_LIMIT_MS} ms requirement: this machine ran ${loadBefore.toFixed(1)} runnable processes per core before the measurement (other work); under CI=true it is asserted`,
    );
    return;
  }
  expect(p99).toBeLessThanOrEqual(P99_LIMIT_MS);
}

/** The 1-minute load average per core, now. */
export const loadPerCore = () => loadavg()[0]! / cpus().length;

/**
 * The measurement both broker cluster tests run: {@link REVOCATIONS} fresh access tokens (each from
 * a refresh on one instance, in turn), each accepted by every guard, then revoked on the next
 * instance and timed at every guard ({@link propagation}). Returns the samples per guard, ms, and
 * the load per core before it started.
 */
export async function measurePropagation(
  instances: Proc[],
  guards: Proc[],
): Promise<{ samples: number[][]; loadBefore: number }> {
  const loadBefore = loadPerCore();
  const login = await post(`${instances[0]!.url}/login`, {
    username: 'alice',
    password: ADMIN_PASSWORD,
    client_id: 'app',
  });
  expect(login.status).toBe(200);
  let { refresh_token } = (await login.json()) as { refresh_token: string };
  const samples: number[][] = guards.map(() => []);
  for (let i = 0; i < REVOCATIONS; i++) {
    const res = await form(`${instances[i % instances.length]!.url}/token`, {
      grant_type: 'refresh_token',
      client_id: 'app',
      refresh_token,
    });
    expect(res.status).toBe(200);
    const session = (await res.json()) as { access_token: string; refresh_token: string };
    refresh_token = session.refresh_token;
    const token = session.access_token;
    // Every guard has verified (and cached) the token before it is revoked.
    for (const guard of guards) expect(await statusAt(guard, token)).toBe(200);
    const revoker = instances[(i + 1) % instances.length]!;
    const delays = await propagation(guards, token, async () => {
      expect((await form(`${revoker.url}/revoke`, { token, client_id: 'app' })).status).toBe(200);
    });
    for (const [g, delay] of delays.entries()) samples[g]!.push(delay);
  }
  return { samples, loadBefore };
}
