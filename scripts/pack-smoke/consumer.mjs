// What a user of the packages does first, run inside the scratch project that pack-smoke.mjs
// installs the tarballs into (so every import below resolves through that project's node_modules,
// never the repository's). Exits non-zero, saying which step failed, on the first failure.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createAuthClient } from '@tessera/client';
import { createGuard } from '@tessera/guard';
import { requireAuth } from '@tessera/guard/node';
import { createSigner, createVerifier, generateKeyPair } from '@tessera/jose';
import { createServer, loadConfig } from '@tessera/server';

// Every entry point the packages export must load (the adapters import nothing from their framework
// at run time, so they load without Express, Fastify or Hono installed).
for (const entry of ['@tessera/guard/express', '@tessera/guard/fastify', '@tessera/guard/hono']) {
  await import(entry);
}

const step = (name) => process.stdout.write(`  ok  ${name}\n`);

// 1. @tessera/jose on its own: sign and verify.
{
  const { privateKey, publicKey } = await generateKeyPair('ES256', { kid: 'smoke' });
  const signer = createSigner({ key: privateKey, issuer: 'https://issuer.test', expiresIn: '5m' });
  const verifier = createVerifier({ key: publicKey, algorithms: ['ES256'], issuer: 'https://issuer.test' });
  const { payload } = verifier.verify(signer.sign({ sub: 'smoke' }));
  assert.equal(payload.sub, 'smoke');
  step('@tessera/jose signs and verifies');
}

// 2. @tessera/server, started programmatically on a fresh data directory.
const dataDir = mkdtempSync(join(tmpdir(), 'tessera-pack-smoke-data-'));
// The issuer must be the URL the server is reached at, so the port is chosen before it starts.
const port = await new Promise((resolve, reject) => {
  const probe = createNetServer().on('error', reject);
  probe.listen(0, '127.0.0.1', () => {
    const { port: free } = probe.address();
    probe.close(() => resolve(free));
  });
});
const server = await createServer(
  loadConfig({
    TESSERA_DATA_DIR: dataDir,
    TESSERA_PORT: String(port),
    TESSERA_MASTER_KEY: randomBytes(32).toString('base64url'),
    TESSERA_LOG_LEVEL: 'silent',
    // The guard below follows the stream without resource-server credentials.
    TESSERA_REVOCATION_STREAM_PUBLIC: 'true',
  }),
  { logger: false },
);
let api;
let guard;
try {
  const issuer = await server.listen();
  const password = 'a smoke test password';
  await server.services.users.create('smoke', password);
  await server.services.clients.add({
    clientId: 'smoke-app',
    type: 'public',
    audiences: [issuer],
    scopes: ['openid'],
  });
  step(`@tessera/server listens on ${issuer}`);

  // The debugger's script and stylesheet are files the server reads from its package at start.
  for (const path of ['/debugger', '/assets/debugger.js', '/assets/debugger.css']) {
    const page = await fetch(`${issuer}${path}`);
    assert.equal(page.status, 200, `${path}: ${page.status}`);
    assert.ok((await page.text()).length > 100, `${path} is empty`);
  }
  step('serves the token debugger and its assets');

  const login = await fetch(`${issuer}/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: 'smoke', password, client_id: 'smoke-app' }),
  });
  assert.equal(login.status, 200, await login.clone().text());
  const { access_token: accessToken } = await login.json();
  assert.match(accessToken, /^[\w-]+\.[\w-]+\.[\w-]+$/);
  step('logs in');

  // 3. @tessera/guard in front of a node:http API: discovery, JWKS and revocations over HTTP.
  guard = createGuard({ issuer, audience: issuer });
  await guard.ready();
  const auth = requireAuth(guard);
  api = createHttpServer((req, res) => {
    void auth(req, res, () => res.end(JSON.stringify({ sub: req.auth.sub })));
  });
  await new Promise((resolve) => api.listen(0, '127.0.0.1', resolve));
  const apiUrl = `http://127.0.0.1:${api.address().port}/`;
  const call = () => fetch(apiUrl, { headers: { authorization: `Bearer ${accessToken}` } });

  const allowed = await call();
  assert.equal(allowed.status, 200);
  assert.equal((await allowed.json()).sub, (await server.services.users.byUsername('smoke')).id);
  assert.equal((await fetch(apiUrl)).status, 401);
  step('@tessera/guard accepts the access token and refuses a request without one');

  // 4. @tessera/client in Node: first-party login through a fetch that does what a browser does
  // (keeps the refresh cookie, sends Origin), then the guarded API with the token it adds.
  {
    const cookies = new Map();
    const browserFetch = async (request) => {
      const headers = new Headers(request.headers);
      headers.set('origin', new URL(issuer).origin);
      if (cookies.size)
        headers.set('cookie', [...cookies].map(([name, value]) => `${name}=${value}`).join('; '));
      const response = await fetch(new Request(request, { headers }));
      for (const line of response.headers.getSetCookie()) {
        const [pair = ''] = line.split(';');
        cookies.set(pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1));
      }
      return response;
    };
    // Bearer: this guard was not given the dpop option.
    const auth = createAuthClient({ issuer, fetch: browserFetch, apiOrigins: [apiUrl], dpop: false });
    assert.equal((await auth.login({ username: 'smoke', password })).loggedIn, true);
    const me = await auth.fetch(apiUrl);
    assert.equal(me.status, 200);
    await auth.logout();
    assert.equal(auth.state.loggedIn, false);
    auth.close();
    step('@tessera/client logs in, calls the guarded API and logs out');
  }

  const logout = await fetch(`${issuer}/logout`, {
    method: 'POST',
    headers: { authorization: `Bearer ${accessToken}` },
  });
  assert.equal(logout.status, 204);
  // The revocation reaches the guard through the server's event stream within moments.
  const deadline = Date.now() + 5000;
  let refused = false;
  while (!refused && Date.now() < deadline) {
    refused = (await call()).status === 401;
    if (!refused) await new Promise((resolve) => setTimeout(resolve, 50));
  }
  assert.ok(refused, 'the guard still accepts the token 5 s after /logout');
  step('@tessera/guard refuses the token after /logout');
} finally {
  await guard?.close();
  api?.close();
  await server.close();
  rmSync(dataDir, { recursive: true, force: true });
}
