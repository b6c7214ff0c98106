/**
 * The resource store (RFC 8707 resource indicators): what an API is registered with, and the keys
 * its encrypted tokens (format jwe) may be encrypted to.
 */
import { exportJwk, generateKeyPair, type Jwk } from '@tessera/jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ResourceRegistration } from '../src/store/resources.js';
import { removeDataDir, startServer, type TestServer } from './helpers.js';

let server: TestServer;
let rsaPublic: Jwk;
let rsaPrivate: Jwk;
let ecPublic: Jwk;
let signingPublic: Jwk;

beforeAll(async () => {
  server = await startServer();
  const rsa = await generateKeyPair('RSA-OAEP-256', { kid: 'orders-enc' });
  rsaPublic = exportJwk(rsa.publicKey);
  rsaPrivate = exportJwk(rsa.privateKey);
  ecPublic = exportJwk((await generateKeyPair('ECDH-ES+A256KW')).publicKey);
  signingPublic = exportJwk((await generateKeyPair('ES256')).publicKey);
});
afterAll(async () => {
  await server?.close();
  if (server) await removeDataDir(server.dataDir);
});

/** The TypeError `add` refuses the registration with (undefined when it was accepted). */
async function refusal(input: ResourceRegistration): Promise<TypeError | undefined> {
  const result = await server.services.resources.add(input).then(
    () => undefined,
    (err: unknown) => err,
  );
  if (result !== undefined && !(result instanceof TypeError)) throw result;
  return result;
}

describe('resources', () => {
  it('adds, lists and removes resources; the audience and name default to the resource URI', async () => {
    const { resources } = server.services;
    const plain = await resources.add({ resource: 'https://catalog.example.com' });
    expect(plain).toEqual({
      resource: 'https://catalog.example.com',
      name: 'https://catalog.example.com',
      audience: 'https://catalog.example.com',
      accessTokenTtl: undefined,
      accessTokenFormat: 'jwt',
      encryptionJwk: undefined,
    });
    const named = await resources.add({
      resource: 'urn:example:billing',
      name: 'Billing',
      audience: 'billing-api',
      accessTokenTtl: 300,
    });
    expect(await resources.byId('urn:example:billing')).toEqual(named);
    expect((await resources.list()).map((r) => r.resource)).toEqual(
      expect.arrayContaining(['https://catalog.example.com', 'urn:example:billing']),
    );

    // Replacing in place would change every client's tokens for it: remove it first.
    expect((await refusal({ resource: 'https://catalog.example.com' }))?.message).toMatch(/already exists/);

    expect(await resources.remove('https://catalog.example.com')).toBe(true);
    expect(await resources.remove('https://catalog.example.com')).toBe(false);
    expect(await resources.byId('https://catalog.example.com')).toBeUndefined();
    // Gone for new registrations too.
    await expect(
      server.services.clients.add({
        clientId: 'catalog-app',
        type: 'public',
        audiences: [],
        scopes: ['openid'],
        resources: ['https://catalog.example.com'],
      }),
    ).rejects.toThrow(/no such resource/);
  });

  it('refuses what is not an RFC 8707 §2 resource indicator', async () => {
    for (const resource of [
      'api',
      '/orders',
      'https://api.example.com/#section',
      'https://api.example.com/a b',
      `https://api.example.com/${'a'.repeat(512)}`,
    ])
      expect((await refusal({ resource }))?.message, resource).toMatch(/a resource/);
    expect(await refusal({ resource: 'https://ok.example.com', audience: 'two words' })).toBeInstanceOf(
      TypeError,
    );
    expect(await refusal({ resource: 'https://ok.example.com', accessTokenTtl: 10 })).toBeInstanceOf(
      TypeError,
    );
    expect(await refusal({ resource: 'https://ok.example.com', name: 'bell\u0007' })).toBeInstanceOf(
      TypeError,
    );
    expect(await server.services.resources.byId('https://ok.example.com')).toBeUndefined();
  });

  it('encrypts to a public RSA (RSA-OAEP-256) or EC (ECDH-ES+A256KW) key for format jwe', async () => {
    const rsa = await server.services.resources.add({
      resource: 'https://orders.example.com',
      accessTokenFormat: 'jwe',
      encryptionJwk: rsaPublic,
    });
    expect(rsa).toMatchObject({ accessTokenFormat: 'jwe', encryptionJwk: rsaPublic });
    const ec = await server.services.resources.add({
      resource: 'https://payments.example.com',
      accessTokenFormat: 'jwe',
      encryptionJwk: ecPublic,
    });
    expect(ec.encryptionJwk).toEqual(ecPublic);
  });

  it('refuses format jwe without a key, and a key without format jwe', async () => {
    expect((await refusal({ resource: 'https://a.example.com', accessTokenFormat: 'jwe' }))?.message).toMatch(
      /needs the resource's public encryption key/,
    );
    expect(
      (
        await refusal({
          resource: 'https://a.example.com',
          accessTokenFormat: 'jwt',
          encryptionJwk: rsaPublic,
        })
      )?.message,
    ).toMatch(/for format jwe only/);
  });

  it('refuses a private key, a symmetric key, and keys that cannot encrypt', async () => {
    const jwe = (encryptionJwk: Jwk) => ({
      resource: 'https://keys.example.com',
      accessTokenFormat: 'jwe' as const,
      encryptionJwk,
    });
    // A private key handed to the provider is a leaked key: refused, not stored.
    expect((await refusal(jwe(rsaPrivate)))?.message).toMatch(/public key only/);
    expect((await refusal(jwe({ kty: 'oct', k: 'c2VjcmV0LXNlY3JldC1zZWNyZXQ' })))?.message).toMatch(
      /public key only/,
    );
    const x25519 = exportJwk((await generateKeyPair('ECDH-ES', { crv: 'X25519' })).publicKey);
    expect((await refusal(jwe(x25519)))?.message).toMatch(/RSA \(RSA-OAEP-256\) or EC/);
    // A signing key pinned to its JWS algorithm is not an encryption key.
    expect((await refusal(jwe(signingPublic)))?.message).toMatch(/serves ECDH-ES\+A256KW/);
    expect((await refusal(jwe({ ...ecPublic, use: 'sig' })))?.message).toMatch(/not a usable JWK/);
    expect((await refusal(jwe({ kty: 'RSA', n: 'AQAB', e: 'AQAB' })))?.message).toMatch(/not a usable JWK/);
    expect(await server.services.resources.byId('https://keys.example.com')).toBeUndefined();
  });
});
