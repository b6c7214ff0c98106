/**
 * DPoP as independent clients and resource servers see it, over real HTTP: openid-client v6's
 * `getDPoPHandle` for every grant (its automatic `use_dpop_nonce` retry included) and for UserInfo,
 * and oauth4webapi's `validateJwtAccessToken({ requireDPoP: true })`, which checks a server-issued
 * bound token and its proof as an API would. Each library applies RFC 9449 on its own.
 */
import { decodeJwtUnverified } from '@tessera/jose';
import * as dpop from 'dpop';
import * as oauth from 'oauth4webapi';
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stopServer, type TestServer } from './helpers.js';
import { addOidcClient, REDIRECT_URI } from './oidc.js';
import { HttpUserAgent, startRealServer } from './real_server.js';

const API = 'https://api.example';
let server: TestServer;
let issuer: string;
let spaClientId: string;
let service: { clientId: string; secret: string };

beforeAll(async () => {
  ({ server, issuer } = await startRealServer());
  ({ clientId: spaClientId } = await addOidcClient(server));
  const { secret } = await server.services.clients.add({
    clientId: 'billing',
    type: 'confidential',
    kind: 'service',
    audiences: [API],
    scopes: ['orders:read'],
    dpopBoundAccessTokens: true,
  });
  service = { clientId: 'billing', secret: secret! };
});
afterAll(() => stopServer(server));

/** openid-client by discovery, recording the nonce each token request's proof carried. */
async function discover(clientId: string, auth: client.ClientAuth) {
  const config = await client.discovery(new URL(issuer), clientId, undefined, auth, {
    execute: [client.allowInsecureRequests],
  });
  const tokenRequestNonces: (string | undefined)[] = [];
  config[client.customFetch] = (url, init) => {
    const proof = new Headers(init.headers as ConstructorParameters<typeof Headers>[0]).get('dpop');
    if (url === `${issuer}/token` && proof)
      tokenRequestNonces.push(decodeJwtUnverified(proof).nonce as string);
    return fetch(url, init as RequestInit);
  };
  return { config, tokenRequestNonces };
}

const isDpop = (tokenType: string) => tokenType.toLowerCase() === 'dpop';

describe('openid-client getDPoPHandle (RFC 9449)', () => {
  it('the code flow with PKCE and dpop_jkt, refresh, and UserInfo, all bound to one key', async () => {
    const { config, tokenRequestNonces } = await discover(spaClientId, client.None());
    const keyPair = await client.randomDPoPKeyPair('ES256');
    const DPoP = client.getDPoPHandle(config, keyPair);
    const jkt = await dpop.calculateThumbprint(keyPair.publicKey);

    const pkceCodeVerifier = client.randomPKCECodeVerifier();
    const expectedState = client.randomState();
    const authorizationUrl = client.buildAuthorizationUrl(config, {
      redirect_uri: REDIRECT_URI,
      scope: 'openid profile offline_access',
      code_challenge: await client.calculatePKCECodeChallenge(pkceCodeVerifier),
      code_challenge_method: 'S256',
      state: expectedState,
      dpop_jkt: jkt,
    });
    const location = new URL(await new HttpUserAgent(issuer).authorize(authorizationUrl));
    const tokens = await client.authorizationCodeGrant(
      config,
      location,
      { pkceCodeVerifier, expectedState },
      undefined,
      { DPoP },
    );
    expect(isDpop(tokens.token_type)).toBe(true);
    expect(decodeJwtUnverified(tokens.access_token).cnf).toEqual({ jkt });
    // The first attempt had no nonce, was answered use_dpop_nonce, and the library retried with one.
    expect(tokenRequestNonces).toEqual([undefined, expect.stringMatching(/^[\w-]{30}$/)]);

    const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token!, undefined, { DPoP });
    expect(isDpop(refreshed.token_type)).toBe(true);
    // The handle kept the nonce: no second round trip.
    expect(tokenRequestNonces).toHaveLength(3);

    const sub = decodeJwtUnverified(refreshed.access_token).sub as string;
    const userinfo = await client.fetchUserInfo(config, refreshed.access_token, sub, { DPoP });
    expect(userinfo).toMatchObject({ sub, preferred_username: 'alice' });
    // The same token without its proof (as Bearer) is refused with a DPoP challenge (§7.2).
    const bearer = await client
      .fetchUserInfo(config, refreshed.access_token, sub)
      .catch((err: unknown) => err);
    expect(bearer).toBeInstanceOf(client.WWWAuthenticateChallengeError);
    expect((bearer as client.WWWAuthenticateChallengeError).cause[0]).toMatchObject({ scheme: 'dpop' });

    // Another key cannot use the refresh token, and its attempt leaves it working (§5).
    const thief = client.getDPoPHandle(config, await client.randomDPoPKeyPair('ES256'));
    const stolen = await client
      .refreshTokenGrant(config, refreshed.refresh_token!, undefined, { DPoP: thief })
      .catch((err: unknown) => err);
    expect(stolen).toBeInstanceOf(client.ResponseBodyError);
    expect((stolen as client.ResponseBodyError).error).toBe('invalid_grant');
    const again = await client.refreshTokenGrant(config, refreshed.refresh_token!, undefined, { DPoP });
    expect(isDpop(again.token_type)).toBe(true);
  });

  it('client_credentials for a client that requires DPoP (dpop_bound_access_tokens)', async () => {
    const { config, tokenRequestNonces } = await discover(
      service.clientId,
      client.ClientSecretBasic(service.secret),
    );
    const without = await client.clientCredentialsGrant(config).catch((err: unknown) => err);
    expect((without as client.ResponseBodyError).error).toBe('invalid_dpop_proof');

    const DPoP = client.getDPoPHandle(config, await client.randomDPoPKeyPair('EdDSA'));
    const tokens = await client.clientCredentialsGrant(config, undefined, { DPoP });
    expect(isDpop(tokens.token_type)).toBe(true);
    expect(tokenRequestNonces).toHaveLength(2);
  });
});

