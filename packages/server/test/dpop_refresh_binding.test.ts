/**
 * RFC 9449 §5: "Refresh tokens issued to public clients MUST be bound" to the DPoP key of the request
 * that got them. A refresh with another key, or without a proof, is `invalid_grant` and changes
 * nothing: the family is neither rotated nor revoked, so whoever holds the key carries on. The
 * first-party web client counts as public (its refresh token is its cookie). Confidential clients'
 * refresh tokens are bound to their credentials instead; each access token is bound per request.
 */
import { decodeJwtUnverified } from '@tessera/jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DpopKey, dpopKey, dpopPost, thumbprint } from './dpop.js';
import { ADMIN_PASSWORD, startServer, stopServer, type TestServer } from './helpers.js';
import {
  basic,
  browserHeaders,
  clearsCookie,
  expectError,
  form,
  REFRESH_COOKIE,
  setCookie,
  type TokenBody,
} from './http.js';
import { addOidcClient, codeFor, REDIRECT_URI } from './oidc.js';

let server: TestServer;
let key: DpopKey;
let otherKey: DpopKey;

beforeAll(async () => {
  server = await startServer();
  await server.services.clients.add({
    clientId: 'app',
    type: 'public',
    audiences: ['https://api.example'],
    scopes: ['openid', 'offline_access'],
  });
  key = await dpopKey();
  otherKey = await dpopKey('Ed25519');
});
afterAll(() => stopServer(server));

async function loginApp(): Promise<Required<TokenBody>> {
  const res = await dpopPost(server, '/login', key, {
    username: 'alice',
    password: ADMIN_PASSWORD,
    client_id: 'app',
  });
  expect(res.status).toBe(200);
  return (await res.json()) as Required<TokenBody>;
}

const refreshWith = (proofKey: DpopKey, refreshToken: string) =>
  dpopPost(server, '/token', proofKey, {
    grant_type: 'refresh_token',
    refresh_token: refreshToken,
    client_id: 'app',
  });

/** Without a proof at all. */
const refreshBare = (refreshToken: string) =>
  form(`${server.url}/token`, { grant_type: 'refresh_token', refresh_token: refreshToken, client_id: 'app' });

describe("a public client's refresh tokens are bound to its DPoP key", () => {
  it('refresh with the same key: a new DPoP-bound access token and a new refresh token', async () => {
    const login = await loginApp();
    const res = await refreshWith(key, login.refresh_token);
    expect(res.status).toBe(200);
    const body = (await res.json()) as Required<TokenBody>;
    expect(body.token_type).toBe('DPoP');
    expect(body.refresh_token).not.toBe(login.refresh_token);
    expect(decodeJwtUnverified(body.access_token).cnf).toEqual({ jkt: await thumbprint(key) });
  });

  it('refresh with another key is invalid_grant, and the family stays intact', async () => {
    const login = await loginApp();
    const stolen = await refreshWith(otherKey, login.refresh_token);
    const error = await expectError(stolen, 400, 'invalid_grant');
    expect(error.error_description).toMatch(/bound to a DPoP key/);
    // Not rotated, not revoked: the same token still refreshes with the right key.
    expect((await server.services.refreshTokens.familyOf(login.refresh_token))?.active).toBe(true);
    expect((await refreshWith(key, login.refresh_token)).status).toBe(200);
  });

  it('refresh without a proof is invalid_grant, and the family stays intact', async () => {
    const login = await loginApp();
    await expectError(await refreshBare(login.refresh_token), 400, 'invalid_grant');
    expect((await refreshWith(key, login.refresh_token)).status).toBe(200);
  });

  it('an old, rotated token replayed with another key ends nothing (no reuse detection without the key)', async () => {
    const login = await loginApp();
    const rotated = (await (await refreshWith(key, login.refresh_token)).json()) as Required<TokenBody>;
    // Past the grace window a replay of the old token would be theft and end the session; without the
    // key it is refused before that, so a thief with a copy cannot log the user out either.
    server.advance(10_000);
    await expectError(await refreshWith(otherKey, login.refresh_token), 400, 'invalid_grant');
    const next = await refreshWith(key, rotated.refresh_token);
    expect(next.status).toBe(200);
  });

  it('a login without a proof starts an unbound session, refreshed as before', async () => {
    const res = await form(`${server.url}/login`, {
      username: 'alice',
      password: ADMIN_PASSWORD,
      client_id: 'app',
    });
    const login = (await res.json()) as Required<TokenBody>;
    expect(login.token_type).toBe('Bearer');
    const refreshed = await refreshBare(login.refresh_token);
    expect(refreshed.status).toBe(200);
    expect(((await refreshed.json()) as TokenBody).token_type).toBe('Bearer');
  });
});

describe("the web client's cookie session is bound to its DPoP key", () => {
  async function loginWeb(): Promise<string> {
    const res = await dpopPost(server, '/login', key, { username: 'alice', password: ADMIN_PASSWORD });
    expect(res.status).toBe(200);
    expect(((await res.json()) as TokenBody).token_type).toBe('DPoP');
    return setCookie(res)!.value;
  }

  it('refreshes with the same key at /token/refresh', async () => {
    const cookie = await loginWeb();
    const res = await dpopPost(server, '/token/refresh', key, {}, browserHeaders(server, cookie));
    expect(res.status).toBe(200);
    expect(((await res.json()) as TokenBody).token_type).toBe('DPoP');
    expect(setCookie(res, REFRESH_COOKIE)?.value).not.toBe(cookie);
  });

  it('refuses another key without clearing the cookie or touching the session', async () => {
    const cookie = await loginWeb();
    const res = await dpopPost(server, '/token/refresh', otherKey, {}, browserHeaders(server, cookie));
    await expectError(res, 400, 'invalid_grant');
    expect(clearsCookie(res)).toBe(false);
    const again = await dpopPost(server, '/token/refresh', key, {}, browserHeaders(server, cookie));
    expect(again.status).toBe(200);
  });
});

describe("a confidential client's refresh tokens are not bound (RFC 9449 §5)", () => {
  it('refreshes without a proof (Bearer), and binds each access token to the key of its own request', async () => {
    const { clientId, secret } = await addOidcClient(server, {
      type: 'confidential',
      kind: 'web',
      tokenEndpointAuthMethod: 'client_secret_basic',
    });
    const authorization = basic(clientId, secret!);
    const { code, verifier } = await codeFor(server, clientId);
    const res = await dpopPost(
      server,
      '/token',
      key,
      { grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: REDIRECT_URI },
      { authorization },
    );
    expect(res.status).toBe(200);
    const tokens = (await res.json()) as Required<TokenBody>;
    expect(tokens.token_type).toBe('DPoP');

    const bare = await form(
      `${server.url}/token`,
      { grant_type: 'refresh_token', refresh_token: tokens.refresh_token },
      { authorization },
    );
    expect(bare.status).toBe(200);
    const next = (await bare.json()) as Required<TokenBody>;
    expect(next.token_type).toBe('Bearer');

    const other = await dpopPost(
      server,
      '/token',
      otherKey,
      { grant_type: 'refresh_token', refresh_token: next.refresh_token },
      { authorization },
    );
    expect(other.status).toBe(200);
    const body = (await other.json()) as TokenBody;
    expect(decodeJwtUnverified(body.access_token).cnf).toEqual({ jkt: await thumbprint(otherKey) });
  });
});
