import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { post, removeDataDir, startServer, stopServer, type TestServer } from './helpers.js';
import {
  addClients,
  basic,
  expectError,
  expectSecurityHeaders,
  form,
  loginApp,
  refreshApp,
  startEndpointServer,
  type TokenBody,
  userinfo,
} from './http.js';

let server: TestServer;
let backendSecret: string;
beforeEach(async () => {
  ({ server, backendSecret } = await startEndpointServer());
});
afterEach(() => stopServer(server));

const revoke = (fields: Record<string, string>, headers: Record<string, string> = {}) =>
  post(`${server.url}/revoke`, fields, headers);

async function expectRevokeOk(res: Response) {
  expect(res.status).toBe(200);
  expect(res.headers.get('cache-control')).toBe('no-store');
  expectSecurityHeaders(res);
  expect(await res.text()).toBe('');
}

describe('POST /revoke (RFC 7009)', () => {
  it('answers 200 for unknown and garbage tokens', async () => {
    for (const token of ['nope', 'A'.repeat(43), 'a.b.c', 'eyJhbGciOiJub25lIn0.e30.']) {
      await expectRevokeOk(await revoke({ token, client_id: 'app' }));
      await expectRevokeOk(await revoke({ token, client_id: 'app', token_type_hint: 'access_token' }));
    }
  });

  it('a refresh token revokes its family, and the family access tokens via sid', async () => {
    const first = await loginApp(server);
    const second = (await (await refreshApp(server, first.refresh_token)).json()) as Required<TokenBody>;
    const other = await loginApp(server);
    await expectRevokeOk(
      await revoke({ token: second.refresh_token, client_id: 'app', token_type_hint: 'refresh_token' }),
    );
    await expectError(await refreshApp(server, second.refresh_token), 400, 'invalid_grant');
    expect((await userinfo(server, second.access_token)).status).toBe(401);
    expect((await userinfo(server, first.access_token)).status).toBe(401);
    // Another session of the same user is untouched.
    expect((await userinfo(server, other.access_token)).status).toBe(200);
    expect((await refreshApp(server, other.refresh_token)).status).toBe(200);
    // Revoking again is still 200 (form-encoded this time).
    await expectRevokeOk(
      await form(`${server.url}/revoke`, { token: second.refresh_token, client_id: 'app' }),
    );
  });

  it('a refresh token is found whatever the hint says', async () => {
    const session = await loginApp(server);
    await expectRevokeOk(
      await revoke({ token: session.refresh_token, client_id: 'app', token_type_hint: 'access_token' }),
    );
    await expectError(await refreshApp(server, session.refresh_token), 400, 'invalid_grant');
  });

  it('an access token revokes only that token (its jti)', async () => {
    const session = await loginApp(server);
    const sibling = (await (await refreshApp(server, session.refresh_token)).json()) as Required<TokenBody>;
    await expectRevokeOk(await revoke({ token: session.access_token, client_id: 'app' }));
    expect((await userinfo(server, session.access_token)).status).toBe(401);
    // Same session, other access token: still fine; the session still refreshes.
    expect((await userinfo(server, sibling.access_token)).status).toBe(200);
    expect((await refreshApp(server, sibling.refresh_token)).status).toBe(200);
  });

  it("refuses another client's token with 400 unauthorized_client and revokes nothing (§2.1)", async () => {
    const session = await loginApp(server);
    await expectError(
      await revoke({ token: session.refresh_token, client_id: 'other' }),
      400,
      'unauthorized_client',
    );
    await expectError(
      await revoke({ token: session.access_token, client_id: 'other' }),
      400,
      'unauthorized_client',
    );
    await expectError(
      await revoke({ token: session.access_token }, { authorization: basic('backend', backendSecret) }),
      400,
      'unauthorized_client',
    );
    expect((await userinfo(server, session.access_token)).status).toBe(200);
    expect((await refreshApp(server, session.refresh_token)).status).toBe(200);
  });

  it('ignores an unknown token_type_hint and revokes the token all the same (§2.1: the server MAY ignore it)', async () => {
    for (const token_type_hint of ['id_token', 'ACCESS_TOKEN', '', 'urn:example:unknown']) {
      const session = await loginApp(server);
      await expectRevokeOk(await revoke({ token: session.refresh_token, client_id: 'app', token_type_hint }));
      await expectError(await refreshApp(server, session.refresh_token), 400, 'invalid_grant');
      const other = await loginApp(server);
      await expectRevokeOk(await revoke({ token: other.access_token, client_id: 'app', token_type_hint }));
      expect((await userinfo(server, other.access_token)).status).toBe(401);
    }
  });

  it('refuses a missing token with 400 invalid_request', async () => {
    await expectError(await revoke({ client_id: 'app' }), 400, 'invalid_request');
    await expectError(await revoke({ token: '', client_id: 'app' }), 400, 'invalid_request');
    await expectError(await form(`${server.url}/revoke`, { client_id: 'app' }), 400, 'invalid_request');
  });

  it('authenticates the client', async () => {
    const session = await loginApp(server);
    await expectError(await revoke({ token: session.refresh_token }), 400, 'invalid_request');
    const unknown = await revoke({ token: session.refresh_token, client_id: 'nope' });
    expect(unknown.headers.get('www-authenticate')).toBe('Basic realm="tessera"');
    await expectError(unknown, 401, 'invalid_client');
    await expectError(
      await revoke({ token: session.refresh_token }, { authorization: basic('backend', 'wrong') }),
      401,
      'invalid_client',
    );
    expect((await refreshApp(server, session.refresh_token)).status).toBe(200);
  });
});

