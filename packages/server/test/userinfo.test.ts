import { decodeJwtUnverified, signJwtSync } from '@tessera/jose';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { removeDataDir, startServer, stopServer, type TestServer } from './helpers.js';
import {
  expectError,
  expectSecurityHeaders,
  foreignToken,
  loginApp,
  loginWeb,
  startEndpointServer,
  userinfo,
} from './http.js';
import { request } from './requests.js';

let server: TestServer;
beforeEach(async () => {
  ({ server } = await startEndpointServer());
});
afterEach(() => stopServer(server));

describe('GET /userinfo', () => {
  const get = (headers: Record<string, string> = {}) => request(`${server.url}/userinfo`, { headers });

  it('without a token: 401 with a bare Bearer challenge', async () => {
    const res = await get();
    expect(res.headers.get('www-authenticate')).toBe('Bearer realm="tessera"');
    expectSecurityHeaders(res);
    await expectError(res, 401, 'invalid_token');
  });

  it('a malformed Authorization header is 401 with a Bearer challenge', async () => {
    const { access_token } = await loginApp(server);
    for (const authorization of [
      'Bearer',
      'Bearer ',
      `Basic ${access_token}`,
      `Bearer ${access_token} extra`,
      `Bearer  ${access_token}x`,
      `Token ${access_token}`,
      access_token,
      'Bearer not-a-jwt',
      `Bearer ${access_token.slice(0, -4)}AAAA`,
      `Bearer ${access_token.split('.').slice(0, 2).join('.')}`,
    ]) {
      const res = await get({ authorization });
      expect(res.headers.get('www-authenticate')).toMatch(/^Bearer /);
      await expectError(res, 401, 'invalid_token');
    }
  });

  it('refuses a token signed by another key, even with a known kid', async () => {
    for (const kid of [undefined, 'unknown-kid']) {
      const res = await get({ authorization: `Bearer ${await foreignToken(server, kid)}` });
      expect(res.headers.get('www-authenticate')).toMatch(/^Bearer error="invalid_token"/);
      await expectError(res, 401, 'invalid_token');
    }
  });

  it('refuses a token signed by the real key but with the wrong typ, issuer or no expiry', async () => {
    const signer = server.services.keys.signer();
    const alice = (await server.services.users.byUsername('alice'))!;
    const claims = {
      sub: alice.id,
      client_id: 'app',
      scope: 'openid',
      sid: 'sid_x',
      ver: alice.tokenVersion,
      roles: [],
      permissions: [],
    };
    const base = {
      kid: signer.kid,
      issuer: server.services.config.issuer,
      audience: server.services.config.audience,
      expiresIn: 900,
      jti: true as const,
      currentDate: new Date(server.now()),
    };
    // Sanity: the same recipe with the right typ is accepted, so each refusal below is for its one defect.
    const right = signJwtSync(claims, signer.key, { ...base, typ: 'at+jwt' });
    expect((await get({ authorization: `Bearer ${right}` })).status).toBe(200);
    const wrong = [
      signJwtSync(claims, signer.key, { ...base, typ: 'JWT' }),
      signJwtSync(claims, signer.key, { ...base }),
      signJwtSync(claims, signer.key, { ...base, typ: 'at+jwt', issuer: 'https://evil.example' }),
      signJwtSync(claims, signer.key, { ...base, typ: 'at+jwt', expiresIn: undefined }),
      signJwtSync({ ...claims, sid: undefined }, signer.key, { ...base, typ: 'at+jwt' }),
    ];
    for (const token of wrong) {
      const res = await get({ authorization: `Bearer ${token}` });
      await expectError(res, 401, 'invalid_token');
    }
  });

  it('refuses an expired token, and alg none', async () => {
    const { access_token } = await loginApp(server);
    expect((await userinfo(server, access_token)).status).toBe(200);
    server.advance(15 * 60_000 + 61_000);
    const expired = await userinfo(server, access_token);
    expect(expired.headers.get('www-authenticate')).toMatch(/^Bearer error="invalid_token"/);
    await expectError(expired, 401, 'invalid_token');

    const [, payload] = access_token.split('.');
    const none = `${Buffer.from('{"alg":"none","typ":"at+jwt"}').toString('base64url')}.${payload}.`;
    await expectError(await userinfo(server, none), 401, 'invalid_token');
  });

  it('answers a valid token without caching', async () => {
    const { access_token } = await loginApp(server);
    const res = await userinfo(server, access_token);
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expectSecurityHeaders(res);
    expect(await res.json()).toMatchObject({ preferred_username: 'alice', roles: ['customer'] });
  });
});

describe('POST /userinfo (OIDC Core §5.3.1)', () => {
  const post = (body: Record<string, string>, headers: Record<string, string> = {}) =>
    request(`${server.url}/userinfo`, { method: 'POST', headers, body: new URLSearchParams(body) });

  it('answers the same claims with the token in the header or in the form body (RFC 6750 §2.2)', async () => {
    const { access_token } = await loginApp(server);
    const byGet = (await (await userinfo(server, access_token)).json()) as Record<string, unknown>;
    const byHeader = await post({}, { authorization: `Bearer ${access_token}` });
    const byBody = await post({ access_token });
    expect(byHeader.status).toBe(200);
    expect(byBody.status).toBe(200);
    expect(await byHeader.json()).toEqual(byGet);
    expect(await byBody.json()).toEqual(byGet);
    expect(byBody.headers.get('cache-control')).toBe('no-store');
  });

  it('refuses a token sent in two places (RFC 6750 §2), a bad one in the body, and none at all', async () => {
    const { access_token } = await loginApp(server);
    await expectError(
      await post({ access_token }, { authorization: `Bearer ${access_token}` }),
      400,
      'invalid_request',
    );
    const forged = await post({ access_token: await foreignToken(server) });
    await expectError(forged, 401, 'invalid_token');
    const none = await post({});
    expect(none.headers.get('www-authenticate')).toBe('Bearer realm="tessera"');
    await expectError(none, 401, 'invalid_token');
  });
});

describe("the server's own bearer endpoints accept only tokens meant for the server (RFC 9068 §4, RFC 8725 §3.9)", () => {
  async function ordersOnlyToken(): Promise<string> {
    await server.services.clients.add({
      clientId: 'orders-app',
      type: 'public',
      audiences: ['https://orders.example'],
      scopes: ['openid'],
    });
    const session = await loginApp(server, 'orders-app');
    expect(decodeJwtUnverified(session.access_token).aud).toBe('https://orders.example');
    return session.access_token;
  }

  for (const [method, path] of [
    ['GET', '/userinfo'],
    ['POST', '/logout'],
    ['POST', '/logout/all'],
  ] as const) {
    it(`${method} ${path} refuses a valid token whose audience is another API`, async () => {
      const token = await ordersOnlyToken();
      const res = await request(`${server.url}${path}`, {
        method,
        headers: { authorization: `Bearer ${token}` },
      });
      expect(res.headers.get('www-authenticate')).toMatch(/^Bearer error="invalid_token"/);
      await expectError(res, 401, 'invalid_token');
    });
  }

  it('the first-party web client gets the issuer as an audience even when the default audience is another API', async () => {
    await server.close();
    await removeDataDir(server.dataDir);
    server = await startServer({ audience: 'https://api.example.com' });
    const web = await loginWeb(server);
    const { aud } = decodeJwtUnverified(web.access_token);
    expect(aud).toEqual(['https://api.example.com', server.services.config.issuer]);
    expect((await userinfo(server, web.access_token)).status).toBe(200);
  });
});
