/**
 * The provider as independent, widely used OpenID and OAuth libraries see it, over real HTTP:
 * openid-client (a relying party: discovery, the code flow with PKCE, UserInfo, refresh, client
 * credentials, private_key_jwt), oauth4webapi's RFC 9068 validation (what a resource server checks of
 * an access token) and jose's ID-token verification against the published JWKS. Each library applies
 * the standards' checks on its own; a test passes only if the server satisfies them.
 */
import { createRemoteJWKSet, exportJWK, generateKeyPair, jwtVerify } from 'jose';
import * as oauth from 'oauth4webapi';
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stopServer, type TestServer } from './helpers.js';
import { addOidcClient, REDIRECT_URI } from './oidc.js';
import { HttpUserAgent, startRealServer } from './real_server.js';

const API = 'https://api.example';
const ORDERS = 'https://orders.example';
const SCOPE = 'openid profile email offline_access';
/** Not the default (an hour), so the test sees the setting applied. */
const ID_TOKEN_TTL = 600;

let server: TestServer;
let issuer: string;
let aliceId: string;
let spaClientId: string;
let webClient: { clientId: string; secret: string };
let serviceClient: { clientId: string; secret: string };
const KEYED_CLIENT_ID = 'reports';
let keyedClientKey: client.CryptoKey;

beforeAll(async () => {
  ({ server, issuer } = await startRealServer({ idTokenTtl: ID_TOKEN_TTL }));
  const { services } = server;
  aliceId = (await services.users.byUsername('alice'))!.id;
  ({ clientId: spaClientId } = await addOidcClient(server));
  const web = await addOidcClient(server, {
    type: 'confidential',
    kind: 'web',
    name: 'Photo Prints',
    tokenEndpointAuthMethod: 'client_secret_basic',
  });
  webClient = { clientId: web.clientId, secret: web.secret! };
  await services.resources.add({ resource: ORDERS, name: 'Orders' });
  const service = await services.clients.add({
    clientId: 'billing',
    type: 'confidential',
    kind: 'service',
    audiences: [API],
    scopes: ['orders:read', 'orders:write'],
    resources: [ORDERS],
  });
  serviceClient = { clientId: 'billing', secret: service.secret! };
  const keys = await generateKeyPair('ES256');
  keyedClientKey = keys.privateKey;
  await services.clients.add({
    clientId: KEYED_CLIENT_ID,
    type: 'confidential',
    kind: 'service',
    audiences: [API],
    scopes: ['orders:read'],
    tokenEndpointAuthMethod: 'private_key_jwt',
    jwks: {
      keys: [{ ...(await exportJWK(keys.publicKey)), kty: 'EC', kid: 'reports-1', alg: 'ES256', use: 'sig' }],
    },
  });
});
afterAll(() => stopServer(server));

/**
 * openid-client configured by discovery. `allowInsecureRequests`: the test server speaks plain http;
 * `enableNonRepudiationChecks`: the ID token's signature is verified against the JWKS too (by
 * default the library trusts the TLS channel of the token endpoint instead, OIDC Core §3.1.3.7).
 */
function discover(clientId: string, auth: client.ClientAuth) {
  return client.discovery(new URL(issuer), clientId, undefined, auth, {
    execute: [client.allowInsecureRequests, client.enableNonRepudiationChecks],
  });
}

/** A call to an API with the access token, as the resource server receives it (RFC 6750 §2.1). */
function accessTokenRequest(accessToken: string): Request {
  return new Request(`${API}/orders`, { headers: { authorization: `Bearer ${accessToken}` } });
}

/** oauth4webapi's RFC 9068 validation: typ at+jwt, the required claims, iss, aud, exp, signature. */
function validateAccessToken(config: client.Configuration, accessToken: string, audience: string) {
  return oauth.validateJwtAccessToken(config.serverMetadata(), accessTokenRequest(accessToken), audience, {
    [oauth.allowInsecureRequests]: true,
  });
}

/** Records what openid-client sends, so a test can see (and replay) the request as it went out. */
function recordRequests(config: client.Configuration): { url: string; init: RequestInit }[] {
  const sent: { url: string; init: RequestInit }[] = [];
  config[client.customFetch] = (url, init) => {
    sent.push({ url, init: init as RequestInit });
    return fetch(url, init as RequestInit);
  };
  return sent;
}

/**
 * The code flow as a relying party runs it: a fresh PKCE verifier, state and nonce; the browser's
 * part played by an HttpUserAgent (sign in, consent); the redirect handed to openid-client.
 */
async function codeFlow(config: client.Configuration, agent = new HttpUserAgent(issuer)) {
  const pkceCodeVerifier = client.randomPKCECodeVerifier();
  const expectedState = client.randomState();
  const expectedNonce = client.randomNonce();
  const authorizationUrl = client.buildAuthorizationUrl(config, {
    redirect_uri: REDIRECT_URI,
    scope: SCOPE,
    code_challenge: await client.calculatePKCECodeChallenge(pkceCodeVerifier),
    code_challenge_method: 'S256',
    state: expectedState,
    nonce: expectedNonce,
  });
  const location = new URL(await agent.authorize(authorizationUrl));
  const tokens = await client.authorizationCodeGrant(config, location, {
    pkceCodeVerifier,
    expectedState,
    expectedNonce,
    idTokenExpected: true,
  });
  return { tokens, location, agent, expectedNonce };
}

