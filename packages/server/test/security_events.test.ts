import { createLocalJWKSet, type JWK, jwtVerify } from 'jose';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { CommandContext, Values } from '../src/cli/command.js';
import { receiverCommand } from '../src/cli/commands/receiver.js';
import { UsageError } from '../src/cli/errors.js';
import { createOutput } from '../src/cli/output.js';
import { SECURITY_EVENT_TYPES } from '../src/security_events/event_types.js';
import { createSecurityEventTokens, type SecurityEvent } from '../src/security_events/set.js';
import { startServer, stopServer, type TestServer } from './helpers.js';
import { request } from './requests.js';

let server: TestServer;

beforeEach(async () => {
  server = await startServer();
  await server.services.receivers.add({
    name: 'rp',
    endpoint: 'http://127.0.0.1:9/events',
    audience: 'https://rp.example.com/caep',
  });
});

afterEach(async () => {
  await stopServer(server);
});

/** Runs a `tessera` command in this process against the test server's store, as an operator would. */
async function tessera(
  command: typeof receiverCommand,
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

describe('the SET format (RFC 8417)', () => {
  async function verify(token: string, audience?: string) {
    const jwks = (await (await request(`${server.url}/.well-known/jwks.json`)).json()) as { keys: JWK[] };
    return jwtVerify(token, createLocalJWKSet(jwks), {
      issuer: server.url,
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
      const issuer = server.url;
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
      server.url,
      server.now,
    );
    const token = tokens.sign(tokens.claims({ name: 'account-disabled', userId: 'usr_1' }, { txn: 't' }));
    await expect(server.services.accessTokens.verify(token)).rejects.toThrow();
    expect(await server.services.idTokens.subjectOfHint(token)).toBeUndefined();
    // Without aud (the broker's): a receiver requiring its own refuses it.
    await expect(verify(token, 'https://rp.example.com/caep')).rejects.toThrow(/aud/);
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
    const types = (await server.services.audit.recent(10)).map((event) => event.type);
    expect(types).toContain('receiver_added');
    expect(types).toContain('receiver_removed');
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
