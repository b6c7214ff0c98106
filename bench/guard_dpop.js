// Guard DPoP suite: what DPoP (RFC 9449) costs a guarded API over Bearer. The same Fastify process
// (one core, pinned like the guard suite's) serves one handler behind the guard on /bearer (a Bearer
// token), /dpop (a DPoP-bound token and its proof, verified in full on every request) and
// /dpop-replay (the same with the in-memory jti replay cache, so a fresh proof per request).
// autocannon loads each in turn at saturation, the order rotating each round; per round it takes
// the throughput ratio dpop / bearer and the API process's CPU time per request. Next to it, the
// physical floor: one extra ES256 verification per request, timed (CPU time) with raw node:crypto on
// the API's core every round, gives the best ratio DPoP could reach: bearer CPU / (bearer CPU + one
// verification). Then the same without HTTP: the guard's preHandler called directly, Bearer against
// DPoP against the raw verification, which separates what the guard adds around the signature from
// what the HTTP stack does. The issuer is a minimal one in this process (a JWKS; revocations off in
// the API), so that nothing but the token's scheme differs between routes and no server build is needed.

import { createSign, generateKeyPairSync, verify } from 'node:crypto';
import { createServer } from 'node:http';
import { cpus } from 'node:os';
import { createGuard } from '@tessera/guard';
import { requireAuth } from '@tessera/guard/fastify';
import { createDpopProof, exportJwk, generateKeyPair, jwkThumbprint, signJwtSync } from '@tessera/jose';
import { median } from './harness.js';
import { load, pin, rate, startProcess, stopProcess } from './processes.js';

const SECONDS = Number(process.env.BENCH_GUARD_SECONDS ?? 3);
const ROUNDS = Number(process.env.BENCH_GUARD_ROUNDS ?? 9);
const CONNECTIONS = Number(process.env.BENCH_GUARD_CONNECTIONS ?? 32);
const ROUTES = ['bearer', 'bearer-verify', 'dpop', 'dpop-replay'];
/** The routes compared with /bearer. */
const COMPARED = ['bearer-verify', 'dpop', 'dpop-replay'];
const IN_PROCESS_ROUNDS = Number(process.env.BENCH_GUARD_DPOP_ROUNDS ?? 15);

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

/**
 * The guard's own work per request, in this process, without HTTP: the Fastify preHandler called
 * directly (its synchronous path) for a Bearer request and for DPoP requests, interleaved with a raw
 * node:crypto ES256 verification of a proof-sized input (the harness's rounds and slices). DPoP minus
 * the raw verification is what the guard adds around the signature.
 */
