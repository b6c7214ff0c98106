import { once } from 'node:events';
import { createServer } from 'node:http';
import { decodeJwtUnverified, verifyDpopProof } from '@tessera/jose';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ADMIN_PASSWORD, stopServer, type TestServer } from '../../server/test/helpers.js';
import { startRealServer } from '../../server/test/real_server.js';
import { type AuthClient, createAuthClient } from '../src/index.js';
import { NodeAgent } from './agent.js';
import { startNonceApi } from './dpop_api.js';

/**
 * DPoP (RFC 9449) as the client does it, in Node against a real Tessera server over HTTP: proofs on
 * every token request, tokens bound to the key, nonces at the token endpoint and at an API.
 */

let server: TestServer;
let issuer: string;
let agent: NodeAgent;
const cleanup: (() => unknown)[] = [];

beforeAll(async () => {
  ({ server, issuer } = await startRealServer({ refreshGrace: 5 }));
});
afterAll(() => stopServer(server));
beforeEach(() => {
  agent = new NodeAgent(new URL(issuer).origin);
});
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

async function loggedIn(apiOrigins: string[] = []): Promise<AuthClient> {
  const auth = createAuthClient({ issuer, fetch: agent.fetch, apiOrigins });
  cleanup.push(() => auth.close());
  await auth.login({ username: 'alice', password: ADMIN_PASSWORD });
  return auth;
}

describe('DPoP', () => {
  it('proves possession on /login and gets a token bound to the key (token_type DPoP, cnf.jkt)', async () => {
    const auth = await loggedIn();
    const login = agent.sent.filter((request) => request.path === '/login').at(-1)!;
    expect(login.status).toBe(200);
    const proof = verifyDpopProof(login.proof!, {
      htm: 'POST',
      htu: `${issuer}/login`,
      algorithms: ['ES256'],
    });
    expect(proof.header.typ).toBe('dpop+jwt');
    expect(proof.header.jwk).not.toHaveProperty('d');
    expect(auth.state.user?.cnf).toEqual({ jkt: proof.jkt });
  });

  it('signs every proof afresh: a new jti each time', async () => {
    await loggedIn();
    await loggedIn();
    const proofs = agent.sent.flatMap((request) => (request.proof ? [request.proof] : []));
    const jtis = proofs.map((proof) => decodeJwtUnverified(proof).jti);
    expect(new Set(jtis).size).toBe(proofs.length);
  });

  it('answers use_dpop_nonce at the token endpoint with one retry carrying the server nonce', async () => {
    await loggedIn();
    const before = agent.sent.length;
    // A reload: a new client, which knows no nonce yet, restores the session by the cookie.
    const reloaded = createAuthClient({ issuer, fetch: agent.fetch });
    cleanup.push(() => reloaded.close());
    expect((await reloaded.ready()).loggedIn).toBe(true);
    const refreshes = agent.sent.slice(before).filter((request) => request.path === '/token/refresh');
    expect(refreshes.map((request) => request.status)).toEqual([400, 200]);
    expect(decodeJwtUnverified(refreshes[0]!.proof!).nonce).toBeUndefined();
    expect(decodeJwtUnverified(refreshes[1]!.proof!).nonce).toEqual(expect.any(String));
  });

  it('answers use_dpop_nonce at an API with one retry carrying its nonce, remembered for that origin', async () => {
    const api = await startNonceApi('api-nonce-1');
    cleanup.push(() => api.close());
    const auth = await loggedIn([api.url]);

    const first = await auth.fetch(`${api.url}/orders?page=2#top`, { method: 'POST', body: 'x' });
    expect(first.status).toBe(200);
    expect(api.requests()).toBe(2);
    // The proof was checked by @tessera/jose: htm, htu without query, ath, and the key the token is bound to.
    expect(api.accepted).toEqual([
      {
        jkt: expect.any(String),
        htm: 'POST',
        htu: `${api.url}/orders`,
        nonce: 'api-nonce-1',
        cnfJkt: api.accepted[0]!.jkt,
      },
    ]);
    const second = await auth.fetch(`${api.url}/orders`);
    expect(second.status).toBe(200);
    expect(api.requests()).toBe(3);
  });

  it('stops after one nonce retry when an API keeps asking, and keeps the session', async () => {
    let requests = 0;
    const stubborn = createServer((_req, res) => {
      requests++;
      res
        .writeHead(401, {
          'www-authenticate': 'DPoP error="use_dpop_nonce"',
          'dpop-nonce': 'always-this-one',
        })
        .end();
    }).listen(0, '127.0.0.1');
    await once(stubborn, 'listening');
    cleanup.push(() => stubborn.close());
    const url = `http://127.0.0.1:${(stubborn.address() as { port: number }).port}`;
    const auth = await loggedIn([url]);
    const refreshes = agent.count('/token/refresh');

    expect((await auth.fetch(`${url}/orders`)).status).toBe(401);
    expect(requests).toBe(2);
    // With the nonce it already has, a second call is sent once.
    expect((await auth.fetch(`${url}/orders`)).status).toBe(401);
    expect(requests).toBe(3);
    expect(agent.count('/token/refresh')).toBe(refreshes);
    expect(auth.state.loggedIn).toBe(true);
  });
});