describe('POST /revoke: the revocation budget', () => {
  it('refuses with 429 slow_down and Retry-After once a user has caused revocationRateUser revocations this minute, and writes nothing', async () => {
    await server.close();
    await removeDataDir(server.dataDir);
    server = await startServer({ revocationRateUser: 3 });
    await addClients(server);
    for (let i = 0; i < 3; i++) {
      const session = await loginApp(server);
      await expectRevokeOk(await revoke({ token: session.access_token, client_id: 'app' }));
    }
    const before = server.services.revocations.size();
    const session = await loginApp(server);
    const refused = await revoke({ token: session.access_token, client_id: 'app' });
    expect(refused.headers.get('retry-after')).toMatch(/^[1-9]\d*$/);
    await expectError(refused, 429, 'slow_down');
    expect(server.services.revocations.size()).toBe(before);
    expect((await userinfo(server, session.access_token)).status).toBe(200);
    // A new minute, a new budget.
    server.advance(60_000);
    await expectRevokeOk(await revoke({ token: session.access_token, client_id: 'app' }));
    expect((await userinfo(server, session.access_token)).status).toBe(401);
  });

  it('counts only requests that revoke something: made-up tokens cannot spend a client budget', async () => {
    await server.close();
    await removeDataDir(server.dataDir);
    server = await startServer({ revocationRateClient: 2 });
    await addClients(server);
    for (let i = 0; i < 20; i++)
      await expectRevokeOk(await revoke({ token: `made-up-${i}`, client_id: 'app' }));
    const session = await loginApp(server);
    await expectRevokeOk(await revoke({ token: session.refresh_token, client_id: 'app' }));
    // Revoking the same (now revoked) token again writes nothing, so costs nothing.
    for (let i = 0; i < 5; i++)
      await expectRevokeOk(await revoke({ token: session.refresh_token, client_id: 'app' }));
    const second = await loginApp(server);
    await expectRevokeOk(await revoke({ token: second.access_token, client_id: 'app' }));
    const third = await loginApp(server);
    await expectError(await revoke({ token: third.access_token, client_id: 'app' }), 429, 'slow_down');
  });
});
