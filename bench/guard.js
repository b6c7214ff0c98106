// Guard suite: what @tessera/guard costs an API. One Fastify process (one core) serves the same
// handler twice, `/open` and `/protected` (the guard's preHandler: bearer parsing, ES256 signature
// via the verifier's token cache, RFC 9068 claims, the three revocation handles); autocannon loads
// each in turn at saturation over loopback, alternating which goes first, and the ratio
// protected / open is taken per round; so is the API process's CPU time per request (open over
// protected: the throughput ratio its core would reach at saturation). The issuer is a real Tessera
// server in another process. Where taskset is available, the API process has the last CPU to itself
// and the load generator and issuer share the others: the API's core is then the one saturated,
// and work of the load generator no longer lands on it between rounds (BENCH_GUARD_PIN=0: no pinning).

import { cpus } from 'node:os';
import { median } from './harness.js';
import { load, pin, rate, startProcess, stopProcess } from './processes.js';

const SECONDS = Number(process.env.BENCH_GUARD_SECONDS ?? 3);
const ROUNDS = Number(process.env.BENCH_GUARD_ROUNDS ?? 9);
const CONNECTIONS = Number(process.env.BENCH_GUARD_CONNECTIONS ?? 32);

export async function runGuard() {
  const issuer = await startProcess('server_process.js', { BENCH_SESSIONS: '0' });
  const api = await startProcess('guard_process.js', {
    GUARD_ISSUER: issuer.url,
    GUARD_AUDIENCE: issuer.url,
    GUARD_CLIENT_ID: 'api',
    GUARD_CLIENT_SECRET: issuer.clientSecret,
  });
  const cores = cpus().length;
  const everyCore = `0-${cores - 1}`;
  const rest = cores > 2 ? `0-${cores - 2}` : '0';
  const pinned =
    process.env.BENCH_GUARD_PIN !== '0' &&
    cores >= 2 &&
    pin(api.child.pid, String(cores - 1)) &&
    pin(issuer.child.pid, rest) &&
    pin(process.pid, rest);
  try {
    console.log(
      `\nGuard (Fastify in its own process = one core, ${CONNECTIONS} connections, ${ROUNDS} rounds × ${SECONDS} s per route; ${pinned ? `API pinned to CPU ${cores - 1}, load generator and issuer on ${rest}` : 'not pinned'})`,
    );
    const headers = { authorization: `Bearer ${issuer.accessToken}` };
    const check = await fetch(`${api.url}/protected`, { headers });
    if (check.status !== 200) throw new Error(`the protected route answered ${check.status}`);
    const ratios = [];
    const open = [];
    const protectedRates = [];
    const p99 = { open: [], protected: [] };
    // CPU microseconds per request in the API process: what saturation costs on its core, whatever
    // the load generator (on the other core) manages to send.
    const cpuRatios = [];
    const cpuCost = { open: [], protected: [] };
    for (let round = 0; round < ROUNDS; round++) {
      const order = round % 2 === 0 ? ['open', 'protected'] : ['protected', 'open'];
      const got = {};
      const cpu = {};
      for (const route of order) {
        const cpuBefore = await (await fetch(`${api.url}/cpu`)).json();
        const result = await load({
          url: `${api.url}/${route}`,
          duration: SECONDS,
          connections: CONNECTIONS,
          headers,
        });
        if (result.non2xx > 0 || result.errors > 0)
          throw new Error(`${route}: ${result.non2xx} non-2xx answers, ${result.errors} errors`);
        const cpuAfter = await (await fetch(`${api.url}/cpu`)).json();
        got[route] = rate(result, SECONDS);
        cpu[route] = (cpuAfter.user + cpuAfter.system - cpuBefore.user - cpuBefore.system) / result['2xx'];
        p99[route].push(result.latency.p99);
      }
      open.push(got.open);
      protectedRates.push(got.protected);
      ratios.push(got.protected / got.open);
      cpuRatios.push(cpu.open / cpu.protected);
      cpuCost.open.push(cpu.open);
      cpuCost.protected.push(cpu.protected);
      console.log(
        `  round ${round + 1}: open ${got.open} req/s (${cpu.open.toFixed(1)} µs CPU each), protected ${got.protected} req/s (${cpu.protected.toFixed(1)} µs), throughput ratio ${(got.protected / got.open).toFixed(3)}, CPU ratio ${(cpu.open / cpu.protected).toFixed(3)}`,
      );
    }
    const row = {
      open: median(open),
      protected: median(protectedRates),
      ratio: median(ratios),
      cpuOpen: median(cpuCost.open),
      cpuProtected: median(cpuCost.protected),
      cpuRatio: median(cpuRatios),
      p99Open: median(p99.open),
      p99Protected: median(p99.protected),
    };
    console.log(
      `  median: open ${row.open} req/s (p99 ${row.p99Open} ms), protected ${row.protected} req/s (p99 ${row.p99Protected} ms), protected/open ${row.ratio.toFixed(3)}; CPU per request ${row.cpuOpen.toFixed(1)} → ${row.cpuProtected.toFixed(1)} µs, open/protected ${row.cpuRatio.toFixed(3)}`,
    );
    return { ...row, pinned };
  } finally {
    if (pinned) pin(process.pid, everyCore);
    await stopProcess(api);
    await stopProcess(issuer);
  }
}
