/**
 * OIDC RP-Initiated Logout 1.0 at `/logout/end`, through the whole app (app.inject): with a valid
 * `id_token_hint` from the browser's current sign-in the browser is signed out at once, otherwise the
 * user is asked on a page whose form is bound to the browser; either way the SSO session and every session apps started from it
 * end (their access tokens refused, their `sid` published), and the browser goes back only to a
 * registered `post_logout_redirect_uri`.
 */
import { randomBytes } from 'node:crypto';
import {
  createSigner,
  decodeJwtUnverified,
  decodeProtectedHeader,
  encodeUnsecuredJwt,
  generateKeyPair,
} from '@tessera/jose';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SSO_COOKIE } from '../src/http/sso_cookies.js';
import { revokeSigningKey } from '../src/keys/revoke_key.js';
import { publishedLongEnough, RETIRED_KEY_MARGIN } from '../src/keys/signing_keys.js';
import { SsoSessionEnded } from '../src/tokens/refresh_tokens.js';
import { breakWrites } from './failures.js';
import { ADMIN_PASSWORD, startServer, stopServer, type TestServer } from './helpers.js';
import { expectError, form, userinfo } from './http.js';
import { addOidcClient, codeFor, exchange, hiddenFields, UserAgent } from './oidc.js';
import { request } from './requests.js';

const SIGNED_OUT = 'https://app.example/signed-out';
/** A registered URI with a query of its own: `state` is added to it. */
const SIGNED_OUT_WITH_QUERY = 'https://app.example/bye?from=tessera';
const BOB_PASSWORD = 'another correct horse battery staple';

interface Tokens {
  access_token: string;
  refresh_token: string;
  id_token: string;
}

let server: TestServer;
beforeEach(async () => {
  server = await startServer();
  await server.services.users.create('bob', BOB_PASSWORD);
});
afterEach(() => stopServer(server));

/** An app that may send the browser back to SIGNED_OUT and SIGNED_OUT_WITH_QUERY after a logout. */
async function addApp(): Promise<string> {
  const { clientId } = await addOidcClient(server, {
    postLogoutRedirectUris: [SIGNED_OUT, SIGNED_OUT_WITH_QUERY],
  });
  return clientId;
}

/** Signs `agent` (a new browser by default) in to `clientId` and exchanges the code. */
async function signIn(
  clientId: string,
  options: { agent?: UserAgent; username?: string; password?: string } = {},
): Promise<{ agent: UserAgent; tokens: Tokens; sid: string }> {
  const flow = await codeFor(server, clientId, options);
  const response = await exchange(server, clientId, flow.code, flow.verifier);
  expect(response.status).toBe(200);
  const tokens = (await response.json()) as Tokens;
  return { agent: flow.agent, tokens, sid: decodeJwtUnverified(tokens.id_token).sid as string };
}

function endSession(agent: UserAgent, parameters: Record<string, string>): Promise<Response> {
  return agent.get(`/logout/end?${new URLSearchParams(parameters)}`);
}

async function familyRevoked(
  sid: string,
): Promise<{ revoked_at: number | null; revoked_reason: string | null }> {
  return server.services.db
    .selectFrom('refresh_token_families')
    .select(['revoked_at', 'revoked_reason'])
    .where('id', '=', sid)
    .executeTakeFirstOrThrow();
}

/** Whether the browser's SSO cookie still stands for a live session at the provider. */
async function signedInAtProvider(agent: UserAgent): Promise<boolean> {
  const cookie = agent.cookies.get(SSO_COOKIE);
  return cookie !== undefined && (await server.services.ssoSessions.byCookie(cookie)) !== undefined;
}

/** Records every revocation the server publishes until `stop` is called. */
function listen(): { heard: string[]; stop: () => void } {
  const heard: string[] = [];
  const stop = server.services.revocations.subscribe(
    (event) => void heard.push(`${event.kind}:${event.value}`),
  );
  return { heard, stop };
}

function expectPageHeaders(response: Response): void {
  expect(response.headers.get('content-type')).toMatch(/^text\/html/);
  expect(response.headers.get('cache-control')).toBe('no-store');
  const policy = response.headers.get('content-security-policy') ?? '';
  expect(policy).toContain("default-src 'none'");
  // Not to be framed (clickjacking a Sign out button).
  expect(policy).toContain("frame-ancestors 'none'");
  expect(policy).not.toContain('script-src');
}

/** Everything a refused request must leave as it was. */
async function expectNothingEnded(agent: UserAgent, sids: string[]): Promise<void> {
  expect(await signedInAtProvider(agent)).toBe(true);
  for (const sid of sids) expect((await familyRevoked(sid)).revoked_at).toBeNull();
}

/** A refused logout request: an error page (400), no redirect anywhere. */
async function expectErrorPage(response: Response, status = 400): Promise<string> {
  expect(response.status).toBe(status);
  expect(response.headers.get('location')).toBeNull();
  expectPageHeaders(response);
  const page = await response.text();
  expect(page).toContain('You have not been signed out');
  return page;
}

