// Guard DPoP suite: what DPoP (RFC 9449) costs a guarded API over Bearer. The same Fastify process
// (one core, pinned like the guard suite's) serves one handler behind the guard on /bearer (a Bearer
// token), /dpop (a DPoP-bound token with a fresh proof per request) and /dpop-replay (the same, with
// the in-memory jti replay cache). autocannon loads each in turn at saturation, the order rotating
// each round; per round it takes the throughput ratio dpop / bearer and the API process's CPU time
// per request. Next to it, the physical floor: one extra ES256 verification per request, timed with
// raw node:crypto on the API's core, gives the best ratio DPoP could reach, bearer CPU / (bearer CPU
// + one verification). The issuer is a minimal one in this process (a JWKS; revocations off in the
// API), so that nothing but the token's scheme differs between routes and no server build is needed.
// Proofs are made in this process before each run (createDpopProof), a fresh one per request.

import { createServer } from 'node:http';
import { cpus } from 'node:os';
import { createDpopProof, exportJwk, generateKeyPair, jwkThumbprint, signJwtSync } from '@tessera/jose';
import { median } from './harness.js';
import { load, pin, rate, startProcess, stopProcess } from './processes.js';

const SECONDS = Number(process.env.BENCH_GUARD_SECONDS ?? 3);
const ROUNDS = Number(process.env.BENCH_GUARD_ROUNDS ?? 9);
const CONNECTIONS = Number(process.env.BENCH_GUARD_CONNECTIONS ?? 32);
const ROUTES = ['bearer', 'dpop', 'dpop-replay'];