describe('openid-client discovery (OIDC Discovery §4, RFC 8414 §3)', () => {
  it('finds the endpoints at the issuer, whose metadata names the same issuer', async () => {
    const config = await discover(spaClientId, client.None());
    const metadata = config.serverMetadata();
    expect(metadata).toMatchObject({
      issuer,
      authorization_endpoint: `${issuer}/authorize`,
      token_endpoint: `${issuer}/token`,
      userinfo_endpoint: `${issuer}/userinfo`,
      jwks_uri: `${issuer}/.well-known/jwks.json`,
      authorization_response_iss_parameter_supported: true,
    });
    expect(metadata.response_types_supported).toEqual(['code']);
    expect(metadata.code_challenge_methods_supported).toEqual(['S256']);
    // OIDC Discovery §3: RS256 must be supported for ID tokens.
    expect(metadata.id_token_signing_alg_values_supported).toContain('RS256');
    expect(metadata.token_endpoint_auth_methods_supported).toEqual(
      expect.arrayContaining(['none', 'client_secret_basic', 'private_key_jwt']),
    );
  });
});

describe('the authorization code flow with openid-client (OIDC Core §3.1, RFC 7636, RFC 9207)', () => {
  it('signs a public SPA client in with PKCE: ID token, UserInfo and refresh all pass its checks', async () => {
    const config = await discover(spaClientId, client.None());
    const { tokens, location, agent, expectedNonce } = await codeFlow(config);
    // The user saw the login page and, for a client that is not first-party, the consent page.
    expect(agent.pagesSeen).toEqual(['login', 'consent']);
    // RFC 9207 §2: the response names the issuer (openid-client refused it otherwise).
    expect(location.searchParams.get('iss')).toBe(issuer);

    const claims = tokens.claims()!;
    expect(claims).toMatchObject({ iss: issuer, sub: aliceId, aud: spaClientId, nonce: expectedNonce });
    expect(typeof claims.auth_time).toBe('number');
    expect(claims.exp - claims.iat).toBe(ID_TOKEN_TTL);
    expect(tokens.refresh_token).toEqual(expect.any(String));
    expect(tokens.token_type.toLowerCase()).toBe('bearer');

    // jose, with nothing but the published JWKS: signature, iss, aud, exp, RS256 only.
    const jwks = createRemoteJWKSet(new URL(config.serverMetadata().jwks_uri!));
    const verified = await jwtVerify(tokens.id_token!, jwks, {
      issuer,
      audience: spaClientId,
      algorithms: ['RS256'],
    });
    expect(verified.payload.sub).toBe(aliceId);
    expect(verified.protectedHeader.typ ?? 'JWT').not.toBe('at+jwt');

    // RFC 9068: the access token is a JWT access token any resource server can validate.
    const access = await validateAccessToken(config, tokens.access_token, API);
    expect(access).toMatchObject({ iss: issuer, sub: aliceId, client_id: spaClientId });

    // OIDC Core §5.3.2: sub matches the ID token's, or the client must not use the response.
    const userinfo = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
    expect(userinfo).toMatchObject({ sub: aliceId, preferred_username: 'alice' });

    const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token!);
    expect(refreshed.access_token).not.toBe(tokens.access_token);
    // OIDC Core §12.2: an ID token on refresh is about the same user, for the same client.
    if (refreshed.id_token !== undefined)
      expect(refreshed.claims()).toMatchObject({ iss: issuer, sub: aliceId, aud: spaClientId });
    const refreshedAccess = await validateAccessToken(config, refreshed.access_token, API);
    expect(refreshedAccess).toMatchObject({ sub: aliceId, client_id: spaClientId });
    await expect(client.fetchUserInfo(config, refreshed.access_token, aliceId)).resolves.toMatchObject({
      sub: aliceId,
    });
  });

  it('signs a confidential web client in with client_secret_basic and PKCE', async () => {
    const config = await discover(webClient.clientId, client.ClientSecretBasic(webClient.secret));
    const sent = recordRequests(config);
    const { tokens } = await codeFlow(config);
    // RFC 6749 §2.3.1: the secret went in the Authorization header, not in the form.
    const tokenRequest = sent.find((request) => request.url === `${issuer}/token`)!;
    expect(new Headers(tokenRequest.init.headers).get('authorization')).toMatch(/^Basic /);
    expect(new URLSearchParams(String(tokenRequest.init.body)).has('client_secret')).toBe(false);

    expect(tokens.claims()).toMatchObject({ iss: issuer, sub: aliceId, aud: webClient.clientId });
    const jwks = createRemoteJWKSet(new URL(config.serverMetadata().jwks_uri!));
    await expect(
      jwtVerify(tokens.id_token!, jwks, { issuer, audience: webClient.clientId, algorithms: ['RS256'] }),
    ).resolves.toMatchObject({ payload: { sub: aliceId } });
    await validateAccessToken(config, tokens.access_token, API);
    await expect(client.fetchUserInfo(config, tokens.access_token, aliceId)).resolves.toMatchObject({
      sub: aliceId,
    });
    const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token!);
    await validateAccessToken(config, refreshed.access_token, API);
  });

  it('refuses a code redeemed with the wrong PKCE verifier (RFC 7636 §4.6): invalid_grant', async () => {
    const config = await discover(spaClientId, client.None());
    const pkceCodeVerifier = client.randomPKCECodeVerifier();
    const expectedState = client.randomState();
    const authorizationUrl = client.buildAuthorizationUrl(config, {
      redirect_uri: REDIRECT_URI,
      scope: SCOPE,
      code_challenge: await client.calculatePKCECodeChallenge(pkceCodeVerifier),
      code_challenge_method: 'S256',
      state: expectedState,
      nonce: client.randomNonce(),
    });
    const location = new URL(await new HttpUserAgent(issuer).authorize(authorizationUrl));
    const failure = client.authorizationCodeGrant(config, location, {
      pkceCodeVerifier: client.randomPKCECodeVerifier(),
      expectedState,
    });
    await expect(failure).rejects.toBeInstanceOf(client.ResponseBodyError);
    await expect(failure).rejects.toMatchObject({ error: 'invalid_grant' });
  });

  it("answers a signed-in browser's next authorization without pages, and openid-client accepts it", async () => {
    const config = await discover(spaClientId, client.None());
    const { agent } = await codeFlow(config);
    agent.pagesSeen.length = 0;
    const { tokens } = await codeFlow(config, agent);
    expect(agent.pagesSeen).toEqual([]);
    expect(tokens.claims()).toMatchObject({ sub: aliceId, aud: spaClientId });
  });
});

