/**
 * RFC 9449 at the code exchange: `dpop_jkt` at the authorization endpoint (§10) binds the code to a
 * key, so only a proof of that key exchanges it; and a proof refused (or a nonce asked for) before
 * the code is redeemed leaves the code usable.
 */
import { decodeJwtUnverified } from '@tessera/jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DpopKey, dpopKey, dpopPost, proofFor, thumbprint } from './dpop.js';
import { startServer, stopServer, type TestServer } from './helpers.js';
import { expectError, type TokenBody } from './http.js';
import { addOidcClient, codeFor, REDIRECT_URI, redirectParameters, UserAgent } from './oidc.js';
import { request } from './requests.js';

let server: TestServer;
let clientId: string;
let key: DpopKey;
let otherKey: DpopKey;
let jkt: string;

beforeAll(async () => {
  server = await startServer();
  ({ clientId } = await addOidcClient(server));
  key = await dpopKey();
  otherKey = await dpopKey();
  jkt = await thumbprint(key);
});
afterAll(() => stopServer(server));

const exchange = (proofKey: DpopKey, code: string, verifier: string, client = clientId) =>
  dpopPost(server, '/token', proofKey, {
    grant_type: 'authorization_code',
    client_id: client,
    code,
    code_verifier: verifier,
    redirect_uri: REDIRECT_URI,
  });

describe('dpop_jkt (RFC 9449 §10)', () => {
  it('a code asked for with dpop_jkt is exchanged with a proof of that key', async () => {
    const { code, verifier } = await codeFor(server, clientId, { parameters: { dpop_jkt: jkt } });
    const res = await exchange(key, code, verifier);
    expect(res.status).toBe(200);
    const body = (await res.json()) as TokenBody;
    expect(body.token_type).toBe('DPoP');
    expect(decodeJwtUnverified(body.access_token).cnf).toEqual({ jkt });
  });

  it('refuses the exchange with a proof of another key (invalid_grant)', async () => {
    const { code, verifier } = await codeFor(server, clientId, { parameters: { dpop_jkt: jkt } });
    const error = await expectError(await exchange(otherKey, code, verifier), 400, 'invalid_grant');
    expect(error.error_description).toMatch(/dpop_jkt/);
  });

  it('refuses the exchange without a proof (invalid_grant)', async () => {
    const { code, verifier } = await codeFor(server, clientId, { parameters: { dpop_jkt: jkt } });
    const res = await request(`${server.url}/token`, {
      method: 'POST',
      body: new URLSearchParams({
        grant_type: 'authorization_code',
        client_id: clientId,
        code,
        code_verifier: verifier,
        redirect_uri: REDIRECT_URI,
      }),
    });
    await expectError(res, 400, 'invalid_grant');
  });

  it('a proof of another key, or none, leaves the code usable: the holder of the key still exchanges it', async () => {
    // A thief who intercepted the code (what dpop_jkt is for) cannot spend it without the key.
    const { code, verifier } = await codeFor(server, clientId, { parameters: { dpop_jkt: jkt } });
    await expectError(await exchange(otherKey, code, verifier), 400, 'invalid_grant');
    const bare = await request(`${server.url}/token`, {
      method: 'POST',
      body: new URLSearchParams({
        grant_type: 'authorization_code',
        client_id: clientId,
        code,
        code_verifier: 'x'.repeat(43),
        redirect_uri: REDIRECT_URI,
      }),
    });
    await expectError(bare, 400, 'invalid_grant');
    const res = await exchange(key, code, verifier);
    expect(res.status).toBe(200);
    expect(((await res.json()) as TokenBody).token_type).toBe('DPoP');
  });

  it('a replay of the exchanged code without its key ends nothing: only a proof of the key is reuse', async () => {
    const { code, verifier } = await codeFor(server, clientId, { parameters: { dpop_jkt: jkt } });
    const body = (await (await exchange(key, code, verifier)).json()) as TokenBody;
    await expectError(await exchange(otherKey, code, verifier), 400, 'invalid_grant');
    // The session the exchange started is still there, its access token still good.
    await expect(server.services.accessTokens.verify(body.access_token)).resolves.toBeDefined();
    // The key's holder replaying the code is reuse, and ends it (RFC 6749 §4.1.2).
    await expectError(await exchange(key, code, verifier), 400, 'invalid_grant');
    await expect(server.services.accessTokens.verify(body.access_token)).rejects.toThrow();
  });

  it('redirects invalid_request for a dpop_jkt that is not a SHA-256 thumbprint', async () => {
    const agent = new UserAgent(server);
    const res = await agent.authorize({
      client_id: clientId,
      redirect_uri: REDIRECT_URI,
      response_type: 'code',
      scope: 'openid',
      code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
      code_challenge_method: 'S256',
      dpop_jkt: 'not a thumbprint',
    });
    expect(redirectParameters(res).get('error')).toBe('invalid_request');
  });
});

describe('a refused proof leaves the code usable', () => {
  it('the use_dpop_nonce round trip does not redeem the code', async () => {
    const { code, verifier } = await codeFor(server, clientId);
    const first = await request(`${server.url}/token`, {
      method: 'POST',
      headers: { dpop: await proofFor(server, key, '/token') },
      body: new URLSearchParams({
        grant_type: 'authorization_code',
        client_id: clientId,
        code,
        code_verifier: verifier,
        redirect_uri: REDIRECT_URI,
      }),
    });
    await expectError(first, 400, 'use_dpop_nonce');
    // The retry, with the nonce, gets the tokens: the code was not spent on the first attempt.
    expect((await exchange(key, code, verifier)).status).toBe(200);
  });

  it('a client that must use DPoP is refused without a proof, and then exchanges the code with one', async () => {
    const { clientId: strict } = await addOidcClient(server, { dpopBoundAccessTokens: true });
    const { code, verifier } = await codeFor(server, strict);
    const bare = await request(`${server.url}/token`, {
      method: 'POST',
      body: new URLSearchParams({
        grant_type: 'authorization_code',
        client_id: strict,
        code,
        code_verifier: verifier,
        redirect_uri: REDIRECT_URI,
      }),
    });
    await expectError(bare, 400, 'invalid_dpop_proof');
    const res = await exchange(key, code, verifier, strict);
    expect(res.status).toBe(200);
    expect(((await res.json()) as TokenBody).token_type).toBe('DPoP');
  });
});
