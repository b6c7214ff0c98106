import { mkdtempSync, rmSync } from 'node:fs';
import { createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, loadConfig, type TesseraServer } from '../../../packages/server/src/index.js';
import { hashPassword } from '../../../packages/server/src/passwords.js';
import { endEverySession } from '../../../packages/server/src/revocation/sessions.js';
import { createSecurityEventTokens } from '../../../packages/server/src/security_events/set.js';
import type { Notification } from '../notifier.js';
import { consoleNotifier } from '../notifier.js';
import { createReceiver } from '../receiver.js';

// The example receiver against a real Tessera server in this process, both built from the sources:
// register the receiver, then revoke a session, change a password and disable an account, and watch
// the receiver verify each SET and tell the user.

const PASSWORD = 'correct horse battery staple';
const AUDIENCE = 'urn:example:security-events';
const BEARER = 'example-receiver-token-4f1c9a';

let dataDir: string;
let server: TesseraServer;
let issuer: string;
let receiver: ReturnType<typeof createReceiver>;
let endpoint: string;
const notifications: Notification[] = [];
/** What the default notifier would have printed, and the receiver's own log lines. */
const printed: string[] = [];
const refusals: string[] = [];

async function freePort(): Promise<number> {
  const probe = createNetServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as { port: number };
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

async function login(username: string): Promise<{ access_token: string; refresh_token: string }> {
  const response = await fetch(`${issuer}/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username, password: PASSWORD, client_id: 'app' }),
  });
  expect(response.status).toBe(200);
  return (await response.json()) as { access_token: string; refresh_token: string };
}

async function notified(count: number, what: string): Promise<void> {
  const until = Date.now() + 15_000;
  while (notifications.length < count) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'security-events-test-'));
  const config = loadConfig(
    {},
    {},
    { dataDir, port: await freePort(), masterKey: 'A'.repeat(43), logLevel: 'silent' },
  );
  server = await createServer(config, { logger: false });
  await server.services.users.create('alice', PASSWORD);
  await server.services.users.create('bob', PASSWORD);
  await server.services.users.create('carol', PASSWORD);
  await server.services.clients.add({
    clientId: 'app',
    type: 'public',
    audiences: [config.audience],
    scopes: ['openid', 'offline_access'],
  });
  await server.listen();
  issuer = config.issuer;

  const printer = consoleNotifier((text) => printed.push(text));
  receiver = createReceiver({
    issuer,
    audience: AUDIENCE,
    bearerToken: BEARER,
    notifier: {
      async notify(notification: Notification) {
        notifications.push(notification);
        await printer.notify(notification);
      },
    },
    log: (line: string) => refusals.push(line),
  });
  endpoint = await receiver.listen();
  // What `tessera receiver add example --endpoint … --audience … --bearer-token-stdin` does.
  await server.services.receivers.add({ name: 'example', endpoint, audience: AUDIENCE, bearerToken: BEARER });
});

afterAll(async () => {
  await receiver?.close();
  await server?.close();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

describe('the security events receiver', () => {
  it('tells the user their session was revoked', async () => {
    const { refresh_token } = await login('alice');
    const alice = (await server.services.users.byUsername('alice'))!;
    const response = await fetch(`${issuer}/revoke`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: refresh_token, client_id: 'app' }),
    });
    expect(response.status).toBe(200);
    await notified(1, 'the session-revoked notification');
    expect(notifications[0]).toMatchObject({
      userId: alice.id,
      eventType: 'https://schemas.openid.net/secevent/caep/event-type/session-revoked',
      title: 'You were signed out',
    });
    expect(notifications[0]!.sessionId).toMatch(/^sid_/);
    expect(printed[0]).toContain(`To: user ${alice.id}`);
    expect(printed[0]).toContain('Subject: You were signed out');
  });

  it('tells the user their password changed (and each session that ended with it)', async () => {
    await login('alice');
    const before = notifications.length;
    const alice = (await server.services.users.byUsername('alice'))!;
    // What `tessera user set-password alice` does.
    const hash = await hashPassword('another correct horse battery');
    await endEverySession(
      server.services,
      alice.id,
      (trx) => server.services.users.setPasswordHash(alice.id, hash, trx),
      'password_changed',
      [{ name: 'credential-change', userId: alice.id, initiatingEntity: 'admin' }],
    );
    await notified(before + 2, 'the credential-change and session-revoked notifications');
    const titles = notifications.slice(before).map((n) => n.title);
    expect(titles).toContain('Your password was changed');
    expect(titles).toContain('You were signed out');
    // One cause, one txn.
    expect(new Set(notifications.slice(before).map((n) => n.txn)).size).toBe(1);
  });

  it('tells the user their account was disabled', async () => {
    const before = notifications.length;
    const bob = (await server.services.users.byUsername('bob'))!;
    // What `tessera user disable bob` does.
    await endEverySession(
      server.services,
      bob.id,
      (trx) => server.services.users.disable(bob.id, trx),
      'disabled',
      [{ name: 'account-disabled', userId: bob.id }],
    );
    await notified(before + 1, 'the account-disabled notification');
    expect(notifications[before]).toMatchObject({ userId: bob.id, title: 'Your account was disabled' });
  });

  it('answers 400 {err, description} to what it must refuse, and notifies nobody', async () => {
    const before = notifications.length;
    const { access_token } = await login('carol');
    const push = (body: string, headers: Record<string, string> = {}) =>
      fetch(endpoint, {
        method: 'POST',
        headers: {
          'content-type': 'application/secevent+jwt',
          authorization: `Bearer ${BEARER}`,
          ...headers,
        },
        body,
      });
    // An access token of the same issuer is no SET (typ at+jwt).
    const wrongType = await push(access_token);
    expect(wrongType.status).toBe(400);
    expect(await wrongType.json()).toMatchObject({ err: 'invalid_request' });
    // Without the registered bearer token.
    const unauthenticated = await push(access_token, { authorization: 'Bearer nope' });
    expect(unauthenticated.status).toBe(400);
    expect(await unauthenticated.json()).toMatchObject({ err: 'authentication_failed' });
    // Not a SET's media type.
    const json = await push('{}', { 'content-type': 'application/json' });
    expect(json.status).toBe(400);
    expect(notifications.length).toBe(before);
    // The refusals are logged without the token.
    expect(refusals.length).toBeGreaterThanOrEqual(3);
    for (const line of refusals) expect(line).not.toContain(access_token.split('.')[2]!);
    // The notifications hold no SET either.
    for (const text of printed) expect(text).not.toMatch(/eyJ[\w-]+\.eyJ/);
  });

  it('acts on a jti once: the same SET pushed again is accepted and not notified twice', async () => {
    const before = notifications.length;
    const alice = (await server.services.users.byUsername('alice'))!;
    // The server's own signer, as its delivery job signs each attempt of one delivery.
    const tokens = createSecurityEventTokens(() => server.services.keys.idTokenSigner(), issuer);
    const claims = tokens.claims(
      { name: 'account-disabled', userId: alice.id },
      { aud: AUDIENCE, txn: 'txn-1' },
    );
    for (let attempt = 0; attempt < 2; attempt++) {
      const response = await fetch(endpoint, {
        method: 'POST',
        headers: { 'content-type': 'application/secevent+jwt', authorization: `Bearer ${BEARER}` },
        body: tokens.sign(claims),
      });
      expect(response.status).toBe(202);
    }
    expect(notifications.length).toBe(before + 1);
    expect(notifications[before]!.jti).toBe(claims.jti);
    // For another audience: refused.
    const other = tokens.claims(
      { name: 'account-disabled', userId: alice.id },
      { aud: 'urn:other', txn: 'txn-2' },
    );
    const refused = await fetch(endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/secevent+jwt', authorization: `Bearer ${BEARER}` },
      body: tokens.sign(other),
    });
    expect(refused.status).toBe(400);
    expect(await refused.json()).toMatchObject({ err: 'invalid_audience' });
  });
});
