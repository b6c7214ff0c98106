/**
 * RFC 9449 at the token endpoint: a proof binds the access token (`cnf.jkt`, `token_type: DPoP`), a
 * client registered with `dpop_bound_access_tokens` must send one, and proofs that break a §4.3 rule
 * are refused with `invalid_dpop_proof` before anything is issued.
 */
import { decodeJwtUnverified } from '@tessera/jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  clientCredentials,
  type DpopKey,
  dpopKey,
  dpopPost,
  handProof,
  htuOf,
  nodeEcKey,
  proofClaims,
  proofFor,
  serverNonce,
  thumbprint,
} from './dpop.js';
import { ADMIN_PASSWORD, startServer, stopServer, type TestServer } from './helpers.js';
import { basic, expectError, form, type TokenBody } from './http.js';
import { request } from './requests.js';

let server: TestServer;
let key: DpopKey;
let jkt: string;
let billingSecret: string;
let strictSecret: string;
const API = 'https://api.example';

beforeAll(async () => {
  server = await startServer();
  const { clients } = server.services;
  ({ secret: billingSecret } = (await clients.add({
    clientId: 'billing',
    type: 'confidential',
    kind: 'service',
    audiences: [API],
    scopes: ['orders:read'],
  })) as { secret: string });
  ({ secret: strictSecret } = (await clients.add({
    clientId: 'strict',
    type: 'confidential',
    kind: 'service',
    audiences: [API],
    scopes: ['orders:read'],
    dpopBoundAccessTokens: true,
  })) as { secret: string });
  await clients.add({
    clientId: 'app',
    type: 'public',
    audiences: [API],
    scopes: ['openid', 'offline_access'],
  });
  key = await dpopKey();
  jkt = await thumbprint(key);
});
afterAll(() => stopServer(server));

/** A client_credentials request of `billing` with exactly this DPoP header. */
const withProof = (proof: string, clientId = 'billing', secret = billingSecret) =>
  request(`${server.url}/token`, {
    method: 'POST',
    headers: { authorization: basic(clientId, secret), dpop: proof },
    body: new URLSearchParams({ grant_type: 'client_credentials' }),
  });

