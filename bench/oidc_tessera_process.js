// The Tessera side of the OpenID Provider benchmark (oidc.js): a real Tessera server on loopback in
// this process (one core), SQLite in a temporary directory as server_process.js has it, with the
// clients oidc_provider_process.js has, printed as one JSON line on stdout when ready.
//   - BENCH_OIDC_ALG: the access-token signing algorithm (`signingAlg`; Tessera's default is ES256).
//     ID tokens are RS256 either way (`idTokenSigningAlg`'s default);
//   - `service`: a confidential service client (client_credentials only, client_secret_basic) for the
//     API `https://api.example`, scope `api`;
//   - `webapp`: a confidential web client (authorization code with PKCE, client_secret_basic) that skips
//     consent, scopes `openid api`, and no refresh_token grant (oidc-provider's `webapp` has none either);
//   - the user `bench`, whose password the load generator signs in with once;
//   - BENCH_OIDC_CPU_PROFILE: a file; SIGUSR2 starts V8's CPU profiler, and SIGTERM writes the profile
//     there before exiting, so the profile holds the load alone (not start-up, not the warm-up).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, loadConfig } from '../packages/server/dist/index.js';
import { freePort } from './processes.js';

const AUDIENCE = 'https://api.example';
const REDIRECT_URI = 'https://app.example/callback';
const USERNAME = 'bench';
const PASSWORD = 'correct horse battery staple';

const signingAlg = process.env.BENCH_OIDC_ALG ?? 'RS256';
const dataDir = mkdtempSync(join(tmpdir(), 'tessera-bench-oidc-'));
// A port chosen first, so the issuer (`iss`, discovery, the form posts' Origin) is the real address.
const port = await freePort();
const config = loadConfig(
  {},
  {},
  { dataDir, port, masterKey: 'B'.repeat(43), logLevel: 'silent', signingAlg },
);
const server = await createServer(config, { logger: false });
const { services } = server;
await services.users.create(USERNAME, PASSWORD);
const { secret: serviceSecret } = await services.clients.add({
  clientId: 'service',
  type: 'confidential',
  kind: 'service',
  audiences: [AUDIENCE],
  scopes: ['api'],
});
const { secret: webSecret } = await services.clients.add({
  clientId: 'webapp',
  type: 'confidential',
  kind: 'web',
  name: 'Bench web app',
  audiences: [AUDIENCE],
  scopes: ['openid', 'api'],
  redirectUris: [REDIRECT_URI],
  grantTypes: ['authorization_code'],
  skipConsent: true,
});
const url = await server.listen();
process.stdout.write(
  `${JSON.stringify({ url, serviceSecret, webSecret, username: USERNAME, password: PASSWORD, signingAlg })}\n`,
);
const profilePath = process.env.BENCH_OIDC_CPU_PROFILE;
let profiler;
if (profilePath) {
  process.on('SIGUSR2', async () => {
    profiler = new Session();
    profiler.connect();
    await profiler.post('Profiler.enable');
    await profiler.post('Profiler.start');
    process.stdout.write('profiling\n');
  });
}
process.on('SIGTERM', async () => {
  if (profiler) writeFileSync(profilePath, JSON.stringify((await profiler.post('Profiler.stop')).profile));
  await server.close();
  // Each run makes a database of a few tens of MB (the codes, the sessions): not left behind.
  rmSync(dataDir, { recursive: true, force: true });
  process.exit(0);
});
