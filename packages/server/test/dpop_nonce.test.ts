/**
 * RFC 9449 §8 server nonces and §11.1 proof replay, as several instances see them: nonces are
 * stateless (an HMAC over the time window under a key derived from the master key), so any instance
 * with the same master key accepts any other's; a nonce lives its window and the next. A proof's
 * `jti` is refused everywhere once used, through Redis when the server is scaled out.
 */
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DPOP_NONCE_WINDOW_SECONDS } from '../src/http/dpop/nonces.js';
import {
  createDpopProofs,
  DPOP_CLOCK_TOLERANCE_SECONDS,
  DPOP_PROOF_MAX_AGE_SECONDS,
  DpopRefused,
} from '../src/http/dpop/proofs.js';
import { createLogger } from '../src/shared/logger.js';
import { openRedis, type SharedRedis } from '../src/shared/redis.js';
import {
  createMemoryReplayCache,
  createRedisReplayCache,
  ReplayCacheUnavailable,
} from '../src/shared/replay_cache.js';
import { type DpopKey, dpopKey, handProof, nodeEcKey, proofClaims, proofFor, serverNonce } from './dpop.js';
import { startServer, stopServer, type TestServer } from './helpers.js';
import { basic, expectError, type TokenBody } from './http.js';
import { deleteKeys, REDIS_URL, redisUnreachable, uniquePrefix } from './redis.js';
import { request } from './requests.js';

let a: TestServer;
let b: TestServer;
let key: DpopKey;
const secrets = new Map<TestServer, string>();

/** Two instances with the same master key (as every instance of one deployment has). */
beforeAll(async () => {
  [a, b] = await Promise.all([startServer(), startServer()]);
  for (const server of [a, b]) {
    const { secret } = await server.services.clients.add({
      clientId: 'billing',
      type: 'confidential',
      kind: 'service',
      audiences: ['https://api.example'],
      scopes: ['orders:read'],
    });
    secrets.set(server, secret!);
  }
  key = await dpopKey();
});
afterAll(async () => {
  await Promise.all([stopServer(a), stopServer(b)]);
});

/** client_credentials at `server` with exactly this proof. */
const tokenRequest = (server: TestServer, proof: string) =>
  request(`${server.url}/token`, {
    method: 'POST',
    headers: { authorization: basic('billing', secrets.get(server)!), dpop: proof },
    body: new URLSearchParams({ grant_type: 'client_credentials' }),
  });

describe('server nonces (RFC 9449 §8)', () => {
  it('a nonce from one instance is accepted by another: nothing is stored, the master key decides', async () => {
    const nonce = await serverNonce(a, key);
    const res = await tokenRequest(b, await proofFor(b, key, '/token', { nonce }));
    expect(res.status).toBe(200);
    expect(((await res.json()) as TokenBody).token_type).toBe('DPoP');
    expect(res.headers.get('dpop-nonce')).toBe(nonce);
  });

  it('an instance with another master key answers use_dpop_nonce with its own nonce', async () => {
    const other = await startServer({ masterKey: 'B'.repeat(43) });
    try {
      const { secret } = await other.services.clients.add({
        clientId: 'billing',
        type: 'confidential',
        kind: 'service',
        audiences: ['https://api.example'],
        scopes: ['orders:read'],
      });
      secrets.set(other, secret!);
      const nonce = await serverNonce(a, key);
      const res = await tokenRequest(other, await proofFor(other, key, '/token', { nonce }));
      await expectError(res, 400, 'use_dpop_nonce');
      const fresh = res.headers.get('dpop-nonce');
      expect(fresh).not.toBe(nonce);
      expect(
        (await tokenRequest(other, await proofFor(other, key, '/token', { nonce: fresh! }))).status,
      ).toBe(200);
    } finally {
      await stopServer(other);
    }
  });

  it('a nonce lives its window and the next, then is stale', async () => {
    const server = await startServer();
    try {
      const { secret } = await server.services.clients.add({
        clientId: 'billing',
        type: 'confidential',
        kind: 'service',
        audiences: ['https://api.example'],
        scopes: ['orders:read'],
      });
      secrets.set(server, secret!);
      const nonce = await serverNonce(server, key);
      // Proofs made on the server's (advanced) clock, so only the nonce's age is in question.
      const { privateKey, publicJwk } = nodeEcKey();
      const proof = () =>
        handProof({ typ: 'dpop+jwt', alg: 'ES256', jwk: publicJwk }, proofClaims(server, '/token', nonce), {
          es256: privateKey,
        });
      server.advance(DPOP_NONCE_WINDOW_SECONDS * 1000);
      expect((await tokenRequest(server, proof())).status).toBe(200);
      server.advance(DPOP_NONCE_WINDOW_SECONDS * 1000);
      const stale = await tokenRequest(server, proof());
      await expectError(stale, 400, 'use_dpop_nonce');
      expect(stale.headers.get('dpop-nonce')).not.toBe(nonce);
    } finally {
      await stopServer(server);
    }
  });

  it('with dpopNonce off, a proof without a nonce is accepted and no nonce is handed out', async () => {
    const server = await startServer({ dpopNonce: false });
    try {
      const { secret } = await server.services.clients.add({
        clientId: 'billing',
        type: 'confidential',
        kind: 'service',
        audiences: ['https://api.example'],
        scopes: ['orders:read'],
      });
      secrets.set(server, secret!);
      const res = await tokenRequest(server, await proofFor(server, key, '/token'));
      expect(res.status).toBe(200);
      expect(((await res.json()) as TokenBody).token_type).toBe('DPoP');
      expect(res.headers.get('dpop-nonce')).toBeNull();
    } finally {
      await stopServer(server);
    }
  });
});

