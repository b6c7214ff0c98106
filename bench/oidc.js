// OpenID Provider suite: Tessera against node-oidc-provider (v9) at the token endpoint, each in its own
// process on the same core, loaded over loopback by autocannon from this process.
//   1. client_credentials: POST /token with Basic auth, `scope=api`, for a JWT access token (RFC 9068)
//      for `https://api.example`. Contenders: node-oidc-provider (RS256; JWT access tokens through its
//      resource indicators), Tessera with `signingAlg: RS256`, and Tessera with its default ES256.
//      The order rotates each round; the Tessera / oidc-provider ratio is taken per round.
//   2. authorization_code (+PKCE S256, Basic auth): each provider's `webapp` client signs in once through
//      the provider's login form, then asks /authorize (with that single sign-on) for codes, all made
//      before the timed run; the run exchanges each code once (autocannon `amount`, codes being
//      single-use). Both answer an access token (JWT for the API) and an RS256 ID token.
// When Tessera RS256 misses the target (3× node-oidc-provider's client_credentials rate), a fresh
// Tessera RS256 process runs both loads again under V8's CPU profiler, and where its time goes is
// printed (BENCH_OIDC_PROFILE=1: always, =0: never).
// Where taskset is available the providers share the last CPU and the load generator the others, so
// the provider's core is the one saturated (BENCH_OIDC_PIN=0: no pinning).
import { generateKeyPairSync, sign } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import autocannon from 'autocannon';
import { printProfile, summarizeProfile } from './cpu_profile.js';
import { median } from './harness.js';
import { REDIRECT_URI, UserAgent } from './oidc_user_agent.js';
import { pin, startProcess, stopProcess } from './processes.js';

const SECONDS = Number(process.env.BENCH_OIDC_SECONDS ?? 10);
const WARMUP_SECONDS = Number(process.env.BENCH_OIDC_WARMUP_SECONDS ?? 3);
const CONNECTIONS = Number(process.env.BENCH_OIDC_CONNECTIONS ?? 50);
const ROUNDS = Number(process.env.BENCH_OIDC_ROUNDS ?? 3);
const CODES = Number(process.env.BENCH_OIDC_CODES ?? 10_000);
const WARMUP_CODES = Math.max(CONNECTIONS, Math.min(CODES, 2_000));
const PROFILE = process.env.BENCH_OIDC_PROFILE;
const TARGET = 3;
/** Both providers' codes live 60 s (Tessera's AUTHORIZATION_CODE_TTL_SECONDS, oidc-provider's ttl). */
const CODE_TTL_MS = 60_000;
const SCOPE = 'openid api';

const BASELINE = 'node-oidc-provider RS256';
const CONTENDERS = [
  { name: BASELINE, script: 'oidc_provider_process.js' },
  { name: 'Tessera RS256', script: 'oidc_tessera_process.js', env: { BENCH_OIDC_ALG: 'RS256' } },
  { name: 'Tessera ES256 (default)', script: 'oidc_tessera_process.js', env: { BENCH_OIDC_ALG: 'ES256' } },
];

/**
 * Signatures per second on one core with node:crypto alone (RSA 2048 and P-256, a 400-byte input):
 * no provider signing one token per request answers more requests than this on a core.
 */
function signingCeiling(alg) {
  const key =
    alg === 'RS256'
      ? generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey
      : { key: generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey, dsaEncoding: 'ieee-p1363' };
  const input = Buffer.alloc(400, 0x61);
  const started = performance.now();
  let count = 0;
  while (performance.now() - started < 1000) {
    sign('sha256', input, key);
    count++;
  }
  return Math.round(count / ((performance.now() - started) / 1000));
}

/**
 * One autocannon run, its `duration` the time from the start to the last answer. autocannon's own
 * ends on its next one-second tick, so a run of a fixed `amount` would count up to a second of
 * waiting for nothing (a 13.2 s exchange reported as 14 s).
 */
function load(options) {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    let lastAnswer = started;
    const instance = autocannon(options, (err, result) =>
      err ? reject(err) : resolve({ ...result, duration: (lastAnswer - started) / 1000 }),
    );
    instance.on('response', () => {
      lastAnswer = performance.now();
    });
  });
}

const basic = (id, secret) => `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`;

