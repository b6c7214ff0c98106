// Server suite: requests per second and latency of the token endpoint (refresh grant), introspection
// and a route protected by the server's own verifier, on the embedded store (SQLite), with the server
// in its own process (one core) and the load generated here over loopback.
import { load, startProcess, stopProcess } from './processes.js';

const DURATION = Number(process.env.BENCH_SERVER_SECONDS ?? 10);
const CONNECTIONS = Number(process.env.BENCH_SERVER_CONNECTIONS ?? 32);

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
  const server = await startProcess('server_process.js');
  try {
    console.log(`\nServer (one process = one core, SQLite, ${CONNECTIONS} connections, ${DURATION} s each)`);
    let next = 0;
    const refresh = await load({
      duration: DURATION,
      connections: CONNECTIONS,
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
    const introspect = await load({
      duration: DURATION,
      connections: CONNECTIONS,
      url: `${server.url}/introspect`,
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: `Basic ${Buffer.from(`api:${server.clientSecret}`).toString('base64')}`,
      },
      body: `token=${server.accessToken}`,
    });
    const userinfo = await load({
      duration: DURATION,
      connections: CONNECTIONS,
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
    await stopProcess(server);
  }
}
