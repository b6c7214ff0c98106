/**
 * The OpenID Foundation's conformance suite cannot run here (it is a hosted Java service that drives
 * a browser against a public URL), so these tests mirror its Basic OP and Config OP test plans: one
 * `it` per module, named with the module id, asserting what that module checks. Checks the suite runs
 * inside every module (its ID token and callback conditions) are named after the condition. The
 * relying party is what the plans register: a confidential client using `client_secret_basic`, no
 * PKCE, at an https issuer whose endpoints it reads from discovery. Beyond the suite, the rules a
 * serious OP must also keep (PKCE, code binding, CSRF on the sign-in forms, RFC 9207) have a test each.
 */
import { createHash, randomBytes } from 'node:crypto';
import {
  createLocalJWKSet,
  decodeProtectedHeader,
  type JSONWebKeySet,
  type JWTPayload,
  jwtVerify,
} from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, stopServer, type TestServer } from './helpers.js';
import { basic } from './http.js';
import { addOidcClient, hiddenFields, pkce, REDIRECT_URI, UserAgent } from './oidc.js';
import { request, serveInProcess } from './requests.js';

/** An https issuer, as the suite requires of every endpoint (CheckDiscEndpointAllEndpointsAreHttps). */
const ISSUER = 'https://op.tessera.test';
/** The suite's allowance for clock skew when it judges iat, exp and auth_time (ValidateIdToken). */
const SKEW_SECONDS = 300;
/** RFC 6749 §5.2 and §4.1.2.1: the characters error_description may use. */
const ERROR_DESCRIPTION = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;
/** RFC 6749 Appendix A.12 and A.17: access and refresh tokens are VSCHAR strings. */
const VSCHAR = /^[\x20-\x7e]+$/;

type Metadata = Record<string, unknown> & {
  issuer: string;
  authorization_endpoint: string;
  token_endpoint: string;
  userinfo_endpoint: string;
  jwks_uri: string;
};

interface RelyingParty {
  clientId: string;
  secret: string;
}

interface TokenBody {
  access_token: string;
  token_type: string;
  expires_in: number;
  scope: string;
  refresh_token?: string;
  id_token?: string;
}

let server: TestServer;
let forgetIssuer: () => void;
let metadata: Metadata;
/** The relying party of every module, and the suite's second client (client2) where a module has one. */
let rp: RelyingParty;
let rp2: RelyingParty;

beforeAll(async () => {
  server = await startServer({ issuer: ISSUER });
  // The issuer's own URLs reach this server too: everything is called where discovery says it is.
  forgetIssuer = serveInProcess(ISSUER, server.app);
  const discovery = await request(`${ISSUER}/.well-known/openid-configuration`);
  metadata = (await discovery.json()) as Metadata;
  rp = await registerRelyingParty();
  rp2 = await registerRelyingParty();
});

afterAll(async () => {
  forgetIssuer();
  await stopServer(server);
});

async function registerRelyingParty(): Promise<RelyingParty> {
  const { clientId, secret } = await addOidcClient(server, { type: 'confidential', kind: 'web' });
  return { clientId, secret: secret! };
}

const random = () => randomBytes(16).toString('base64url');

/** An authorization request as the suite builds it: code flow, scope openid, a fresh state and nonce. */
function authorizationRequest(client: RelyingParty, extra: Record<string, string> = {}) {
  const state = random();
  const nonce = random();
  const parameters: Record<string, string> = {
    client_id: client.clientId,
    redirect_uri: REDIRECT_URI,
    response_type: 'code',
    scope: 'openid',
    state,
    nonce,
    ...extra,
  };
  return { parameters, state: parameters.state, nonce: parameters.nonce };
}

const isLoginPage = (page: string) => page.includes('name="password"');
const isConsentPage = (page: string) => page.includes('name="decision"');

/**
 * The user at the provider's pages: signs in as alice and allows, until the browser is sent away.
 * Returns that response and which pages were shown, in order.
 */
async function interact(
  agent: UserAgent,
  response: Response,
): Promise<{ response: Response; pages: ('login' | 'consent')[] }> {
  const pages: ('login' | 'consent')[] = [];
  for (let step = 0; step < 4 && response.status === 200; step++) {
    const page = await response.text();
    if (isLoginPage(page)) {
      pages.push('login');
      response = await agent.signIn(page);
    } else if (isConsentPage(page)) {
      pages.push('consent');
      response = await agent.consent(page);
    } else {
      throw new Error(`neither a login nor a consent page: ${page.slice(0, 200)}`);
    }
  }
  return { response, pages };
}

/**
 * The authorization response at the client (CheckMatchingCallbackParameters, CheckMatchingStateParameter):
 * a redirect to the registered redirect URI carrying the state sent and, per RFC 9207 §2, the issuer.
 */
function callback(response: Response, state: string | undefined): URLSearchParams {
  expect(response.status, `expected a redirect, got ${response.status}`).toBe(303);
  const location = new URL(response.headers.get('location')!);
  expect(`${location.origin}${location.pathname}`).toBe(REDIRECT_URI);
  expect(location.hash).toBe('');
  const parameters = location.searchParams;
  expect(parameters.getAll('iss')).toEqual([metadata.issuer]);
  if (state === undefined) expect(parameters.has('state')).toBe(false);
  else expect(parameters.getAll('state')).toEqual([state]);
  return parameters;
}

/** An error at the redirect URI (OIDC Core §3.1.2.6): that error, no code, a description in range. */
function callbackError(response: Response, state: string | undefined, error: string): URLSearchParams {
  const parameters = callback(response, state);
  expect(parameters.get('error')).toBe(error);
  expect(parameters.has('code')).toBe(false);
  expect(parameters.get('error_description') ?? '').toMatch(ERROR_DESCRIPTION);
  return parameters;
}

/** An error page at the provider (OIDC Core §3.1.2.6 for a bad redirect_uri): 400, HTML, no redirect. */
async function expectErrorPage(response: Response): Promise<string> {
  expect(response.status).toBe(400);
  expect(response.headers.get('location')).toBeNull();
  expect(response.headers.get('content-type')).toMatch(/^text\/html/);
  return response.text();
}

/** Runs the code flow to the callback and returns the code (the suite's happy path up to the token call). */
async function authorize(
  client: RelyingParty,
  extra: Record<string, string> = {},
  agent = new UserAgent(server),
) {
  const { parameters, state, nonce } = authorizationRequest(client, extra);
  const { response, pages } = await interact(agent, await agent.authorize(parameters));
  const code = callback(response, state).get('code');
  expect(code).toBeTruthy();
  return { code: code!, state, nonce, pages, agent };
}

/** A token request authenticated with client_secret_basic (the Basic OP plan's variant). */
function tokenRequest(client: RelyingParty, fields: Record<string, string>): Promise<Response> {
  return request(metadata.token_endpoint, {
    method: 'POST',
    headers: { authorization: basic(client.clientId, client.secret) },
    body: new URLSearchParams(fields),
  });
}