function decodeJwt(token) {
  const [header, payload] = token.split('.');
  return {
    header: JSON.parse(Buffer.from(header, 'base64url').toString()),
    payload: JSON.parse(Buffer.from(payload, 'base64url').toString()),
  };
}

/** One token request outside the timed runs: the answer must be what the benchmark claims to load. */
async function tokenRequest(server, clientId, secret, form) {
  const response = await fetch(`${server.url}/token`, {
    method: 'POST',
    headers: { authorization: basic(clientId, secret) },
    body: new URLSearchParams(form),
  });
  const body = await response.json();
  if (response.status !== 200) throw new Error(`${server.name}: ${response.status} ${JSON.stringify(body)}`);
  return body;
}

function describeJwt(label, token) {
  const { header, payload } = decodeJwt(token);
  const aud = Array.isArray(payload.aud) ? payload.aud.join(' ') : payload.aud;
  return `${label} ${header.alg} typ ${header.typ ?? '-'} aud ${aud} ${token.length} B`;
}

function clientCredentialsLoad(server, duration) {
  return load({
    url: `${server.url}/token`,
    method: 'POST',
    duration,
    connections: CONNECTIONS,
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: basic('service', server.serviceSecret),
    },
    body: 'grant_type=client_credentials&scope=api',
  });
}

/**
 * Exchanges `codes.length - CONNECTIONS` codes, each once: autocannon prepares a connection's next
 * request as soon as the previous answer arrives, so up to one per connection is built but never sent.
 */
function exchangeLoad(server, codes) {
  let next = 0;
  return load({
    url: `${server.url}/token`,
    connections: CONNECTIONS,
    amount: codes.length - CONNECTIONS,
    requests: [
      {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          authorization: basic('webapp', server.webSecret),
        },
        setupRequest(request) {
          // Past the end (never sent, see above) the last code stands in: a reuse would show as non-2xx.
          const { code, verifier } = codes[Math.min(next++, codes.length - 1)];
          const body = new URLSearchParams({
            grant_type: 'authorization_code',
            code,
            code_verifier: verifier,
            redirect_uri: REDIRECT_URI,
          });
          return { ...request, body: body.toString() };
        },
      },
    ],
  });
}

function row(name, result) {
  return {
    name,
    requestsPerSecond: Math.round(result['2xx'] / result.duration),
    p50: result.latency.p50,
    p99: result.latency.p99,
    non2xx: result.non2xx,
    errors: result.errors + result.timeouts,
  };
}

function printRow(row, extra = '') {
  console.log(
    `    ${row.name.padEnd(26)} ${String(row.requestsPerSecond).padStart(6)} req/s  p50 ${String(row.p50).padStart(3)} ms  p99 ${String(row.p99).padStart(4)} ms  non-2xx ${row.non2xx}  errors ${row.errors}${extra}`,
  );
}

/** Medians over rounds per contender, and per-round ratios against the baseline. */
function summarize(rounds) {
  return CONTENDERS.map(({ name }) => {
    const rows = rounds.map((round) => round[name]);
    return {
      name,
      requestsPerSecond: median(rows.map((r) => r.requestsPerSecond)),
      p50: median(rows.map((r) => r.p50)),
      p99: median(rows.map((r) => r.p99)),
      non2xx: rows.reduce((sum, r) => sum + r.non2xx, 0),
      errors: rows.reduce((sum, r) => sum + r.errors, 0),
      ratio: median(rounds.map((round) => round[name].requestsPerSecond / round[BASELINE].requestsPerSecond)),
      samples: rows.map((r) => r.requestsPerSecond),
    };
  });
}

function printSummary(title, summary) {
  console.log(`  ${title} (medians over ${ROUNDS} rounds; ratio = median per-round ratio to ${BASELINE})`);
  for (const s of summary) {
    const flag = s.non2xx + s.errors > 0 ? '  ← INVALID: every answer must be 2xx' : '';
    printRow(s, `  ${s.ratio.toFixed(2)}×${flag}`);
  }
}

const roundOrder = (round) => CONTENDERS.map((_, i) => CONTENDERS[(i + round) % CONTENDERS.length]);