async function guardWork(issuer) {
  const options = {
    issuer: issuer.url,
    audience: issuer.audience,
    jwksUri: `${issuer.url}/jwks`,
    algorithms: ['ES256'],
    revocations: 'off',
  };
  const guard = createGuard({ ...options, dpop: true });
  const replayGuard = createGuard({ ...options, dpop: { replay: 'memory' } });
  await Promise.all([guard.ready(), replayGuard.ready()]);
  try {
    const client = await generateKeyPair('ES256');
    const bearerToken = issuer.token();
    const dpopToken = issuer.token({ cnf: { jkt: jwkThumbprint(client.publicKey) } });
    const request = (authorization, dpop) => {
      const rawHeaders = ['Host', 'api.bench', 'Authorization', authorization];
      if (dpop) rawHeaders.push('DPoP', dpop);
      return { method: 'GET', url: '/orders', headers: { host: 'api.bench' }, rawHeaders };
    };
    const bearerRequest = request(`Bearer ${bearerToken}`);
    // Enough proofs for every call of the rounds (a replayed proof would be refused with replay on).
    const dpopRequests = Array.from({ length: 1000 * (IN_PROCESS_ROUNDS + 2) }, () =>
      request(
        `DPoP ${dpopToken}`,
        createDpopProof(client.privateKey, {
          htm: 'GET',
          htu: 'http://api.bench/orders',
          accessToken: dpopToken,
        }),
      ),
    );
    const refused = () => {
      throw new Error('the guard refused a benchmark request');
    };
    const reply = { code: refused };
    const done = (err) => {
      if (err) throw err;
    };
    const preHandler = requireAuth(guard);
    const replayPreHandler = requireAuth(replayGuard);
    let next = 0;
    let nextReplay = 0;
    const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const input = Buffer.from(
      dpopRequests[0].rawHeaders[5].slice(0, dpopRequests[0].rawHeaders[5].lastIndexOf('.')),
    );
    const signature = createSign('sha256').update(input).sign({ key: privateKey, dsaEncoding: 'ieee-p1363' });
    // CPU time per call, not wall time: on a shared machine a slice of wall time includes other
    // processes' turns. Rounds interleave the contenders; medians are reported.
    const contenders = {
      'raw ES256 verification': [
        1000,
        () => verify('sha256', input, { key: publicKey, dsaEncoding: 'ieee-p1363' }, signature),
      ],
      'guard, Bearer': [50_000, () => preHandler({ raw: bearerRequest }, reply, done)],
      'guard, DPoP': [
        1000,
        () => preHandler({ raw: dpopRequests[next++ % dpopRequests.length] }, reply, done),
      ],
      'guard, DPoP + replay memory': [
        1000,
        () => {
          if (nextReplay === dpopRequests.length) throw new Error('the proofs for replay: memory ran out');
          replayPreHandler({ raw: dpopRequests[nextReplay++] }, reply, done);
        },
      ],
    };
    const samples = Object.fromEntries(Object.keys(contenders).map((name) => [name, []]));
    for (let round = 0; round <= IN_PROCESS_ROUNDS; round++) {
      for (const [name, [calls, call]] of Object.entries(contenders)) {
        const start = process.cpuUsage();
        for (let i = 0; i < calls; i++) call();
        const used = process.cpuUsage(start);
        // Round 0 warms up.
        if (round > 0) samples[name].push((used.user + used.system) / calls);
      }
    }
    const rows = Object.entries(samples).map(([name, values]) => ({ name, us: median(values) }));
    const us = Object.fromEntries(rows.map((row) => [row.name, row.us]));
    console.log(
      `  in process (the preHandler called directly; CPU µs per request, medians of ${IN_PROCESS_ROUNDS} rounds):`,
    );
    for (const row of rows)
      console.log(`    ${row.name.padEnd(28)} ${us[row.name].toFixed(2).padStart(8)} µs`);
    const beyond = us['guard, DPoP'] - us['raw ES256 verification'] - us['guard, Bearer'];
    console.log(
      `    DPoP adds ${(us['guard, DPoP'] - us['guard, Bearer']).toFixed(1)} µs to a Bearer request: the verification and ${beyond.toFixed(1)} µs around it (header, JSON, claims, ath, htu)`,
    );
    return { us, beyondVerificationUs: beyond };
  } finally {
    await Promise.all([guard.close(), replayGuard.close()]);
  }
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
        route === 'bearer' || route === 'bearer-verify'
          ? { authorization: `Bearer ${bearerToken}` }
          : { authorization: `DPoP ${dpopToken}`, dpop: proofs(route, 1)[0] };
      const check = await fetch(`${api.url}/${route}`, { headers });
      if (check.status !== 200) throw new Error(`/${route} answered ${check.status}`);
    }
    // Fresh proofs for a run, made before it: the fastest DPoP rate seen so far, with a margin. Should
    // they run out, more are made on the fly (on the load generator's core, not the API's).
    let expectedRate = 10_000;
    const results = Object.fromEntries(ROUTES.map((route) => [route, { rate: [], cpu: [], p99: [] }]));
    const ratios = Object.fromEntries(COMPARED.map((route) => [route, []]));
    const cpuRatios = Object.fromEntries(COMPARED.map((route) => [route, []]));
    /** dpop against bearer-verify, per round: 1 would be DPoP at its floor (throughput, CPU). */
    const toFloor = { rate: [], cpu: [] };
    // The floor, timed every round next to the routes (a shared machine's speed drifts): one raw ES256
    // verification, the best ratio it leaves, and how much of that ratio dpop reaches.
    const floor = { us: [], ratio: [], reached: [], beyond: [] };
    /** autocannon options for one run of `route`: its token, and a fresh proof for each DPoP request. */
    // /dpop sends one proof with every request: without replay detection the guard accepts it again
    // within its iat window and does the whole verification each time (signature, claims, ath, htu),
    // while autocannon sends fixed headers as fast as it does for /bearer. /dpop-replay needs a fresh
    // proof per request, made before the run and handed out per request: on a small machine that load
    // generator may not saturate the API, which then spends more per request on waking up.
    const staticProof = proofs('dpop', 1)[0];
    const runOf = (route, seconds) => {
      let requests;
      if (route === 'dpop-replay') {
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
      const headers =
        route === 'bearer' || route === 'bearer-verify'
          ? { authorization: `Bearer ${bearerToken}` }
          : { authorization: `DPoP ${dpopToken}`, ...(route === 'dpop' ? { dpop: staticProof } : {}) };
      return {
        url: `${api.url}/${route}`,
        duration: seconds,
        connections: CONNECTIONS,
        headers,
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
        if (route === 'dpop-replay') expectedRate = Math.max(expectedRate, got[route]);
      }
      for (const route of COMPARED) {
        ratios[route].push(got[route] / got.bearer);
        cpuRatios[route].push(cpu.bearer / cpu[route]);
      }
      toFloor.rate.push(got.dpop / got['bearer-verify']);
      toFloor.cpu.push(cpu['bearer-verify'] / cpu.dpop);
      const floorUs = (await (await fetch(`${api.url}/floor?n=2000`)).json()).microseconds;
      const floorRatio = cpu.bearer / (cpu.bearer + floorUs);
      floor.us.push(floorUs);
      floor.ratio.push(floorRatio);
      floor.reached.push(cpuRatios.dpop.at(-1) / floorRatio);
      floor.beyond.push(cpu.dpop - cpu.bearer - floorUs);
      console.log(
        `  round ${round + 1}: ${ROUTES.map((route) => `${route} ${got[route]} req/s (${cpu[route].toFixed(1)} µs CPU)`).join(', ')}; /bearer: ${COMPARED.map((route) => `${route} ${ratios[route].at(-1).toFixed(3)} (CPU ${cpuRatios[route].at(-1).toFixed(3)})`).join(', ')}; dpop/bearer-verify ${toFloor.rate.at(-1).toFixed(3)} (CPU ${toFloor.cpu.at(-1).toFixed(3)}); tight-loop verification ${floorUs.toFixed(1)} µs`,
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
    row.dpopToFloor = { rate: median(toFloor.rate), cpu: median(toFloor.cpu) };
    for (const route of COMPARED) {
      row[route].ratio = median(ratios[route]);
      row[route].cpuRatio = median(cpuRatios[route]);
      row[route].extraCpuUs = row[route].cpuUs - row.bearer.cpuUs;
    }
    console.log(
      `  median: bearer ${row.bearer.rate} req/s (${row.bearer.cpuUs.toFixed(1)} µs CPU, p99 ${row.bearer.p99Ms} ms); ` +
        COMPARED.map(
          (route) =>
            `${route} ${row[route].rate} req/s (${row[route].cpuUs.toFixed(1)} µs, +${row[route].extraCpuUs.toFixed(1)} µs, p99 ${row[route].p99Ms} ms) = ${row[route].ratio.toFixed(3)}× throughput, ${row[route].cpuRatio.toFixed(3)}× CPU`,
        ).join('; '),
    );
    console.log(
      `  floor in context: /bearer-verify (the Bearer route plus one raw ES256 verification in its handler) serves ${row['bearer-verify'].ratio.toFixed(3)}× /bearer (CPU ${row['bearer-verify'].cpuRatio.toFixed(3)}×), the best DPoP can do; dpop reaches ${row.dpopToFloor.rate.toFixed(3)} of it in throughput and ${row.dpopToFloor.cpu.toFixed(3)} in CPU per request (${(row.dpop.cpuUs - row['bearer-verify'].cpuUs).toFixed(1)} µs above it)`,
    );
    console.log(
      `  floor in a tight loop (medians of the per-round values): one raw ES256 verification costs ${row.floorUs.toFixed(1)} µs on the API's core, which would allow ${row.floorRatio.toFixed(3)}× of bearer's CPU per request; dpop reaches ${row.floorReached.toFixed(3)} of that (${row.beyondFloorUs.toFixed(1)} µs per request beyond the verification)`,
    );
    row.inProcess = await guardWork(issuer);
    return row;
  } finally {
    if (pinned) pin(process.pid, everyCore);
    await stopProcess(api);
    await issuer.close();
  }
}
