/**
 * Client registration (store/client_registration.ts), through the client store as every caller
 * uses it: each rule with the registration that breaks it, each kind with its defaults, and updates,
 * which are checked as the whole registration they leave behind.
 */
import { exportJwk, generateKeyPair, type JsonWebKeySet } from '@tessera/jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ClientRegistration, corsOrigins } from '../src/store/clients.js';
import { removeDataDir, startServer, type TestServer } from './helpers.js';

let server: TestServer;
let publicJwks: JsonWebKeySet;
let privateJwks: JsonWebKeySet;

beforeAll(async () => {
  server = await startServer();
  const { publicKey, privateKey } = await generateKeyPair('ES256', { kid: 'client-key' });
  publicJwks = { keys: [exportJwk(publicKey)] };
  privateJwks = { keys: [exportJwk(privateKey)] };
});
afterAll(async () => {
  await server?.close();
  if (server) await removeDataDir(server.dataDir);
});

let counter = 0;
/** A registration under a client_id of its own (the tests share one store). */
function registration(
  fields: Partial<ClientRegistration> & Pick<ClientRegistration, 'type'>,
): ClientRegistration {
  counter += 1;
  return { clientId: `client-${counter}`, audiences: [], scopes: ['openid'], ...fields };
}

const SPA = 'https://app.example.com/callback';

