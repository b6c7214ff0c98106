/**
 * OpenID Connect Back-Channel Logout 1.0: every way a session ends at the provider reaches the RP
 * that registered a `backchannel_logout_uri`, as a logout token it can verify (§2.4, checked by a
 * real RP over HTTP with panva's jose, test/backchannel_rp.ts), delivered from the outbox.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeJwtUnverified } from '@tessera/jose';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { BACKCHANNEL_LOGOUT_EVENT } from '../src/logout/logout_tokens.js';
import { createServer } from '../src/server.js';
import { addRpClient, outboxRows, runCli, settled, startRp } from './backchannel.js';
import type { BackchannelRp } from './backchannel_rp.js';
import { breakWrites } from './failures.js';
import {
  ADMIN_PASSWORD,
  databaseUrlFor,
  eventually,
  post,
  removeDataDir,
  startServer,
  stopServer,
  type TestServer,
} from './helpers.js';
import { form, loginApp, refreshApp, userinfo } from './http.js';
import { addOidcClient, codeFor, exchange } from './oidc.js';
import { request } from './requests.js';

let server: TestServer;
let rp: BackchannelRp;
const CLIENT = 'rp-app';

beforeEach(async () => {
  server = await startServer({ refreshGrace: 5 });
  rp = await startRp(server, CLIENT);
  await addRpClient(server, rp);
  await server.services.clients.add({
    clientId: 'quiet-app',
    type: 'public',
    audiences: [server.services.config.audience],
    scopes: ['openid', 'offline_access'],
  });
});
const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
  await rp.stop();
  await stopServer(server);
});

const sessionOf = (token: string) => decodeJwtUnverified(token) as { sid: string; sub: string };
const logout = (accessToken: string, path = '/logout') =>
  request(`${server.url}${path}`, { method: 'POST', headers: { authorization: `Bearer ${accessToken}` } });

describe('back-channel logout: what the RP receives', () => {
  it('POST /logout: one logout token for the session, verifiable with the JWKS (BCL §2.4, §2.5)', async () => {
    const tokens = await loginApp(server, CLIENT);
    const { sid, sub } = sessionOf(tokens.access_token);
    expect((await logout(tokens.access_token)).status).toBe(204);

    const [received] = await rp.waitFor(1);
    expect(received!.contentType).toBe('application/x-www-form-urlencoded');
    // Signed like the client's ID tokens (same key and algorithm), but typed logout+jwt.
    const idSigner = server.services.keys.idTokenSigner();
    expect(received!.header).toMatchObject({ typ: 'logout+jwt', alg: idSigner.alg, kid: idSigner.kid });
    const { claims } = received!;
    expect(claims).toMatchObject({ iss: server.services.config.issuer, aud: CLIENT, sid, sub });
    expect(claims.events).toEqual({ [BACKCHANNEL_LOGOUT_EVENT]: {} });
    expect(claims.exp! - claims.iat!).toBe(120);
    expect(claims).not.toHaveProperty('nonce');

    const [row] = await settled([server]);
    expect(row).toMatchObject({ kind: 'backchannel_logout', target: rp.uri, attempts: 1, last_error: null });
    expect(row!.delivered_at).not.toBeNull();
    // The row keeps what the next attempt would need, never the token.
    expect(JSON.parse(row!.payload)).toEqual({ clientId: CLIENT, sub, sid, reason: 'logout' });
    expect(JSON.stringify(row)).not.toContain(received!.token);
  });

  it('an RP signed in by the code flow gets the sid and sub of its ID token', async () => {
    const { clientId, secret } = await addOidcClient(server, {
      clientId: 'web-rp',
      type: 'confidential',
      kind: 'web',
      tokenEndpointAuthMethod: 'client_secret_post',
      backchannelLogoutUri: rp.uri.replace('rp=test', 'rp=web'),
    });
    const webRp = await startRp(server, clientId);
    await server.services.clients.update(clientId, { backchannelLogoutUri: webRp.uri });
    try {
      const { code, verifier } = await codeFor(server, clientId);
      const res = await exchange(server, clientId, code, verifier, { client_secret: secret! });
      expect(res.status).toBe(200);
      const body = (await res.json()) as { id_token: string; access_token: string };
      const idToken = decodeJwtUnverified(body.id_token) as { sid: string; sub: string };
      expect((await logout(body.access_token)).status).toBe(204);
      const [received] = await webRp.waitFor(1);
      expect(received!.claims).toMatchObject({ sid: idToken.sid, sub: idToken.sub, aud: clientId });
      expect(rp.requests).toBe(0);
    } finally {
      await webRp.stop();
    }
  });

  it('POST /logout/all: one token per ended session of a client that registered, none for others', async () => {
    const first = await loginApp(server, CLIENT);
    const second = await loginApp(server, CLIENT);
    await loginApp(server, 'quiet-app');
    expect((await logout(first.access_token, '/logout/all')).status).toBe(204);

    const received = await rp.waitFor(2);
    expect(received.map((r) => r.claims.sid).sort()).toEqual(
      [sessionOf(first.access_token).sid, sessionOf(second.access_token).sid].sort(),
    );
    const rows = await settled([server]);
    // quiet-app registered no URI: its session ended with the others, and no row was written for it.
    expect(rows).toHaveLength(2);
    expect(rows.every((row) => JSON.parse(row.payload).reason === 'logout_all')).toBe(true);
  });

  it('POST /revoke of a refresh token ends its session and tells the RP', async () => {
    const tokens = await loginApp(server, CLIENT);
    const res = await form(`${server.url}/revoke`, { token: tokens.refresh_token, client_id: CLIENT });
    expect(res.status).toBe(200);
    const [received] = await rp.waitFor(1);
    expect(received!.claims.sid).toBe(sessionOf(tokens.access_token).sid);
  });

  it('refresh-token reuse detection ends the session and tells the RP', async () => {
    const tokens = await loginApp(server, CLIENT);
    const second = (await (await refreshApp(server, tokens.refresh_token, CLIENT)).json()) as {
      refresh_token: string;
    };
    expect((await refreshApp(server, second.refresh_token, CLIENT)).status).toBe(200);
    // The first token again, its successor already rotated: theft (RFC 9700 §4.14.2).
    expect((await refreshApp(server, tokens.refresh_token, CLIENT)).status).toBe(400);
    const [received] = await rp.waitFor(1);
    expect(received!.claims.sid).toBe(sessionOf(tokens.access_token).sid);
    const [row] = await settled([server]);
    expect(JSON.parse(row!.payload).reason).toBe('reuse_detected');
  });

  it('a session already ended tells the RP once, not once per logout', async () => {
    const tokens = await loginApp(server, CLIENT);
    expect((await logout(tokens.access_token)).status).toBe(204);
    await rp.waitFor(1);
    // The same session ended again (its refresh token revoked): nothing new to tell.
    await form(`${server.url}/revoke`, { token: tokens.refresh_token, client_id: CLIENT });
    expect(await settled([server])).toHaveLength(1);
    expect(rp.requests).toBe(1);
  });

  it('backchannel_logout_session_required: the token carries sid (it always does)', async () => {
    await server.services.clients.update(CLIENT, { backchannelLogoutSessionRequired: true });
    const tokens = await loginApp(server, CLIENT);
    expect((await logout(tokens.access_token)).status).toBe(204);
    const [received] = await rp.waitFor(1);
    expect(received!.claims.sid).toBe(sessionOf(tokens.access_token).sid);
  });

  it('discovery advertises back-channel logout with sid (BCL §2.1)', async () => {
    const doc = (await (await request(`${server.url}/.well-known/openid-configuration`)).json()) as Record<
      string,
      unknown
    >;
    expect(doc.backchannel_logout_supported).toBe(true);
    expect(doc.backchannel_logout_session_supported).toBe(true);
  });
});

describe('back-channel logout from a browser signed in by the code flow', () => {
  /** A public OpenID client whose back-channel logout URI is a fresh RP's; stopped after the test. */
  async function codeFlowRp(): Promise<{ clientId: string; codeRp: BackchannelRp }> {
    const clientId = `code-rp-${randomBytes(4).toString('hex')}`;
    const codeRp = await startRp(server, clientId);
    cleanup.push(() => codeRp.stop());
    await addOidcClient(server, { clientId, backchannelLogoutUri: codeRp.uri });
    return { clientId, codeRp };
  }

  async function signIn(clientId: string) {
    const flow = await codeFor(server, clientId);
    const response = await exchange(server, clientId, flow.code, flow.verifier);
    expect(response.status).toBe(200);
    const tokens = (await response.json()) as { id_token: string; access_token: string };
    return { ...flow, tokens, idToken: sessionOf(tokens.id_token) };
  }

  it('GET /logout/end with the id_token_hint (RP-Initiated Logout): the RP gets a logout token for that sid', async () => {
    const { clientId, codeRp } = await codeFlowRp();
    const { agent, tokens, idToken } = await signIn(clientId);
    const response = await agent.get(
      `/logout/end?${new URLSearchParams({ id_token_hint: tokens.id_token })}`,
    );
    expect(response.status).toBe(200);
    const [received] = await codeRp.waitFor(1);
    expect(received!.claims).toMatchObject({ aud: clientId, sid: idToken.sid, sub: idToken.sub });
    const [row] = await settled([server]);
    expect(JSON.parse(row!.payload)).toMatchObject({ sid: idToken.sid, reason: 'end_session' });
    expect(rp.requests).toBe(0);
  });

  it('a code exchanged twice ends the first exchange’s session and tells the RP', async () => {
    const { clientId, codeRp } = await codeFlowRp();
    const flow = await codeFor(server, clientId);
    const first = await exchange(server, clientId, flow.code, flow.verifier);
    expect(first.status).toBe(200);
    const { id_token } = (await first.json()) as { id_token: string };
    // RFC 6749 §4.1.2: the code used again; the tokens of its first use are revoked.
    expect((await exchange(server, clientId, flow.code, flow.verifier)).status).toBe(400);
    const [received] = await codeRp.waitFor(1);
    expect(received!.claims.sid).toBe(sessionOf(id_token).sid);
    const [row] = await settled([server]);
    expect(JSON.parse(row!.payload).reason).toBe('code_reuse');
  });

  it('a logout token is refused as an id_token_hint at /logout/end (typ logout+jwt, BCL §2.4)', async () => {
    const { clientId, codeRp } = await codeFlowRp();
    const first = await signIn(clientId);
    expect((await logout(first.tokens.access_token)).status).toBe(204);
    const [received] = await codeRp.waitFor(1);
    // Another sign-in of the same browser: the logout token, signed with the ID-token key and naming
    // this client, must not end it.
    const second = await signIn(clientId);
    const response = await second.agent.get(
      `/logout/end?${new URLSearchParams({ id_token_hint: received!.token })}`,
    );
    expect(response.status).toBe(400);
    expect(await response.text()).toContain('You have not been signed out');
    expect((await userinfo(server, second.tokens.access_token)).status).toBe(200);
    expect(server.services.revocations.isRevoked({ sid: second.idToken.sid })).toBe(false);
  });
});

