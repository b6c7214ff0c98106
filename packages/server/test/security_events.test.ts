import { createLocalJWKSet, decodeJwt, decodeProtectedHeader, type JWK, jwtVerify } from 'jose';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { CommandContext, Values } from '../src/cli/command.js';
import { receiverCommand } from '../src/cli/commands/receiver.js';
import { userCommand } from '../src/cli/commands/user.js';
import { UsageError } from '../src/cli/errors.js';
import { createOutput } from '../src/cli/output.js';
import { SECURITY_EVENT_TYPES } from '../src/security_events/event_types.js';
import { createSecurityEventTokens, type SecurityEvent } from '../src/security_events/set.js';
import { sweepImpersonations } from '../src/tokens/impersonation.js';
import { breakWrites } from './failures.js';
import { ADMIN_PASSWORD, eventually, post, startServer, stopServer, type TestServer } from './helpers.js';
import { addClients, basic, form, loginApp, refreshApp } from './http.js';
import { request } from './requests.js';
import { SetReceiver } from './set_receiver.js';

const SESSION_REVOKED = SECURITY_EVENT_TYPES['session-revoked'];
const CREDENTIAL_CHANGE = SECURITY_EVENT_TYPES['credential-change'];
const ACCOUNT_DISABLED = SECURITY_EVENT_TYPES['account-disabled'];
const REFRESH_TOKEN_REUSE = SECURITY_EVENT_TYPES['refresh-token-reuse'];
const IMPERSONATION_STARTED = SECURITY_EVENT_TYPES['impersonation-started'];
const IMPERSONATION_ENDED = SECURITY_EVENT_TYPES['impersonation-ended'];
const AUDIENCE = 'https://rp.example.com/caep';

let server: TestServer;
let receiver: SetReceiver;
const extra: { stop(): Promise<void> }[] = [];

beforeEach(async () => {
  server = await startServer({ refreshGrace: 0 });
  await addClients(server);
  receiver = await SetReceiver.start({
    issuer: server.services.config.issuer,
    server: server.url,
    audience: AUDIENCE,
  });
  await server.services.receivers.add({ name: 'rp', endpoint: receiver.endpoint, audience: AUDIENCE });
});

afterEach(async () => {
  await receiver.stop();
  for (const other of extra.splice(0)) await other.stop();
  await stopServer(server);
});

/** Runs a `tessera` command in this process against the test server's store, as an operator would. */
async function tessera(
  command: typeof userCommand,
  sub: string,
  args: string[],
  values: Values = {},
): Promise<number> {
  const context: CommandContext = {
    sub,
    args,
    values: { json: true, ...values },
    out: createOutput(true),
    config: () => server.services.config,
  };
  const write = process.stdout.write;
  // The command prints its result as JSON; the test reads the store instead.
  process.stdout.write = (() => true) as typeof process.stdout.write;
  try {
    return await command.run(context);
  } finally {
    process.stdout.write = write;
  }
}

/** Waits until `target` has accepted `count` SETs of `type`, waking the delivery job as it polls. */
async function received(target: SetReceiver, type: string, count = 1) {
  await eventually(
    () => {
      server.delivery.wake();
      return target.of(type).length >= count;
    },
    `${count} ${type} SET(s)`,
    30_000,
  );
  return target.of(type);
}

async function outboxRows() {
  return server.services.db
    .selectFrom('outbox')
    .selectAll()
    .where('kind', '=', 'security_event')
    .orderBy('id')
    .execute();
}

