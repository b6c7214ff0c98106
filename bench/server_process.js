// The server side of the server benchmark: a real Tessera server on loopback, on its own core (this
// process), with what the load needs prepared in advance and printed as one JSON line on stdout.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, loadConfig } from '../packages/server/dist/index.js';
import { freePort } from './processes.js';

const sessions = Number(process.env.BENCH_SESSIONS ?? 60_000);
const dataDir = mkdtempSync(join(tmpdir(), 'tessera-bench-'));
// A port chosen first, so the issuer (`iss`, discovery) is the address the server really has.
const port = await freePort();
const config = loadConfig({}, {}, { dataDir, port, masterKey: 'B'.repeat(43), logLevel: 'silent' });
const server = await createServer(config, { logger: false });
const { services } = server;
const user = await services.users.create('bench', 'correct horse battery staple');
await services.clients.add({
  clientId: 'app',
  type: 'public',
  audiences: [config.audience],
  scopes: ['openid'],
});
const { secret } = await services.clients.add({
  clientId: 'api',
  type: 'confidential',
  audiences: [config.audience],
  scopes: ['openid'],
});
// Refresh tokens for the refresh benchmark: each request rotates one, so each needs its own.
const refreshTokens = [];
for (let i = 0; i < sessions; i++)
  refreshTokens.push((await services.refreshTokens.start(user.id, 'app', 'openid')).refreshToken);
const session = await services.refreshTokens.start(user.id, 'app', 'openid');
const { token: accessToken } = services.accessTokens.issue({
  user,
  clientId: 'app',
  scope: 'openid',
  sid: session.familyId,
  audience: config.audience,
  ttl: config.accessTokenTtl,
});
const url = await server.listen();
process.stdout.write(`${JSON.stringify({ url, refreshTokens, accessToken, clientSecret: secret })}\n`);
process.on('SIGTERM', async () => {
  await server.close();
  process.exit(0);
});