describe('back-channel logout from the command line, while the server runs', () => {
  it('`tessera user disable`: the running server delivers the row the command wrote', async () => {
    const tokens = await loginApp(server, CLIENT);
    const { code } = await runCli(server, ['user', 'disable', 'alice']);
    expect(code).toBe(0);
    // The command's process never delivers: the server finds the row in the store by polling.
    const [received] = await rp.waitFor(1);
    const { sid, sub } = sessionOf(tokens.access_token);
    expect(received!.claims).toMatchObject({ sid, sub });
    const [row] = await settled([server]);
    expect(JSON.parse(row!.payload).reason).toBe('disabled');
  });

  it('`tessera user delete`: the RP hears of it though the account is gone', async () => {
    const tokens = await loginApp(server, CLIENT);
    expect((await runCli(server, ['user', 'delete', 'alice'])).code).toBe(0);
    expect(await server.services.users.byUsername('alice')).toBeUndefined();
    const [received] = await rp.waitFor(1);
    const { sid, sub } = sessionOf(tokens.access_token);
    expect(received!.claims).toMatchObject({ sid, sub });
  });

  it('`tessera user set-password`: every session of the user is told', async () => {
    const first = await loginApp(server, CLIENT);
    const second = await loginApp(server, CLIENT);
    const { code } = await runCli(server, ['user', 'set-password', 'alice', '--generate']);
    expect(code).toBe(0);
    const received = await rp.waitFor(2);
    expect(received.map((r) => r.claims.sid).sort()).toEqual(
      [sessionOf(first.access_token).sid, sessionOf(second.access_token).sid].sort(),
    );
    expect((await settled([server])).map((row) => JSON.parse(row.payload).reason)).toEqual([
      'password_changed',
      'password_changed',
    ]);
  });
});