async function measureClientCredentials(servers) {
  console.log(`\n  client_credentials: warm-up ${WARMUP_SECONDS} s each`);
  for (const { name } of CONTENDERS) await clientCredentialsLoad(servers[name], WARMUP_SECONDS);
  const rounds = [];
  for (let round = 0; round < ROUNDS; round++) {
    console.log(`  round ${round + 1}`);
    const results = {};
    for (const { name } of roundOrder(round)) {
      results[name] = row(name, await clientCredentialsLoad(servers[name], SECONDS));
      printRow(results[name]);
    }
    rounds.push(results);
  }
  return summarize(rounds);
}

/** Codes for one run, made through /authorize with the agent's sign-in, and how long that took. */
async function prepareCodes(server, count) {
  const started = Date.now();
  const codes = await server.agent.codes('webapp', SCOPE, count);
  const seconds = (Date.now() - started) / 1000;
  return { codes, seconds, madeAt: started };
}

async function exchangeRun(server, count) {
  const { codes, seconds, madeAt } = await prepareCodes(server, count + CONNECTIONS);
  const result = await exchangeLoad(server, codes);
  const oldest = (Date.now() - madeAt) / 1000;
  return { result, seconds, made: codes.length, oldest };
}

async function measureCodeExchange(servers) {
  console.log(
    `\n  authorization_code: warm-up ${WARMUP_CODES} codes each, then ${CODES} codes per contender per round`,
  );
  for (const { name } of CONTENDERS) await exchangeRun(servers[name], WARMUP_CODES);
  const rounds = [];
  for (let round = 0; round < ROUNDS; round++) {
    console.log(`  round ${round + 1}`);
    const results = {};
    for (const { name } of roundOrder(round)) {
      const run = await exchangeRun(servers[name], CODES);
      results[name] = {
        ...row(name, run.result),
        codesPerSecond: Math.round(run.made / run.seconds),
      };
      const expiry =
        run.oldest * 1000 > CODE_TTL_MS * 0.9
          ? '  ← codes near their 60 s expiry: lower BENCH_OIDC_CODES'
          : '';
      printRow(
        results[name],
        `  (${run.made} codes made in ${run.seconds.toFixed(1)} s = ${results[name].codesPerSecond} /authorize per s; ${run.result['2xx']} exchanged${expiry})`,
      );
    }
    rounds.push(results);
  }
  const summary = summarize(rounds);
  for (const s of summary) s.authorizePerSecond = median(rounds.map((round) => round[s.name].codesPerSecond));
  return summary;
}

/** Tessera RS256 once more, profiled during the load of `grant` (its own process: the profiler costs). */
async function profileTessera(cpuSet, grant) {
  const file = join(mkdtempSync(join(tmpdir(), 'tessera-oidc-profile-')), `${grant}.cpuprofile`);
  const server = await startProcess('oidc_tessera_process.js', {
    BENCH_OIDC_ALG: 'RS256',
    BENCH_OIDC_CPU_PROFILE: file,
  });
  server.name = 'Tessera RS256 (profiled)';
  if (cpuSet) pin(server.child.pid, cpuSet);
  try {
    if (grant === 'authorization_code') {
      server.agent = new UserAgent(server.url);
      await server.agent.discover();
      await server.agent.signIn('webapp', SCOPE, server.username, server.password);
      await exchangeRun(server, WARMUP_CODES);
    } else {
      await clientCredentialsLoad(server, WARMUP_SECONDS);
    }
    // The codes are made first, so the profile holds the exchanges alone.
    const prepared =
      grant === 'authorization_code' ? await prepareCodes(server, CODES + CONNECTIONS) : undefined;
    const lines = createInterface({ input: server.child.stdout });
    const started = new Promise((resolve) => lines.on('line', (line) => line === 'profiling' && resolve()));
    server.child.kill('SIGUSR2');
    await started;
    const result = prepared
      ? await exchangeLoad(server, prepared.codes)
      : await clientCredentialsLoad(server, SECONDS);
    printRow(row(server.name, result));
  } finally {
    server.agent?.close();
    await stopProcess(server);
  }
  printProfile(
    `  CPU profile of Tessera RS256, ${grant} (${file})`,
    summarizeProfile(JSON.parse(readFileSync(file, 'utf8'))),
  );
}