describe('a registration is refused', () => {
  const refusals: [string, () => Partial<ClientRegistration> & Pick<ClientRegistration, 'type'>, RegExp][] = [
    [
      'a wildcard in a redirect URI (RFC 9700 §2.1: exact matching)',
      () => ({ type: 'public', kind: 'spa', redirectUris: ['https://*.example.com/callback'] }),
      /no wildcards/,
    ],
    [
      'a wildcard in a redirect URI path',
      () => ({ type: 'public', kind: 'spa', redirectUris: ['https://app.example.com/*'] }),
      /no wildcards/,
    ],
    [
      'a redirect URI with a fragment (RFC 6749 §3.1.2)',
      () => ({ type: 'public', kind: 'spa', redirectUris: [`${SPA}#done`] }),
      /no fragment/,
    ],
    [
      'a relative redirect URI',
      () => ({ type: 'public', kind: 'spa', redirectUris: ['/callback'] }),
      /absolute URI/,
    ],
    [
      'an http redirect URI on a host other than loopback',
      () => ({ type: 'confidential', kind: 'web', redirectUris: ['http://app.example.com/callback'] }),
      /uses https/,
    ],
    [
      'a private-use scheme for a client that is not a native app (RFC 8252 §7.1)',
      () => ({ type: 'public', kind: 'spa', redirectUris: ['com.example.app:/callback'] }),
      /private-use scheme/,
    ],
    [
      'a private-use scheme without a dot, even for a native app',
      () => ({ type: 'public', kind: 'native', redirectUris: ['myapp:/callback'] }),
      /private-use scheme/,
    ],
    [
      'a post-logout redirect URI that breaks the same rules',
      () => ({
        type: 'public',
        kind: 'spa',
        redirectUris: [SPA],
        postLogoutRedirectUris: ['http://app.example.com/bye'],
      }),
      /a post-logout redirect URI uses https/,
    ],
    [
      'authorization_code without a redirect URI',
      () => ({ type: 'public', kind: 'spa', grantTypes: ['authorization_code', 'refresh_token'] }),
      /needs at least one redirect URI/,
    ],
    [
      'client_credentials for a public client (RFC 6749 §4.4)',
      () => ({ type: 'public', kind: 'native', grantTypes: ['client_credentials'] }),
      /only confidential clients may use client_credentials/,
    ],
    [
      'a service with authorization_code',
      () => ({
        type: 'confidential',
        kind: 'service',
        redirectUris: [SPA],
        grantTypes: ['client_credentials', 'authorization_code'],
      }),
      /client_credentials only/,
    ],
    [
      'a service with refresh_token',
      () => ({ type: 'confidential', kind: 'service', grantTypes: ['client_credentials', 'refresh_token'] }),
      /client_credentials only/,
    ],
    [
      'a kind of the other type (a public web app)',
      () => ({ type: 'public', kind: 'web' }),
      /a public client cannot be of kind web/,
    ],
    [
      'a confidential client that does not authenticate',
      () => ({ type: 'confidential', kind: 'web', tokenEndpointAuthMethod: 'none' }),
      /a confidential client authenticates/,
    ],
    [
      'a public client with a secret method',
      () => ({ type: 'public', kind: 'spa', tokenEndpointAuthMethod: 'client_secret_basic' }),
      /its auth method is none/,
    ],
    [
      'a public client with private_key_jwt',
      () => ({
        type: 'public',
        kind: 'native',
        tokenEndpointAuthMethod: 'private_key_jwt',
        jwks: publicJwks,
      }),
      /its auth method is none/,
    ],
    [
      'private_key_jwt without keys',
      () => ({ type: 'confidential', kind: 'service', tokenEndpointAuthMethod: 'private_key_jwt' }),
      /private_key_jwt needs the client keys/,
    ],
    [
      'private_key_jwt with both a JWKS and a JWKS URI',
      () => ({
        type: 'confidential',
        kind: 'service',
        tokenEndpointAuthMethod: 'private_key_jwt',
        jwks: publicJwks,
        jwksUri: 'https://client.example.com/jwks.json',
      }),
      /one of them/,
    ],
    [
      'a JWKS that holds a private key',
      () => ({ type: 'confidential', kind: 'service', jwks: privateJwks }),
      /public keys only/,
    ],
    [
      'a JWKS with a symmetric key',
      () => ({ type: 'confidential', kind: 'service', jwks: { keys: [{ kty: 'oct', k: 'c2VjcmV0' }] } }),
      /public keys only/,
    ],
    [
      'a JWKS whose key is not usable',
      () => ({
        type: 'confidential',
        kind: 'service',
        jwks: { keys: [{ kty: 'EC', crv: 'P-256', x: 'AA' }] },
      }),
      /not usable/,
    ],
    [
      'an empty JWKS',
      () => ({ type: 'confidential', kind: 'service', jwks: { keys: [] } }),
      /non-empty "keys" array/,
    ],
    [
      'keys for a secret method',
      () => ({
        type: 'confidential',
        kind: 'web',
        redirectUris: [SPA],
        tokenEndpointAuthMethod: 'client_secret_basic',
        jwks: publicJwks,
      }),
      /for private_key_jwt only/,
    ],
    [
      'a JWKS URI over http on a host other than loopback',
      () => ({ type: 'confidential', kind: 'service', jwksUri: 'http://client.example.com/jwks.json' }),
      /a JWKS URI is https/,
    ],
    [
      'an access-token lifetime under 30 seconds',
      () => ({ type: 'public', kind: 'spa', accessTokenTtl: 10 }),
      /access-token lifetime is 30–86400 seconds/,
    ],
    [
      'an access-token lifetime over a day',
      () => ({ type: 'public', kind: 'spa', accessTokenTtl: 86_401 }),
      /access-token lifetime is 30–86400 seconds/,
    ],
    [
      'a refresh-token lifetime under a minute',
      () => ({ type: 'public', kind: 'native', refreshTokenTtl: 59 }),
      /refresh-token lifetime is 60–/,
    ],
    [
      'a refresh-token lifetime without the refresh_token grant',
      () => ({ type: 'confidential', kind: 'service', refreshTokenTtl: 3_600 }),
      /needs the refresh_token grant/,
    ],
    [
      'a resource that is not registered (RFC 8707)',
      () => ({ type: 'public', kind: 'spa', resources: ['https://unknown.example.com'] }),
      /no such resource: https:\/\/unknown\.example\.com/,
    ],
    [
      'a name with control characters',
      () => ({ type: 'public', kind: 'spa', name: 'Evil\u0007App' }),
      /client name/,
    ],
  ];

  it.each(refusals)('with %s, and nothing is stored', async (_, fields, message) => {
    const input = registration(fields());
    const refused = await server.services.clients.add(input).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(refused).toBeInstanceOf(TypeError);
    expect((refused as TypeError).message).toMatch(message);
    expect(await server.services.clients.byId(input.clientId)).toBeUndefined();
  });
});