describe('GET /logout/end with a valid id_token_hint (RP-Initiated Logout 1.0 §2)', () => {
  it('ends the SSO session and every session started from it at once, and publishes their sids', async () => {
    const gallery = await addApp();
    const recipes = await addApp();
    const first = await signIn(gallery);
    // The second app signs in through the same browser (single sign-on): the same SSO session.
    const second = await signIn(recipes, { agent: first.agent });
    // Another browser of the same user is not signed out.
    const elsewhere = await signIn(gallery);
    const { heard, stop } = listen();
    let response: Response;
    try {
      response = await endSession(first.agent, { id_token_hint: first.tokens.id_token });
    } finally {
      stop();
    }
    expect(response.status).toBe(200);
    expectPageHeaders(response);
    expect(await response.text()).toContain('You are signed out');
    // The SSO cookie is cleared and its session ended.
    expect(first.agent.cookies.has(SSO_COOKIE)).toBe(false);
    const ssoRows = await server.services.db
      .selectFrom('sso_sessions')
      .select('revoked_at')
      .where('revoked_at', 'is not', null)
      .execute();
    expect(ssoRows).toHaveLength(1);
    // Both apps' sessions: their access tokens are refused, their refresh tokens dead.
    for (const { tokens, sid } of [first, second]) {
      expect(await familyRevoked(sid)).toMatchObject({ revoked_reason: 'end_session' });
      expect((await userinfo(server, tokens.access_token)).status).toBe(401);
      expect(server.services.revocations.isRevoked({ sid })).toBe(true);
    }
    await expectError(
      await form(`${server.url}/token`, {
        grant_type: 'refresh_token',
        refresh_token: first.tokens.refresh_token,
        client_id: gallery,
      }),
      400,
      'invalid_grant',
    );
    expect(heard.sort()).toEqual([`sid:${first.sid}`, `sid:${second.sid}`].sort());
    // The other browser's session stands.
    expect((await userinfo(server, elsewhere.tokens.access_token)).status).toBe(200);
    expect(await signedInAtProvider(elsewhere.agent)).toBe(true);
    // Audited: each session, and the browser's sign-in.
    const events = await server.services.audit.recent();
    expect(
      events
        .filter((e) => e.type === 'session_revoked')
        .map((e) => e.detail)
        .sort((a, b) => String(a.sid).localeCompare(String(b.sid))),
    ).toEqual([first.sid, second.sid].sort().map((sid) => ({ sid, reason: 'end_session' })));
    expect(events.filter((e) => e.type === 'sso_session_ended').map((e) => e.detail)).toEqual([
      { reason: 'end_session', sessions: 2 },
    ]);
    // The browser must sign in again.
    const again = await first.agent.authorize({
      client_id: gallery,
      redirect_uri: 'https://app.example/callback',
      response_type: 'code',
      scope: 'openid',
      code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
      code_challenge_method: 'S256',
    });
    expect(again.status).toBe(200);
    expect(await again.text()).toContain('name="password"');
  });

  it('sends the browser back to the registered post_logout_redirect_uri with state (303)', async () => {
    const clientId = await addApp();
    const { agent, tokens, sid } = await signIn(clientId);
    const state = `s-${randomBytes(6).toString('hex')}`;
    const response = await endSession(agent, {
      id_token_hint: tokens.id_token,
      post_logout_redirect_uri: SIGNED_OUT,
      state,
    });
    expect(response.status).toBe(303);
    expect(response.headers.get('location')).toBe(`${SIGNED_OUT}?state=${state}`);
    // A sign-out's answer is never stored (a cache replaying it would say signed out when not).
    expect(response.headers.get('cache-control')).toBe('no-store');
    expect(await signedInAtProvider(agent)).toBe(false);
    expect((await familyRevoked(sid)).revoked_at).not.toBeNull();

    // A URI registered with a query keeps it; client_id may name the client alongside the hint.
    const other = await signIn(clientId);
    const withQuery = await endSession(other.agent, {
      id_token_hint: other.tokens.id_token,
      client_id: clientId,
      post_logout_redirect_uri: SIGNED_OUT_WITH_QUERY,
      state: 'a b&c',
    });
    expect(withQuery.status).toBe(303);
    expect(withQuery.headers.get('location')).toBe(`${SIGNED_OUT_WITH_QUERY}&state=a+b%26c`);
    // Without state, the URI exactly as registered.
    const third = await signIn(clientId);
    const plain = await endSession(third.agent, {
      id_token_hint: third.tokens.id_token,
      post_logout_redirect_uri: SIGNED_OUT,
    });
    expect(plain.headers.get('location')).toBe(SIGNED_OUT);
  });

  it('answers no HEAD request, which must change nothing', async () => {
    const clientId = await addApp();
    const { agent, tokens, sid } = await signIn(clientId);
    const head = await request(
      `${server.url}/logout/end?${new URLSearchParams({ id_token_hint: tokens.id_token })}`,
      {
        method: 'HEAD',
        headers: agent.cookieHeader(),
        redirect: 'manual',
      },
    );
    expect(head.status).toBe(404);
    await expectNothingEnded(agent, [sid]);
  });

  it('takes the same parameters as a form POST from the app (§2)', async () => {
    const clientId = await addApp();
    const { agent, tokens, sid } = await signIn(clientId);
    // A cross-site form post: the app's Origin, not the issuer's.
    const response = await agent.post(
      '/logout/end',
      { id_token_hint: tokens.id_token, post_logout_redirect_uri: SIGNED_OUT, state: 'xyz' },
      { origin: 'https://app.example' },
    );
    expect(response.status).toBe(303);
    expect(response.headers.get('location')).toBe(`${SIGNED_OUT}?state=xyz`);
    expect((await familyRevoked(sid)).revoked_at).not.toBeNull();
  });

  it('a cross-site form POST, which carries no SSO cookie (SameSite=Lax), signs the browser out once it follows the 303', async () => {
    const gallery = await addApp();
    const recipes = await addApp();
    const first = await signIn(gallery);
    const second = await signIn(recipes, { agent: first.agent });
    // What a browser sends with a form another site posts: neither the Lax SSO cookie nor the Strict
    // interaction cookie, and that site's Origin.
    const posted = await request(`${server.url}/logout/end`, {
      method: 'POST',
      headers: { origin: 'https://app.example' },
      body: new URLSearchParams({
        id_token_hint: first.tokens.id_token,
        post_logout_redirect_uri: SIGNED_OUT,
        state: 'cross-site',
      }),
      redirect: 'manual',
    });
    // Not taken for a browser that is signed out: nothing ended yet, no cookie cleared that was not read.
    expect(posted.status).toBe(303);
    expect(posted.headers.get('cache-control')).toBe('no-store');
    expect(posted.headers.get('set-cookie')).toBeNull();
    const location = new URL(posted.headers.get('location')!);
    expect(location.origin + location.pathname).toBe(`${server.services.config.issuer}/logout/end`);
    // The hint itself never travels in the URL (only sealed, unreadable, what was checked from it).
    expect(location.href).not.toContain(first.tokens.id_token);
    await expectNothingEnded(first.agent, [first.sid, second.sid]);
    // The browser follows with a top-level GET, which carries the Lax cookie.
    const followed = await first.agent.get(`${location.pathname}${location.search}`);
    expect(followed.status).toBe(303);
    expect(followed.headers.get('location')).toBe(`${SIGNED_OUT}?state=cross-site`);
    expect(followed.headers.get('cache-control')).toBe('no-store');
    expect(await signedInAtProvider(first.agent)).toBe(false);
    expect(first.agent.cookies.has(SSO_COOKIE)).toBe(false);
    const ssoRows = await server.services.db
      .selectFrom('sso_sessions')
      .select('revoked_at')
      .where('revoked_at', 'is', null)
      .execute();
    expect(ssoRows).toHaveLength(0);
    for (const { sid, tokens } of [first, second]) {
      expect(await familyRevoked(sid)).toMatchObject({ revoked_reason: 'end_session' });
      expect((await userinfo(server, tokens.access_token)).status).toBe(401);
    }
  });

  it('refuses a forged, altered or expired sealed request from that 303, ending nothing', async () => {
    const clientId = await addApp();
    const { agent, tokens, sid } = await signIn(clientId);
    const posted = await request(`${server.url}/logout/end`, {
      method: 'POST',
      headers: { origin: 'https://app.example' },
      body: new URLSearchParams({ id_token_hint: tokens.id_token, post_logout_redirect_uri: SIGNED_OUT }),
      redirect: 'manual',
    });
    const location = new URL(posted.headers.get('location')!);
    const [name, sealed] = [...location.searchParams][0]!;
    const flipped = sealed.slice(0, 20) + (sealed[20] === 'A' ? 'B' : 'A') + sealed.slice(21);
    for (const query of [
      { [name]: flipped },
      { [name]: 'v1.x.y' },
      // The sealed request stands alone: parameters added next to it are not taken.
      { [name]: sealed, post_logout_redirect_uri: SIGNED_OUT_WITH_QUERY },
    ])
      await expectErrorPage(await endSession(agent, query));
    await expectNothingEnded(agent, [sid]);
    server.advance(11 * 60_000);
    await expectErrorPage(await agent.get(`${location.pathname}${location.search}`));
    await expectNothingEnded(agent, [sid]);
  });

  it('leaves the browser signed in when ending a session fails, so that a retry ends everything', async () => {
    const gallery = await addApp();
    const recipes = await addApp();
    const first = await signIn(gallery);
    const second = await signIn(recipes, { agent: first.agent });
    const broken = await breakWrites(server.services.db, 'revocations', 'insert');
    let failed: Response;
    try {
      failed = await endSession(first.agent, { id_token_hint: first.tokens.id_token });
    } finally {
      await broken.heal();
    }
    expect(failed.status).toBe(500);
    expect(await failed.text()).toContain('You have not been signed out');
    // Nothing half-done: every session and the sign-in stand, no revocation was recorded.
    await expectNothingEnded(first.agent, [first.sid, second.sid]);
    expect(server.services.revocations.isRevoked({ sid: first.sid })).toBe(false);
    expect((await userinfo(server, first.tokens.access_token)).status).toBe(200);
    // The retry ends all of it.
    const retried = await endSession(first.agent, { id_token_hint: first.tokens.id_token });
    expect(retried.status).toBe(200);
    expect(await signedInAtProvider(first.agent)).toBe(false);
    for (const sid of [first.sid, second.sid]) expect((await familyRevoked(sid)).revoked_at).not.toBeNull();
  });

  it('accepts an expired hint (§2: the OP should)', async () => {
    const clientId = await addApp();
    const { agent, tokens, sid } = await signIn(clientId);
    server.advance((server.services.config.idTokenTtl + 3600) * 1000);
    expect(decodeJwtUnverified(tokens.id_token).exp! * 1000).toBeLessThan(server.now());
    const response = await endSession(agent, {
      id_token_hint: tokens.id_token,
      post_logout_redirect_uri: SIGNED_OUT,
    });
    expect(response.status).toBe(303);
    expect(await familyRevoked(sid)).toMatchObject({ revoked_reason: 'end_session' });
    expect(await signedInAtProvider(agent)).toBe(false);
  });

  it('accepts a hint signed by a retired key, even one no longer in the JWKS', async () => {
    const clientId = await addApp();
    const { agent, tokens, sid } = await signIn(clientId);
    const kid = decodeProtectedHeader(tokens.id_token).kid!;
    const { keys, config } = server.services;
    for (let rotation = 0; rotation < 2; rotation++) {
      server.advance(publishedLongEnough(config));
      await keys.rotate();
    }
    // Past the key's publication: it is no longer in the JWKS, but still in the store as retired.
    server.advance((config.idTokenTtl + RETIRED_KEY_MARGIN) * 1000);
    await keys.refresh();
    expect(
      keys
        .jwks()
        .toJSON()
        .keys.map((key) => key.kid),
    ).not.toContain(kid);
    expect((await keys.list()).find((key) => key.kid === kid)?.state).toBe('retired');
    expect(await signedInAtProvider(agent)).toBe(true);
    const response = await endSession(agent, {
      id_token_hint: tokens.id_token,
      post_logout_redirect_uri: SIGNED_OUT,
      state: 'rotated',
    });
    expect(response.status).toBe(303);
    expect(response.headers.get('location')).toBe(`${SIGNED_OUT}?state=rotated`);
    expect((await familyRevoked(sid)).revoked_at).not.toBeNull();
  });
});

