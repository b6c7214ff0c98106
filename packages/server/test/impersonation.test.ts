/**
 * Impersonation through token exchange: an admin's access token plus `requested_subject` becomes a
 * short token for that user naming the admin in `act`, recorded and audited when it starts and when
 * it ends (revoked by either party's logout, or expired). Every refusal issues and writes nothing.
 */
import { decodeJwtUnverified } from '@tessera/jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { endEverySession, endSession } from '../src/revocation/sessions.js';
import { sweepImpersonations } from '../src/tokens/impersonation.js';
import { breakWrites } from './failures.js';
import { ADMIN_PASSWORD, eventually, post, startServer, stopServer, type TestServer } from './helpers.js';
import { basic, expectError, form } from './http.js';

const API = 'https://api.example';
const SUPPORT = 'https://support.example';
const ACCESS_TOKEN = 'urn:ietf:params:oauth:token-type:access_token';

let server: TestServer;
const secrets: Record<string, string> = {};
const ids: Record<string, string> = {};

beforeAll(async () => {
  server = await startServer();
  const { services } = server;
  ids.root = (await services.users.create('root', ADMIN_PASSWORD, { roles: ['admin'] })).id;
  ids.bob = (await services.users.create('bob', ADMIN_PASSWORD)).id;
  const carol = await services.users.create('carol', ADMIN_PASSWORD);
  ids.carol = carol.id;
  await services.users.disable(carol.id);
  ids.alice = (await services.users.byUsername('alice'))!.id;
  await services.clients.add({
    clientId: 'console-ui',
    type: 'public',
    audiences: [API],
    scopes: ['openid', 'tickets:read'],
  });
  for (const [clientId, impersonation] of [
    ['console', true],
    ['support-tool', false],
  ] as const) {
    const { secret } = await services.clients.add({
      clientId,
      type: 'confidential',
      kind: 'service',
      audiences: [API],
      scopes: [],
      tokenExchange: { targets: [SUPPORT], impersonation, delegation: !impersonation },
    });
    secrets[clientId] = secret!;
  }
});
afterAll(() => stopServer(server));

async function login(username: string): Promise<string> {
  const res = await post(`${server.url}/login`, {
    username,
    password: ADMIN_PASSWORD,
    client_id: 'console-ui',
  });
  expect(res.status).toBe(200);
  return ((await res.json()) as { access_token: string }).access_token;
}

const impersonate = (
  adminToken: string,
  userId: string,
  extra: Record<string, string> = {},
  clientId = 'console',
) =>
  form(
    `${server.url}/token/exchange`,
    {
      subject_token: adminToken,
      subject_token_type: ACCESS_TOKEN,
      requested_subject: userId,
      audience: SUPPORT,
      ...extra,
    },
    { authorization: basic(clientId, secrets[clientId]!) },
  );

async function started(
  adminToken: string,
  userId: string,
): Promise<{ token: string; body: Record<string, unknown> }> {
  const res = await impersonate(adminToken, userId);
  const body = (await res.json()) as Record<string, unknown>;
  expect(res.status, JSON.stringify(body)).toBe(200);
  return { token: body.access_token as string, body };
}

/** What the store holds of impersonations and their audit trail, to prove a refusal wrote nothing. */
async function written(): Promise<{ rows: number; events: number }> {
  const { db } = server.services;
  const rows = await db
    .selectFrom('impersonations')
    .select(db.fn.countAll<number>().as('n'))
    .executeTakeFirstOrThrow();
  const events = await db
    .selectFrom('audit_events')
    .select(db.fn.countAll<number>().as('n'))
    .where('type', 'in', ['impersonation_started', 'impersonation_ended'])
    .executeTakeFirstOrThrow();
  return { rows: Number(rows.n), events: Number(events.n) };
}