describe('the SET format (RFC 8417)', () => {
  async function verify(token: string, audience?: string) {
    const jwks = (await (await request(`${server.url}/.well-known/jwks.json`)).json()) as { keys: JWK[] };
    return jwtVerify(token, createLocalJWKSet({ keys: jwks.keys }), {
      issuer: server.services.config.issuer,
      typ: 'secevent+jwt',
      ...(audience ? { audience } : {}),
    });
  }

  const user = { format: 'iss_sub', iss: '', sub: 'usr_1' };
  it.each<[string, SecurityEvent, Record<string, unknown>, Record<string, unknown>]>([
    [
      'session-revoked',
      { name: 'session-revoked', userId: 'usr_1', sid: 'sid_1', reason: 'logout', initiatingEntity: 'user' },
      { format: 'complex', user, session: { format: 'opaque', id: 'sid_1' } },
      { initiating_entity: 'user', reason_admin: { en: 'logout' } },
    ],
    [
      'credential-change',
      { name: 'credential-change', userId: 'usr_1', initiatingEntity: 'admin' },
      user,
      { credential_type: 'password', change_type: 'update', initiating_entity: 'admin' },
    ],
    ['account-disabled', { name: 'account-disabled', userId: 'usr_1' }, user, {}],
    [
      'refresh-token-reuse',
      { name: 'refresh-token-reuse', userId: 'usr_1', sid: 'sid_1', clientId: 'app' },
      { format: 'complex', user, session: { format: 'opaque', id: 'sid_1' } },
      { client_id: 'app' },
    ],
    [
      'impersonation-started',
      { name: 'impersonation-started', userId: 'usr_1', actorId: 'usr_2', clientId: 'console' },
      user,
      { client_id: 'console', actor: { format: 'iss_sub', iss: '', sub: 'usr_2' } },
    ],
  ])(
    '%s: typ secevent+jwt, one event, sub_id, verified with the JWKS',
    async (name, event, subId, payload) => {
      const issuer = server.services.config.issuer;
      const fill = (value: unknown): unknown =>
        JSON.parse(JSON.stringify(value).replaceAll('"iss":""', `"iss":${JSON.stringify(issuer)}`));
      const tokens = createSecurityEventTokens(
        () => server.services.keys.idTokenSigner(),
        issuer,
        server.now,
      );
      const claims = tokens.claims(event, { aud: 'https://rp.example.com/caep', txn: 'txn-1' });
      const token = tokens.sign(claims);
      const { payload: verified, protectedHeader } = await verify(token, 'https://rp.example.com/caep');
      expect(protectedHeader.typ).toBe('secevent+jwt');
      expect(protectedHeader.alg).toBe(server.services.config.idTokenSigningAlg);
      expect(verified).toEqual({
        iss: issuer,
        iat: claims.iat,
        jti: claims.jti,
        aud: 'https://rp.example.com/caep',
        txn: 'txn-1',
        sub_id: fill(subId),
        events: {
          [SECURITY_EVENT_TYPES[name as keyof typeof SECURITY_EVENT_TYPES]]: {
            ...(name === 'account-disabled' ? {} : { event_timestamp: claims.iat }),
            ...(fill(payload) as object),
          },
        },
      });
      // Signing the same claims again (a retry) keeps the jti and iat.
      const again = await verify(tokens.sign(claims), 'https://rp.example.com/caep');
      expect(again.payload.jti).toBe(claims.jti);
      expect(again.payload.iat).toBe(claims.iat);
    },
  );

  it('a SET is no access token or ID token: their verifiers refuse it', async () => {
    const tokens = createSecurityEventTokens(
      () => server.services.keys.idTokenSigner(),
      server.services.config.issuer,
      server.now,
    );
    const token = tokens.sign(tokens.claims({ name: 'account-disabled', userId: 'usr_1' }, { txn: 't' }));
    await expect(server.services.accessTokens.verify(token)).rejects.toThrow();
    expect(await server.services.idTokens.subjectOfHint(token)).toBeUndefined();
    // Without aud (the broker's): a receiver requiring its own refuses it.
    await expect(verify(token, 'https://rp.example.com/caep')).rejects.toThrow(/aud/);
  });
});

