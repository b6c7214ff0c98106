/**
 * RFC 8693 token exchange: downscoping a user's token to one audience, delegation (`act`, nested,
 * and `may_act`), and every refusal §2.2.2 and RFC 6749 §5.2 call for, each with nothing issued.
 * Impersonation has its own file (impersonation.test.ts).
 */
import { decodeJwtUnverified } from '@tessera/jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { endSession } from '../src/revocation/sessions.js';
import { dpopKey, dpopPost, thumbprint } from './dpop.js';
import { ADMIN_PASSWORD, post, startServer, stopServer, type TestServer } from './helpers.js';
import { basic, expectError, form } from './http.js';
import { request } from './requests.js';

const API = 'https://api.example';
const ORDERS = 'https://orders.example';
const INVENTORY = 'urn:inventory';
const EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS_TOKEN = 'urn:ietf:params:oauth:token-type:access_token';
const SCOPES = ['openid', 'orders:read', 'orders:write', 'inventory:read'];

let server: TestServer;
const secrets: Record<string, string> = {};

beforeAll(async () => {
  server = await startServer({}, undefined, {
    // RFC 8693 §4.4: the deployment says who may act for the users of `delegating-app`.
    extraClaims: ({ clientId, target }) =>
      clientId === 'delegating-app' && target === 'access_token'
        ? { may_act: { sub: 'gateway' } }
        : undefined,
  });
  const { services } = server;
  await services.resources.add({ resource: ORDERS, name: 'Orders', accessTokenTtl: 600 });
  for (const clientId of ['app', 'delegating-app'])
    await services.clients.add({ clientId, type: 'public', audiences: [API], scopes: SCOPES });
  const confidential = async (
    clientId: string,
    tokenExchange: { targets?: string[]; delegation?: boolean; impersonation?: boolean },
    audiences = [API],
  ) => {
    const { secret } = await services.clients.add({
      clientId,
      type: 'confidential',
      kind: 'service',
      audiences,
      scopes: ['orders:read'],
      tokenExchange,
    });
    secrets[clientId] = secret!;
  };
  await confidential('gateway', { targets: [ORDERS, INVENTORY], delegation: true });
  await confidential('downscoper', { targets: [ORDERS] });
  await confidential('no-policy', {});
  await confidential('orders-api', {}, [ORDERS]);
  await confidential('elsewhere', { targets: [ORDERS], delegation: true }, ['https://elsewhere.example']);
  await services.clients.update('gateway', { grantTypes: ['client_credentials'] });
});
afterAll(() => stopServer(server));

async function login(clientId = 'app', scope?: string): Promise<string> {
  const res = await post(`${server.url}/login`, {
    username: 'alice',
    password: ADMIN_PASSWORD,
    client_id: clientId,
    ...(scope ? { scope } : {}),
  });
  expect(res.status).toBe(200);
  return ((await res.json()) as { access_token: string }).access_token;
}

/** A client's own token (client_credentials): the actor token of a service acting for a user. */
async function ownToken(clientId: string): Promise<string> {
  const res = await form(
    `${server.url}/token`,
    { grant_type: 'client_credentials' },
    { authorization: basic(clientId, secrets[clientId]!) },
  );
  expect(res.status).toBe(200);
  return ((await res.json()) as { access_token: string }).access_token;
}

const exchange = (fields: Record<string, string | string[]>, clientId = 'gateway', path = '/token') =>
  form(
    `${server.url}${path}`,
    { grant_type: EXCHANGE, subject_token_type: ACCESS_TOKEN, ...fields },
    { authorization: basic(clientId, secrets[clientId] ?? 'none') },
  );

interface Exchanged {
  access_token: string;
  issued_token_type: string;
  token_type: string;
  expires_in: number;
  scope: string;
  refresh_token?: string;
}

async function exchanged(res: Response): Promise<{ body: Exchanged; claims: Record<string, unknown> }> {
  const body = (await res.json()) as Exchanged;
  expect(res.status, JSON.stringify(body)).toBe(200);
  return { body, claims: decodeJwtUnverified(body.access_token) as Record<string, unknown> };
}

