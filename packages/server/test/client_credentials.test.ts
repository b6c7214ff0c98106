import { compactDecrypt, decodeJwtUnverified, exportJwk, generateKeyPair } from '@tessera/jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, stopServer, type TestServer } from './helpers.js';
import { basic, expectError, form } from './http.js';
import { request } from './requests.js';

let server: TestServer;
let serviceSecret: string;
let encryptionKey: Awaited<ReturnType<typeof generateKeyPair>>;
const ORDERS = 'https://orders.example';
const LEDGER = 'https://ledger.example';

beforeAll(async () => {
  server = await startServer();
  const { services } = server;
  encryptionKey = await generateKeyPair('RSA-OAEP-256');
  await services.resources.add({ resource: ORDERS, name: 'Orders', accessTokenTtl: 120 });
  await services.resources.add({
    resource: LEDGER,
    audience: 'urn:ledger',
    accessTokenFormat: 'jwe',
    encryptionJwk: { ...exportJwk(encryptionKey.publicKey, { public: true }), kid: 'ledger-1' },
  });
  ({ secret: serviceSecret } = (await services.clients.add({
    clientId: 'billing',
    type: 'confidential',
    kind: 'service',
    audiences: ['https://api.example'],
    scopes: ['orders:read', 'orders:write'],
    resources: [ORDERS, LEDGER],
  })) as { secret: string });
  await services.clients.add({
    clientId: 'webapp',
    type: 'confidential',
    kind: 'web',
    audiences: ['https://api.example'],
    scopes: ['openid', 'orders:read'],
  });
});
afterAll(() => stopServer(server));

const token = (fields: Record<string, string | string[]>, secret = serviceSecret, clientId = 'billing') =>
  form(
    `${server.url}/token`,
    { grant_type: 'client_credentials', ...fields },
    { authorization: basic(clientId, secret) },
  );

describe('client_credentials (RFC 6749 §4.4)', () => {
  it('gives a confidential client its own token: sub is the client, no session, no refresh token', async () => {
    const res = await token({});
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const body = (await res.json()) as Record<string, unknown>;
    expect(body).not.toHaveProperty('refresh_token');
    expect(body).not.toHaveProperty('id_token');
    // A service's default lifetime: an hour (tokens/client_lifetimes.ts).
    expect(body).toMatchObject({ token_type: 'Bearer', expires_in: 3600, scope: 'orders:read orders:write' });
    const claims = decodeJwtUnverified(body.access_token as string);
    expect(claims).toMatchObject({ sub: 'billing', client_id: 'billing', aud: 'https://api.example' });
    for (const userClaim of ['sid', 'ver', 'roles', 'permissions'])
      expect(claims).not.toHaveProperty(userClaim);
    expect(claims.exp! - claims.iat!).toBe(3600);
  });

  it('narrows the scope on request and refuses scopes the client does not have, or user scopes', async () => {
    const narrowed = (await (await token({ scope: 'orders:read' })).json()) as { scope: string };
    expect(narrowed.scope).toBe('orders:read');
    await expectError(await token({ scope: 'orders:delete' }), 400, 'invalid_scope');
  });

  it('issues for a registered resource (RFC 8707): aud is the resource alone, with its lifetime', async () => {
    const body = (await (await token({ resource: ORDERS })).json()) as {
      access_token: string;
      expires_in: number;
    };
    expect(body.expires_in).toBe(120);
    expect(decodeJwtUnverified(body.access_token).aud).toBe(ORDERS);
    // `audience` naming the resource's audience works the same.
    const byAudience = (await (await token({ audience: ORDERS })).json()) as { access_token: string };
    expect(decodeJwtUnverified(byAudience.access_token).aud).toBe(ORDERS);
  });

  it('answers invalid_target for an unknown resource, one the client may not ask for, or two at once', async () => {
    await expectError(await token({ resource: 'https://unknown.example' }), 400, 'invalid_target');
    await expectError(await token({ audience: 'https://unknown.example' }), 400, 'invalid_target');
    await expectError(await token({ resource: [ORDERS, LEDGER] }), 400, 'invalid_target');
  });

  it('encrypts the token to a jwe resource: only its key reads the claims, which are signed inside', async () => {
    const body = (await (await token({ resource: LEDGER })).json()) as { access_token: string };
    expect(body.access_token.split('.')).toHaveLength(5);
    const { plaintext, protectedHeader } = await compactDecrypt(body.access_token, encryptionKey.privateKey, {
      keyManagementAlgorithms: ['RSA-OAEP-256'],
      contentEncryptionAlgorithms: ['A256GCM'],
    });
    // RFC 7519 §5.2: the outer header says a JWT is inside; the kid names the resource's key.
    expect(protectedHeader).toMatchObject({
      cty: 'JWT',
      kid: 'ledger-1',
      alg: 'RSA-OAEP-256',
      enc: 'A256GCM',
    });
    const inner = new TextDecoder().decode(plaintext);
    expect(inner.split('.')).toHaveLength(3);
    expect(decodeJwtUnverified(inner)).toMatchObject({ sub: 'billing', aud: 'urn:ledger' });
  });

  it('refuses public clients, clients without the grant, and wrong secrets', async () => {
    await server.services.clients.add({ clientId: 'spa', type: 'public', audiences: [], scopes: [] });
    await expectError(
      await form(`${server.url}/token`, { grant_type: 'client_credentials', client_id: 'spa' }),
      400,
      'unauthorized_client',
    );
    const { secret } = (await server.services.clients.rotateSecret('webapp').then((s) => ({ secret: s! })))!;
    await expectError(await token({}, secret, 'webapp'), 400, 'unauthorized_client');
    await expectError(await token({}, 'wrong'), 401, 'invalid_client');
  });

  it('is revoked by jti and introspected as the client', async () => {
    const { access_token } = (await (await token({})).json()) as { access_token: string };
    const introspected = await form(
      `${server.url}/introspect`,
      { token: access_token },
      { authorization: basic('billing', serviceSecret) },
    );
    expect(await introspected.json()).toMatchObject({ active: true, sub: 'billing', client_id: 'billing' });
    const revoked = await form(
      `${server.url}/revoke`,
      { token: access_token },
      { authorization: basic('billing', serviceSecret) },
    );
    expect(revoked.status).toBe(200);
    const after = await form(
      `${server.url}/introspect`,
      { token: access_token },
      { authorization: basic('billing', serviceSecret) },
    );
    expect(await after.json()).toEqual({ active: false });
    // It describes no user: userinfo refuses it.
    const userinfo = await request(`${server.url}/userinfo`, {
      headers: { authorization: `Bearer ${access_token}` },
    });
    expect(userinfo.status).toBe(401);
  });
});