/** A minimal issuer: the JWKS the API verifies with, and tokens signed with its key. */
async function startIssuer() {
  const { privateKey, publicKey } = await generateKeyPair('ES256', { kid: 'bench-1' });
  const jwks = JSON.stringify({ keys: [{ ...exportJwk(publicKey), use: 'sig' }] });
  const server = createServer((req, res) => {
    if (req.url !== '/jwks') return res.writeHead(404).end();
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'max-age=3600' }).end(jwks);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${server.address().port}`;
  const audience = 'https://api.bench';
  const token = (claims) =>
    signJwtSync({ sub: 'user-1', client_id: 'bench', scope: 'orders:read', ...claims }, privateKey, {
      typ: 'at+jwt',
      issuer: url,
      audience,
      expiresIn: 3600,
      jti: true,
    });
  return { url, audience, token, close: () => new Promise((resolve) => server.close(resolve)) };
}

export async function runGuardDpop() {
  const issuer = await startIssuer();
  const api = await startProcess('guard_dpop_process.js', {
    GUARD_ISSUER: issuer.url,
    GUARD_AUDIENCE: issuer.audience,
    GUARD_JWKS: `${issuer.url}/jwks`,
  });
  const cores = cpus().length;
  const everyCore = `0-${cores - 1}`;
  const rest = cores > 2 ? `0-${cores - 2}` : '0';
  const pinned =
    process.env.BENCH_GUARD_PIN !== '0' &&
    cores >= 2 &&
    pin(api.child.pid, String(cores - 1)) &&
    pin(process.pid, rest);
  try {
    console.log(
      `\nGuard DPoP (Fastify in its own process = one core, ${CONNECTIONS} connections, ${ROUNDS} rounds × ${SECONDS} s per route; ${pinned ? `API pinned to CPU ${cores - 1}, load generator and issuer on ${rest}` : 'not pinned'})`,
    );
    const client = await generateKeyPair('ES256');
    const bearerToken = issuer.token();
    const dpopToken = issuer.token({ cnf: { jkt: jwkThumbprint(client.publicKey) } });
    const proofs = (route, count) => {
      const htu = `${api.url}/${route}`;
      const made = [];
      for (let i = 0; i < count; i++)
        made.push(createDpopProof(client.privateKey, { htm: 'GET', htu, accessToken: dpopToken }));
      return made;
    };
    for (const route of ROUTES) {
      const headers =
        route === 'bearer'
          ? { authorization: `Bearer ${bearerToken}` }
          : { authorization: `DPoP ${dpopToken}`, dpop: proofs(route, 1)[0] };
      const check = await fetch(`${api.url}/${route}`, { headers });
      if (check.status !== 200) throw new Error(`/${route} answered ${check.status}`);
    }
    // Fresh proofs for a run, made before it: the fastest DPoP rate seen so far, with a margin. Should
    // they run out, more are made on the fly (on the load generator's core, not the API's).
    let expectedRate = 10_000;
    const results = Object.fromEntries(ROUTES.map((route) => [route, { rate: [], cpu: [], p99: [] }]));
    const ratios = { dpop: [], 'dpop-replay': [] };
    const cpuRatios = { dpop: [], 'dpop-replay': [] };
    // The floor, timed every round next to the routes (a shared machine's speed drifts): one raw ES256
    // verification, the best ratio it leaves, and how much of that ratio dpop reaches.
    const floor = { us: [], ratio: [], reached: [], beyond: [] };
    /** autocannon options for one run of `route`: its token, and a fresh proof for each DPoP request. */
    const runOf = (route, seconds) => {
      let requests;
      if (route !== 'bearer') {
        const pool = proofs(route, Math.ceil(expectedRate * seconds * 1.5));
        let next = 0;
        requests = [
          {
            setupRequest(request) {
              const proof = next < pool.length ? pool[next++] : proofs(route, 1)[0];
              request.headers = { ...request.headers, dpop: proof };
              return request;
            },
          },
        ];
      }
      return {
        url: `${api.url}/${route}`,
        duration: seconds,
        connections: CONNECTIONS,
        headers: { authorization: route === 'bearer' ? `Bearer ${bearerToken}` : `DPoP ${dpopToken}` },
        ...(requests ? { requests } : {}),
      };
    };
    // A warm-up run per route, not counted: the first seconds of a process are the JIT's.
    for (const route of ROUTES) await load(runOf(route, 1));
    for (let round = 0; round < ROUNDS; round++) {
      const order = ROUTES.map((_, i) => ROUTES[(i + round) % ROUTES.length]);
      const got = {};
      const cpu = {};
      for (const route of order) {
        const options = runOf(route, SECONDS);
        const cpuBefore = await (await fetch(`${api.url}/cpu`)).json();
        const result = await load(options);
        if (result.non2xx > 0 || result.errors > 0)
          throw new Error(`/${route}: ${result.non2xx} non-2xx answers, ${result.errors} errors`);
        const cpuAfter = await (await fetch(`${api.url}/cpu`)).json();
        got[route] = rate(result, SECONDS);
        cpu[route] = (cpuAfter.user + cpuAfter.system - cpuBefore.user - cpuBefore.system) / result['2xx'];
        results[route].rate.push(got[route]);
        results[route].cpu.push(cpu[route]);
        results[route].p99.push(result.latency.p99);
        if (route !== 'bearer') expectedRate = Math.max(expectedRate, got[route]);
      }
      for (const route of ['dpop', 'dpop-replay']) {
        ratios[route].push(got[route] / got.bearer);
        cpuRatios[route].push(cpu.bearer / cpu[route]);
      }
      const floorUs = (await (await fetch(`${api.url}/floor?n=2000`)).json()).microseconds;
      const floorRatio = cpu.bearer / (cpu.bearer + floorUs);
      floor.us.push(floorUs);
      floor.ratio.push(floorRatio);
      floor.reached.push(cpuRatios.dpop.at(-1) / floorRatio);
      floor.beyond.push(cpu.dpop - cpu.bearer - floorUs);
      console.log(
        `  round ${round + 1}: ${ROUTES.map((route) => `${route} ${got[route]} req/s (${cpu[route].toFixed(1)} µs CPU)`).join(', ')}; dpop/bearer ${ratios.dpop.at(-1).toFixed(3)} (CPU ${cpuRatios.dpop.at(-1).toFixed(3)}), dpop-replay/bearer ${ratios['dpop-replay'].at(-1).toFixed(3)} (CPU ${cpuRatios['dpop-replay'].at(-1).toFixed(3)}); floor ${floorUs.toFixed(1)} µs → ${floorRatio.toFixed(3)}`,
      );
    }
    const row = {
      pinned,
      floorUs: median(floor.us),
      floorRatio: median(floor.ratio),
      floorReached: median(floor.reached),
      beyondFloorUs: median(floor.beyond),
    };
    for (const route of ROUTES) {
      row[route] = {
        rate: median(results[route].rate),
        cpuUs: median(results[route].cpu),
        p99Ms: median(results[route].p99),
      };
    }
    for (const route of ['dpop', 'dpop-replay']) {
      row[route].ratio = median(ratios[route]);
      row[route].cpuRatio = median(cpuRatios[route]);
      row[route].extraCpuUs = row[route].cpuUs - row.bearer.cpuUs;
    }
    console.log(
      `  median: bearer ${row.bearer.rate} req/s (${row.bearer.cpuUs.toFixed(1)} µs CPU, p99 ${row.bearer.p99Ms} ms); ` +
        ['dpop', 'dpop-replay']
          .map(
            (route) =>
              `${route} ${row[route].rate} req/s (${row[route].cpuUs.toFixed(1)} µs, +${row[route].extraCpuUs.toFixed(1)} µs, p99 ${row[route].p99Ms} ms) = ${row[route].ratio.toFixed(3)}× throughput, ${row[route].cpuRatio.toFixed(3)}× CPU`,
          )
          .join('; '),
    );
    console.log(
      `  floor (medians of the per-round values): one raw ES256 verification costs ${row.floorUs.toFixed(1)} µs on the API's core, so DPoP can reach at best ${row.floorRatio.toFixed(3)}× of bearer's CPU per request; dpop reaches ${row.floorReached.toFixed(3)} of that floor ratio (${row.beyondFloorUs.toFixed(1)} µs per request beyond the verification)`,
    );
    return row;
  } finally {
    if (pinned) pin(process.pid, everyCore);
    await stopProcess(api);
    await issuer.close();
  }
}