describe('downscoping (RFC 8693 §2.1)', () => {
  it('gives a token for one audience with the subject, its session and version, no refresh token', async () => {
    const subject = await login();
    const subjectClaims = decodeJwtUnverified(subject);
    const res = await exchange({ subject_token: subject, resource: ORDERS, scope: 'orders:read' });
    expect(res.headers.get('cache-control')).toBe('no-store');
    const { body, claims } = await exchanged(res);
    expect(body).toMatchObject({
      issued_token_type: ACCESS_TOKEN,
      token_type: 'Bearer',
      scope: 'orders:read',
    });
    expect(body).not.toHaveProperty('refresh_token');
    expect(claims).toMatchObject({
      aud: ORDERS,
      sub: subjectClaims.sub,
      sid: subjectClaims.sid,
      ver: subjectClaims.ver,
      client_id: 'gateway',
      scope: 'orders:read',
    });
    expect(claims).not.toHaveProperty('act');
    // The exchanged token passes the server's own verification for its audience.
    await expect(server.services.accessTokens.verify(body.access_token, ORDERS)).resolves.toBeDefined();
  });

  it('answers at the alias /token/exchange too, and is advertised in discovery', async () => {
    const res = await exchange(
      { subject_token: await login(), audience: INVENTORY },
      'gateway',
      '/token/exchange',
    );
    const { claims, body } = await exchanged(res);
    expect(claims.aud).toBe(INVENTORY);
    // No scope asked: the subject's whole scope.
    expect(body.scope.split(' ').sort()).toEqual([...SCOPES].sort());
    const metadata = (await (await request(`${server.url}/.well-known/openid-configuration`)).json()) as {
      grant_types_supported: string[];
    };
    expect(metadata.grant_types_supported).toContain(EXCHANGE);
  });

  it('never outlives the subject token: exp is at most the subject’s', async () => {
    const subject = await login();
    const subjectExp = decodeJwtUnverified(subject).exp!;
    // Five minutes before the subject expires, the resource's 10-minute lifetime is cut to what is left.
    const skip = (subjectExp - Math.floor(server.now() / 1000) - 300) * 1000;
    server.advance(skip);
    try {
      const { claims, body } = await exchanged(await exchange({ subject_token: subject, resource: ORDERS }));
      expect(claims.exp).toBeLessThanOrEqual(subjectExp);
      expect(body.expires_in).toBeLessThanOrEqual(300);
    } finally {
      server.advance(-skip);
    }
  });

  it('refuses a scope wider than the subject’s: invalid_scope', async () => {
    const subject = await login('app', 'orders:read');
    await expectError(
      await exchange({ subject_token: subject, resource: ORDERS, scope: 'orders:read orders:write' }),
      400,
      'invalid_scope',
    );
  });

  it('refuses a target outside the policy, two targets, or none: invalid_target / invalid_request', async () => {
    const subject = await login();
    await expectError(await exchange({ subject_token: subject, audience: API }), 400, 'invalid_target');
    await expectError(await exchange({ subject_token: subject, resource: INVENTORY }), 400, 'invalid_target');
    await expectError(
      await exchange({ subject_token: subject, audience: [ORDERS, INVENTORY] }),
      400,
      'invalid_target',
    );
    await expectError(
      await exchange({ subject_token: subject, resource: ORDERS, audience: INVENTORY }),
      400,
      'invalid_target',
    );
    await expectError(await exchange({ subject_token: subject }), 400, 'invalid_request');
    // The downscoper's policy lists orders alone.
    await expectError(
      await exchange({ subject_token: subject, audience: INVENTORY }, 'downscoper'),
      400,
      'invalid_target',
    );
  });

  it('refuses a revoked, expired, foreign or malformed subject token: invalid_request (§2.2.2)', async () => {
    const revoked = await login();
    // The user logs out (the session's refresh family and its sid).
    expect(await endSession(server.services, decodeJwtUnverified(revoked).sid as string, 'logout')).toBe(
      true,
    );
    await expectError(await exchange({ subject_token: revoked, resource: ORDERS }), 400, 'invalid_request');

    const expired = await login();
    server.advance(3_600_000);
    try {
      await expectError(await exchange({ subject_token: expired, resource: ORDERS }), 400, 'invalid_request');
    } finally {
      server.advance(-3_600_000);
    }
    // Issued neither to nor for the client presenting it (its aud is another API's).
    await expectError(
      await exchange({ subject_token: await login(), resource: ORDERS }, 'elsewhere'),
      400,
      'invalid_request',
    );
    // Not ours at all.
    const [header, payload] = (await login()).split('.');
    await expectError(
      await exchange({ subject_token: `${header}.${payload}.AAAA`, resource: ORDERS }),
      400,
      'invalid_request',
    );
    // A client's own token has no user to act for.
    await expectError(
      await exchange({ subject_token: await ownToken('gateway'), resource: ORDERS }),
      400,
      'invalid_request',
    );
  });

  it('refuses malformed requests: missing or wrong token types, a repeated token', async () => {
    const subject = await login();
    await expectError(await exchange({ resource: ORDERS }), 400, 'invalid_request');
    await expectError(
      await exchange({ subject_token: subject, resource: ORDERS, subject_token_type: 'urn:x' }),
      400,
      'invalid_request',
    );
    await expectError(
      await exchange({
        subject_token: subject,
        resource: ORDERS,
        requested_token_type: 'urn:ietf:params:oauth:token-type:refresh_token',
      }),
      400,
      'invalid_request',
    );
    await expectError(
      await exchange({ subject_token: subject, resource: ORDERS, actor_token_type: ACCESS_TOKEN }),
      400,
      'invalid_request',
    );
    await expectError(
      await exchange({ subject_token: [subject, subject], resource: ORDERS }),
      400,
      'invalid_request',
    );
  });

  it('is for authenticated confidential clients with a policy only: unauthorized_client / invalid_client', async () => {
    const subject = await login();
    await expectError(
      await exchange({ subject_token: subject, resource: ORDERS }, 'no-policy'),
      400,
      'unauthorized_client',
    );
    const publicClient = await form(`${server.url}/token`, {
      grant_type: EXCHANGE,
      client_id: 'app',
      subject_token: subject,
      subject_token_type: ACCESS_TOKEN,
      resource: ORDERS,
    });
    await expectError(publicClient, 400, 'unauthorized_client');
    const wrongSecret = await form(
      `${server.url}/token`,
      { grant_type: EXCHANGE, subject_token: subject, subject_token_type: ACCESS_TOKEN, resource: ORDERS },
      { authorization: basic('gateway', 'not-the-secret') },
    );
    expect(wrongSecret.status).toBe(401);
    expect(((await wrongSecret.json()) as { error: string }).error).toBe('invalid_client');
  });
});