const exchangeCode = (client: RelyingParty, code: string, extra: Record<string, string> = {}) =>
  tokenRequest(client, { grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI, ...extra });

/**
 * A successful token response (RFC 6749 §5.1; the suite's CheckTokenEndpointHttpStatus200,
 * CheckTokenEndpointReturnedJsonContentType, CheckTokenEndpointCacheHeaders, CheckTokenTypeIsBearer,
 * ValidateExpiresIn, EnsureAccessTokenContainsAllowedCharactersOnly).
 */
async function tokens(response: Response): Promise<TokenBody> {
  const text = await response.text();
  expect({ status: response.status, text }).toMatchObject({ status: 200 });
  expect(response.headers.get('content-type')).toMatch(/^application\/json/);
  expect(response.headers.get('cache-control')).toBe('no-store');
  expect(response.headers.get('pragma')).toBe('no-cache');
  const body = JSON.parse(text) as TokenBody;
  expect(body.token_type.toLowerCase()).toBe('bearer');
  expect(body.access_token).toMatch(VSCHAR);
  expect(Number.isInteger(body.expires_in) && body.expires_in > 0).toBe(true);
  if (body.refresh_token !== undefined) expect(body.refresh_token).toMatch(VSCHAR);
  return body;
}

/**
 * A token endpoint error (RFC 6749 §5.2; the suite's CheckTokenEndpointHttpStatus400,
 * CheckTokenEndpointReturnedJsonContentType, ValidateErrorDescriptionFromTokenEndpointResponseError).
 */
async function tokenError(response: Response, error: string): Promise<void> {
  const text = await response.text();
  expect({ status: response.status, text }).toMatchObject({ status: 400 });
  expect(response.headers.get('content-type')).toMatch(/^application\/json/);
  const body = JSON.parse(text) as { error: string; error_description?: string };
  expect(body.error).toBe(error);
  expect(body.error_description ?? '').toMatch(ERROR_DESCRIPTION);
}

/** OIDC Core §3.1.3.6: the left half of the SHA-256 of the access token, base64url. */
function accessTokenHash(accessToken: string): string {
  const digest = createHash('sha256').update(accessToken, 'ascii').digest();
  return digest.subarray(0, digest.length / 2).toString('base64url');
}

async function fetchJwks(): Promise<JSONWebKeySet> {
  const response = await request(metadata.jwks_uri);
  expect(response.status).toBe(200);
  return (await response.json()) as JSONWebKeySet;
}

/**
 * ID token validation as OIDC Core §3.1.3.7 orders it and the suite checks it in every module
 * (ValidateIdToken, ValidateIdTokenNonce, ValidateIdTokenSignature, ValidateIdTokenSignatureUsingKid,
 * CheckForSubjectInIdToken), plus at_hash (§3.1.3.8). The signature is checked against the JWKS
 * published at jwks_uri, with an algorithm discovery lists; modules that need RS256 assert it.
 */
async function validateIdToken(
  idToken: string,
  client: RelyingParty,
  expected: { nonce: string | undefined; accessToken?: string },
): Promise<{ claims: JWTPayload; alg: string; kid: string | undefined }> {
  const header = decodeProtectedHeader(idToken);
  const supported = metadata.id_token_signing_alg_values_supported as string[];
  const { payload: claims } = await jwtVerify(idToken, createLocalJWKSet(await fetchJwks()), {
    // §3.1.3.7 steps 2, 3, 6, 7 and 9: the issuer exactly, our client_id, a signature by a published
    // key with an advertised algorithm, not expired (at the server's clock, which tests move).
    issuer: metadata.issuer,
    audience: client.clientId,
    algorithms: supported,
    currentDate: new Date(server.now()),
  });
  const now = Math.floor(server.now() / 1000);
  expect(claims.iss).toBe(metadata.issuer);
  // §2: sub is a locally unique identifier of at most 255 ASCII characters.
  expect(typeof claims.sub).toBe('string');
  expect(claims.sub).toMatch(/^[\x20-\x7e]{1,255}$/);
  // §3.1.3.7 steps 3–5: our client_id is the audience; with azp present, it is ours as well.
  expect([claims.aud].flat()).toContain(client.clientId);
  if ([claims.aud].flat().length > 1) expect(claims.azp).toBe(client.clientId);
  if (claims.azp !== undefined) expect(claims.azp).toBe(client.clientId);
  expect(typeof claims.exp).toBe('number');
  expect(claims.exp!).toBeGreaterThan(now);
  // §3.1.3.7 step 10: iat is now, give or take the suite's skew.
  expect(typeof claims.iat).toBe('number');
  expect(Math.abs(claims.iat! - now)).toBeLessThanOrEqual(SKEW_SECONDS);
  if (claims.auth_time !== undefined) {
    expect(typeof claims.auth_time).toBe('number');
    expect(claims.auth_time as number).toBeLessThanOrEqual(now + SKEW_SECONDS);
  }
  if (claims.acr !== undefined) expect(claims.acr).not.toBe('');
  // §3.1.3.7 step 11: the nonce of the request, and none when the request had none.
  expect(claims.nonce).toBe(expected.nonce);
  if (expected.accessToken !== undefined) expect(claims.at_hash).toBe(accessTokenHash(expected.accessToken));
  return { claims, alg: header.alg!, kid: header.kid };
}

/** The code flow end to end, as oidcc-server runs it: authorize, exchange, validate the ID token. */
async function login(client: RelyingParty, extra: Record<string, string> = {}, agent?: UserAgent) {
  const flow = await authorize(client, extra, agent);
  const body = await tokens(await exchangeCode(client, flow.code));
  expect(typeof body.id_token).toBe('string');
  const idToken = await validateIdToken(body.id_token!, client, {
    nonce: flow.nonce,
    accessToken: body.access_token,
  });
  return { ...flow, body, ...idToken };
}

const userinfoGet = (accessToken: string) =>
  request(metadata.userinfo_endpoint, { headers: { authorization: `Bearer ${accessToken}` } });

/** A UserInfo response (OIDC Core §5.3.2, the suite's EnsureUserInfoContainsSub): JSON, with our sub. */
async function userinfoClaims(response: Response, sub: unknown): Promise<Record<string, unknown>> {
  const text = await response.text();
  expect({ status: response.status, text }).toMatchObject({ status: 200 });
  expect(response.headers.get('content-type')).toMatch(/^application\/json/);
  const claims = JSON.parse(text) as Record<string, unknown>;
  // §5.3.2: "The sub Claim in the UserInfo Response MUST be verified to exactly match the sub Claim
  // in the ID Token".
  expect(claims.sub).toBe(sub);
  return claims;
}