describe('each kind gets its defaults', () => {
  it('a browser app (spa): public, the code flow with refresh tokens, no secret', async () => {
    const { client, secret } = await server.services.clients.add(
      registration({ type: 'public', kind: 'spa', redirectUris: [SPA, 'http://127.0.0.1:5173/callback'] }),
    );
    expect(secret).toBeUndefined();
    expect(client).toMatchObject({
      kind: 'spa',
      grantTypes: ['authorization_code', 'refresh_token'],
      responseTypes: ['code'],
      tokenEndpointAuthMethod: 'none',
      skipConsent: false,
      secretHash: null,
    });
  });

  it('a native app: public by default, with a private-use scheme and loopback redirects', async () => {
    const { client, secret } = await server.services.clients.add(
      registration({
        type: 'public',
        redirectUris: [
          'com.example.app:/oauth2redirect',
          'http://[::1]/callback',
          'http://localhost:8080/cb',
        ],
      }),
    );
    expect(secret).toBeUndefined();
    expect(client).toMatchObject({
      kind: 'native',
      grantTypes: ['authorization_code', 'refresh_token'],
      tokenEndpointAuthMethod: 'none',
      skipConsent: false,
    });
  });

  it('a public client without redirect URIs: refresh only (logs in with /login)', async () => {
    const { client } = await server.services.clients.add(registration({ type: 'public', kind: 'native' }));
    expect(client).toMatchObject({ grantTypes: ['refresh_token'], responseTypes: [] });
  });

  it('a server-side web app: confidential by default, client_secret_basic, its secret returned once', async () => {
    const { client, secret } = await server.services.clients.add(
      registration({ type: 'confidential', redirectUris: [SPA], postLogoutRedirectUris: [`${SPA}/bye`] }),
    );
    expect(client).toMatchObject({
      kind: 'web',
      grantTypes: ['authorization_code', 'refresh_token'],
      responseTypes: ['code'],
      tokenEndpointAuthMethod: 'client_secret_basic',
      postLogoutRedirectUris: [`${SPA}/bye`],
      skipConsent: false,
    });
    expect(secret).toMatch(/^[\w-]{43}$/);
    const stored = (await server.services.clients.byId(client.clientId))!;
    expect(stored.secretHash).not.toContain(secret);
    expect(server.services.clients.verifySecret(stored, secret!)).toBe(true);
    expect(server.services.clients.verifySecret(stored, `${secret}x`)).toBe(false);
  });

  it('a service: client_credentials only, with a secret', async () => {
    const { client, secret } = await server.services.clients.add(
      registration({ type: 'confidential', kind: 'service', scopes: ['orders:read'] }),
    );
    expect(client).toMatchObject({
      kind: 'service',
      grantTypes: ['client_credentials'],
      responseTypes: [],
      tokenEndpointAuthMethod: 'client_secret_basic',
    });
    expect(secret).toMatch(/^[\w-]{43}$/);
  });

  it('a confidential client with keys: private_key_jwt, and no secret at all', async () => {
    const { client, secret } = await server.services.clients.add(
      registration({ type: 'confidential', kind: 'service', jwks: publicJwks }),
    );
    expect(secret).toBeUndefined();
    expect(client).toMatchObject({
      tokenEndpointAuthMethod: 'private_key_jwt',
      jwks: publicJwks,
      secretHash: null,
    });
    const byUri = await server.services.clients.add(
      registration({
        type: 'confidential',
        kind: 'service',
        jwksUri: 'https://client.example.com/jwks.json',
      }),
    );
    expect(byUri.secret).toBeUndefined();
    expect(byUri.client).toMatchObject({
      tokenEndpointAuthMethod: 'private_key_jwt',
      jwksUri: 'https://client.example.com/jwks.json',
    });
  });

  it('keeps what the registration says over the defaults: lifetimes, resources, consent', async () => {
    await server.services.resources.add({ resource: 'https://orders.example.com' });
    const { client, secret } = await server.services.clients.add(
      registration({
        type: 'confidential',
        kind: 'web',
        redirectUris: [SPA],
        tokenEndpointAuthMethod: 'client_secret_post',
        accessTokenTtl: 300,
        refreshTokenTtl: 7 * 86_400,
        resources: ['https://orders.example.com'],
        skipConsent: true,
      }),
    );
    expect(secret).toBeDefined();
    expect(client).toMatchObject({
      tokenEndpointAuthMethod: 'client_secret_post',
      accessTokenTtl: 300,
      refreshTokenTtl: 7 * 86_400,
      resources: ['https://orders.example.com'],
      skipConsent: true,
    });
  });
});

