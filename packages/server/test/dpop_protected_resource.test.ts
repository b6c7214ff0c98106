/**
 * RFC 9449 §7 at this server's own protected resources (UserInfo, POST /logout, /logout/all): a
 * DPoP-bound token works only as `Authorization: DPoP` with a proof of its key for this very request,
 * and never as a bearer token (§7.2). Failures are 401 with a `WWW-Authenticate: DPoP` challenge.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DpopKey, dpopKey, dpopPost, proofFor } from './dpop.js';
import { ADMIN_PASSWORD, startServer, stopServer, type TestServer } from './helpers.js';
import { expectError, form, type TokenBody } from './http.js';
import { request } from './requests.js';

let server: TestServer;
let key: DpopKey;
let otherKey: DpopKey;

beforeAll(async () => {
  server = await startServer();
  await server.services.clients.add({
    clientId: 'app',
    type: 'public',
    audiences: [],
    scopes: ['openid', 'offline_access'],
  });
  key = await dpopKey();
  otherKey = await dpopKey();
});
afterAll(() => stopServer(server));

/** A fresh DPoP-bound session of alice (its access token names the issuer among its audiences). */
async function boundToken(): Promise<string> {
  const res = await dpopPost(server, '/login', key, {
    username: 'alice',
    password: ADMIN_PASSWORD,
    client_id: 'app',
  });
  const body = (await res.json()) as TokenBody;
  expect(body.token_type).toBe('DPoP');
  return body.access_token;
}

const call = (path: string, method: 'GET' | 'POST', headers: Record<string, string>) =>
  request(`${server.url}${path}`, { method, headers });

/** `Authorization: DPoP` with a proof of `proofKey` for `path` and `method`, hashing `token`. */
async function dpopHeaders(
  token: string,
  path: string,
  method: 'GET' | 'POST',
  proofKey = key,
  athOf = token,
): Promise<Record<string, string>> {
  return {
    authorization: `DPoP ${token}`,
    dpop: await proofFor(server, proofKey, path, { htm: method, accessToken: athOf }),
  };
}

async function expectChallenge(res: Response, error: string): Promise<void> {
  await expectError(res, 401, error);
  const challenge = res.headers.get('www-authenticate') ?? '';
  expect(challenge).toMatch(/^DPoP algs="[^"]*ES256[^"]*"/);
  expect(challenge).toContain(`error="${error}"`);
}

describe('UserInfo with a DPoP-bound token (RFC 9449 §7.1)', () => {
  it('answers GET and POST with Authorization: DPoP and a proof of the key', async () => {
    const token = await boundToken();
    const get = await call('/userinfo', 'GET', await dpopHeaders(token, '/userinfo', 'GET'));
    expect(get.status).toBe(200);
    expect(await get.json()).toMatchObject({ preferred_username: 'alice' });
    const post = await call('/userinfo', 'POST', await dpopHeaders(token, '/userinfo', 'POST'));
    expect(post.status).toBe(200);
  });

  it('refuses the bound token sent as Bearer, or in the form body (§7.2)', async () => {
    const token = await boundToken();
    await expectChallenge(
      await call('/userinfo', 'GET', { authorization: `Bearer ${token}` }),
      'invalid_token',
    );
    await expectChallenge(await form(`${server.url}/userinfo`, { access_token: token }), 'invalid_token');
  });

  it('refuses Authorization: DPoP without a proof', async () => {
    const token = await boundToken();
    await expectChallenge(
      await call('/userinfo', 'GET', { authorization: `DPoP ${token}` }),
      'invalid_dpop_proof',
    );
  });

  it('refuses a proof of another key, for another token (ath), method (htm) or endpoint (htu)', async () => {
    const token = await boundToken();
    const other = await boundToken();
    const cases = [
      await dpopHeaders(token, '/userinfo', 'GET', otherKey),
      await dpopHeaders(token, '/userinfo', 'GET', key, other),
      await dpopHeaders(token, '/userinfo', 'POST'),
      await dpopHeaders(token, '/logout', 'GET'),
    ];
    for (const headers of cases)
      await expectChallenge(await call('/userinfo', 'GET', headers), 'invalid_dpop_proof');
  });

  it('refuses a proof used twice (jti)', async () => {
    const token = await boundToken();
    const headers = await dpopHeaders(token, '/userinfo', 'GET');
    expect((await call('/userinfo', 'GET', headers)).status).toBe(200);
    await expectChallenge(await call('/userinfo', 'GET', headers), 'invalid_dpop_proof');
  });

  it('refuses an unbound token sent as DPoP: the client would believe it protected', async () => {
    const res = await form(`${server.url}/login`, {
      username: 'alice',
      password: ADMIN_PASSWORD,
      client_id: 'app',
    });
    const { access_token } = (await res.json()) as TokenBody;
    const headers = await dpopHeaders(access_token, '/userinfo', 'GET');
    await expectChallenge(await call('/userinfo', 'GET', headers), 'invalid_token');
    // As Bearer it works as always.
    expect((await call('/userinfo', 'GET', { authorization: `Bearer ${access_token}` })).status).toBe(200);
  });
});

describe('logout with a DPoP-bound token', () => {
  it('a bound token sent as Bearer ends nothing; with its proof, POST /logout ends the session', async () => {
    const token = await boundToken();
    await expectChallenge(
      await call('/logout', 'POST', { authorization: `Bearer ${token}` }),
      'invalid_token',
    );
    expect((await call('/userinfo', 'GET', await dpopHeaders(token, '/userinfo', 'GET'))).status).toBe(200);

    const res = await call('/logout', 'POST', await dpopHeaders(token, '/logout', 'POST'));
    expect(res.status).toBe(204);
    await expectChallenge(
      await call('/userinfo', 'GET', await dpopHeaders(token, '/userinfo', 'GET')),
      'invalid_token',
    );
  });

  it('POST /logout/all takes a proof for /logout/all, not one for /logout', async () => {
    const token = await boundToken();
    await expectChallenge(
      await call('/logout/all', 'POST', await dpopHeaders(token, '/logout', 'POST')),
      'invalid_dpop_proof',
    );
    const res = await call('/logout/all', 'POST', await dpopHeaders(token, '/logout/all', 'POST'));
    expect(res.status).toBe(204);
  });
});