describe('OpenID conformance (mirrored): Config OP plan', () => {
  it('oidcc-discovery-endpoint-verification: the metadata OIDC Discovery §3 requires, issuer from its URL', async () => {
    const response = await request(`${ISSUER}/.well-known/openid-configuration`);
    // OIDC Discovery §4.2: 200 and JSON (EnsureDiscoveryEndpointResponseStatusCodeIs200,
    // CheckDiscoveryEndpointReturnedJsonContentType).
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
    const doc = (await response.json()) as Record<string, unknown>;
    // CheckDiscEndpointIssuer (OIDC Discovery §4.3): the issuer is the discovery URL minus the
    // well-known suffix, a valid https URL without query or fragment (RFC 8414 §2).
    expect(doc.issuer).toBe(ISSUER);
    const issuer = new URL(doc.issuer as string);
    expect(issuer.protocol).toBe('https:');
    expect(issuer.search + issuer.hash).toBe('');
    // The REQUIRED fields of OIDC Discovery §3.
    for (const field of [
      'issuer',
      'authorization_endpoint',
      'jwks_uri',
      'response_types_supported',
      'subject_types_supported',
      'id_token_signing_alg_values_supported',
    ])
      expect(doc, field).toHaveProperty(field);
    // REQUIRED unless only the implicit flow is offered.
    expect(doc).toHaveProperty('token_endpoint');
    // OIDCCCheckDiscEndpointResponseTypesSupported: at least one OpenID Connect response type.
    expect(doc.response_types_supported).toContain('code');
    // CheckDiscEndpointSubjectTypesSupported: public or pairwise.
    expect(
      (doc.subject_types_supported as string[]).some((type) => ['public', 'pairwise'].includes(type)),
    ).toBe(true);
    // OIDCCCheckDiscEndpointIdTokenSigningAlgValuesSupported: RS256 MUST be listed (§3).
    expect(doc.id_token_signing_alg_values_supported).toContain('RS256');
    expect(doc.id_token_signing_alg_values_supported).not.toContain('none');
    // CheckDiscEndpointScopesSupportedContainsOpenId and CheckDiscEndpointScopesSupportedSyntax.
    expect(doc.scopes_supported).toContain('openid');
    for (const scope of doc.scopes_supported as string[])
      expect(scope).toMatch(/^[\x21\x23-\x5b\x5d-\x7e]+$/);
    // OIDCCCheckDiscEndpointGrantTypesSupported and OIDCCCheckDiscEndpointClaimsSupported: non-empty
    // arrays when present.
    expect((doc.grant_types_supported as string[]).length).toBeGreaterThan(0);
    expect(doc.grant_types_supported).toContain('authorization_code');
    expect(Array.isArray(doc.claims_supported)).toBe(true);
    expect(doc.claims_supported).toContain('sub');
    // EnsureServerConfigurationCodeChallengeMethodsSupportedIsAnArray (RFC 8414 §2).
    expect(Array.isArray(doc.code_challenge_methods_supported)).toBe(true);
    // CheckDiscEndpointClaimsParameterSupported, CheckDiscEndpointRequest(Uri)ParameterSupported:
    // booleans, and what they say is what the server does (see the request tests below).
    for (const flag of [
      'claims_parameter_supported',
      'request_parameter_supported',
      'request_uri_parameter_supported',
    ])
      expect(typeof doc[flag], flag).toBe('boolean');
    // CheckDiscEndpointAllEndpointsAreHttps (and CheckDiscEndpoint{Authorization,Token,Userinfo}Endpoint):
    // every endpoint is an https URL at this issuer.
    const endpoints = Object.entries(doc).filter(([key]) => key.endsWith('_endpoint') || key === 'jwks_uri');
    expect(endpoints.map(([key]) => key)).toEqual(
      expect.arrayContaining(['authorization_endpoint', 'token_endpoint', 'userinfo_endpoint', 'jwks_uri']),
    );
    for (const [key, value] of endpoints) {
      const url = new URL(value as string);
      expect(url.protocol, key).toBe('https:');
      expect(url.origin, key).toBe(issuer.origin);
    }
  });

  it('CheckDiscEndpointIssuer: the issuer is exactly the configured one, in both metadata documents and the ID token', async () => {
    // OIDC Discovery §4.3: "The issuer value returned MUST be identical to the Issuer URL that was
    // used as the prefix to /.well-known/openid-configuration" — byte for byte, no trailing slash added.
    expect(metadata.issuer).toBe(server.services.config.issuer);
    expect(metadata.issuer).toBe(ISSUER);
    const oauth = (await (
      await request(`${ISSUER}/.well-known/oauth-authorization-server`)
    ).json()) as Metadata;
    expect(oauth.issuer).toBe(ISSUER);
    // And the ID token's iss is that same string (§3.1.3.7 step 2).
    const { claims } = await login(rp);
    expect(claims.iss).toBe(ISSUER);
  });

  it('jwks_uri (CheckJwksUri, ValidateServerJWKs, CheckForKeyIdInServerJWKs): public signing keys with kid, alg and use, one RS256', async () => {
    const response = await request(metadata.jwks_uri);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^application\/(jwk-set\+)?json/);
    const { keys } = (await response.json()) as { keys: Record<string, unknown>[] };
    expect(keys.length).toBeGreaterThan(0);
    const kids = keys.map((key) => key.kid);
    // OIDC Core §10.1: with several keys, kid tells them apart; the suite requires one on every key.
    for (const key of keys) {
      expect(typeof key.kid).toBe('string');
      expect(key.kid).not.toBe('');
      expect(typeof key.alg).toBe('string');
      expect(key.use).toBe('sig');
      // EnsureServerJwksDoesNotContainPrivateOrSymmetricKeys (RFC 7518 §6.3.2.1, §6.2.2.1).
      expect(key.kty).not.toBe('oct');
      for (const privatePart of ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k'])
        expect(key).not.toHaveProperty(privatePart);
      // Base64url without padding (ValidateServerJWKs).
      for (const [name, value] of Object.entries(key))
        if (['n', 'e', 'x', 'y'].includes(name)) expect(value).toMatch(/^[A-Za-z0-9_-]+$/);
    }
    expect(new Set(kids).size).toBe(kids.length);
    // OIDC Discovery §3: RS256 MUST be supported, so an RS256 key is published.
    expect(keys.some((key) => key.kty === 'RSA' && key.alg === 'RS256')).toBe(true);
  });
});