describe('impersonation', () => {
  it('gives the admin a token for the user: sub the user, act the admin, the admin’s session, at most 15 minutes', async () => {
    const adminToken = await login('root');
    const adminClaims = decodeJwtUnverified(adminToken);
    const bob = await server.services.users.byId(ids.bob!);
    const { token, body } = await started(adminToken, ids.bob!);
    expect(body).toMatchObject({ issued_token_type: ACCESS_TOKEN, token_type: 'Bearer' });
    expect(body).not.toHaveProperty('refresh_token');
    // The service's lifetime is an hour: capped at 15 minutes.
    expect(body.expires_in).toBe(900);
    const claims = decodeJwtUnverified(token);
    expect(claims).toMatchObject({
      sub: ids.bob,
      aud: SUPPORT,
      client_id: 'console',
      sid: adminClaims.sid,
      ver: bob!.tokenVersion,
      act: { sub: ids.root, client_id: 'console-ui' },
      roles: [],
    });
    const { user } = await server.services.accessTokens.verify(token, SUPPORT);
    expect(user!.id).toBe(ids.bob);

    const row = await server.services.impersonations.byJti(claims.jti!);
    expect(row).toMatchObject({
      adminId: ids.root,
      userId: ids.bob,
      clientId: 'console',
      sid: adminClaims.sid,
    });
    expect(row!.endedAt).toBeUndefined();
    const [startedEvent] = (await server.services.audit.recent(20)).filter(
      (e) => e.type === 'impersonation_started',
    );
    expect(startedEvent).toMatchObject({
      userId: ids.bob,
      clientId: 'console',
      detail: { admin: ids.root, user: ids.bob, sid: adminClaims.sid, exp: claims.exp, jti: claims.jti },
    });
  });

  it('is never longer than what is left of the admin’s token', async () => {
    const adminToken = await login('root');
    const adminExp = decodeJwtUnverified(adminToken).exp!;
    const skip = (adminExp - Math.floor(server.now() / 1000) - 120) * 1000;
    server.advance(skip);
    try {
      const { token, body } = await started(adminToken, ids.bob!);
      expect(body.expires_in).toBeLessThanOrEqual(120);
      expect(decodeJwtUnverified(token).exp).toBeLessThanOrEqual(adminExp);
    } finally {
      server.advance(-skip);
    }
  });

  it('ends when the admin logs out: the token is refused and the end is audited once', async () => {
    const adminToken = await login('root');
    const { token } = await started(adminToken, ids.bob!);
    const { jti } = decodeJwtUnverified(token);
    await endSession(server.services, decodeJwtUnverified(adminToken).sid as string, 'logout');
    await expect(server.services.accessTokens.verify(token)).rejects.toThrow(/revoked/);
    // Whichever ends it first (the revocation as it is heard, or housekeeping), it ends once.
    await sweepImpersonations(server.services);
    await sweepImpersonations(server.services);
    expect(await server.services.impersonations.byJti(jti!)).toMatchObject({ endReason: 'revoked' });
    const ended = (await server.services.audit.recent(100)).filter(
      (e) => e.type === 'impersonation_ended' && e.detail.jti === jti,
    );
    expect(ended).toEqual([
      expect.objectContaining({
        userId: ids.bob,
        clientId: 'console',
        detail: expect.objectContaining({ admin: ids.root, reason: 'revoked' }),
      }),
    ]);
  });

  it('ends at the revocation itself, without waiting for housekeeping', async () => {
    const adminToken = await login('root');
    const { token } = await started(adminToken, ids.bob!);
    const { jti } = decodeJwtUnverified(token);
    await endSession(server.services, decodeJwtUnverified(adminToken).sid as string, 'logout');
    await eventually(
      async () => (await server.services.impersonations.byJti(jti!))?.endReason === 'revoked',
      'the impersonation to end on the revocation',
    );
  });

  it('ends when the user logs out everywhere (their token version rises)', async () => {
    const adminToken = await login('root');
    const { token } = await started(adminToken, ids.alice!);
    const { jti } = decodeJwtUnverified(token);
    await endEverySession(
      server.services,
      ids.alice!,
      (trx) => server.services.users.bumpTokenVersion(ids.alice!, trx),
      'logout_everywhere',
    );
    await expect(server.services.accessTokens.verify(token)).rejects.toThrow(/revoked/);
    await sweepImpersonations(server.services);
    expect(await server.services.impersonations.byJti(jti!)).toMatchObject({ endReason: 'revoked' });
    // The admin's own session goes on.
    await expect(server.services.accessTokens.verify(adminToken)).resolves.toBeDefined();
  });

  it('ends when it expires: housekeeping closes it as expired', async () => {
    const adminToken = await login('root');
    const { token } = await started(adminToken, ids.bob!);
    const { jti } = decodeJwtUnverified(token);
    await sweepImpersonations(server.services);
    expect((await server.services.impersonations.byJti(jti!))!.endedAt).toBeUndefined();
    server.advance(901_000);
    try {
      await sweepImpersonations(server.services);
      expect(await server.services.impersonations.byJti(jti!)).toMatchObject({ endReason: 'expired' });
    } finally {
      server.advance(-901_000);
    }
  });

  it('issues nothing when the record cannot be written: row and audit event commit together', async () => {
    const adminToken = await login('root');
    for (const table of ['impersonations', 'audit_events'] as const) {
      const before = await written();
      const broken = await breakWrites(server.services.db, table, 'insert');
      try {
        const res = await impersonate(adminToken, ids.bob!);
        expect(res.status).toBe(500);
        expect(await res.json()).not.toHaveProperty('access_token');
      } finally {
        await broken.heal();
      }
      expect(await written()).toEqual(before);
    }
  });

  it('refuses a non-admin, an unknown, disabled or own subject, a client without the policy: nothing issued or written', async () => {
    const adminToken = await login('root');
    const aliceToken = await login('alice');
    const before = await written();
    await expectError(await impersonate(aliceToken, ids.bob!), 400, 'invalid_request');
    await expectError(await impersonate(adminToken, 'no-such-user'), 400, 'invalid_request');
    await expectError(await impersonate(adminToken, ids.carol!), 400, 'invalid_request');
    await expectError(await impersonate(adminToken, ids.root!), 400, 'invalid_request');
    await expectError(
      await impersonate(adminToken, ids.bob!, {}, 'support-tool'),
      400,
      'unauthorized_client',
    );
    await expectError(
      await impersonate(adminToken, ids.bob!, { actor_token: adminToken, actor_token_type: ACCESS_TOKEN }),
      400,
      'invalid_request',
    );
    await expectError(await impersonate(adminToken, ids.bob!, { audience: API }), 400, 'invalid_target');
    await expectError(await impersonate(adminToken, ids.bob!, { scope: 'admin:all' }), 400, 'invalid_scope');
    // An impersonation's token cannot begin another one.
    const { token } = await started(adminToken, ids.bob!);
    const after = await written();
    await expectError(await impersonate(token, ids.alice!), 400, 'invalid_request');
    expect(await written()).toEqual(after);
    expect(after).toEqual({ rows: before.rows + 1, events: before.events + 1 });
    // An admin who lost the role cannot use a token from before.
    await server.services.users.setRoles(ids.root!, []);
    try {
      await expectError(await impersonate(adminToken, ids.bob!), 400, 'invalid_request');
    } finally {
      await server.services.users.setRoles(ids.root!, ['admin']);
    }
    expect(await written()).toEqual(after);
  });
});