describe('refused logout requests: an error page, no redirect, nothing ended', () => {
  it('refuses a post_logout_redirect_uri the client did not register, however near', async () => {
    const clientId = await addApp();
    const { agent, tokens, sid } = await signIn(clientId);
    for (const uri of [
      'https://attacker.example/signed-out',
      `${SIGNED_OUT}/`,
      `${SIGNED_OUT}?x=1`,
      'https://app.example/bye?from=tessera&x=1',
      'https://app.example/bye',
      'https://APP.example/signed-out',
      'http://app.example/signed-out',
      `${SIGNED_OUT}#top`,
      'https://app.example/callback',
    ]) {
      const response = await endSession(agent, {
        id_token_hint: tokens.id_token,
        post_logout_redirect_uri: uri,
        state: 'x',
      });
      expect(await expectErrorPage(response)).toContain('Invalid redirect');
    }
    await expectNothingEnded(agent, [sid]);
  });

  it('refuses a post_logout_redirect_uri when no client is identified, or another client registered it', async () => {
    const clientId = await addApp();
    const other = await addApp();
    const { agent, tokens, sid } = await signIn(clientId);
    // No hint and no client_id: whose registration would it be checked against?
    await expectErrorPage(await endSession(agent, { post_logout_redirect_uri: SIGNED_OUT }));
    // Registered by a client of its own that this URI is not registered for.
    const { clientId: bare } = await addOidcClient(server);
    await expectErrorPage(await endSession(agent, { client_id: bare, post_logout_redirect_uri: SIGNED_OUT }));
    // An unknown client_id.
    await expectErrorPage(
      await endSession(agent, { client_id: 'nobody', post_logout_redirect_uri: SIGNED_OUT }),
    );
    // The hint is for `clientId`; client_id names another (§2: it must be among the hint's aud).
    const mismatch = await endSession(agent, {
      id_token_hint: tokens.id_token,
      client_id: other,
      post_logout_redirect_uri: SIGNED_OUT,
    });
    await expectErrorPage(mismatch);
    const mismatchNoRedirect = await endSession(agent, { id_token_hint: tokens.id_token, client_id: other });
    await expectErrorPage(mismatchNoRedirect);
    await expectNothingEnded(agent, [sid]);
  });

  it('refuses hints that are not ID tokens this server issued', async () => {
    const clientId = await addApp();
    const { agent, tokens, sid } = await signIn(clientId);
    const { config, keys } = server.services;
    const claims = decodeJwtUnverified(tokens.id_token);
    const { iss: _iss, iat: _iat, exp: _exp, ...rest } = claims;
    const ours = keys.idTokenSigner();
    const [header, payload, signature] = tokens.id_token.split('.') as [string, string, string];
    const flip = (text: string, at: number) =>
      text.slice(0, at) + (text[at] === 'A' ? 'B' : 'A') + text.slice(at + 1);
    const unknownKey = (await generateKeyPair(config.idTokenSigningAlg)).privateKey;
    const hints: Record<string, string> = {
      'another issuer (signed with our own key)': createSigner({
        key: ours.key,
        kid: ours.kid,
        typ: 'JWT',
        issuer: 'https://other.example',
        expiresIn: 600,
      }).sign(rest),
      'a tampered signature': `${header}.${payload}.${flip(signature, 10)}`,
      'a tampered payload': `${header}.${Buffer.from(JSON.stringify({ ...claims, sub: 'someone-else' })).toString('base64url')}.${signature}`,
      'an unknown key': createSigner({
        key: unknownKey,
        kid: 'not-ours',
        typ: 'JWT',
        issuer: config.issuer,
        expiresIn: 600,
      }).sign(rest),
      'an unknown key claiming our kid': createSigner({
        key: unknownKey,
        kid: ours.kid,
        typ: 'JWT',
        issuer: config.issuer,
        expiresIn: 600,
      }).sign(rest),
      'an access token (typ at+jwt)': tokens.access_token,
      'alg none': encodeUnsecuredJwt({ ...claims }),
      'not a JWT': 'not-a-jwt',
      'three empty parts': '..',
      'garbage parts': 'a.b.c',
    };
    for (const [what, hint] of Object.entries(hints)) {
      const response = await endSession(agent, { id_token_hint: hint, post_logout_redirect_uri: SIGNED_OUT });
      expect({ what, status: response.status }).toEqual({ what, status: 400 });
      await expectErrorPage(response);
    }
    await expectNothingEnded(agent, [sid]);
  });

  it('refuses an access token as a hint even when ID tokens and access tokens share their keys (typ)', async () => {
    // One algorithm for both: the same key signs both kinds of token, and only `typ` tells them apart.
    const shared = await startServer({ signingAlg: 'ES256', idTokenSigningAlg: 'ES256' });
    try {
      const { clientId } = await addOidcClient(shared, { postLogoutRedirectUris: [SIGNED_OUT] });
      const flow = await codeFor(shared, clientId);
      const tokens = (await (await exchange(shared, clientId, flow.code, flow.verifier)).json()) as Tokens;
      expect(decodeProtectedHeader(tokens.access_token).kid).toBe(decodeProtectedHeader(tokens.id_token).kid);
      const response = await flow.agent.get(
        `/logout/end?${new URLSearchParams({ id_token_hint: tokens.access_token, post_logout_redirect_uri: SIGNED_OUT })}`,
      );
      expect(response.status).toBe(400);
      expect(response.headers.get('location')).toBeNull();
      const sid = decodeJwtUnverified(tokens.id_token).sid as string;
      const family = await shared.services.db
        .selectFrom('refresh_token_families')
        .select('revoked_at')
        .where('id', '=', sid)
        .executeTakeFirstOrThrow();
      expect(family.revoked_at).toBeNull();
      // The ID token itself is accepted there.
      const accepted = await flow.agent.get(
        `/logout/end?${new URLSearchParams({ id_token_hint: tokens.id_token, post_logout_redirect_uri: SIGNED_OUT })}`,
      );
      expect(accepted.status).toBe(303);
    } finally {
      await stopServer(shared);
    }
  });

  it('refuses a hint signed by a REVOKED (compromised) key', async () => {
    const clientId = await addApp();
    const { agent, tokens, sid } = await signIn(clientId);
    // A second session in another browser: the hint's key is revoked before it is used.
    const kid = decodeProtectedHeader(tokens.id_token).kid!;
    await revokeSigningKey(server.services, kid);
    await server.services.keys.refresh();
    const response = await endSession(agent, {
      id_token_hint: tokens.id_token,
      post_logout_redirect_uri: SIGNED_OUT,
    });
    await expectErrorPage(response);
    expect(await signedInAtProvider(agent)).toBe(true);
    expect((await familyRevoked(sid)).revoked_at).toBeNull();
  });

  it('refuses repeated or oversized parameters with an error page', async () => {
    const clientId = await addApp();
    const { agent, sid } = await signIn(clientId);
    await expectErrorPage(
      await agent.get(`/logout/end?state=a&state=b&post_logout_redirect_uri=${SIGNED_OUT}`),
    );
    await expectErrorPage(await endSession(agent, { id_token_hint: 'x'.repeat(9000) }));
    await expectNothingEnded(agent, [sid]);
  });
});

