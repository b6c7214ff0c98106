import { randomUUID } from 'node:crypto';
import type { GuardError } from '@tessera/guard';
import {
  createSigner,
  decodeJwtUnverified,
  decodeProtectedHeader,
  exportJwk,
  generateKeyPair,
} from '@tessera/jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { endEverySession } from '../src/revocation/sessions.js';
import { ADMIN_PASSWORD, eventually, startServer, stopServer, type TestServer } from './helpers.js';
import { expectError, form, userinfo } from './http.js';
import {
  addOidcClient,
  authorizationParameters,
  codeFor,
  exchange,
  REDIRECT_URI,
  redirectParameters,
  UserAgent,
} from './oidc.js';
import { freePort } from './redis.js';
import { followingGuard } from './sse.js';

let server: TestServer;
beforeAll(async () => {
  server = await startServer({}, undefined, {
    extraClaims: ({ target, user }) =>
      user ? { 'https://acme.example/tenant': `tenant-of-${user.username}`, target } : undefined,
  });
  await server.services.users.create('bob', ADMIN_PASSWORD);
});
afterAll(() => stopServer(server));

interface Tokens {
  access_token: string;
  refresh_token?: string;
  id_token?: string;
  expires_in: number;
  scope: string;
}

async function tokensFor(clientId: string, options: Parameters<typeof codeFor>[2] = {}) {
  const flow = await codeFor(server, clientId, options);
  const response = await exchange(server, clientId, flow.code, flow.verifier);
  expect(response.status).toBe(200);
  return { ...flow, tokens: (await response.json()) as Tokens };
}

