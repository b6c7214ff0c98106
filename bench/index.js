// Tessera's benchmarks: one process, contenders interleaved round by round, ratios per round,
// medians reported. Run with `npm run bench` (builds first). Environment:
//   BENCH_SUITES    comma-separated subset of jwt,jwe,server,guard,guard-dpop,cluster,snapshot,oidc
//                   (default all)
//   BENCH_ROUNDS    rounds per contender (default 7)
//   BENCH_SLICE_MS  time each contender runs per round (default 120)
//   BENCH_ALGS      JWT algorithms (default HS256,RS256,PS256,ES256,EdDSA)
//   BENCH_JWE       JWE pairs (default dir+A256GCM,A256KW+A256GCM,ECDH-ES+A256KW+A256GCM,RSA-OAEP-256+A256GCM)
//   BENCH_JSON      file to write every result to
import { writeFileSync } from 'node:fs';
import { machine } from './harness.js';

const suites = (process.env.BENCH_SUITES ?? 'jwt,jwe,server,guard,guard-dpop,cluster,snapshot,oidc').split(
  ',',
);
const info = machine();
console.log(
  `Tessera benchmarks: Node ${info.node}, ${info.cpu} ×${info.cores}, ${info.rounds} rounds × ${info.sliceMs} ms`,
);
const results = { ...info };
if (suites.includes('jwt')) results.jwt = await (await import('./jwt.js')).runJwt();
if (suites.includes('jwe')) results.jwe = await (await import('./jwe.js')).runJwe();
if (suites.includes('server')) results.server = await (await import('./server.js')).runServer();
if (suites.includes('guard')) results.guard = await (await import('./guard.js')).runGuard();
if (suites.includes('guard-dpop')) results.guardDpop = await (await import('./guard_dpop.js')).runGuardDpop();
if (suites.includes('cluster')) results.cluster = await (await import('./cluster.js')).runCluster();
if (suites.includes('snapshot')) results.snapshot = await (await import('./snapshot.js')).runSnapshot();
if (suites.includes('oidc')) results.oidc = await (await import('./oidc.js')).runOidc();
if (process.env.BENCH_JSON) writeFileSync(process.env.BENCH_JSON, JSON.stringify(results, null, 2));
