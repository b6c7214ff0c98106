// Server suite: requests per second and latency of the token endpoint (refresh grant), introspection
// and a route protected by the server's own verifier, on the embedded store (SQLite), with the server
// in its own process (one core) and the load generated here over loopback.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import autocannon from 'autocannon';

const DURATION = Number(process.env.BENCH_SERVER_SECONDS ?? 10);
const CONNECTIONS = Number(process.env.BENCH_SERVER_CONNECTIONS ?? 32);

async function startServerProcess() {
  const child = spawn(process.execPath, [new URL('./server_process.js', import.meta.url).pathname], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const line = await new Promise((resolve, reject) => {
    createInterface({ input: child.stdout }).once('line', resolve);
    child.once('exit', (code) => reject(new Error(`server process exited with ${code}`)));
  });
  return { child, ...JSON.parse(line) };
}

function run(options) {
  return new Promise((resolve, reject) => {
    autocannon({ duration: DURATION, connections: CONNECTIONS, ...options }, (err, result) =>
      err ? reject(err) : resolve(result),
    );
  });
}

function summarize(name, result) {
  const ok = result['2xx'];
  const row = {
    name,
    requestsPerSecond: Math.round(ok / (result.duration || DURATION)),
    p50: result.latency.p50,
    p99: result.latency.p99,
    non2xx: result.non2xx,
    errors: result.errors,
  };
  console.log(
    `  ${name.padEnd(34)} ${String(row.requestsPerSecond).padStart(7)} req/s  p50 ${row.p50} ms  p99 ${row.p99} ms  non-2xx ${row.non2xx}  errors ${row.errors}`,
  );
  return row;
}

export async function runServer() {
  const server = await startServerProcess();
  try {
    console.log(`\nServer (one process = one core, SQLite, ${CONNECTIONS} connections, ${DURATION} s each)`);
    let next = 0;
    const refresh = await run({
      url: `${server.url}/token`,
      requests: [
        {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          setupRequest(request) {
            const token = server.refreshTokens[next++ % server.refreshTokens.length];
            return { ...request, body: `grant_type=refresh_token&client_id=app&refresh_token=${token}` };
          },
        },
      ],
    });
    const introspect = await run({
      url: `${server.url}/introspect`,
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: `Basic ${Buffer.from(`api:${server.clientSecret}`).toString('base64')}`,
      },
      body: `token=${server.accessToken}`,
    });
    const userinfo = await run({
      url: `${server.url}/userinfo`,
      headers: { authorization: `Bearer ${server.accessToken}` },
    });
    return {
      refresh: summarize('POST /token (refresh_token grant)', refresh),
      introspect: summarize('POST /introspect (access token)', introspect),
      userinfo: summarize('GET /userinfo (bearer, own verifier)', userinfo),
      refreshTokensUsed: next,
    };
  } finally {
    server.child.kill('SIGTERM');
  }
}