describe('OpenID conformance (mirrored): Basic OP plan', () => {
  it('oidcc-server: the code flow gives an ID token valid per OIDC Core §3.1.3.7, signed RS256 by a JWKS key', async () => {
    const first = await login(rp);
    // A new browser: the user signs in (and consents, unless an earlier module already did).
    expect(first.pages[0]).toBe('login');
    expect(first.alg).toBe('RS256');
    expect(first.claims.aud).toBe(rp.clientId);
    expect(first.claims.azp).toBe(rp.clientId);
    expect(typeof first.claims.auth_time).toBe('number');
    // The token works at the protected resource (CallProtectedResourceWithBearerToken): UserInfo.
    await userinfoClaims(await userinfoGet(first.body.access_token), first.claims.sub);
    // sub is stable: the same user gets the same sub in the next login, and (public subject type)
    // at another client.
    const again = await login(rp);
    expect(again.claims.sub).toBe(first.claims.sub);
    const other = await login(rp2);
    expect(other.claims.sub).toBe(first.claims.sub);
  });

  it('oidcc-server-client-secret-post: the same flow with client_secret_post', async () => {
    const flow = await authorize(rp);
    const response = await request(metadata.token_endpoint, {
      method: 'POST',
      body: new URLSearchParams({
        grant_type: 'authorization_code',
        code: flow.code,
        redirect_uri: REDIRECT_URI,
        client_id: rp.clientId,
        client_secret: rp.secret,
      }),
    });
    const body = await tokens(response);
    await validateIdToken(body.id_token!, rp, { nonce: flow.nonce, accessToken: body.access_token });
  });

  it('oidcc-idtoken-signature: the default ID token algorithm is RS256 and the header names its key', async () => {
    const { body } = await login(rp);
    const header = decodeProtectedHeader(body.id_token!);
    // EnsureIdTokenSignatureIsRS256 (OIDC Core §3.1.3.7 step 7: the default, with no
    // id_token_signed_response_alg registered) and EnsureIdTokenContainsKid (§10.1).
    expect(header.alg).toBe('RS256');
    expect(typeof header.kid).toBe('string');
    // RFC 8725 §3.11: never typed as an access token (at+jwt, RFC 9068 §2.1).
    expect(header.typ === undefined || header.typ === 'JWT').toBe(true);
  });

  it('ValidateIdTokenSignatureUsingKid: the ID token kid names exactly one published key, and that key verifies it', async () => {
    const { body } = await login(rp);
    const { kid, alg } = decodeProtectedHeader(body.id_token!);
    const { keys } = await fetchJwks();
    const named = keys.filter((key) => key.kid === kid);
    expect(named).toHaveLength(1);
    expect(named[0]!.alg).toBe(alg);
    expect(named[0]!.kty).toBe('RSA');
    // Verified with that key alone, not any key of the set.
    await expect(
      jwtVerify(body.id_token!, createLocalJWKSet({ keys: named }), {
        algorithms: [alg!],
        currentDate: new Date(server.now()),
      }),
    ).resolves.toBeDefined();
  });

  it('ValidateIdToken (aud): aud is the client_id alone, and azp repeats it', async () => {
    const { claims } = await login(rp);
    // OIDC Core §2: aud MAY be an array, but for one audience a string; §3.1.3.7 step 3 rejects an
    // ID token whose audiences the client does not trust — only our client_id is there.
    expect(claims.aud).toBe(rp.clientId);
    expect(claims.azp).toBe(rp.clientId);
  });

  it('ValidateIdToken (iat, exp): iat is the time of issue and exp after it', async () => {
    const before = Math.floor(server.now() / 1000);
    const { claims } = await login(rp);
    const after = Math.floor(server.now() / 1000);
    expect(claims.iat!).toBeGreaterThanOrEqual(before);
    expect(claims.iat!).toBeLessThanOrEqual(after);
    expect(claims.exp!).toBeGreaterThan(claims.iat!);
    // Issued at the server's clock: a clock moved on makes a later iat.
    server.advance(5_000);
    const later = await login(rp);
    expect(later.claims.iat!).toBeGreaterThanOrEqual(claims.iat! + 5);
  });

  it('CheckForSubjectInIdToken (sub): sub is present, ASCII, at most 255 characters, and the UserInfo sub', async () => {
    const { claims, body } = await login(rp);
    expect(claims.sub).toMatch(/^[\x20-\x7e]{1,255}$/);
    const userinfo = await userinfoClaims(await userinfoGet(body.access_token), claims.sub);
    expect(userinfo.sub).toBe(claims.sub);
  });

  it('oidcc-response-type-missing: no response_type is an invalid_request (or unsupported_response_type) error', async () => {
    const agent = new UserAgent(server);
    const { parameters, state } = authorizationRequest(rp);
    delete parameters.response_type;
    const response = await agent.authorize(parameters);
    const error = callback(response, state).get('error');
    expect(['invalid_request', 'unsupported_response_type']).toContain(error);
  });

  it('oidcc-userinfo-get: UserInfo by GET with the bearer token in the Authorization header', async () => {
    const { body, claims } = await login(rp);
    const response = await userinfoGet(body.access_token);
    expect(response.headers.get('cache-control')).toBe('no-store');
    await userinfoClaims(response, claims.sub);
  });

  it('oidcc-userinfo-post-header: UserInfo by POST with the bearer token in the Authorization header', async () => {
    const { body, claims } = await login(rp);
    const response = await request(metadata.userinfo_endpoint, {
      method: 'POST',
      headers: { authorization: `Bearer ${body.access_token}` },
    });
    await userinfoClaims(response, claims.sub);
  });

  it('oidcc-userinfo-post-body: UserInfo by POST with the token as the access_token form parameter', async () => {
    const { body, claims } = await login(rp);
    // RFC 6750 §2.2: application/x-www-form-urlencoded, the token in access_token.
    const response = await request(metadata.userinfo_endpoint, {
      method: 'POST',
      body: new URLSearchParams({ access_token: body.access_token }),
    });
    await userinfoClaims(response, claims.sub);
  });

  it('oidcc-ensure-request-without-nonce-succeeds-for-code-flow: nonce is optional in the code flow', async () => {
    const agent = new UserAgent(server);
    const { parameters, state } = authorizationRequest(rp);
    delete parameters.nonce;
    const { response } = await interact(agent, await agent.authorize(parameters));
    const code = callback(response, state).get('code')!;
    const body = await tokens(await exchangeCode(rp, code));
    const { claims } = await validateIdToken(body.id_token!, rp, {
      nonce: undefined,
      accessToken: body.access_token,
    });
    expect(claims).not.toHaveProperty('nonce');
  });

  it('oidcc-scope-profile: scope profile releases the profile claims at UserInfo', async () => {
    const { body, claims } = await login(rp, { scope: 'openid profile' });
    const userinfo = await userinfoClaims(await userinfoGet(body.access_token), claims.sub);
    expect(userinfo.preferred_username).toBe('alice');
  });

  it('oidcc-ensure-other-scope-order-succeeds: scope values in another order are the same request', async () => {
    const agent = new UserAgent(server);
    await login(rp, { scope: 'openid profile' }, agent);
    const { body, claims } = await login(rp, { scope: 'profile openid' }, agent);
    await userinfoClaims(await userinfoGet(body.access_token), claims.sub);
  });

  it('oidcc-ensure-request-with-unknown-parameter-succeeds: parameters the OP does not know are ignored', async () => {
    // OIDC Core §3.1.2.1 and RFC 6749 §3.1: unrecognized parameters are ignored; display, ui_locales,
    // claims_locales and acr_values (oidcc-display-page, -popup, -ui-locales, -claims-locales,
    // -ensure-request-with-acr-values-succeeds) must not fail the request either.
    await login(rp, {
      extra_parameter_from_the_suite: random(),
      display: 'page',
      ui_locales: 'se',
      claims_locales: 'se',
      acr_values: '1 2',
    });
  });

  it('oidcc-ensure-post-request-succeeds: the authorization endpoint takes the request as a form POST', async () => {
    const agent = new UserAgent(server);
    const { parameters, state, nonce } = authorizationRequest(rp);
    // OIDC Core §3.1.2.1: GET and POST (application/x-www-form-urlencoded) alike.
    const posted = await agent.post('/authorize', parameters, { origin: 'https://app.example' });
    const { response } = await interact(agent, posted);
    const code = callback(response, state).get('code')!;
    const body = await tokens(await exchangeCode(rp, code));
    await validateIdToken(body.id_token!, rp, { nonce, accessToken: body.access_token });
  });

  it('oidcc-ensure-request-with-valid-pkce-succeeds: a confidential client may add PKCE (S256)', async () => {
    const { verifier, challenge } = pkce();
    const flow = await authorize(rp, { code_challenge: challenge, code_challenge_method: 'S256' });
    const body = await tokens(await exchangeCode(rp, flow.code, { code_verifier: verifier }));
    await validateIdToken(body.id_token!, rp, { nonce: flow.nonce, accessToken: body.access_token });
  });

  it('oidcc-login-hint: login_hint fills in the username and the flow succeeds', async () => {
    const agent = new UserAgent(server);
    const { parameters, state, nonce } = authorizationRequest(rp, { login_hint: 'alice' });
    const page = await (await agent.authorize(parameters)).text();
    expect(isLoginPage(page)).toBe(true);
    // OIDC Core §3.1.2.1: a hint about the login identifier the user might use.
    expect(page).toMatch(/name="username"[^>]*value="alice"/);
    const { response } = await interact(agent, await agent.signIn(page));
    const code = callback(response, state).get('code')!;
    const body = await tokens(await exchangeCode(rp, code));
    await validateIdToken(body.id_token!, rp, { nonce, accessToken: body.access_token });
  });

  it('oidcc-id-token-hint: prompt=none with the first ID token as id_token_hint returns a code at once', async () => {
    const agent = new UserAgent(server);
    const first = await login(rp, {}, agent);
    const { parameters, state, nonce } = authorizationRequest(rp, {
      prompt: 'none',
      id_token_hint: first.body.id_token!,
    });
    const code = callback(await agent.authorize(parameters), state).get('code')!;
    expect(code).toBeTruthy();
    const body = await tokens(await exchangeCode(rp, code));
    const { claims } = await validateIdToken(body.id_token!, rp, { nonce, accessToken: body.access_token });
    expect(claims.auth_time).toBe(first.claims.auth_time);
    expect(claims.sub).toBe(first.claims.sub);
  });

  it('oidcc-prompt-login: prompt=login shows the login page again and auth_time moves on', async () => {
    const agent = new UserAgent(server);
    const first = await login(rp, {}, agent);
    // auth_time is in seconds: let one pass so a new authentication shows.
    server.advance(2_000);
    const second = await login(rp, { prompt: 'login' }, agent);
    // ExpectSecondLoginPage (OIDC Core §3.1.2.1): the user is asked to sign in again.
    expect(second.pages[0]).toBe('login');
    // CheckIdTokenAuthTimeClaimsDifferIfPresent (OIDC Core §2).
    expect(second.claims.auth_time as number).toBeGreaterThan(first.claims.auth_time as number);
    expect(second.claims.sub).toBe(first.claims.sub);
  });

  it('oidcc-prompt-none-not-logged-in: prompt=none without a session redirects login_required, with state and iss', async () => {
    const agent = new UserAgent(server);
    // A 128-character state, so a truncated or mangled echo shows (as the suite sends).
    const state = randomBytes(96).toString('base64url');
    expect(state).toHaveLength(128);
    const { parameters } = authorizationRequest(rp, { prompt: 'none', state });
    const response = await agent.authorize(parameters);
    // CheckErrorFromAuthorizationEndpointIsOneThatRequiredAUserInterface (OIDC Core §3.1.2.6).
    callbackError(response, state, 'login_required');
  });

  it('oidcc-prompt-none-logged-in: prompt=none with a session returns a code without any page', async () => {
    const agent = new UserAgent(server);
    const first = await login(rp, {}, agent);
    const { parameters, state, nonce } = authorizationRequest(rp, { prompt: 'none' });
    const response = await agent.authorize(parameters);
    // No page at all: straight back with a code.
    const code = callback(response, state).get('code')!;
    expect(code).toBeTruthy();
    const body = await tokens(await exchangeCode(rp, code));
    const { claims } = await validateIdToken(body.id_token!, rp, { nonce, accessToken: body.access_token });
    // CheckIdTokenAuthTimeClaimsSameIfPresent and CheckIdTokenSubConsistentForSecondAuthorization.
    expect(claims.auth_time).toBe(first.claims.auth_time);
    expect(claims.sub).toBe(first.claims.sub);
  });

  it('oidcc-max-age-1: after more than a second, max_age=1 asks for the login again and auth_time is newer', async () => {
    const agent = new UserAgent(server);
    const first = await login(rp, {}, agent);
    // The suite waits two seconds (WaitFor2Seconds); the server's clock moves instead.
    server.advance(2_000);
    const second = await login(rp, { max_age: '1' }, agent);
    expect(second.pages[0]).toBe('login');
    // CheckIdTokenAuthTimeClaimPresentDueToMaxAge (OIDC Core §3.1.2.1: auth_time is REQUIRED with
    // max_age), CheckSecondIdTokenAuthTimeIsLaterIfPresent, CheckIdTokenAuthTimeIsRecentIfPresent.
    expect(typeof second.claims.auth_time).toBe('number');
    expect(second.claims.auth_time as number).toBeGreaterThan(first.claims.auth_time as number);
    const now = Math.floor(server.now() / 1000);
    expect(now - (second.claims.auth_time as number)).toBeLessThanOrEqual(SKEW_SECONDS);
  });

  it('oidcc-max-age-10000: a recent enough sign-in needs no login page, and auth_time is the same', async () => {
    const agent = new UserAgent(server);
    const first = await login(rp, { max_age: '15000' }, agent);
    expect(typeof first.claims.auth_time).toBe('number');
    const second = await login(rp, { max_age: '10000' }, agent);
    expect(second.pages).toEqual([]);
    expect(second.claims.auth_time).toBe(first.claims.auth_time);
    expect(second.claims.sub).toBe(first.claims.sub);
  });

  it('oidcc-codereuse: a second exchange of a code is invalid_grant and revokes the first access token', async () => {
    const flow = await authorize(rp);
    const first = await tokens(await exchangeCode(rp, flow.code));
    const { claims } = await validateIdToken(first.id_token!, rp, { nonce: flow.nonce });
    await userinfoClaims(await userinfoGet(first.access_token), claims.sub);
    // RFC 6749 §4.1.2: a code is used once; OIDC Core §3.1.3.4 wants the error as JSON, 400.
    await tokenError(await exchangeCode(rp, flow.code), 'invalid_grant');
    // RFC 6749 §4.1.2: the server SHOULD revoke the tokens issued on that code (RFC 6750 §3.1: 401).
    const refused = await userinfoGet(first.access_token);
    expect(refused.status).toBe(401);
    expect(refused.headers.get('www-authenticate')).toMatch(/^Bearer /);
  });

  it('oidcc-codereuse-30seconds: the same 30 seconds after the first exchange', async () => {
    const flow = await authorize(rp);
    const first = await tokens(await exchangeCode(rp, flow.code));
    // The suite waits 30 s (WaitFor30Seconds); the code's lifetime (60 s) has not run out.
    server.advance(30_000);
    await tokenError(await exchangeCode(rp, flow.code), 'invalid_grant');
    // CallProtectedResourceWithBearerTokenExpectingError: the first access token is revoked.
    expect((await userinfoGet(first.access_token)).status).toBe(401);
  });

  it('oidcc-ensure-registered-redirect-uri: an unregistered redirect_uri gets an error page, never a redirect', async () => {
    const agent = new UserAgent(server);
    // CreateBadRedirectUri: the registered URI with something random added.
    const badRedirectUri = `${REDIRECT_URI}/${random()}`;
    const { parameters } = authorizationRequest(rp, { redirect_uri: badRedirectUri });
    // OIDC Core §3.1.2.1 and RFC 6749 §3.1.2.4: an exact match, else the user sees an error.
    const page = await expectErrorPage(await agent.authorize(parameters));
    expect(page).not.toContain(badRedirectUri);
    // Nothing reached the page's forms either: no sign-in to continue from.
    expect(isLoginPage(page)).toBe(false);
  });

  it('oidcc-ensure-redirect-uri-in-authorization-request: a request without redirect_uri gets an error page', async () => {
    const agent = new UserAgent(server);
    const { parameters } = authorizationRequest(rp);
    delete parameters.redirect_uri;
    // OIDC Core §3.1.2.1: redirect_uri is REQUIRED; without it there is nowhere checked to redirect.
    const page = await expectErrorPage(await agent.authorize(parameters));
    expect(isLoginPage(page)).toBe(false);
  });

  it('oidcc-refresh-token: a refresh gives a new ID token with the same sub, aud, azp and auth_time; the old refresh token is then refused', async () => {
    // AddPromptConsentToAuthorizationEndpointRequestIfScopeContainsOfflineAccess (OIDC Core §11).
    const first = await login(rp, { scope: 'openid offline_access', prompt: 'consent' });
    expect(first.pages).toContain('consent');
    const refreshToken = first.body.refresh_token;
    expect(typeof refreshToken).toBe('string');
    // The suite waits a second so the new iat differs (WaitForOneSecond).
    server.advance(1_000);
    // RefreshTokenRequestSteps: the same scope sent again (AddScopeToTokenEndpointRequest, RFC 6749 §6).
    const refreshed = await tokens(
      await tokenRequest(rp, {
        grant_type: 'refresh_token',
        refresh_token: refreshToken!,
        scope: 'openid offline_access',
      }),
    );
    expect(refreshed.access_token).not.toBe(first.body.access_token);
    expect(typeof refreshed.id_token).toBe('string');
    // OIDC Core §12.2 (CompareIdTokenClaims): iss, sub, aud, azp and auth_time as before; iat new.
    const { claims } = await validateIdToken(refreshed.id_token!, rp, {
      nonce: undefined,
      accessToken: refreshed.access_token,
    });
    expect(claims.iss).toBe(first.claims.iss);
    expect(claims.sub).toBe(first.claims.sub);
    expect(claims.aud).toEqual(first.claims.aud);
    expect(claims.azp).toBe(first.claims.azp);
    expect(claims.auth_time).toBe(first.claims.auth_time);
    expect(claims.iat).not.toBe(first.claims.iat);
    await userinfoClaims(await userinfoGet(refreshed.access_token), first.claims.sub);
    // The suite's second client: a refresh token is bound to the client it was issued to
    // (RFC 6749 §6, RefreshTokenRequestExpectingErrorSteps).
    await tokenError(
      await tokenRequest(rp2, { grant_type: 'refresh_token', refresh_token: refreshed.refresh_token! }),
      'invalid_grant',
    );
    // Rotation (RFC 9700 §4.14.2): once past the grace window for concurrent duplicates (5 s by
    // default), the rotated-out refresh token is refused.
    server.advance(server.services.config.refreshGrace * 1000 + 1_000);
    await tokenError(
      await tokenRequest(rp, { grant_type: 'refresh_token', refresh_token: refreshToken! }),
      'invalid_grant',
    );
  });

  it('oidcc-unsigned-request-object-supported-correctly-or-rejected-as-unsupported: a request object is refused with request_not_supported', async () => {
    const agent = new UserAgent(server);
    const { parameters, state } = authorizationRequest(rp);
    const requestObject = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from(
      JSON.stringify({ ...parameters, iss: rp.clientId, aud: ISSUER }),
    ).toString('base64url')}.`;
    // OIDC Core §6.1 and discovery's request_parameter_supported: false.
    expect(metadata.request_parameter_supported).toBe(false);
    callbackError(
      await agent.authorize({ ...parameters, request: requestObject }),
      state,
      'request_not_supported',
    );
  });

  it('oidcc-request-uri-unsigned-supported-correctly-or-rejected-as-unsupported: request_uri is refused with request_uri_not_supported', async () => {
    const agent = new UserAgent(server);
    const { parameters, state } = authorizationRequest(rp);
    expect(metadata.request_uri_parameter_supported).toBe(false);
    const response = await agent.authorize({ ...parameters, request_uri: 'https://app.example/request.jwt' });
    callbackError(response, state, 'request_uri_not_supported');
  });
});

describe('OpenID conformance (mirrored): what a serious OP must also refuse', () => {
  // Failing tests from packages/server/test/conformance.test.ts (not committed): paste inside the
  // describe('OpenID conformance (mirrored): what a serious OP must also refuse') block.
  it('error_description at the redirect URI keeps to the characters RFC 6749 §4.1.2.1 allows, whatever was sent', async () => {
    const agent = new UserAgent(server);
    // Values the client sent are not echoed raw: a quote, a backslash or a non-ASCII letter is
    // outside %x20-21 / %x23-5B / %x5D-7E.
    const outside: Record<string, string>[] = [];
    const extras: Record<string, string>[] = [
      { scope: 'openid profil\u00e9' },
      { scope: 'openid "quoted"' },
      { prompt: 'x"\\' },
    ];
    for (const extra of extras) {
      const { parameters, state } = authorizationRequest(rp, extra);
      const answer = callback(await agent.authorize(parameters), state);
      expect(answer.get('error'), JSON.stringify(extra)).toBeTruthy();
      const description = answer.get('error_description') ?? '';
      if (!ERROR_DESCRIPTION.test(description)) outside.push({ ...extra, error_description: description });
    }
    expect(outside).toEqual([]);
  });

  it('error_description at the token endpoint keeps to the characters RFC 6749 §5.2 allows, whatever was sent', async () => {
    const { code } = await authorize(rp);
    const requests: Record<string, string>[] = [
      // A malformed PKCE verifier.
      { grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI, code_verifier: 'short' },
      // A grant type the server does not offer.
      { grant_type: 'password', username: 'alice', password: 'x' },
      // A client_id outside the allowed characters.
      { grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI, client_id: 'no such client' },
    ];
    const outside: Record<string, string>[] = [];
    for (const fields of requests) {
      const response = await request(metadata.token_endpoint, {
        method: 'POST',
        body: new URLSearchParams(fields),
      });
      const body = (await response.json()) as { error?: string; error_description?: string };
      expect(response.status, JSON.stringify(fields)).toBeGreaterThanOrEqual(400);
      expect(body.error, JSON.stringify(fields)).toBeTruthy();
      const description = body.error_description ?? '';
      if (!ERROR_DESCRIPTION.test(description)) outside.push({ ...fields, error_description: description });
    }
    expect(outside).toEqual([]);
  });

  /** A public client (an SPA), which must use PKCE. */
  async function publicClient(): Promise<string> {
    return (await addOidcClient(server)).clientId;
  }

  it('response_type=token is unsupported_response_type, by redirect', async () => {
    const agent = new UserAgent(server);
    const { parameters, state } = authorizationRequest(rp, { response_type: 'token' });
    // OIDC Core §3.1.2.6 / RFC 6749 §4.1.2.1: discovery lists only code.
    callbackError(await agent.authorize(parameters), state, 'unsupported_response_type');
    // Nor the hybrid or implicit OpenID response types.
    for (const responseType of ['id_token', 'id_token token', 'code id_token']) {
      const request = authorizationRequest(rp, { response_type: responseType });
      callbackError(await agent.authorize(request.parameters), request.state, 'unsupported_response_type');
    }
  });

  it('PKCE with code_challenge_method=plain is refused', async () => {
    const clientId = await publicClient();
    const agent = new UserAgent(server);
    const verifier = randomBytes(32).toString('base64url');
    const { parameters, state } = authorizationRequest(
      { clientId, secret: '' },
      { code_challenge: verifier, code_challenge_method: 'plain' },
    );
    // RFC 9700 §2.1.1: S256; plain shows the verifier to anyone who sees the request.
    callbackError(await agent.authorize(parameters), state, 'invalid_request');
  });

  it('a public client without code_challenge is refused', async () => {
    const clientId = await publicClient();
    const agent = new UserAgent(server);
    const { parameters, state } = authorizationRequest({ clientId, secret: '' });
    // RFC 9700 §2.1.1: nothing else binds a public client's code to it.
    callbackError(await agent.authorize(parameters), state, 'invalid_request');
  });

  it('a wrong code_verifier is invalid_grant', async () => {
    const clientId = await publicClient();
    const agent = new UserAgent(server);
    const { challenge } = pkce();
    const { parameters, state } = authorizationRequest(
      { clientId, secret: '' },
      { code_challenge: challenge, code_challenge_method: 'S256' },
    );
    const { response } = await interact(agent, await agent.authorize(parameters));
    const code = callback(response, state).get('code')!;
    // RFC 7636 §4.6: the verifier of another challenge.
    const response2 = await request(metadata.token_endpoint, {
      method: 'POST',
      body: new URLSearchParams({
        grant_type: 'authorization_code',
        client_id: clientId,
        code,
        redirect_uri: REDIRECT_URI,
        code_verifier: pkce().verifier,
      }),
    });
    await tokenError(response2, 'invalid_grant');
  });

  it('a code issued to client A and redeemed by client B is invalid_grant', async () => {
    const { code } = await authorize(rp);
    // RFC 6749 §4.1.3: "ensure that the authorization code was issued to the authenticated confidential client".
    await tokenError(await exchangeCode(rp2, code), 'invalid_grant');
  });

  it('a redirect_uri at the token endpoint other than the authorization request’s is invalid_grant', async () => {
    const { code } = await authorize(rp);
    // RFC 6749 §4.1.3: identical to the one in the authorization request.
    await tokenError(
      await exchangeCode(rp, code, { redirect_uri: `${REDIRECT_URI}/other` }),
      'invalid_grant',
    );
  });

  it("a confidential client's code exchanged without its secret is invalid_client", async () => {
    const { code } = await authorize(rp);
    // RFC 6749 §4.1.3: a confidential client must authenticate; its client_id alone is not enough.
    const response = await request(metadata.token_endpoint, {
      method: 'POST',
      body: new URLSearchParams({
        grant_type: 'authorization_code',
        client_id: rp.clientId,
        code,
        redirect_uri: REDIRECT_URI,
      }),
    });
    expect(response.status).toBe(401);
    expect(((await response.json()) as { error: string }).error).toBe('invalid_client');
  });

  it('after a code is reused, the refresh token of its first exchange is refused too', async () => {
    const { code } = await authorize(rp, { scope: 'openid offline_access' });
    const first = await tokens(await exchangeCode(rp, code));
    expect(typeof first.refresh_token).toBe('string');
    await tokenError(await exchangeCode(rp, code), 'invalid_grant');
    // RFC 6749 §4.1.2 ("SHOULD revoke all tokens previously issued based on that authorization code").
    await tokenError(
      await tokenRequest(rp, { grant_type: 'refresh_token', refresh_token: first.refresh_token! }),
      'invalid_grant',
    );
  });

  it('an expired code (61 s) is invalid_grant', async () => {
    const { code } = await authorize(rp);
    // RFC 6749 §4.1.2: short-lived; this server gives a code 60 seconds.
    server.advance(61_000);
    await tokenError(await exchangeCode(rp, code), 'invalid_grant');
  });

  it('consent denied is access_denied at the redirect URI', async () => {
    const consenting = await registerRelyingParty();
    const agent = new UserAgent(server);
    const { parameters, state } = authorizationRequest(consenting);
    const loginPage = await (await agent.authorize(parameters)).text();
    const consentPage = await (await agent.signIn(loginPage)).text();
    expect(isConsentPage(consentPage)).toBe(true);
    // RFC 6749 §4.1.2.1: the resource owner denied the request.
    callbackError(await agent.consent(consentPage, 'deny'), state, 'access_denied');
  });

  it('consent covers the scopes allowed: a wider request asks again (prompt=none: consent_required)', async () => {
    const consenting = await registerRelyingParty();
    const agent = new UserAgent(server);
    const first = await login(consenting, { scope: 'openid' }, agent);
    expect(first.pages).toEqual(['login', 'consent']);
    // OIDC Core §3.1.2.4: consent is for what was shown; profile was not.
    const wider = authorizationRequest(consenting, { scope: 'openid profile', prompt: 'none' });
    callbackError(await agent.authorize(wider.parameters), wider.state, 'consent_required');
    const asked = await login(consenting, { scope: 'openid profile' }, agent);
    expect(asked.pages).toEqual(['consent']);
  });

  it('a login form posted with a foreign Origin gets an error page and no session', async () => {
    const agent = new UserAgent(server);
    const { parameters } = authorizationRequest(rp);
    const page = await (await agent.authorize(parameters)).text();
    const cookiesBefore = new Set(agent.cookies.keys());
    // Login CSRF: a page elsewhere posting our form with the victim's browser (its cookies go along).
    const response = await agent.post(
      '/authorize/login',
      { ...hiddenFields(page), username: 'alice', password: 'correct horse battery staple' },
      { origin: 'https://attacker.example' },
    );
    await expectErrorPage(response);
    expect(new Set(agent.cookies.keys())).toEqual(cookiesBefore);
  });

  it('a login form from another browser (no interaction cookie) gets an error page', async () => {
    const victim = new UserAgent(server);
    const { parameters } = authorizationRequest(rp);
    const page = await (await victim.authorize(parameters)).text();
    // The attacker's browser posts the fields of a page it did not open (no __Host- interaction cookie).
    const attacker = new UserAgent(server);
    const response = await attacker.post('/authorize/login', {
      ...hiddenFields(page),
      username: 'alice',
      password: 'correct horse battery staple',
    });
    const errorPage = await expectErrorPage(response);
    expect(isLoginPage(errorPage)).toBe(false);
    expect(attacker.cookies.size).toBe(0);
  });

  it('a consent form posted with a foreign Origin, or from another browser, gets an error page and no code', async () => {
    const consenting = await registerRelyingParty();
    const agent = new UserAgent(server);
    const { parameters } = authorizationRequest(consenting);
    const loginPage = await (await agent.authorize(parameters)).text();
    const consentPage = await (await agent.signIn(loginPage)).text();
    expect(isConsentPage(consentPage)).toBe(true);
    const fields = { ...hiddenFields(consentPage), decision: 'allow' };
    await expectErrorPage(
      await agent.post('/authorize/consent', fields, { origin: 'https://attacker.example' }),
    );
    await expectErrorPage(await new UserAgent(server).post('/authorize/consent', fields));
    // Nothing was granted: the next silent request still needs consent.
    const silent = authorizationRequest(consenting, { prompt: 'none' });
    callbackError(await agent.authorize(silent.parameters), silent.state, 'consent_required');
  });

  it('prompt=none with a sign-in older than max_age is login_required', async () => {
    const agent = new UserAgent(server);
    await login(rp, {}, agent);
    server.advance(2_000);
    // OIDC Core §3.1.2.1: re-authentication is needed, and prompt=none forbids asking for it.
    const { parameters, state } = authorizationRequest(rp, { prompt: 'none', max_age: '1' });
    callbackError(await agent.authorize(parameters), state, 'login_required');
  });

  it('an ID token is not accepted as an access token at UserInfo', async () => {
    const { body } = await login(rp);
    // RFC 8725 §3.11 and RFC 9068 §4: an ID token (audience the client) is no bearer credential.
    const response = await userinfoGet(body.id_token!);
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toMatch(/error="invalid_token"/);
  });

  it('a parameter sent twice is invalid_request (by redirect once client and redirect URI are known)', async () => {
    const agent = new UserAgent(server);
    const { parameters, state } = authorizationRequest(rp);
    // RFC 6749 §3.1: "Request and response parameters MUST NOT be included more than once."
    const query = new URLSearchParams(parameters);
    query.append('scope', 'openid profile');
    callbackError(await agent.get(`/authorize?${query}`), state, 'invalid_request');
    // A second redirect_uri (or client_id) leaves nowhere checked to redirect to: an error page.
    for (const name of ['redirect_uri', 'client_id']) {
      const twice = new URLSearchParams(parameters);
      twice.append(name, name === 'redirect_uri' ? 'https://attacker.example/cb' : rp2.clientId);
      await expectErrorPage(await agent.get(`/authorize?${twice}`));
    }
  });

  it('a parameter sent twice at the token endpoint is invalid_request', async () => {
    const { code } = await authorize(rp);
    const body = new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI });
    body.append('code', code);
    const response = await request(metadata.token_endpoint, {
      method: 'POST',
      headers: { authorization: basic(rp.clientId, rp.secret) },
      body,
    });
    await tokenError(response, 'invalid_request');
  });

  it('the request parameter is request_not_supported', async () => {
    const agent = new UserAgent(server);
    const { parameters, state } = authorizationRequest(rp);
    callbackError(
      await agent.authorize({ ...parameters, request: 'eyJhbGciOiJub25lIn0.e30.' }),
      state,
      'request_not_supported',
    );
  });

  it('every redirect back carries the state sent and iss (RFC 9207 §2), success and error alike', async () => {
    const agent = new UserAgent(server);
    // callback() asserts state and iss on each; here one of every kind of redirect the endpoint makes.
    const success = authorizationRequest(rp);
    const { response } = await interact(agent, await agent.authorize(success.parameters));
    expect(callback(response, success.state).get('code')).toBeTruthy();
    const silent = authorizationRequest(rp, { prompt: 'none' });
    expect(callback(await agent.authorize(silent.parameters), silent.state).get('code')).toBeTruthy();
    const invalid = authorizationRequest(rp, { prompt: 'none login' });
    callbackError(await agent.authorize(invalid.parameters), invalid.state, 'invalid_request');
    const scope = authorizationRequest(rp, { scope: 'openid admin' });
    callbackError(await agent.authorize(scope.parameters), scope.state, 'invalid_scope');
    const loggedOut = authorizationRequest(rp, { prompt: 'none' });
    callbackError(
      await new UserAgent(server).authorize(loggedOut.parameters),
      loggedOut.state,
      'login_required',
    );
    const newClient = await registerRelyingParty();
    const consent = authorizationRequest(newClient, { prompt: 'none' });
    callbackError(await agent.authorize(consent.parameters), consent.state, 'consent_required');
    // A state with reserved and non-ASCII characters comes back exactly as sent.
    const odd = authorizationRequest(rp, { state: 'a b&c=d+e/f?g#h%20ü' });
    expect(callback(await agent.authorize(odd.parameters), odd.state).get('code')).toBeTruthy();
    // Without a state, none comes back (and iss still does).
    const stateless = authorizationRequest(rp);
    delete stateless.parameters.state;
    expect(callback(await agent.authorize(stateless.parameters), undefined).get('code')).toBeTruthy();
  });
});