describe('delegation (RFC 8693 §1.1, §4.1 act, §4.4 may_act)', () => {
  it('names the actor in act: a service acting for the user with its own token', async () => {
    const subject = await login();
    const { claims } = await exchanged(
      await exchange({
        subject_token: subject,
        actor_token: await ownToken('gateway'),
        actor_token_type: ACCESS_TOKEN,
        resource: ORDERS,
      }),
    );
    expect(claims.sub).toBe(decodeJwtUnverified(subject).sub);
    expect(claims.act).toEqual({ sub: 'gateway', client_id: 'gateway' });
  });

  it('nests the chain: an actor token that has an actor itself', async () => {
    const user = await login();
    // First hop: the gateway acts for alice toward inventory.
    const firstHop = await exchanged(
      await exchange({
        subject_token: user,
        actor_token: await ownToken('gateway'),
        actor_token_type: ACCESS_TOKEN,
        audience: INVENTORY,
      }),
    );
    // Second hop: that delegated token is itself the actor for alice toward orders.
    const { claims } = await exchanged(
      await exchange({
        subject_token: user,
        actor_token: firstHop.body.access_token,
        actor_token_type: ACCESS_TOKEN,
        resource: ORDERS,
      }),
    );
    const aliceId = decodeJwtUnverified(user).sub;
    expect(claims.act).toEqual({
      sub: aliceId,
      client_id: 'gateway',
      act: { sub: 'gateway', client_id: 'gateway' },
    });
    // Downscoping a delegated token keeps its actor.
    const narrowed = await exchanged(
      await exchange({
        subject_token: firstHop.body.access_token,
        audience: INVENTORY,
        scope: 'orders:read',
      }),
    );
    expect(narrowed.claims.act).toEqual({ sub: 'gateway', client_id: 'gateway' });
  });

  it('introspection (RFC 7662) shows the actor to the resource server the token is for', async () => {
    const { claims, body } = await exchanged(
      await exchange({
        subject_token: await login(),
        actor_token: await ownToken('gateway'),
        actor_token_type: ACCESS_TOKEN,
        resource: ORDERS,
      }),
    );
    const res = await form(
      `${server.url}/introspect`,
      { token: body.access_token },
      { authorization: basic('orders-api', secrets['orders-api']!) },
    );
    expect(await res.json()).toMatchObject({
      active: true,
      sub: claims.sub,
      client_id: 'gateway',
      act: { sub: 'gateway', client_id: 'gateway' },
    });
  });

  it('lets only the party may_act names act for the subject', async () => {
    const subject = await login('delegating-app');
    expect(decodeJwtUnverified(subject).may_act).toEqual({ sub: 'gateway' });
    const allowed = await exchanged(
      await exchange({
        subject_token: subject,
        actor_token: await ownToken('gateway'),
        actor_token_type: ACCESS_TOKEN,
        resource: ORDERS,
      }),
    );
    expect((allowed.claims.act as { sub: string }).sub).toBe('gateway');
    // Alice's own token as the actor: a party may_act does not name.
    await expectError(
      await exchange({
        subject_token: subject,
        actor_token: await login(),
        actor_token_type: ACCESS_TOKEN,
        resource: ORDERS,
      }),
      400,
      'invalid_request',
    );
  });

  it('refuses delegation to a client whose policy does not allow it, and a bad actor token', async () => {
    const subject = await login();
    await expectError(
      await exchange(
        {
          subject_token: subject,
          actor_token: await ownToken('gateway'),
          actor_token_type: ACCESS_TOKEN,
          resource: ORDERS,
        },
        'downscoper',
      ),
      400,
      'unauthorized_client',
    );
    await expectError(
      await exchange({
        subject_token: subject,
        actor_token: 'not-a-token',
        actor_token_type: ACCESS_TOKEN,
        resource: ORDERS,
      }),
      400,
      'invalid_request',
    );
    // The actor token of another client (issued neither to nor for the gateway).
    await expectError(
      await exchange({
        subject_token: subject,
        actor_token: await ownToken('elsewhere'),
        actor_token_type: ACCESS_TOKEN,
        resource: ORDERS,
      }),
      400,
      'invalid_request',
    );
  });
});