describe('oauth4webapi validateJwtAccessToken({ requireDPoP: true }) (RFC 9068, RFC 9449 §7)', () => {
  async function boundServiceToken() {
    const config = await client.discovery(
      new URL(issuer),
      service.clientId,
      undefined,
      client.ClientSecretBasic(service.secret),
      { execute: [client.allowInsecureRequests] },
    );
    const keyPair = await client.randomDPoPKeyPair('ES256');
    const DPoP = client.getDPoPHandle(config, keyPair);
    const { access_token } = await client.clientCredentialsGrant(config, undefined, { DPoP });
    return { config, keyPair, accessToken: access_token };
  }

  it('accepts a server-issued bound token with a proof of its key for the API request', async () => {
    const { config, keyPair, accessToken } = await boundServiceToken();
    const url = `${API}/orders`;
    const request = new Request(url, {
      headers: {
        authorization: `DPoP ${accessToken}`,
        dpop: await dpop.generateProof(keyPair, url, 'GET', undefined, accessToken),
      },
    });
    const claims = await oauth.validateJwtAccessToken(config.serverMetadata(), request, API, {
      requireDPoP: true,
      [oauth.allowInsecureRequests]: true,
    });
    expect(claims).toMatchObject({
      sub: 'billing',
      cnf: { jkt: await dpop.calculateThumbprint(keyPair.publicKey) },
    });
  });

  it('refuses the same token as Bearer, and with a proof of another key', async () => {
    const { config, accessToken } = await boundServiceToken();
    const url = `${API}/orders`;
    const validate = (request: Request) =>
      oauth
        .validateJwtAccessToken(config.serverMetadata(), request, API, {
          requireDPoP: true,
          [oauth.allowInsecureRequests]: true,
        })
        .then(
          () => 'accepted',
          () => 'refused',
        );
    expect(await validate(new Request(url, { headers: { authorization: `Bearer ${accessToken}` } }))).toBe(
      'refused',
    );
    const otherKey = await dpop.generateKeyPair('ES256');
    const wrongKey = new Request(url, {
      headers: {
        authorization: `DPoP ${accessToken}`,
        dpop: await dpop.generateProof(otherKey, url, 'GET', undefined, accessToken),
      },
    });
    expect(await validate(wrongKey)).toBe('refused');
  });
});