describe('back-channel logout is part of the transaction that ends the session', () => {
  for (const table of ['revocations', 'outbox'] as const) {
    it(`a failed logout (${table} insert fails) leaves no outbox row and the session whole`, async () => {
      const tokens = await loginApp(server, CLIENT);
      const broken = await breakWrites(server.services.db, table, 'insert');
      try {
        expect((await logout(tokens.access_token)).status).toBeGreaterThanOrEqual(500);
        expect((await logout(tokens.access_token, '/logout/all')).status).toBeGreaterThanOrEqual(500);
      } finally {
        await broken.heal();
      }
      expect(await outboxRows(server)).toEqual([]);
      // Nothing was half done: the session is live, and ending it now tells the RP once.
      expect((await server.services.refreshTokens.familyOf(tokens.refresh_token))?.active).toBe(true);
      expect((await logout(tokens.access_token)).status).toBe(204);
      await rp.waitFor(1);
      expect(await settled([server])).toHaveLength(1);
    });
  }
});

describe('registering a back-channel logout URI', () => {
  const base = { type: 'confidential' as const, kind: 'web' as const, audiences: [], scopes: ['openid'] };

  it('keeps an https URI with a query, or http on loopback; shows it in client list', async () => {
    const { client } = await server.services.clients.add({
      ...base,
      clientId: 'good',
      backchannelLogoutUri: 'https://rp.example/logout?tenant=a',
      backchannelLogoutSessionRequired: true,
    });
    expect(client).toMatchObject({
      backchannelLogoutUri: 'https://rp.example/logout?tenant=a',
      backchannelLogoutSessionRequired: true,
    });
    const listed = await runCli(server, ['client', 'list']);
    expect(listed.code).toBe(0);
    const good = (JSON.parse(listed.output) as Record<string, unknown>[]).find((c) => c.clientId === 'good');
    expect(good).toMatchObject({
      backchannelLogoutUri: 'https://rp.example/logout?tenant=a',
      backchannelLogoutSessionRequired: true,
    });
    // Removing the URI removes the flag that only means something with it.
    const updated = await server.services.clients.update('good', { backchannelLogoutUri: null });
    expect(updated).toMatchObject({
      backchannelLogoutUri: undefined,
      backchannelLogoutSessionRequired: false,
    });
  });

  it('`tessera client add|update --backchannel-logout-uri` registers, changes and removes it', async () => {
    const added = await runCli(server, [
      'client',
      'add',
      'cli-rp',
      '--kind',
      'web',
      '--backchannel-logout-uri',
      'https://rp.example/bcl',
      '--backchannel-logout-session-required',
    ]);
    expect(added.code).toBe(0);
    expect(await server.services.clients.byId('cli-rp')).toMatchObject({
      backchannelLogoutUri: 'https://rp.example/bcl',
      backchannelLogoutSessionRequired: true,
    });
    const changed = await runCli(server, [
      'client',
      'update',
      'cli-rp',
      '--backchannel-logout-uri',
      'http://127.0.0.1:9/bcl',
      '--no-backchannel-logout-session-required',
    ]);
    expect(changed.code).toBe(0);
    expect(JSON.parse(changed.output)).toMatchObject({
      backchannelLogoutUri: 'http://127.0.0.1:9/bcl',
      backchannelLogoutSessionRequired: false,
    });
    expect((await runCli(server, ['client', 'update', 'cli-rp', '--backchannel-logout-uri', ''])).code).toBe(
      0,
    );
    expect((await server.services.clients.byId('cli-rp'))?.backchannelLogoutUri).toBeUndefined();
  });

  it.each([
    ['not absolute', '/logout', /absolute URI/],
    ['a fragment', 'https://rp.example/logout#x', /no fragment/],
    ['plain http off loopback', 'http://rp.example/logout', /https/],
    ['another scheme', 'javascript:alert(1)', /https/],
    ['credentials', 'https://user:pass@rp.example/logout', /no credentials/],
    ['spaces', 'https://rp.example/log out', /no spaces/],
  ])('refuses a URI with %s, on add and on update', async (_name, uri, message) => {
    await expect(
      server.services.clients.add({ ...base, clientId: 'bad', backchannelLogoutUri: uri }),
    ).rejects.toThrow(message);
    expect(await server.services.clients.byId('bad')).toBeUndefined();
    await expect(server.services.clients.update(CLIENT, { backchannelLogoutUri: uri })).rejects.toThrow(
      message,
    );
    expect((await server.services.clients.byId(CLIENT))?.backchannelLogoutUri).toBe(rp.uri);
  });

  it.each([
    ['cloud metadata (link-local)', 'https://169.254.169.254/latest/meta-data', /link-local/],
    ['a private network', 'https://10.0.0.5/bcl', /private network address \(10\.0\.0\.5/],
    ['an IPv6 unique local address', 'https://[fd12::1]/bcl', /private network address/],
    [
      'an IPv4-mapped private address',
      'https://[::ffff:192.168.1.1]/bcl',
      /private network address \(192\.168\.1\.1/,
    ],
    ['IPv6 link-local', 'https://[fe80::1]/bcl', /link-local/],
    ['the unspecified address', 'https://0.0.0.0/bcl', /unspecified/],
  ])('refuses a URI pointing to %s, on add and on update', async (_name, uri, message) => {
    await expect(
      server.services.clients.add({ ...base, clientId: 'ssrf', backchannelLogoutUri: uri }),
    ).rejects.toThrow(message);
    expect(await server.services.clients.byId('ssrf')).toBeUndefined();
    await expect(server.services.clients.update(CLIENT, { backchannelLogoutUri: uri })).rejects.toThrow(
      message,
    );
    expect((await server.services.clients.byId(CLIENT))?.backchannelLogoutUri).toBe(rp.uri);
  });

  it('deliveryAllowPrivateNetworks: a private literal may be registered; link-local still may not', async () => {
    const intranet = await startServer({ deliveryAllowPrivateNetworks: true });
    try {
      const { client } = await intranet.services.clients.add({
        ...base,
        clientId: 'intranet',
        backchannelLogoutUri: 'https://10.0.0.5/bcl',
      });
      expect(client.backchannelLogoutUri).toBe('https://10.0.0.5/bcl');
      await expect(
        intranet.services.clients.update('intranet', { backchannelLogoutUri: 'https://169.254.169.254/x' }),
      ).rejects.toThrow(/link-local/);
    } finally {
      await stopServer(intranet);
    }
  });

  it('refuses session_required without a URI, and a URI for a service client (it has no users)', async () => {
    await expect(
      server.services.clients.add({ ...base, clientId: 'flag-only', backchannelLogoutSessionRequired: true }),
    ).rejects.toThrow(/needs a back-channel logout URI/);
    await expect(
      server.services.clients.add({
        ...base,
        kind: 'service',
        clientId: 'svc',
        backchannelLogoutUri: 'https://svc.example/logout',
      }),
    ).rejects.toThrow(/service client has no users/);
    // The command line says why, as a usage error (exit 2), and adds nothing.
    await expect(
      runCli(server, [
        'client',
        'add',
        'cli-bad',
        '--kind',
        'web',
        '--backchannel-logout-uri',
        'http://rp.example/x',
      ]),
    ).rejects.toThrow(/https \(http only on a loopback host\)/);
    expect(await server.services.clients.byId('cli-bad')).toBeUndefined();
  });
});

describe('logs', () => {
  it('never carry a logout token, nor the target URI query', async () => {
    const lines: string[] = [];
    const dataDir = mkdtempSync(join(tmpdir(), 'tessera-test-'));
    const databaseUrl = await databaseUrlFor(dataDir);
    const config = loadConfig(
      {},
      {},
      { dataDir, databaseUrl, port: 0, masterKey: 'A'.repeat(43), logLevel: 'trace' },
    );
    const logged = await createServer(config, {
      logger: { stream: { write: (line: string) => void lines.push(line) } },
    });
    let quietRp: BackchannelRp | undefined;
    try {
      const url = await logged.listen();
      await logged.services.users.create('alice', ADMIN_PASSWORD);
      quietRp = await startRp({ services: logged.services, url }, CLIENT);
      // Fails once (retried), then refuses (given up, audited): every line an outcome can write.
      quietRp.answer = (n) => (n === 1 ? { status: 503 } : { status: 400 });
      await logged.services.clients.add({
        clientId: CLIENT,
        type: 'public',
        audiences: [],
        scopes: ['openid'],
        backchannelLogoutUri: `${quietRp.uri}&secret=query-secret-value`,
      });
      const login = await post(`${url}/login`, {
        username: 'alice',
        password: ADMIN_PASSWORD,
        client_id: CLIENT,
      });
      const { access_token } = (await login.json()) as { access_token: string };
      await fetch(`${url}/logout`, { method: 'POST', headers: { authorization: `Bearer ${access_token}` } });
      await eventually(
        async () => (await logged.services.audit.recent()).some((e) => e.type === 'delivery_gave_up'),
        'the delivery given up',
        30_000,
      );
      expect(quietRp.attemptJtis).toHaveLength(2);
      const log = lines.join('');
      expect(log).toContain('outbox: delivery given up');
      expect(log).not.toMatch(/logout_token|eyJ[\w-]+\.eyJ[\w-]+\.[\w-]+/);
      expect(log).not.toContain('query-secret-value');
    } finally {
      await quietRp?.stop();
      await logged.close();
      await removeDataDir(dataDir);
    }
  });
});