describe('authorization_code grant (RFC 6749 §4.1.3, OIDC Core §3.1.3)', () => {
  it('answers with an access token for the client and the issuer, a refresh token and an ID token', async () => {
    const { clientId } = await addOidcClient(server);
    const { tokens, nonce } = await tokensFor(clientId);
    expect(tokens.scope).toBe('openid profile email offline_access');
    const access = decodeJwtUnverified(tokens.access_token);
    // The issuer too: the app calls /userinfo with it.
    expect(access.aud).toEqual(['https://api.example', server.services.config.issuer]);
    expect((await userinfo(server, tokens.access_token)).status).toBe(200);
    const id = decodeJwtUnverified(tokens.id_token!);
    expect(id).toMatchObject({
      aud: clientId,
      azp: clientId,
      nonce,
      sid: access.sid,
      amr: ['pwd'],
      acr: '1',
    });
    expect(id.sub).toBe(access.sub);
    // RFC 8725 §3.11: an ID token is never typed as an access token.
    expect(decodeProtectedHeader(tokens.id_token!).typ).toBe('JWT');
    expect(typeof tokens.refresh_token).toBe('string');
  });

  it('gives a second app a code without the login page (single sign-on), with acr 0', async () => {
    const first = await addOidcClient(server);
    const second = await addOidcClient(server);
    const { agent, tokens } = await tokensFor(first.clientId);
    const signedIn = decodeJwtUnverified(tokens.id_token!);
    const again = await tokensFor(second.clientId, { agent });
    // Only the consent page was shown (a code came back); the sign-in is the same.
    const id = decodeJwtUnverified(again.tokens.id_token!);
    expect(id).toMatchObject({ sub: signedIn.sub, auth_time: signedIn.auth_time, acr: '0' });
    // Each app has its own session (sid): logging out of one does not end the other's tokens.
    expect(id.sid).not.toBe(signedIn.sid);
  });

  it('skips consent for a first-party client', async () => {
    const { clientId } = await addOidcClient(server, { skipConsent: true });
    const agent = new UserAgent(server);
    const login = await agent.authorize(authorizationParameters(clientId, { scope: 'openid' }));
    const afterLogin = await agent.signIn(await login.text());
    expect(afterLogin.status).toBe(303);
    expect(redirectParameters(afterLogin).get('code')).toBeTruthy();
  });

  it('asks for consent once per client, and again after the client was removed and registered anew', async () => {
    const { clientId } = await addOidcClient(server);
    const { agent } = await codeFor(server, clientId);
    const authorize = () => agent.authorize(authorizationParameters(clientId, { scope: 'openid profile' }));
    // Consented already (to more than this): straight back with a code.
    expect((await authorize()).status).toBe(303);
    await server.services.clients.remove(clientId);
    await addOidcClient(server, { clientId });
    const asked = await authorize();
    expect(asked.status).toBe(200);
    expect(await asked.text()).toContain('name="decision"');
  });

  it('honours id_token_hint (OIDC Core §3.1.2.1): expired is fine, another user is not, a forged one is refused', async () => {
    const { clientId } = await addOidcClient(server);
    const bobs = await tokensFor(clientId, { username: 'bob' });
    const { agent } = await tokensFor(clientId);
    const silently = (hint: string) =>
      agent.authorize(
        authorizationParameters(clientId, { scope: 'openid', prompt: 'none', id_token_hint: hint }),
      );
    // This browser is alice's: a hint naming bob is not answered by her session.
    expect(redirectParameters(await silently(bobs.tokens.id_token!)).get('error')).toBe('login_required');
    // Her own hint, long expired, still names her (a hint is usually an old token).
    const own = (await tokensFor(clientId, { agent })).tokens.id_token!;
    server.advance(2 * 3600_000);
    expect(redirectParameters(await silently(own)).get('code')).toBeTruthy();
    const forged = createSigner({
      key: (await generateKeyPair('RS256')).privateKey,
      issuer: server.services.config.issuer,
    }).sign({ sub: decodeJwtUnverified(own).sub, aud: clientId });
    expect(redirectParameters(await silently(forged)).get('error')).toBe('invalid_request');
  });

  it('revokes every token of the first exchange when a code is used twice', async () => {
    const { clientId } = await addOidcClient(server);
    const { code, verifier } = await codeFor(server, clientId);
    const first = (await (await exchange(server, clientId, code, verifier)).json()) as Tokens;
    const sid = decodeJwtUnverified(first.access_token).sid as string;
    await expectError(await exchange(server, clientId, code, verifier), 400, 'invalid_grant');
    // By sid, so the guards refuse them too, and the refresh token is dead.
    expect(server.services.revocations.isRevoked({ sid } as never)).toBe(true);
    expect((await userinfo(server, first.access_token)).status).toBe(401);
    const refreshed = await form(`${server.url}/token`, {
      grant_type: 'refresh_token',
      refresh_token: first.refresh_token!,
      client_id: clientId,
    });
    await expectError(refreshed, 400, 'invalid_grant');
  });

  it('ends the session of a first exchange that a reuse overtook before it was recorded', async () => {
    const { services } = server;
    const alice = (await services.users.byUsername('alice'))!;
    const sso = await services.ssoSessions.start(alice.id, alice.tokenVersion, ['pwd'], 3600);
    const code = await services.authorizationCodes.issue({
      clientId: 'any',
      userId: alice.id,
      redirectUri: REDIRECT_URI,
      scope: 'openid',
      nonce: undefined,
      codeChallenge: undefined,
      resource: undefined,
      ssoSessionId: sso.session.id,
      authTime: sso.session.authTime,
      amr: ['pwd'],
      acr: '1',
    });
    const first = await services.authorizationCodes.redeem(code);
    expect(first.outcome).toBe('redeemed');
    // The second exchange arrives before the first has started its session.
    expect(await services.authorizationCodes.redeem(code)).toMatchObject({
      outcome: 'reused',
      familyId: undefined,
    });
    // The first exchange learns it when it records its session, and must end it.
    if (first.outcome !== 'redeemed') throw new Error('unreachable');
    expect(await services.authorizationCodes.attachSession(first.codeHash, `sid_${randomUUID()}`)).toBe(
      false,
    );
  });

  it('refuses a code whose sign-in has ended since (log out everywhere), and the next authorize asks again', async () => {
    const { clientId } = await addOidcClient(server);
    const { code, verifier, agent } = await codeFor(server, clientId, { username: 'bob' });
    const bob = (await server.services.users.byUsername('bob'))!;
    await endEverySession(
      server.services,
      bob.id,
      (trx) => server.services.users.bumpTokenVersion(bob.id, trx),
      'logout_all',
    );
    await expectError(await exchange(server, clientId, code, verifier), 400, 'invalid_grant');
    const page = await agent.authorize(authorizationParameters(clientId, { scope: 'openid' }));
    expect(await page.text()).toContain('name="password"');
  });

  it('refreshes with a new ID token that keeps auth_time and drops the nonce (OIDC Core §12.2)', async () => {
    const { clientId } = await addOidcClient(server);
    const { tokens } = await tokensFor(clientId);
    server.advance(5_000);
    const refreshed = await form(`${server.url}/token`, {
      grant_type: 'refresh_token',
      refresh_token: tokens.refresh_token!,
      client_id: clientId,
    });
    expect(refreshed.status).toBe(200);
    const body = (await refreshed.json()) as Tokens;
    const before = decodeJwtUnverified(tokens.id_token!);
    const after = decodeJwtUnverified(body.id_token!);
    expect(after).toMatchObject({
      sub: before.sub,
      aud: before.aud,
      azp: before.azp,
      auth_time: before.auth_time,
    });
    expect(after).not.toHaveProperty('nonce');
    expect(after.iat).toBeGreaterThan(before.iat!);
  });

  it("keeps an SPA's session to a day (its kind's lifetime)", async () => {
    const { clientId } = await addOidcClient(server, { kind: 'spa' });
    const { tokens } = await tokensFor(clientId);
    const family = await server.services.refreshTokens.familyOf(tokens.refresh_token!);
    expect(family!.expiresAt - server.now()).toBeLessThanOrEqual(86_400_000);
    expect(family!.expiresAt - server.now()).toBeGreaterThan(86_400_000 - 60_000);
  });

  it('puts the deployment’s extra claims in access tokens, ID tokens and userinfo', async () => {
    const { clientId } = await addOidcClient(server);
    const { tokens } = await tokensFor(clientId);
    const tenant = 'https://acme.example/tenant';
    expect(decodeJwtUnverified(tokens.access_token)).toMatchObject({
      [tenant]: 'tenant-of-alice',
      target: 'access_token',
    });
    expect(decodeJwtUnverified(tokens.id_token!)).toMatchObject({
      [tenant]: 'tenant-of-alice',
      target: 'id_token',
    });
    const info = (await (await userinfo(server, tokens.access_token)).json()) as Record<string, unknown>;
    expect(info).toMatchObject({ [tenant]: 'tenant-of-alice', target: 'userinfo' });
  });

  it('binds the code to a resource asked at /authorize: the access token is for it alone', async () => {
    await server.services.resources.add({ resource: 'https://photos.example', name: 'Photos' });
    const { clientId } = await addOidcClient(server, { resources: ['https://photos.example'] });
    const { tokens } = await tokensFor(clientId, { parameters: { resource: 'https://photos.example' } });
    expect(decodeJwtUnverified(tokens.access_token).aud).toBe('https://photos.example');
    const refused = await codeFor(server, clientId, {
      parameters: { resource: 'https://elsewhere.example' },
    }).catch((err: Error) => err);
    expect(String(refused)).toMatch(/no code/);
  });

  it('authenticates a confidential client with private_key_jwt (RFC 7523) at the code exchange', async () => {
    const { privateKey, publicKey } = await generateKeyPair('ES256');
    const jwk = { ...exportJwk(publicKey, { public: true }), kid: 'web-1' };
    const { clientId } = await addOidcClient(server, {
      type: 'confidential',
      kind: 'web',
      tokenEndpointAuthMethod: 'private_key_jwt',
      jwks: { keys: [jwk] },
    });
    const { code, verifier } = await codeFor(server, clientId);
    const assertion = () =>
      createSigner({
        key: privateKey,
        kid: 'web-1',
        issuer: clientId,
        subject: clientId,
        audience: `${server.services.config.issuer}/token`,
        expiresIn: 60,
        jti: true,
        clock: server.now,
      }).sign();
    const withoutKey = await exchange(server, clientId, code, verifier);
    await expectError(withoutKey, 401, 'invalid_client');
    const { code: code2, verifier: verifier2 } = await codeFor(server, clientId);
    const signed = assertion();
    const ok = await exchange(server, clientId, code2, verifier2, {
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: signed,
    });
    expect(ok.status).toBe(200);
    // The same assertion again is a replay (RFC 7523 §3 item 7).
    const { code: code3, verifier: verifier3 } = await codeFor(server, clientId);
    const replayed = await exchange(server, clientId, code3, verifier3, {
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: signed,
    });
    await expectError(replayed, 401, 'invalid_client');
  });

  it('a reused code reaches the guards: an API following revocations refuses the first exchange’s token', async () => {
    // The guard discovers the issuer: this server must listen where its issuer says.
    const api = await startServer({ port: await freePort() });
    const guard = await followingGuard(api);
    try {
      await guard.ready();
      const { clientId } = await addOidcClient(api, { audiences: [api.services.config.audience] });
      const { code, verifier } = await codeFor(api, clientId);
      const first = (await (await exchange(api, clientId, code, verifier)).json()) as Tokens;
      const authenticate = () =>
        guard.authenticate({ headers: { authorization: `Bearer ${first.access_token}` } }).then(
          () => 'accepted',
          (err: GuardError) => err.reason,
        );
      expect(await authenticate()).toBe('accepted');
      await expectError(await exchange(api, clientId, code, verifier), 400, 'invalid_grant');
      await eventually(
        async () => (await authenticate()) === 'revoked (sid)',
        'the guard to refuse the token',
      );
    } finally {
      await guard.close();
      await stopServer(api);
    }
  });
});