describe('proof replay on one instance (RFC 9449 §11.1)', () => {
  it('a proof is refused for as long as its iat is accepted, to the last millisecond', async () => {
    let now = Date.UTC(2026, 0, 1);
    const clock = () => now;
    const proofs = createDpopProofs(
      { issuer: 'https://auth.example', dpopNonce: false },
      Buffer.alloc(32, 7),
      createMemoryReplayCache(clock),
      clock,
    );
    const { privateKey, publicJwk } = nodeEcKey();
    const iat = now / 1000;
    const claims = { jti: 'one', htm: 'POST', htu: 'https://auth.example/token', iat };
    const proof = handProof({ typ: 'dpop+jwt', alg: 'ES256', jwk: publicJwk }, claims, { es256: privateKey });
    const check = { htm: 'POST', path: '/token', nonce: false };
    expect(await proofs.check(proof, check)).toMatchObject({ jkt: expect.any(String) });
    // The last instant the iat window still accepts the proof: its jti must still be remembered.
    now = (iat + DPOP_PROOF_MAX_AGE_SECONDS + DPOP_CLOCK_TOLERANCE_SECONDS) * 1000;
    const replayed = await proofs.check(proof, check).catch((err: unknown) => err);
    expect(replayed).toBeInstanceOf(DpopRefused);
    expect((replayed as DpopRefused).message).toMatch(/already used/);
  });
});

describe('the replay cache of proofs, on one machine', () => {
  it('a flood of proofs fills only its own: client assertions still get their one-time ids', async () => {
    const server = await startServer();
    try {
      // What anyone can leave behind with valid proofs of keys of their own (no client, no account
      // needed: proofs are checked first): the proofs' jti cache full of live ids.
      const until = server.now() + 60_000;
      const flood = async () => {
        for (let i = 0; ; i++) await server.services.dpop.replayCache.firstUse('dpop:flood', `${i}`, until);
      };
      expect(await flood().catch((err: unknown) => err)).toBeInstanceOf(ReplayCacheUnavailable);
      // private_key_jwt (RFC 7523 §3 item 7) still records a new assertion's jti.
      expect(await server.services.replayCache.firstUse('client_assertion:partner', 'jti-1', until)).toBe(
        true,
      );
    } finally {
      await stopServer(server);
    }
  });
});

const skipRedis = await redisUnreachable();

describe.skipIf(skipRedis)('proof replay across instances sharing Redis (RFC 9449 §11.1)', () => {
  const prefix = uniquePrefix();
  const connections: SharedRedis[] = [];
  afterAll(async () => {
    for (const redis of connections) await redis.close();
    await deleteKeys(prefix);
  });

  async function instance() {
    const redis = openRedis(REDIS_URL, prefix, createLogger({ logLevel: 'silent' }, false));
    connections.push(redis);
    if (redis.client.status !== 'ready') await once(redis.client, 'ready');
    return createDpopProofs(
      { issuer: 'https://auth.example', dpopNonce: true },
      Buffer.alloc(32, 7),
      createRedisReplayCache(redis),
      Date.now,
    );
  }

  it('a proof accepted by one instance is refused by the other', async () => {
    const [one, two] = [await instance(), await instance()];
    const nonce = one.nonces!.current();
    const proof = await import('dpop').then((d) =>
      d.generateProof(key, 'https://auth.example/token', 'POST', nonce),
    );
    const check = { htm: 'POST', path: '/token', nonce: true };
    expect(await one.check(proof, check)).toMatchObject({ jkt: expect.any(String) });
    const replayed = await two.check(proof, check).catch((err: unknown) => err);
    expect(replayed).toBeInstanceOf(DpopRefused);
    expect((replayed as DpopRefused).error).toBe('invalid_dpop_proof');
  });
});