describe('the SETs (RFC 8417) each cause sends', () => {
  it('POST /logout: a CAEP session-revoked SET, signed with a key of the JWKS, typ secevent+jwt', async () => {
    const login = await loginApp(server);
    const sid = decodeJwt(login.access_token).sid as string;
    const res = await post(`${server.url}/logout`, {}, { authorization: `Bearer ${login.access_token}` });
    expect(res.status).toBe(204);
    const [set] = await received(receiver, SESSION_REVOKED);
    // RFC 8935 §2.1: the request.
    expect(set!.contentType).toBe('application/secevent+jwt');
    expect(set!.accept).toBe('application/json');
    expect(set!.authorization).toBeUndefined();
    // RFC 8417 §2.3; the ID-token key signs it.
    expect(set!.header.typ).toBe('secevent+jwt');
    const jwks = (await (await request(`${server.url}/.well-known/jwks.json`)).json()) as { keys: JWK[] };
    expect(jwks.keys.map((key) => key.kid)).toContain(set!.header.kid);
    expect(set!.header.alg).toBe(server.services.config.idTokenSigningAlg);
    const { claims } = set!;
    expect(claims.iss).toBe(server.services.config.issuer);
    expect(claims.aud).toBe(AUDIENCE);
    expect(claims.iat).toBeTypeOf('number');
    expect(claims.jti).toMatch(/^[\w-]{16,}$/);
    expect(claims.txn).toMatch(/^[\w-]{16,}$/);
    // No exp, no sub: the subject is sub_id (RFC 9493, as CAEP's session examples name a session).
    expect(claims.exp).toBeUndefined();
    expect(claims.sub).toBeUndefined();
    const alice = (await server.services.users.byUsername('alice'))!;
    expect(claims.sub_id).toEqual({
      format: 'complex',
      user: { format: 'iss_sub', iss: server.services.config.issuer, sub: alice.id },
      session: { format: 'opaque', id: sid },
    });
    expect(claims.events).toEqual({
      [SESSION_REVOKED]: {
        event_timestamp: claims.iat,
        initiating_entity: 'user',
        reason_admin: { en: 'logout' },
      },
    });
  });

  it('POST /revoke of a refresh token: session-revoked, revoked by the user', async () => {
    const res = await form(
      `${server.url}/revoke`,
      { token: (await loginApp(server, 'app')).refresh_token, client_id: 'app' },
      {},
    );
    expect(res.status).toBe(200);
    const [set] = await received(receiver, SESSION_REVOKED);
    expect(set!.claims.events[SESSION_REVOKED]).toMatchObject({
      initiating_entity: 'user',
      reason_admin: { en: 'revoked' },
    });
  });

  it('POST /logout/all: one session-revoked per session, all with one txn', async () => {
    const first = await loginApp(server);
    await loginApp(server);
    const res = await post(`${server.url}/logout/all`, {}, { authorization: `Bearer ${first.access_token}` });
    expect(res.status).toBe(204);
    const sets = await received(receiver, SESSION_REVOKED, 2);
    expect(new Set(sets.map((set) => (set.claims.sub_id.session as { id: string }).id)).size).toBe(2);
    expect(new Set(sets.map((set) => set.claims.txn)).size).toBe(1);
    expect(new Set(sets.map((set) => set.claims.jti)).size).toBe(2);
  });

  it('refresh-token reuse: our refresh-token-reuse event and session-revoked, one txn', async () => {
    const login = await loginApp(server);
    const sid = decodeJwt(login.access_token).sid as string;
    expect((await refreshApp(server, login.refresh_token)).status).toBe(200);
    // The rotated token again (no grace window): theft.
    expect((await refreshApp(server, login.refresh_token)).status).toBe(400);
    const [reuse] = await received(receiver, REFRESH_TOKEN_REUSE);
    const [revoked] = await received(receiver, SESSION_REVOKED);
    expect(reuse!.claims.sub_id).toMatchObject({ format: 'complex', session: { format: 'opaque', id: sid } });
    expect(reuse!.claims.events).toEqual({
      [REFRESH_TOKEN_REUSE]: { event_timestamp: reuse!.claims.iat, client_id: 'app' },
    });
    expect(revoked!.claims.events[SESSION_REVOKED]).toMatchObject({
      initiating_entity: 'policy',
      reason_admin: { en: 'reuse_detected' },
    });
    expect(reuse!.claims.txn).toBe(revoked!.claims.txn);
  });

  it('`tessera user disable`: RISC account-disabled and each session revoked, written by the command', async () => {
    await loginApp(server);
    await loginApp(server);
    expect(await tessera(userCommand, 'disable', ['alice'])).toBe(0);
    const [disabled] = await received(receiver, ACCOUNT_DISABLED);
    const alice = (await server.services.users.byUsername('alice'))!;
    expect(disabled!.claims.sub_id).toEqual({
      format: 'iss_sub',
      iss: server.services.config.issuer,
      sub: alice.id,
    });
    expect(disabled!.claims.events).toEqual({ [ACCOUNT_DISABLED]: {} });
    const sessions = await received(receiver, SESSION_REVOKED, 2);
    for (const set of sessions) {
      expect(set.claims.txn).toBe(disabled!.claims.txn);
      expect(set.claims.events[SESSION_REVOKED]).toMatchObject({
        initiating_entity: 'admin',
        reason_admin: { en: 'disabled' },
      });
    }
  });

  it('`tessera user set-password`: CAEP credential-change, a password updated', async () => {
    await loginApp(server);
    expect(await tessera(userCommand, 'set-password', ['alice'], { generate: true })).toBe(0);
    const [change] = await received(receiver, CREDENTIAL_CHANGE);
    expect(change!.claims.events).toEqual({
      [CREDENTIAL_CHANGE]: {
        credential_type: 'password',
        change_type: 'update',
        event_timestamp: change!.claims.iat,
        initiating_entity: 'admin',
      },
    });
    const [revoked] = await received(receiver, SESSION_REVOKED);
    expect(revoked!.claims.txn).toBe(change!.claims.txn);
  });

  it('a receiver gets only the events it registered for, with its own aud', async () => {
    const narrow = await SetReceiver.start({
      issuer: server.services.config.issuer,
      server: server.url,
      audience: 'urn:example:hr',
    });
    extra.push(narrow);
    await server.services.receivers.add({
      name: 'hr',
      endpoint: narrow.endpoint,
      audience: 'urn:example:hr',
      events: ['account-disabled'],
    });
    const login = await loginApp(server);
    await post(`${server.url}/logout`, {}, { authorization: `Bearer ${login.access_token}` });
    await received(receiver, SESSION_REVOKED);
    await tessera(userCommand, 'disable', ['alice']);
    const [disabled] = await received(narrow, ACCOUNT_DISABLED);
    expect(disabled!.claims.aud).toBe('urn:example:hr');
    expect(narrow.received).toHaveLength(1);
    // The same event for each receiver is its own SET.
    const [forRp] = await received(receiver, ACCOUNT_DISABLED);
    expect(forRp!.claims.jti).not.toBe(disabled!.claims.jti);
  });

  it('impersonation by token exchange: started and ended, the admin as actor', async () => {
    const { services } = server;
    const root = await services.users.create('root', ADMIN_PASSWORD, { roles: ['admin'] });
    const alice = (await services.users.byUsername('alice'))!;
    await services.clients.add({
      clientId: 'console-ui',
      type: 'public',
      audiences: [services.config.audience],
      scopes: ['openid'],
    });
    const { secret } = await services.clients.add({
      clientId: 'console',
      type: 'confidential',
      kind: 'service',
      audiences: [services.config.audience],
      scopes: [],
      tokenExchange: { targets: ['https://support.example'], impersonation: true, delegation: false },
    });
    const login = await post(`${server.url}/login`, {
      username: 'root',
      password: ADMIN_PASSWORD,
      client_id: 'console-ui',
    });
    const adminToken = ((await login.json()) as { access_token: string }).access_token;
    const res = await form(
      `${server.url}/token/exchange`,
      {
        subject_token: adminToken,
        subject_token_type: 'urn:ietf:params:oauth:token-type:access_token',
        requested_subject: alice.id,
        audience: 'https://support.example',
      },
      { authorization: basic('console', secret!) },
    );
    expect(res.status).toBe(200);
    const [started] = await received(receiver, IMPERSONATION_STARTED);
    const issuer = services.config.issuer;
    expect(started!.claims.sub_id).toEqual({ format: 'iss_sub', iss: issuer, sub: alice.id });
    expect(started!.claims.events).toEqual({
      [IMPERSONATION_STARTED]: {
        event_timestamp: started!.claims.iat,
        actor: { format: 'iss_sub', iss: issuer, sub: root.id },
        client_id: 'console',
      },
    });
    // The admin logs out: the impersonation token is revoked with the session, and housekeeping ends it.
    await post(`${server.url}/logout`, {}, { authorization: `Bearer ${adminToken}` });
    await sweepImpersonations(services);
    const [ended] = await received(receiver, IMPERSONATION_ENDED);
    expect(ended!.claims.events[IMPERSONATION_ENDED]).toMatchObject({
      actor: { format: 'iss_sub', iss: issuer, sub: root.id },
    });
  });

  it('a failed transaction writes no SET: the session stays whole and nobody is told', async () => {
    const login = await loginApp(server);
    const broken = await breakWrites(server.services.db, 'revocations', 'insert');
    const res = await post(`${server.url}/logout`, {}, { authorization: `Bearer ${login.access_token}` });
    expect(res.status).toBeGreaterThanOrEqual(500);
    expect(await outboxRows()).toHaveLength(0);
    await broken.heal();
    const again = await post(`${server.url}/logout`, {}, { authorization: `Bearer ${login.access_token}` });
    expect(again.status).toBe(204);
    await received(receiver, SESSION_REVOKED);
    expect(await outboxRows()).toHaveLength(1);
  });
});

