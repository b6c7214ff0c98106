import { decodeJwtUnverified } from '@tessera/jose';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ADMIN_PASSWORD, post, removeDataDir, startServer, type TestServer } from './helpers.js';
import { request } from './requests.js';

let server: TestServer;
beforeEach(async () => {
  server = await startServer();
  await server.services.clients.add({
    clientId: 'app',
    type: 'public',
    audiences: [server.services.config.audience],
    scopes: ['openid', 'profile', 'offline_access'],
  });
});
afterEach(async () => {
  await server.close();
  await removeDataDir(server.dataDir);
});

async function login(password = ADMIN_PASSWORD): Promise<Response> {
  return post(`${server.url}/login`, { username: 'alice', password, client_id: 'app' });
}

type Metadata = Record<string, unknown>;
async function metadata(path: string): Promise<{ res: Response; doc: Metadata }> {
  const res = await request(`${server.url}${path}`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^application\/json/);
  return { res, doc: (await res.json()) as Metadata };
}

/** How each endpoint the metadata may list is called. A new one must be added here to be checked. */
const ENDPOINT_METHODS: Record<string, 'GET' | 'POST'> = {
  authorization_endpoint: 'GET',
  jwks_uri: 'GET',
  token_endpoint: 'POST',
  revocation_endpoint: 'POST',
  introspection_endpoint: 'POST',
  userinfo_endpoint: 'GET',
  login_endpoint: 'POST',
  revocation_events_endpoint: 'GET',
  end_session_endpoint: 'GET',
};

describe('discovery', () => {
  for (const path of ['/.well-known/oauth-authorization-server', '/.well-known/openid-configuration']) {
    it(`${path} lists the issuer and only what is implemented`, async () => {
      const { config } = server.services;
      const { res, doc } = await metadata(path);
      expect(res.headers.get('cache-control')).toMatch(/public/);
      // RFC 8414 §3.3: the issuer is exactly the one in the tokens.
      expect(doc.issuer).toBe(config.issuer);
      const token = ((await (await login()).json()) as { access_token: string }).access_token;
      expect(decodeJwtUnverified(token).iss).toBe(doc.issuer);

      expect([...(doc.grant_types_supported as string[])].sort()).toEqual([
        'authorization_code',
        'client_credentials',
        'refresh_token',
        'urn:ietf:params:oauth:grant-type:token-exchange',
      ]);
      // OIDC Discovery §3: the code flow only, S256 only, iss in every response (RFC 9207).
      expect(doc.response_types_supported).toEqual(['code']);
      expect(doc.response_modes_supported).toEqual(['query']);
      expect(doc.code_challenge_methods_supported).toEqual(['S256']);
      expect(doc.authorization_response_iss_parameter_supported).toBe(true);
      expect(doc.subject_types_supported).toEqual(['public']);
      // OIDC Discovery §3: RS256 must be among the ID token algorithms.
      expect(doc.id_token_signing_alg_values_supported).toContain('RS256');
      expect(doc.token_endpoint_auth_methods_supported).toEqual(
        expect.arrayContaining(['client_secret_basic', 'client_secret_post', 'private_key_jwt', 'none']),
      );
      expect(doc.token_endpoint_auth_signing_alg_values_supported).not.toContain('none');
      expect(doc.request_parameter_supported).toBe(false);
      expect(doc.request_uri_parameter_supported).toBe(false);
      expect(doc.claims_supported).toEqual(
        expect.arrayContaining([
          'sub',
          'iss',
          'auth_time',
          'nonce',
          'sid',
          'name',
          'email',
          'email_verified',
        ]),
      );
      expect(doc.revocation_endpoint_auth_methods_supported).toEqual(
        expect.arrayContaining(['client_secret_basic', 'client_secret_post', 'none']),
      );
      // Introspection is for authenticated resource servers only.
      expect(doc.introspection_endpoint_auth_methods_supported).toEqual(
        expect.arrayContaining(['client_secret_basic', 'client_secret_post']),
      );
      expect(doc.introspection_endpoint_auth_methods_supported).not.toContain('none');
      expect(doc.access_token_signing_alg_values_supported).toEqual([config.signingAlg]);
      // OIDC RP-Initiated Logout 1.0 §2.1.
      expect(doc.end_session_endpoint).toBe(`${config.issuer}/logout/end`);
      expect(doc.scopes_supported).toEqual(
        expect.arrayContaining(['openid', 'profile', 'email', 'offline_access']),
      );

      // Every endpoint listed is on the issuer and answers its method (not 404).
      const listed = Object.keys(doc).filter((key) => key.endsWith('_endpoint') || key === 'jwks_uri');
      expect(listed.sort()).toEqual(Object.keys(ENDPOINT_METHODS).sort());
      for (const key of listed) {
        const url = new URL(doc[key] as string);
        expect(`${url.origin}${url.pathname}`).toBe(`${config.issuer}${url.pathname}`);
        const controller = new AbortController();
        const answer = await request(`${server.url}${url.pathname}`, {
          method: ENDPOINT_METHODS[key],
          signal: controller.signal,
          ...(ENDPOINT_METHODS[key] === 'POST'
            ? { headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: '' }
            : {}),
        });
        expect({ key, status: answer.status }).not.toEqual({ key, status: 404 });
        expect({ key, status: answer.status }).not.toEqual({ key, status: 405 });
        expect(answer.status).toBeLessThan(500);
        controller.abort(); // the event stream never ends by itself
      }
    });
  }

  it('serves one document under both names: OIDC Discovery and RFC 8414', async () => {
    const { doc: openid } = await metadata('/.well-known/openid-configuration');
    const { doc: oauth } = await metadata('/.well-known/oauth-authorization-server');
    expect(openid).toEqual(oauth);
  });

  it('the token endpoint supports exactly the grant types listed', async () => {
    const { doc } = await metadata('/.well-known/openid-configuration');
    const { refresh_token } = (await (await login()).json()) as { refresh_token: string };
    const ok = await post(`${server.url}/token`, {
      grant_type: 'refresh_token',
      refresh_token,
      client_id: 'app',
    });
    expect(ok.status).toBe(200);
    // A listed grant is never unsupported (this public client may not use some: another error).
    for (const grant of doc.grant_types_supported as string[]) {
      const res = await post(`${server.url}/token`, { grant_type: grant, client_id: 'app' });
      expect(await res.json()).not.toMatchObject({ error: 'unsupported_grant_type' });
    }
    for (const grant of ['password', 'implicit', 'urn:ietf:params:oauth:grant-type:device_code']) {
      expect(doc.grant_types_supported).not.toContain(grant);
      const res = await post(`${server.url}/token`, { grant_type: grant, client_id: 'app' });
      expect(res.status).toBe(400);
      expect(await res.json()).toMatchObject({ error: 'unsupported_grant_type' });
    }
  });
});

describe('health and metrics', () => {
  it('/healthz is 200', async () => {
    const res = await request(`${server.url}/healthz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok' });
  });

  it('/readyz is 200 while the store answers, 503 when it does not', async () => {
    const ready = await request(`${server.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ status: 'ready' });

    await server.services.db.destroy();
    const down = await request(`${server.url}/readyz`);
    expect(down.status).toBe(503);
    expect(await down.json()).toMatchObject({ status: 'unavailable' });
    // The process itself is still alive.
    expect((await request(`${server.url}/healthz`)).status).toBe(200);
  });
});