export async function runOidc() {
  const cores = cpus().length;
  const providerCpu = String(cores - 1);
  const rest = cores > 2 ? `0-${cores - 2}` : '0';
  const servers = {};
  try {
    for (const contender of CONTENDERS) {
      servers[contender.name] = {
        name: contender.name,
        ...(await startProcess(contender.script, contender.env)),
      };
    }
    const pinned =
      process.env.BENCH_OIDC_PIN !== '0' &&
      cores >= 2 &&
      Object.values(servers).every((server) => pin(server.child.pid, providerCpu)) &&
      pin(process.pid, rest);
    console.log(
      `\nOpenID Provider: Tessera (SQLite) vs node-oidc-provider (in memory), each process = one core, ${CONNECTIONS} connections; ${pinned ? `providers pinned to CPU ${providerCpu}, load generator on ${rest}` : 'not pinned'}`,
    );
    for (const { name } of CONTENDERS) {
      const server = servers[name];
      const cc = await tokenRequest(server, 'service', server.serviceSecret, {
        grant_type: 'client_credentials',
        scope: 'api',
      });
      server.agent = new UserAgent(server.url);
      await server.agent.discover();
      await server.agent.signIn('webapp', SCOPE, server.username, server.password);
      const [{ code, verifier }] = await server.agent.codes('webapp', SCOPE, 1, 1);
      const exchanged = await tokenRequest(server, 'webapp', server.webSecret, {
        grant_type: 'authorization_code',
        code,
        code_verifier: verifier,
        redirect_uri: REDIRECT_URI,
      });
      console.log(
        `  ${name}: client_credentials → ${describeJwt('access token', cc.access_token)}; code → ${describeJwt('access token', exchanged.access_token)}, ${exchanged.id_token ? describeJwt('ID token', exchanged.id_token) : 'no ID token'}${exchanged.refresh_token ? ', refresh token' : ''}`,
      );
    }
    // Measured on the providers' core (this process moves there for it while they are idle).
    if (pinned) pin(process.pid, providerCpu);
    const ceiling = { RS256: signingCeiling('RS256'), ES256: signingCeiling('ES256') };
    if (pinned) pin(process.pid, rest);
    console.log(
      `  signing ceiling (node:crypto alone, ${pinned ? `CPU ${providerCpu}` : 'one core'}): RS256 ${ceiling.RS256} signatures/s, ES256 ${ceiling.ES256}/s`,
    );
    const clientCredentials = await measureClientCredentials(servers);
    printSummary('client_credentials', clientCredentials);
    const authorizationCode = await measureCodeExchange(servers);
    printSummary('authorization_code exchange', authorizationCode);
    for (const s of authorizationCode)
      console.log(
        `    ${s.name.padEnd(26)} /authorize with single sign-on (code issuance): ${s.authorizePerSecond} per s`,
      );

    const tessera = clientCredentials.find((s) => s.name === 'Tessera RS256');
    const met = tessera.ratio >= TARGET;
    const baseline = clientCredentials.find((s) => s.name === BASELINE);
    const needed = Math.round(TARGET * baseline.requestsPerSecond);
    console.log(
      `\n  target: Tessera RS256 client_credentials ≥ ${TARGET}× node-oidc-provider: ${tessera.ratio.toFixed(2)}× (${met ? 'met' : 'missed'}); ${TARGET}× is ${needed} req/s, ${needed > ceiling.RS256 ? 'above' : 'below'} the RS256 signing ceiling of ${ceiling.RS256}/s`,
    );
    if (PROFILE === '1' || (PROFILE !== '0' && !met)) {
      for (const server of Object.values(servers)) server.agent?.close();
      await Promise.all(Object.values(servers).map((server) => stopProcess(server)));
      await profileTessera(pinned ? providerCpu : undefined, 'client_credentials');
      await profileTessera(pinned ? providerCpu : undefined, 'authorization_code');
    }
    return {
      pinned,
      ceiling,
      connections: CONNECTIONS,
      seconds: SECONDS,
      rounds: ROUNDS,
      codes: CODES,
      clientCredentials,
      authorizationCode,
    };
  } finally {
    for (const server of Object.values(servers)) server.agent?.close();
    await Promise.all(Object.values(servers).map((server) => stopProcess(server)));
  }
}