describe('push delivery (RFC 8935)', () => {
  async function logout() {
    const login = await loginApp(server);
    const res = await post(`${server.url}/logout`, {}, { authorization: `Bearer ${login.access_token}` });
    expect(res.status).toBe(204);
  }

  it('5xx and 429 are retried with back-off, with the same jti, until 202', async () => {
    receiver.answer = (n) =>
      n === 1
        ? { status: 503 }
        : n === 2
          ? { status: 429, headers: { 'retry-after': '1' } }
          : { status: 202 };
    await logout();
    await eventually(() => {
      server.delivery.wake();
      return receiver.requests >= 1;
    }, 'a first attempt');
    // Retries are due on the server's clock: move it to the next attempt rather than wait.
    await eventually(
      async () => {
        const [pending] = await outboxRows();
        if (pending && pending.lease_owner === null && pending.next_attempt_at > server.now())
          server.advance(pending.next_attempt_at - server.now());
        server.delivery.wake();
        return pending?.delivered_at != null;
      },
      `the SET delivered after two failures (refused: ${receiver.rejected.join('; ')})`,
    );
    expect(receiver.rejected).toEqual([]);
    expect(receiver.requests).toBe(3);
    expect(new Set(receiver.attemptJtis).size).toBe(1);
    const [row] = await outboxRows();
    expect(row!.delivered_at).not.toBeNull();
    expect(row!.attempts).toBe(3);
  });

  it('a receiver that does not answer in time is tried again, with the same jti', async () => {
    receiver.answer = (n) => (n === 1 ? 'hang' : { status: 202 });
    await logout();
    await eventually(
      async () => {
        const [pending] = await outboxRows();
        if (pending && pending.lease_owner === null && pending.next_attempt_at > server.now())
          server.advance(pending.next_attempt_at - server.now());
        server.delivery.wake();
        return pending?.delivered_at != null;
      },
      'the SET delivered after a timeout',
      30_000,
    );
    const [row] = await outboxRows();
    expect(row!.last_error).toBeNull();
    expect(row!.attempts).toBe(2);
    expect(receiver.attemptJtis).toHaveLength(2);
    expect(new Set(receiver.attemptJtis).size).toBe(1);
    expect(receiver.received).toHaveLength(1);
  });

  it('a 400 {err, description} is a refusal: not sent again, audited with the err', async () => {
    receiver.answer = () => ({
      status: 400,
      body: { err: 'invalid_audience', description: 'not for us' },
    });
    await logout();
    await eventually(async () => {
      server.delivery.wake();
      return (await outboxRows())[0]?.gave_up_at != null;
    }, 'the delivery given up');
    server.advance(3_600_000);
    server.delivery.wake();
    const audit = await server.services.audit.recent(20);
    const gaveUp = audit.find((event) => event.type === 'delivery_gave_up');
    expect(gaveUp?.detail).toMatchObject({
      kind: 'security_event',
      receiver: 'rp',
      event: SESSION_REVOKED,
      err: 'invalid_audience',
      description: 'not for us',
    });
    expect(receiver.requests).toBe(1);
  });

  it('a bearer token is sent with each push, kept sealed at rest, never listed', async () => {
    const token = 'rcv-token_0123456789abcdef';
    const guarded = await SetReceiver.start({
      issuer: server.services.config.issuer,
      server: server.url,
      audience: 'urn:example:bearer',
    });
    extra.push(guarded);
    await server.services.receivers.add({
      name: 'guarded',
      endpoint: guarded.endpoint,
      audience: 'urn:example:bearer',
      bearerToken: token,
    });
    await logout();
    const [set] = await received(guarded, SESSION_REVOKED);
    expect(set!.authorization).toBe(`Bearer ${token}`);
    const rows = await server.services.db.selectFrom('security_event_receivers').selectAll().execute();
    expect(JSON.stringify(rows)).not.toContain(token);
    expect(JSON.stringify(await server.services.receivers.list())).not.toContain(token);
    expect(JSON.stringify(await outboxRows())).not.toContain(token);
  });

  it('removing a receiver drops its SETs not yet delivered', async () => {
    receiver.answer = () => ({ status: 503 });
    await logout();
    await eventually(() => {
      server.delivery.wake();
      return receiver.requests >= 1;
    }, 'a first attempt');
    expect(await tessera(receiverCommand, 'remove', ['rp'])).toBe(0);
    expect(await outboxRows()).toHaveLength(0);
    const audit = await server.services.audit.recent(5);
    expect(audit.find((event) => event.type === 'receiver_removed')?.detail).toEqual({
      receiver: 'rp',
      dropped: 1,
    });
  });
});