describe('web origins (CORS)', () => {
  it('are exact origins as browsers send them; anything else is refused naming the rule', async () => {
    const refusals: [string, RegExp][] = [
      ['https://app.example.com/', /without a path: "https:\/\/app.example.com"/],
      ['https://app.example.com/app', /without a path/],
      ['https://App.Example.com', /written as browsers send it.*"https:\/\/app.example.com"/],
      ['https://app.example.com:443', /written as browsers send it.*"https:\/\/app.example.com"/],
      ['https://*.example.com', /no wildcards/],
      ['*', /no wildcards/],
      ['null', /"null".*cannot be registered/],
      ['http://app.example.com', /https \(http only on a loopback host\)/],
      ['app.example.com', /scheme:\/\/host\[:port\]/],
      ['file:///tmp/app.html', /https \(http only on a loopback host\)/],
      ['https://user:secret@app.example.com', /no user name or password/],
    ];
    for (const [origin, message] of refusals) {
      await expect(
        server.services.clients.add(registration({ type: 'public', kind: 'spa', webOrigins: [origin] })),
        origin,
      ).rejects.toThrow(message);
    }
  });

  it('take https origins and loopback http ones; a spa counts its redirect-URI origins, other kinds do not', async () => {
    const origins = ['https://admin.example.com', 'https://admin.example.com:8443', 'http://localhost:5173'];
    const spa = await server.services.clients.add(
      registration({ type: 'public', kind: 'spa', redirectUris: [SPA], webOrigins: origins }),
    );
    expect(spa.client.webOrigins).toEqual(origins);
    expect(corsOrigins(spa.client)).toEqual([...origins, 'https://app.example.com']);
    const native = await server.services.clients.add(
      registration({ type: 'public', kind: 'native', redirectUris: ['http://127.0.0.1/cb'] }),
    );
    expect(corsOrigins(native.client)).toEqual([]);
    const web = await server.services.clients.add(
      registration({ type: 'confidential', kind: 'web', redirectUris: ['https://notes.example/cb'] }),
    );
    expect(corsOrigins(web.client)).toEqual([]);
  });

  it('are refused for a service, and an update that breaks the rule changes nothing', async () => {
    await expect(
      server.services.clients.add(
        registration({ type: 'confidential', kind: 'service', webOrigins: ['https://app.example.com'] }),
      ),
    ).rejects.toThrow('a service client has no browser: it has no web origins');
    const { client } = await server.services.clients.add(
      registration({ type: 'public', kind: 'spa', webOrigins: ['https://one.example.com'] }),
    );
    await expect(
      server.services.clients.update(client.clientId, { webOrigins: ['https://two.example.com', '*'] }),
    ).rejects.toThrow('no wildcards');
    expect((await server.services.clients.byId(client.clientId))!.webOrigins).toEqual([
      'https://one.example.com',
    ]);
  });

  it('of the built-in web client can be set, and cleared', async () => {
    const updated = await server.services.clients.update('web', { webOrigins: ['http://localhost:5173'] });
    expect(updated!.webOrigins).toEqual(['http://localhost:5173']);
    expect((await server.services.clients.update('web', { webOrigins: [] }))!.webOrigins).toEqual([]);
  });
});