describe('DPoP (RFC 9449) at the exchange', () => {
  it('binds the exchanged token to the proof’s key, at /token/exchange as at /token', async () => {
    const key = await dpopKey();
    for (const path of ['/token', '/token/exchange']) {
      const res = await dpopPost(
        server,
        path,
        key,
        {
          grant_type: EXCHANGE,
          subject_token: await login(),
          subject_token_type: ACCESS_TOKEN,
          resource: ORDERS,
        },
        { authorization: basic('gateway', secrets.gateway!) },
      );
      const { body, claims } = await exchanged(res);
      expect(body.token_type).toBe('DPoP');
      expect(claims.cnf).toEqual({ jkt: await thumbprint(key) });
    }
  });

  it('requires a proof of a client with dpop_bound_access_tokens', async () => {
    await server.services.clients.update('downscoper', { dpopBoundAccessTokens: true });
    try {
      await expectError(
        await exchange({ subject_token: await login(), resource: ORDERS }, 'downscoper'),
        400,
        'invalid_dpop_proof',
      );
    } finally {
      await server.services.clients.update('downscoper', { dpopBoundAccessTokens: false });
    }
  });
});

describe('the policy in the registration', () => {
  it('is kept, changed and checked: confidential clients only, delegation needs targets', async () => {
    const { clients } = server.services;
    expect((await clients.byId('gateway'))!.tokenExchange).toEqual({
      targets: [ORDERS, INVENTORY],
      delegation: true,
      impersonation: false,
    });
    const updated = await clients.update('downscoper', { tokenExchange: { impersonation: true } });
    expect(updated!.tokenExchange).toEqual({ targets: [ORDERS], delegation: false, impersonation: true });
    await clients.update('downscoper', { tokenExchange: { impersonation: false } });
    await expect(
      clients.add({
        clientId: 'public-exchanger',
        type: 'public',
        audiences: [API],
        scopes: [],
        tokenExchange: { targets: [ORDERS] },
      }),
    ).rejects.toThrow(/confidential/);
    await expect(clients.update('no-policy', { tokenExchange: { delegation: true } })).rejects.toThrow(
      /targets/,
    );
    await expect(clients.update('no-policy', { tokenExchange: { targets: ['has space'] } })).rejects.toThrow(
      TypeError,
    );
    expect((await clients.byId('no-policy'))!.tokenExchange.targets).toEqual([]);
  });
});