describe('receivers', () => {
  it('`tessera receiver add|list|remove`, audited', async () => {
    const code = await tessera(receiverCommand, 'add', ['soc'], {
      endpoint: 'https://soc.example.com/events?tenant=7',
      audience: 'https://soc.example.com',
      event: ['account-disabled', 'credential-change'],
    });
    expect(code).toBe(0);
    expect(await server.services.receivers.byName('soc')).toMatchObject({
      endpoint: 'https://soc.example.com/events?tenant=7',
      audience: 'https://soc.example.com',
      events: ['account-disabled', 'credential-change'],
      hasBearerToken: false,
    });
    expect((await server.services.receivers.list()).map((r) => r.name)).toEqual(['rp', 'soc']);
    // Without --event: every event.
    expect((await server.services.receivers.byName('rp'))!.events).toEqual(Object.keys(SECURITY_EVENT_TYPES));
    expect(await tessera(receiverCommand, 'remove', ['soc'])).toBe(0);
    expect(await server.services.receivers.byName('soc')).toBeUndefined();
    const audit = await server.services.audit.recent(10);
    expect(audit.find((event) => event.type === 'receiver_added')?.detail).toEqual({
      receiver: 'soc',
      // The query (which may carry the receiver's own secret) is not kept.
      endpoint: 'https://soc.example.com/events',
      audience: 'https://soc.example.com',
      events: ['account-disabled', 'credential-change'],
      bearerToken: false,
    });
    expect(audit.find((event) => event.type === 'receiver_removed')?.detail).toEqual({
      receiver: 'soc',
      dropped: 0,
    });
  });

  it.each([
    ['plain http to another host', { endpoint: 'http://rp.example.com/events' }, /https/],
    ['another scheme', { endpoint: 'ftp://rp.example.com/events' }, /https/],
    ['not a URL', { endpoint: 'rp.example.com/events' }, /absolute https URL/],
    ['credentials in the URL', { endpoint: 'https://user:pw@rp.example.com/events' }, /bearer token/],
    ['a fragment', { endpoint: 'https://rp.example.com/events#x' }, /fragment/],
    ['a name with a space', { name: 'my rp' }, /receiver name/],
    ['an audience with a space', { audience: 'a b' }, /audience/],
    ['an unknown event', { events: ['session-hijacked'] }, /unknown event/],
    ['no events', { events: [] }, /at least one event/],
    ['a bearer token with a space', { bearerToken: 'a b' }, /bearer token/],
    ['a name already registered', { name: 'rp' }, /already exists/],
  ])('refuses %s, and writes nothing', async (_what, change, message) => {
    const before = await server.services.receivers.list();
    await expect(
      server.services.receivers.add({
        name: 'new',
        endpoint: 'https://rp.example.com/events',
        audience: 'https://rp.example.com',
        ...(change as object),
      }),
    ).rejects.toThrow(message);
    expect(await server.services.receivers.list()).toEqual(before);
  });

  it('the command refuses a bad value as a usage error, an unknown name on remove too', async () => {
    await expect(
      tessera(receiverCommand, 'add', ['x'], { endpoint: 'http://rp.example.com/e', audience: 'a' }),
    ).rejects.toThrow(UsageError);
    await expect(
      tessera(receiverCommand, 'add', ['x'], {
        endpoint: 'https://rp.example.com/e',
        audience: 'a',
        event: ['nope'],
      }),
    ).rejects.toThrow(UsageError);
    await expect(tessera(receiverCommand, 'add', ['x'], { audience: 'a' })).rejects.toThrow(UsageError);
    await expect(tessera(receiverCommand, 'remove', ['nobody'])).rejects.toThrow(UsageError);
    expect((await server.services.receivers.list()).map((r) => r.name)).toEqual(['rp']);
  });
});