describe('a token request with a DPoP proof (RFC 9449 §5)', () => {
  it('first asks for a server nonce (§8), then issues a DPoP-bound token with cnf.jkt (§6.1)', async () => {
    const first = await withProof(await proofFor(server, key, '/token'));
    await expectError(first, 400, 'use_dpop_nonce');
    const nonce = first.headers.get('dpop-nonce');
    expect(nonce).toMatch(/^[\w-]{30}$/);

    const res = await withProof(await proofFor(server, key, '/token', { nonce: nonce! }));
    expect(res.status).toBe(200);
    // §8.2: a fresh nonce comes with every answer, so the client always holds a current one.
    expect(res.headers.get('dpop-nonce')).toBe(nonce);
    const body = (await res.json()) as TokenBody;
    expect(body.token_type).toBe('DPoP');
    expect(decodeJwtUnverified(body.access_token)).toMatchObject({ sub: 'billing', cnf: { jkt } });
  });

  it('issues a Bearer token without cnf to a request without a proof', async () => {
    const res = await form(
      `${server.url}/token`,
      { grant_type: 'client_credentials' },
      { authorization: basic('billing', billingSecret) },
    );
    const body = (await res.json()) as TokenBody;
    expect(body.token_type).toBe('Bearer');
    expect(decodeJwtUnverified(body.access_token)).not.toHaveProperty('cnf');
    expect(res.headers.get('dpop-nonce')).toBeNull();
  });

  it('binds the tokens of a password login at /login to the proof key', async () => {
    const res = await dpopPost(server, '/login', key, {
      username: 'alice',
      password: ADMIN_PASSWORD,
      client_id: 'app',
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as TokenBody;
    expect(body.token_type).toBe('DPoP');
    expect(decodeJwtUnverified(body.access_token).cnf).toEqual({ jkt });
  });
});

describe('a client registered with dpop_bound_access_tokens (RFC 9449 §5.2)', () => {
  it('is refused a token without a proof', async () => {
    const res = await form(
      `${server.url}/token`,
      { grant_type: 'client_credentials' },
      { authorization: basic('strict', strictSecret) },
    );
    const body = await expectError(res, 400, 'invalid_dpop_proof');
    expect(body.error_description).toMatch(/dpop_bound_access_tokens/);
  });

  it('gets a DPoP-bound token with one', async () => {
    const res = await clientCredentials(server, key, 'strict', strictSecret);
    expect(res.status).toBe(200);
    expect(((await res.json()) as TokenBody).token_type).toBe('DPoP');
  });
});

describe('hostile proofs at the token endpoint (RFC 9449 §4.3)', () => {
  let nonce: string;
  beforeAll(async () => {
    nonce = await serverNonce(server, key);
  });

  async function refused(proof: string, pattern: RegExp): Promise<void> {
    const res = await withProof(proof);
    const body = await expectError(res, 400, 'invalid_dpop_proof');
    expect(body.error_description).toMatch(pattern);
    // Nothing about the proof's content is echoed back.
    expect(body.error_description).not.toContain(proof.split('.')[1]!.slice(0, 16));
  }

  it('refuses a proof for another method (htm)', async () => {
    await refused(await proofFor(server, key, '/token', { nonce, htm: 'GET' }), /htm/);
  });

  it('refuses a proof for another URL (htu): another endpoint, another host', async () => {
    await refused(await proofFor(server, key, '/revoke', { nonce }), /htu/);
    const elsewhere = await import('dpop').then((d) =>
      d.generateProof(key, 'https://attacker.example/token', 'POST', nonce),
    );
    await refused(elsewhere, /htu/);
  });

  it('refuses a replayed proof (the same jti twice)', async () => {
    const proof = await proofFor(server, key, '/token', { nonce });
    expect((await withProof(proof)).status).toBe(200);
    await refused(proof, /already used/);
  });

  it('refuses a proof whose iat is too old, or in the future', async () => {
    const { privateKey, publicJwk } = nodeEcKey();
    const header = { typ: 'dpop+jwt', alg: 'ES256', jwk: publicJwk };
    const stale = { ...proofClaims(server, '/token', nonce), iat: Math.floor(server.now() / 1000) - 600 };
    await refused(handProof(header, stale, { es256: privateKey }), /older/);
    const ahead = { ...proofClaims(server, '/token', nonce), iat: Math.floor(server.now() / 1000) + 600 };
    await refused(handProof(header, ahead, { es256: privateKey }), /future/);
  });

  it('refuses a proof carrying a private key in its jwk', async () => {
    const { privateKey, publicJwk } = nodeEcKey();
    const d = (privateKey.export({ format: 'jwk' }) as { d: string }).d;
    const header = { typ: 'dpop+jwt', alg: 'ES256', jwk: { ...publicJwk, d } };
    await refused(handProof(header, proofClaims(server, '/token', nonce), { es256: privateKey }), /private/);
  });

  it('refuses HS256 and none', async () => {
    const claims = proofClaims(server, '/token', nonce);
    const hs = { typ: 'dpop+jwt', alg: 'HS256', jwk: { kty: 'oct', k: 'c2VjcmV0' } };
    await refused(handProof(hs, claims, { hs256: 'secret' }), /alg/);
    const { publicJwk } = nodeEcKey();
    await refused(handProof({ typ: 'dpop+jwt', alg: 'none', jwk: publicJwk }, claims, 'none'), /alg/);
  });

  it('refuses a proof whose signature is not by the key in its jwk', async () => {
    const { publicJwk } = nodeEcKey();
    const other = nodeEcKey();
    const header = { typ: 'dpop+jwt', alg: 'ES256', jwk: publicJwk };
    await refused(
      handProof(header, proofClaims(server, '/token', nonce), { es256: other.privateKey }),
      /signature/,
    );
  });

  it('refuses a proof with another typ', async () => {
    const { privateKey, publicJwk } = nodeEcKey();
    const header = { typ: 'JWT', alg: 'ES256', jwk: publicJwk };
    await refused(handProof(header, proofClaims(server, '/token', nonce), { es256: privateKey }), /typ/);
  });

  it('refuses two DPoP headers (§4.3 point 1)', async () => {
    const one = await proofFor(server, key, '/token', { nonce });
    const two = await proofFor(server, key, '/token', { nonce });
    await refused(`${one}, ${two}`, /exactly one/);
  });

  it('answers use_dpop_nonce, with a fresh nonce, to a missing or made-up nonce (§8)', async () => {
    for (const bad of [undefined, 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', 'not-a-nonce']) {
      const res = await withProof(await proofFor(server, key, '/token', { nonce: bad }));
      await expectError(res, 400, 'use_dpop_nonce');
      expect(res.headers.get('dpop-nonce')).toBe(nonce);
    }
  });

  it('checks the proof before the client: a refused proof costs no client authentication', async () => {
    // A wrong secret with a proof that needs a nonce: the nonce is asked for first, so a client
    // using a one-time client assertion does not spend it on the retry.
    const res = await request(`${server.url}/token`, {
      method: 'POST',
      headers: { authorization: basic('billing', 'wrong'), dpop: await proofFor(server, key, '/token') },
      body: new URLSearchParams({ grant_type: 'client_credentials' }),
    });
    await expectError(res, 400, 'use_dpop_nonce');
  });
});

describe('DPoP-bound tokens at introspection and revocation (RFC 9449 §6.2)', () => {
  it('introspection says DPoP and cnf.jkt; after revocation the token is inactive', async () => {
    const res = await clientCredentials(server, key, 'billing', billingSecret);
    const { access_token } = (await res.json()) as TokenBody;
    const introspect = () =>
      form(
        `${server.url}/introspect`,
        { token: access_token },
        { authorization: basic('billing', billingSecret) },
      );
    expect(await (await introspect()).json()).toMatchObject({
      active: true,
      token_type: 'DPoP',
      cnf: { jkt },
    });
    const revoked = await form(
      `${server.url}/revoke`,
      { token: access_token },
      { authorization: basic('billing', billingSecret) },
    );
    expect(revoked.status).toBe(200);
    expect(await (await introspect()).json()).toEqual({ active: false });
  });

  it('introspection of a Bearer token says Bearer and has no cnf', async () => {
    const res = await form(
      `${server.url}/token`,
      { grant_type: 'client_credentials' },
      { authorization: basic('billing', billingSecret) },
    );
    const { access_token } = (await res.json()) as TokenBody;
    const body = await (
      await form(
        `${server.url}/introspect`,
        { token: access_token },
        { authorization: basic('billing', billingSecret) },
      )
    ).json();
    expect(body).toMatchObject({ active: true, token_type: 'Bearer' });
    expect(body).not.toHaveProperty('cnf');
  });
});

describe('discovery (RFC 9449 §5.1)', () => {
  it('lists the asymmetric proof algorithms accepted, never none or HMAC', async () => {
    const metadata = (await (await request(`${server.url}/.well-known/openid-configuration`)).json()) as {
      dpop_signing_alg_values_supported: string[];
    };
    expect(metadata.dpop_signing_alg_values_supported).toEqual(
      expect.arrayContaining(['ES256', 'EdDSA', 'RS256', 'PS256']),
    );
    expect(metadata.dpop_signing_alg_values_supported.filter((alg) => /^(none|HS)/.test(alg))).toEqual([]);
  });

  it('names the token endpoint as proofs must (htu is the issuer URL with the path)', async () => {
    const metadata = (await (
      await request(`${server.url}/.well-known/oauth-authorization-server`)
    ).json()) as {
      token_endpoint: string;
    };
    expect(metadata.token_endpoint).toBe(htuOf(server, '/token'));
  });
});

describe('htu behind a reverse proxy (RFC 9449 §4.3 point 9)', () => {
  it("compares htu with the issuer's public URL, path included, not the address the request reached", async () => {
    const proxied = await startServer({ issuer: 'https://auth.example/tenant-a' });
    try {
      const { secret } = await proxied.services.clients.add({
        clientId: 'billing',
        type: 'confidential',
        kind: 'service',
        audiences: [API],
        scopes: ['orders:read'],
      });
      const send = (proof: string) =>
        request(`${proxied.url}/token`, {
          method: 'POST',
          headers: { authorization: basic('billing', secret!), dpop: proof },
          body: new URLSearchParams({ grant_type: 'client_credentials' }),
        });
      const nonce = await serverNonce(proxied, key);
      const direct = await import('dpop').then((d) =>
        d.generateProof(key, `${proxied.url}/token`, 'POST', nonce),
      );
      await expectError(await send(direct), 400, 'invalid_dpop_proof');
      const res = await send(await proofFor(proxied, key, '/token', { nonce }));
      expect(res.status).toBe(200);
      expect(htuOf(proxied, '/token')).toBe('https://auth.example/tenant-a/token');
    } finally {
      await stopServer(proxied);
    }
  });
});