describe('without a hint: the confirmation page', () => {
  it('asks before signing out, and a GET ends nothing', async () => {
    const clientId = await addApp();
    const { agent, tokens, sid } = await signIn(clientId);
    for (const parameters of <Record<string, string>[]>[
      {},
      { client_id: clientId },
      { client_id: clientId, post_logout_redirect_uri: SIGNED_OUT, state: 'q' },
    ]) {
      const response = await endSession(agent, parameters);
      expect(response.status).toBe(200);
      expectPageHeaders(response);
      // The form may be followed by the redirect to the app (Chromium applies form-action to it).
      if ('post_logout_redirect_uri' in parameters)
        expect(response.headers.get('content-security-policy')).toContain(
          "form-action 'self' https://app.example",
        );
      const page = await response.text();
      expect(page).toContain(`Sign out of ${server.services.config.issuer}?`);
      expect(page).toContain('<form method="post" action="/logout/end/confirm">');
      expect(page).toContain('Signed in as <strong>alice</strong>');
    }
    await expectNothingEnded(agent, [sid]);
    expect((await userinfo(server, tokens.access_token)).status).toBe(200);
  });

  it('escapes the app name it shows', async () => {
    const { clientId } = await addOidcClient(server, { name: '<b>Evil</b> & "Co"' });
    const { agent } = await signIn(clientId);
    const page = await (await endSession(agent, { client_id: clientId })).text();
    expect(page).toContain('&lt;b&gt;Evil&lt;/b&gt; &amp; &quot;Co&quot; asked to sign you out.');
    expect(page).not.toContain('<b>Evil</b>');
  });

  it('asks when the hint names another user than the browser signed in, then ends both', async () => {
    const clientId = await addApp();
    const bobs = await signIn(clientId, { username: 'bob', password: BOB_PASSWORD });
    const alices = await signIn(clientId, { username: 'alice', password: ADMIN_PASSWORD });
    const response = await endSession(alices.agent, {
      id_token_hint: bobs.tokens.id_token,
      post_logout_redirect_uri: SIGNED_OUT,
      state: 'st',
    });
    expect(response.status).toBe(200);
    const page = await response.text();
    expect(page).toContain('Sign out of');
    await expectNothingEnded(alices.agent, [alices.sid, bobs.sid]);
    const confirmed = await alices.agent.post('/logout/end/confirm', hiddenFields(page));
    expect(confirmed.status).toBe(303);
    expect(confirmed.headers.get('cache-control')).toBe('no-store');
    expect(confirmed.headers.get('location')).toBe(`${SIGNED_OUT}?state=st`);
    expect(await signedInAtProvider(alices.agent)).toBe(false);
    expect((await familyRevoked(alices.sid)).revoked_at).not.toBeNull();
    expect((await familyRevoked(bobs.sid)).revoked_at).not.toBeNull();
  });

  it('refuses a confirmation without the browser’s CSRF token, with a wrong one, or from another origin (403)', async () => {
    const clientId = await addApp();
    const { agent, sid } = await signIn(clientId);
    const page = await (await endSession(agent, {})).text();
    const fields = hiddenFields(page);
    const csrf = agent.cookies.get('__Host-tessera_interaction')!;
    expect(csrf).toBeTruthy();
    const attempts: [string, () => Promise<Response>][] = [
      [
        'no CSRF cookie',
        async () => {
          agent.cookies.delete('__Host-tessera_interaction');
          try {
            return await agent.post('/logout/end/confirm', fields);
          } finally {
            agent.cookies.set('__Host-tessera_interaction', csrf);
          }
        },
      ],
      [
        'a wrong CSRF cookie',
        async () => {
          agent.cookies.set('__Host-tessera_interaction', randomBytes(32).toString('base64url'));
          try {
            return await agent.post('/logout/end/confirm', fields);
          } finally {
            agent.cookies.set('__Host-tessera_interaction', csrf);
          }
        },
      ],
      ['no form field', () => agent.post('/logout/end/confirm', {})],
      ['a forged form field', () => agent.post('/logout/end/confirm', { confirmation: 'v1.x.y' })],
      [
        'a foreign Origin',
        () => agent.post('/logout/end/confirm', fields, { origin: 'https://attacker.example' }),
      ],
      ['Origin null', () => agent.post('/logout/end/confirm', fields, { origin: 'null' })],
      [
        'a cross-site form without any cookie but the SSO one',
        () =>
          request(`${server.url}/logout/end/confirm`, {
            method: 'POST',
            headers: {
              origin: 'https://attacker.example',
              cookie: `${SSO_COOKIE}=${agent.cookies.get(SSO_COOKIE)}`,
            },
            body: new URLSearchParams(fields),
            redirect: 'manual',
          }),
      ],
    ];
    // Another browser's page: its token is bound to that browser's cookie, not this one's.
    const stranger = new UserAgent(server);
    const strangersFields = hiddenFields(await (await endSession(stranger, {})).text());
    attempts.push(["another browser's form", () => agent.post('/logout/end/confirm', strangersFields)]);
    for (const [what, attempt] of attempts) {
      const response = await attempt();
      expect({ what, status: response.status }).toEqual({ what, status: 403 });
      await expectErrorPage(response, 403);
    }
    await expectNothingEnded(agent, [sid]);
    // The page expires.
    server.advance(11 * 60_000);
    const late = await agent.post('/logout/end/confirm', fields);
    expect(late.status).toBe(403);
    await expectNothingEnded(agent, [sid]);
  });

  it('signs out when the user confirms: the SSO session and its sessions end', async () => {
    const clientId = await addApp();
    const { agent, tokens, sid } = await signIn(clientId);
    const { heard, stop } = listen();
    const page = await (await endSession(agent, { client_id: clientId })).text();
    let confirmed: Response;
    try {
      confirmed = await agent.post('/logout/end/confirm', hiddenFields(page));
    } finally {
      stop();
    }
    expect(confirmed.status).toBe(200);
    expect(await confirmed.text()).toContain('You are signed out');
    expect(agent.cookies.has(SSO_COOKIE)).toBe(false);
    expect(await signedInAtProvider(agent)).toBe(false);
    expect(await familyRevoked(sid)).toMatchObject({ revoked_reason: 'end_session' });
    expect((await userinfo(server, tokens.access_token)).status).toBe(401);
    expect(heard).toEqual([`sid:${sid}`]);
  });
});

