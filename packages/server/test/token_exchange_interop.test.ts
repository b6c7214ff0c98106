/**
 * Token exchange as others see it, over real HTTP: openid-client performs the exchanges
 * (`genericGrantRequest`), oauth4webapi validates an exchanged token as a resource server would
 * (RFC 9068), and a real @tessera/guard following the revocation stream refuses exchanged and
 * impersonation tokens once the session they carry ends — at every guard, not only at the server.
 */
import type { GuardError } from '@tessera/guard';
import * as oauth from 'oauth4webapi';
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { endEverySession, endSession } from '../src/revocation/sessions.js';
import { ADMIN_PASSWORD, eventually, stopServer, type TestServer } from './helpers.js';
import { startRealServer } from './real_server.js';
import { followingGuard } from './sse.js';

const API = 'https://api.example';
const EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS_TOKEN = 'urn:ietf:params:oauth:token-type:access_token';

let server: TestServer;
let issuer: string;
let config: client.Configuration;
let guard: Awaited<ReturnType<typeof followingGuard>>;

beforeAll(async () => {
  ({ server, issuer } = await startRealServer());
  const { services } = server;
  await services.users.create('root', ADMIN_PASSWORD, { roles: ['admin'] });
  await services.users.create('dave', ADMIN_PASSWORD);
  await services.clients.add({ clientId: 'app', type: 'public', audiences: [API], scopes: ['orders:read'] });
  const { secret } = await services.clients.add({
    clientId: 'gateway',
    type: 'confidential',
    kind: 'service',
    audiences: [API],
    scopes: [],
    // The guard below is an API of the server's default audience (the issuer).
    tokenExchange: { targets: [services.config.audience], delegation: true, impersonation: true },
  });
  config = await client.discovery(new URL(issuer), 'gateway', undefined, client.ClientSecretBasic(secret!), {
    execute: [client.allowInsecureRequests],
  });
  guard = await followingGuard(server);
  await guard.ready();
});
afterAll(async () => {
  await guard?.close();
  await stopServer(server);
});

async function login(username: string): Promise<{ token: string; sid: string; sub: string }> {
  const res = await fetch(`${issuer}/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username, password: ADMIN_PASSWORD, client_id: 'app' }),
  });
  expect(res.status).toBe(200);
  const token = ((await res.json()) as { access_token: string }).access_token;
  const { sid, sub } = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as {
    sid: string;
    sub: string;
  };
  return { token, sid, sub };
}

const exchange = (parameters: Record<string, string>) =>
  client.genericGrantRequest(config, EXCHANGE, {
    subject_token_type: ACCESS_TOKEN,
    audience: server.services.config.audience,
    ...parameters,
  });

/** What the guard says of a token: accepted, or its refusal's reason. */
const guardSays = (token: string) =>
  guard.authenticate({ headers: { authorization: `Bearer ${token}` } }).then(
    () => 'accepted',
    (err: GuardError) => err.reason,
  );

describe('token exchange with openid-client, oauth4webapi and the guard', () => {
  it('exchanges with genericGrantRequest; the token validates as RFC 9068 for its audience only', async () => {
    const user = await login('dave');
    const tokens = await exchange({ subject_token: user.token });
    expect(tokens).toMatchObject({
      issued_token_type: ACCESS_TOKEN,
      token_type: expect.stringMatching(/^bearer$/i),
    });
    expect(tokens).not.toHaveProperty('refresh_token');
    const validate = (audience: string) =>
      oauth.validateJwtAccessToken(
        config.serverMetadata(),
        new Request(`${issuer}/api`, { headers: { authorization: `Bearer ${tokens.access_token}` } }),
        audience,
        { [oauth.allowInsecureRequests]: true },
      );
    await expect(validate(server.services.config.audience)).resolves.toMatchObject({
      sub: user.sub,
      sid: user.sid,
      client_id: 'gateway',
    });
    await expect(validate(API)).rejects.toThrow(/aud/);
    // An error answer comes back to the library as an OAuth error.
    const refused = exchange({ subject_token: user.token, audience: 'https://not-in-the-policy.example' });
    await expect(refused).rejects.toMatchObject({ error: 'invalid_target' });
  });

  it('the user’s logout reaches exchanged tokens at the guard (sid), logout-everywhere too (sub + ver)', async () => {
    const user = await login('dave');
    const plain = await exchange({ subject_token: user.token });
    const gatewayToken = await client.clientCredentialsGrant(config, { audience: API });
    const delegated = await exchange({
      subject_token: user.token,
      actor_token: gatewayToken.access_token,
      actor_token_type: ACCESS_TOKEN,
    });
    expect(await guardSays(plain.access_token)).toBe('accepted');
    expect(await guardSays(delegated.access_token)).toBe('accepted');
    expect(
      (await guard.authenticate({ headers: { authorization: `Bearer ${delegated.access_token}` } })).claims
        .act,
    ).toEqual({ sub: 'gateway', client_id: 'gateway' });
    await endSession(server.services, user.sid, 'logout');
    await eventually(
      async () => (await guardSays(plain.access_token)) === 'revoked (sid)',
      'the sid to reach the guard',
    );
    expect(await guardSays(delegated.access_token)).toBe('revoked (sid)');

    const again = await login('dave');
    const second = await exchange({ subject_token: again.token });
    expect(await guardSays(second.access_token)).toBe('accepted');
    await endEverySession(
      server.services,
      again.sub,
      (trx) => server.services.users.bumpTokenVersion(again.sub, trx),
      'logout_everywhere',
    );
    await eventually(
      async () => (await guardSays(second.access_token)) !== 'accepted',
      'logout-everywhere to reach the guard',
    );
  });

  it('an impersonation ends at the guard when the admin logs out', async () => {
    const admin = await login('root');
    const dave = (await server.services.users.byUsername('dave'))!;
    const tokens = await exchange({ subject_token: admin.token, requested_subject: dave.id });
    const principal = await guard.authenticate({
      headers: { authorization: `Bearer ${tokens.access_token}` },
    });
    expect(principal.sub).toBe(dave.id);
    expect(principal.claims.act).toEqual({ sub: admin.sub, client_id: 'app' });
    await endSession(server.services, admin.sid, 'logout');
    await eventually(
      async () => (await guardSays(tokens.access_token)) === 'revoked (sid)',
      'the admin’s logout to reach the guard',
    );
  });
});