describe('an update is checked as the whole registration it leaves', () => {
  it('refuses to take the redirect URIs away from a client of the code flow, and changes nothing', async () => {
    const { client } = await server.services.clients.add(
      registration({ type: 'public', kind: 'spa', redirectUris: [SPA] }),
    );
    await expect(server.services.clients.update(client.clientId, { redirectUris: [] })).rejects.toThrow(
      /needs at least one redirect URI/,
    );
    await expect(
      server.services.clients.update(client.clientId, {
        grantTypes: ['refresh_token', 'client_credentials'],
      }),
    ).rejects.toThrow(/only confidential clients/);
    await expect(
      server.services.clients.update(client.clientId, { redirectUris: ['https://app.example.com/cb#x'] }),
    ).rejects.toThrow(/no fragment/);
    await expect(
      server.services.clients.update(client.clientId, { resources: ['https://unknown.example.com'] }),
    ).rejects.toThrow(/no such resource/);
    expect(await server.services.clients.byId(client.clientId)).toEqual(client);
  });

  it('refuses a session lifetime for a service, and clears a lifetime given null', async () => {
    const { client } = await server.services.clients.add(
      registration({ type: 'confidential', kind: 'service', accessTokenTtl: 600 }),
    );
    await expect(server.services.clients.update(client.clientId, { refreshTokenTtl: 3_600 })).rejects.toThrow(
      /needs the refresh_token grant/,
    );
    const cleared = await server.services.clients.update(client.clientId, { accessTokenTtl: null });
    expect(cleared?.accessTokenTtl).toBeUndefined();
  });

  it('drops the secret when a client switches to private_key_jwt: the old secret no longer verifies', async () => {
    const { client, secret } = await server.services.clients.add(
      registration({ type: 'confidential', kind: 'service' }),
    );
    await expect(
      server.services.clients.update(client.clientId, { tokenEndpointAuthMethod: 'private_key_jwt' }),
    ).rejects.toThrow(/needs the client keys/);
    await expect(
      server.services.clients.update(client.clientId, {
        tokenEndpointAuthMethod: 'private_key_jwt',
        jwks: privateJwks,
      }),
    ).rejects.toThrow(/public keys only/);
    // Refused updates kept the secret.
    expect(
      server.services.clients.verifySecret((await server.services.clients.byId(client.clientId))!, secret!),
    ).toBe(true);

    const switched = (await server.services.clients.update(client.clientId, {
      tokenEndpointAuthMethod: 'private_key_jwt',
      jwks: publicJwks,
    }))!;
    expect(switched).toMatchObject({
      tokenEndpointAuthMethod: 'private_key_jwt',
      jwks: publicJwks,
      secretHash: null,
    });
    expect(server.services.clients.verifySecret(switched, secret!)).toBe(false);
    await expect(server.services.clients.rotateSecret(client.clientId)).rejects.toThrow(/private_key_jwt/);

    // Back to a secret method: keys go, no secret works until a new one is made.
    await expect(
      server.services.clients.update(client.clientId, { tokenEndpointAuthMethod: 'client_secret_basic' }),
    ).rejects.toThrow(/for private_key_jwt only/);
    const back = (await server.services.clients.update(client.clientId, {
      tokenEndpointAuthMethod: 'client_secret_basic',
      jwks: null,
    }))!;
    expect(back).toMatchObject({
      tokenEndpointAuthMethod: 'client_secret_basic',
      jwks: undefined,
      secretHash: null,
    });
    expect(server.services.clients.verifySecret(back, secret!)).toBe(false);
    const fresh = (await server.services.clients.rotateSecret(client.clientId))!;
    const rotated = (await server.services.clients.byId(client.clientId))!;
    expect(server.services.clients.verifySecret(rotated, fresh)).toBe(true);
    expect(server.services.clients.verifySecret(rotated, secret!)).toBe(false);
  });

  it('swaps a JWKS for a JWKS URI only when the other is removed in the same update', async () => {
    const { client } = await server.services.clients.add(
      registration({ type: 'confidential', kind: 'service', jwks: publicJwks }),
    );
    const jwksUri = 'https://client.example.com/jwks.json';
    await expect(server.services.clients.update(client.clientId, { jwksUri })).rejects.toThrow(/one of them/);
    const swapped = await server.services.clients.update(client.clientId, { jwksUri, jwks: null });
    expect(swapped).toMatchObject({ jwksUri, jwks: undefined });
  });
});