describe('a hint that is not about the browser’s current sign-in: the confirmation page (§2)', () => {
  it('asks, ending nothing, for an old (expired) hint from an earlier sign-in of the same user in this browser', async () => {
    const clientId = await addApp();
    const earlier = await signIn(clientId);
    // The browser's sign-in ends (its cookie gone, as when it expires), and the user signs in again.
    const { agent } = earlier;
    agent.cookies.delete(SSO_COOKIE);
    server.advance((server.services.config.idTokenTtl + 60) * 1000);
    const current = await signIn(clientId, { agent });
    expect(current.sid).not.toBe(earlier.sid);
    const response = await endSession(agent, {
      id_token_hint: earlier.tokens.id_token,
      post_logout_redirect_uri: SIGNED_OUT,
      state: 'old',
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('location')).toBeNull();
    expect(await response.text()).toContain(`Sign out of ${server.services.config.issuer}?`);
    await expectNothingEnded(agent, [earlier.sid, current.sid]);
    expect((await userinfo(server, current.tokens.access_token)).status).toBe(200);
  });

  it('asks, ending nothing, for a hint of the same user from another browser', async () => {
    const clientId = await addApp();
    const here = await signIn(clientId);
    const elsewhere = await signIn(clientId);
    const response = await endSession(here.agent, { id_token_hint: elsewhere.tokens.id_token });
    expect(response.status).toBe(200);
    expect(await response.text()).toContain('Sign out of');
    await expectNothingEnded(here.agent, [here.sid]);
    await expectNothingEnded(elsewhere.agent, [elsewhere.sid]);
  });

  it('asks a browser no longer signed in, and confirming ends the hinted session', async () => {
    const clientId = await addApp();
    const { agent: signedIn, tokens, sid } = await signIn(clientId);
    const stranger = new UserAgent(server);
    const response = await endSession(stranger, {
      id_token_hint: tokens.id_token,
      post_logout_redirect_uri: SIGNED_OUT,
    });
    expect(response.status).toBe(200);
    const page = await response.text();
    expect(page).toContain('This browser is not signed in');
    await expectNothingEnded(signedIn, [sid]);
    const confirmed = await stranger.post('/logout/end/confirm', hiddenFields(page));
    expect(confirmed.status).toBe(303);
    expect(confirmed.headers.get('location')).toBe(SIGNED_OUT);
    expect((await familyRevoked(sid)).revoked_at).not.toBeNull();
    expect((await userinfo(server, tokens.access_token)).status).toBe(401);
  });
});

describe('the revocation budget', () => {
  it('spends it for each session ended, and answers a spent budget with a 429 page, ending nothing', async () => {
    await stopServer(server);
    server = await startServer({ revocationRateUser: 2 });
    const gallery = await addApp();
    const recipes = await addApp();
    // Two sessions from one sign-in: ending them spends the whole budget.
    const first = await signIn(gallery);
    await signIn(recipes, { agent: first.agent });
    expect((await endSession(first.agent, { id_token_hint: first.tokens.id_token })).status).toBe(200);
    const next = await signIn(gallery);
    const refused = await endSession(next.agent, {
      id_token_hint: next.tokens.id_token,
      post_logout_redirect_uri: SIGNED_OUT,
    });
    expect(refused.headers.get('retry-after')).toMatch(/^[1-9]\d*$/);
    expect(await expectErrorPage(refused, 429)).toContain('Too many sign-outs');
    await expectNothingEnded(next.agent, [next.sid]);
    expect(next.agent.cookies.has(SSO_COOKIE)).toBe(true);
    expect((await userinfo(server, next.tokens.access_token)).status).toBe(200);
    // The confirmation form is held to the same budget.
    const page = await (await endSession(next.agent, {})).text();
    const confirmed = await next.agent.post('/logout/end/confirm', hiddenFields(page));
    await expectErrorPage(confirmed, 429);
    await expectNothingEnded(next.agent, [next.sid]);
    // Once the minute has passed, the sign-out goes through.
    server.advance(61_000);
    const later = await endSession(next.agent, { id_token_hint: next.tokens.id_token });
    expect(later.status).toBe(200);
    expect(await signedInAtProvider(next.agent)).toBe(false);
  });
});

describe('a code exchanged while the browser signs out', () => {
  it('starts no session once the SSO session has ended between the grant’s check and the new session', async () => {
    const clientId = await addApp();
    const flow = await codeFor(server, clientId);
    const browser = await server.services.ssoSessions.byCookie(flow.agent.cookies.get(SSO_COOKIE)!);
    expect(browser).toBeDefined();
    // The interleaving, made deterministic: the grant reads the SSO session as live, and the browser's
    // sign-out ends it before the grant starts the session.
    const { ssoSessions } = server.services;
    const byId = ssoSessions.byId;
    ssoSessions.byId = async (id) => {
      const live = await byId(id);
      await ssoSessions.end(id);
      return live;
    };
    let response: Response;
    try {
      response = await exchange(server, clientId, flow.code, flow.verifier);
    } finally {
      ssoSessions.byId = byId;
    }
    await expectError(response, 400, 'invalid_grant');
    // No session tied to the ended SSO session: none that a sign-out would have to find.
    const families = await server.services.db
      .selectFrom('refresh_token_families')
      .select('id')
      .where('sso_session_id', '=', browser!.id)
      .execute();
    expect(families).toEqual([]);
  });

  it('refuses to start a session from an SSO session that has ended, writing nothing', async () => {
    const clientId = await addApp();
    const { agent } = await signIn(clientId);
    const browser = (await server.services.ssoSessions.byCookie(agent.cookies.get(SSO_COOKIE)!))!;
    const user = (await server.services.users.byUsername('alice'))!;
    const before = await server.services.db.selectFrom('refresh_token_families').select('id').execute();
    await server.services.ssoSessions.end(browser.id);
    await expect(
      server.services.refreshTokens.start(user.id, clientId, 'openid', user.tokenVersion, {
        ssoSessionId: browser.id,
      }),
    ).rejects.toThrow(SsoSessionEnded);
    const after = await server.services.db.selectFrom('refresh_token_families').select('id').execute();
    expect(after).toEqual(before);
  });
});

describe('after the sessions ended', () => {
  it('still answers that the browser is signed out when the audit cannot be written, and logs why', async () => {
    const lines: string[] = [];
    await stopServer(server);
    server = await startServer({ logLevel: 'info' }, undefined, {
      logger: { stream: { write: (line: string) => void lines.push(line) } },
    });
    const clientId = await addApp();
    const { agent, tokens, sid } = await signIn(clientId);
    const broken = await breakWrites(server.services.db, 'audit_events', 'insert');
    let response: Response;
    try {
      response = await endSession(agent, {
        id_token_hint: tokens.id_token,
        post_logout_redirect_uri: SIGNED_OUT,
        state: 'audited',
      });
    } finally {
      await broken.heal();
    }
    // The sessions did end: saying otherwise would have the user believe they are still signed in.
    expect(response.status).toBe(303);
    expect(response.headers.get('location')).toBe(`${SIGNED_OUT}?state=audited`);
    expect(await signedInAtProvider(agent)).toBe(false);
    expect(agent.cookies.has(SSO_COOKIE)).toBe(false);
    expect(await familyRevoked(sid)).toMatchObject({ revoked_reason: 'end_session' });
    const failure = lines
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .find((entry) => entry.msg === 'end session audit failed');
    expect(failure).toMatchObject({ level: 50 });
  });

  it('never writes the id_token_hint, or the sealed request carrying what it said, to the logs', async () => {
    const lines: string[] = [];
    await stopServer(server);
    server = await startServer({ logLevel: 'trace' }, undefined, {
      logger: { stream: { write: (line: string) => void lines.push(line) } },
    });
    const clientId = await addApp();
    const first = await signIn(clientId);
    const second = await signIn(clientId);
    const refusedOne = await signIn(clientId);
    // A hint that is refused (its signature altered) must not be logged either.
    const [header, payload, signature] = refusedOne.tokens.id_token.split('.') as [string, string, string];
    const altered = `${header}.${payload}.${signature.slice(0, -4)}AAAA`;
    expect(
      (await endSession(refusedOne.agent, { id_token_hint: altered, post_logout_redirect_uri: SIGNED_OUT }))
        .status,
    ).toBe(400);
    // Signed out at once (GET).
    expect(
      (
        await endSession(first.agent, {
          id_token_hint: first.tokens.id_token,
          post_logout_redirect_uri: SIGNED_OUT,
        })
      ).status,
    ).toBe(303);
    // A cross-site POST, its 303 and the GET that follows it.
    const posted = await request(`${server.url}/logout/end`, {
      method: 'POST',
      headers: { origin: 'https://app.example' },
      body: new URLSearchParams({
        id_token_hint: second.tokens.id_token,
        post_logout_redirect_uri: SIGNED_OUT,
      }),
      redirect: 'manual',
    });
    const location = new URL(posted.headers.get('location')!);
    const resume = [...location.searchParams.values()][0]!;
    expect((await second.agent.get(`${location.pathname}${location.search}`)).status).toBe(303);
    // The confirmation page for a hint of another browser, and its form.
    const page = await (await endSession(refusedOne.agent, { id_token_hint: second.tokens.id_token })).text();
    expect((await refusedOne.agent.post('/logout/end/confirm', hiddenFields(page))).status).toBe(200);
    expect(lines.length).toBeGreaterThan(0);
    const logged = lines.join('\n');
    for (const secret of [
      first.tokens.id_token,
      second.tokens.id_token,
      altered,
      // Each part alone too: a token logged cut at its dots is still a token.
      ...first.tokens.id_token.split('.').slice(1),
      ...second.tokens.id_token.split('.').slice(1),
      resume,
      hiddenFields(page).confirmation!,
    ])
      expect(logged).not.toContain(secret);
  });
});

describe('post_logout_redirect_uris registration', () => {
  it('refuses URIs a redirect URI could not be: relative, a fragment, http off loopback, wildcards', async () => {
    for (const [uri, problem] of [
      ['/signed-out', /absolute URI/],
      ['https://app.example/bye#x', /no fragment/],
      ['http://app.example/bye', /uses https/],
      ['https://*.app.example/bye', /no wildcards/],
      ['https://app.example/a b', /absolute URI|no spaces/],
    ] as const) {
      await expect(addOidcClient(server, { postLogoutRedirectUris: [uri] }), uri).rejects.toThrow(problem);
    }
    // Loopback http is allowed, as for redirect URIs (RFC 8252 §7.3).
    const { clientId } = await addOidcClient(server, {
      postLogoutRedirectUris: ['http://127.0.0.1:8080/bye'],
    });
    expect((await server.services.clients.byId(clientId))!.postLogoutRedirectUris).toEqual([
      'http://127.0.0.1:8080/bye',
    ]);
    // And on update, where a bad one leaves the registration as it was.
    await expect(
      server.services.clients.update(clientId, { postLogoutRedirectUris: ['https://app.example/#'] }),
    ).rejects.toThrow(/no fragment/);
    expect((await server.services.clients.byId(clientId))!.postLogoutRedirectUris).toEqual([
      'http://127.0.0.1:8080/bye',
    ]);
  });
});