describe('logs', () => {
  it('never carry a SET, a bearer token or the endpoint query', async () => {
    const lines: string[] = [];
    const logged = await startServer({ refreshGrace: 0, logLevel: 'trace' }, undefined, {
      logger: { stream: { write: (line: string) => void lines.push(line) } },
    } as object);
    extra.push({ stop: () => stopServer(logged) });
    await addClients(logged);
    const token = 'rcv-secret-token-9f8e7d6c5b4a';
    const target = await SetReceiver.start({
      issuer: logged.services.config.issuer,
      server: logged.url,
      audience: 'urn:example:logs',
    });
    extra.push(target);
    await logged.services.receivers.add({
      name: 'logs',
      endpoint: `${target.endpoint}?key=query-secret-1234`,
      audience: 'urn:example:logs',
      bearerToken: token,
    });
    // One retried, one delivered, one refused: every line the delivery job writes.
    target.answer = (n) =>
      n === 1
        ? { status: 500 }
        : n === 2
          ? { status: 202 }
          : { status: 400, body: { err: 'invalid_request' } };
    for (let i = 0; i < 2; i++) {
      const login = await loginApp(logged);
      await post(`${logged.url}/logout`, {}, { authorization: `Bearer ${login.access_token}` });
    }
    await eventually(
      async () => {
        const rows = await logged.services.db.selectFrom('outbox').selectAll().execute();
        const pending = rows.filter((row) => row.delivered_at === null && row.gave_up_at === null);
        // A retry is due on the server's clock: move it there rather than wait.
        const due = Math.min(
          ...pending.filter((row) => row.lease_owner === null).map((row) => row.next_attempt_at),
        );
        if (Number.isFinite(due) && due > logged.now()) logged.advance(due - logged.now());
        logged.delivery.wake();
        return rows.length === 2 && pending.length === 0;
      },
      'both deliveries finished',
      30_000,
    );
    const log = lines.join('\n');
    expect(log).toContain('security_event');
    expect(log).not.toContain(token);
    expect(log).not.toContain('query-secret-1234');
    for (const set of target.received) expect(log).not.toContain(set.token.split('.')[2]);
    expect(target.received.length).toBeGreaterThan(0);
    expect(decodeProtectedHeader(target.received[0]!.token).typ).toBe('secevent+jwt');
  });
});