describe('client credentials with openid-client (RFC 6749 §4.4, RFC 8707)', () => {
  it("issues a service its own token for its audience, which a resource server's checks accept", async () => {
    const config = await discover(serviceClient.clientId, client.ClientSecretBasic(serviceClient.secret));
    const tokens = await client.clientCredentialsGrant(config, { scope: 'orders:read' });
    expect(tokens).toMatchObject({ scope: 'orders:read', token_type: expect.stringMatching(/^bearer$/i) });
    expect(tokens).not.toHaveProperty('refresh_token');
    const claims = await validateAccessToken(config, tokens.access_token, API);
    expect(claims).toMatchObject({ iss: issuer, sub: 'billing', client_id: 'billing', scope: 'orders:read' });
  });

  it('issues a token for a registered resource, for that audience alone', async () => {
    const config = await discover(serviceClient.clientId, client.ClientSecretBasic(serviceClient.secret));
    const tokens = await client.clientCredentialsGrant(config, { scope: 'orders:read', resource: ORDERS });
    await expect(validateAccessToken(config, tokens.access_token, ORDERS)).resolves.toMatchObject({
      aud: ORDERS,
    });
    // RFC 8707 §2: audience-restricted to the resource: another API's checks refuse it.
    await expect(validateAccessToken(config, tokens.access_token, API)).rejects.toThrow(/aud/);
  });

  it('answers invalid_target for a resource that is not registered (RFC 8707 §2)', async () => {
    const config = await discover(serviceClient.clientId, client.ClientSecretBasic(serviceClient.secret));
    const failure = client.clientCredentialsGrant(config, { resource: 'https://unknown.example' });
    await expect(failure).rejects.toBeInstanceOf(client.ResponseBodyError);
    await expect(failure).rejects.toMatchObject({ error: 'invalid_target' });
  });
});

describe('private_key_jwt with openid-client (OIDC Core §9, RFC 7523)', () => {
  it('authenticates a client by its signed assertion, and refuses the same assertion replayed', async () => {
    const config = await discover(
      KEYED_CLIENT_ID,
      client.PrivateKeyJwt({ key: keyedClientKey, kid: 'reports-1' }),
    );
    const sent = recordRequests(config);
    const tokens = await client.clientCredentialsGrant(config, { scope: 'orders:read' });
    await expect(validateAccessToken(config, tokens.access_token, API)).resolves.toMatchObject({
      sub: KEYED_CLIENT_ID,
      client_id: KEYED_CLIENT_ID,
    });

    const tokenRequest = sent.find((request) => request.url === `${issuer}/token`)!;
    const body = new URLSearchParams(String(tokenRequest.init.body));
    expect(body.get('client_assertion_type')).toBe('urn:ietf:params:oauth:client-assertion-type:jwt-bearer');
    // OIDC Core §9: the jti is used once; the same assertion again does not authenticate anyone.
    const replay = await fetch(`${issuer}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body,
    });
    expect(replay.status).toBe(401);
    expect(await replay.json()).toMatchObject({ error: 'invalid_client' });
  });
});
