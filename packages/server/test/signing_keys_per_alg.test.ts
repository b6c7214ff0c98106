/**
 * Signing keys per algorithm: access tokens signed ES256 (`signingAlg`), ID tokens RS256
 * (`idTokenSigningAlg`, which OpenID Connect Discovery requires providers to support), each algorithm
 * with its own next and current key, its own rotation schedule and its own retention, all in one JWKS.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createLocalJwks,
  decodeJwtUnverified,
  decodeProtectedHeader,
  type Jwk,
  jwkThumbprint,
  verifyJwt,
} from '@tessera/jose';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Config, loadConfig } from '../src/config.js';
import { createSealer } from '../src/keys/master_key.js';
import { revokeSigningKey } from '../src/keys/revoke_key.js';
import {
  createSigningKeys,
  publishedLongEnough,
  RETIRED_KEY_MARGIN,
  RotationTooSoon,
  type SigningKeyInfo,
  type SigningKeys,
  UnknownSigningAlgorithm,
} from '../src/keys/signing_keys.js';
import { type Db, openDatabase } from '../src/store/database.js';
import { AccessTokenRejected } from '../src/tokens/access_tokens.js';
import { createAccessTokenLifetimes } from '../src/tokens/lifetimes.js';
import { TEST_STORE } from './databases.js';
import {
  ADMIN_PASSWORD,
  createTestDatabase,
  dropTestDatabase,
  post,
  removeDataDir,
  startServer,
  type TestServer,
} from './helpers.js';
import { request } from './requests.js';

/** The master key `startServer` uses. */
const MASTER_KEY = 'A'.repeat(43);
const sealer = createSealer(Buffer.from(MASTER_KEY, 'base64url'));

let server: TestServer;
const extra: TestServer[] = [];
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
  for (const other of extra.splice(0)) {
    await other.close();
    await removeDataDir(other.dataDir);
  }
  await server.close();
  await removeDataDir(server.dataDir);
});

const config = () => server.services.config;

async function publishedJwks(of: TestServer = server): Promise<Jwk[]> {
  const res = await request(`${of.url}/.well-known/jwks.json`);
  expect(res.status).toBe(200);
  return ((await res.json()) as { keys: Jwk[] }).keys;
}
const publishedKids = async (of: TestServer = server) => (await publishedJwks(of)).map((k) => k.kid).sort();

/** The one key of `alg` in `state` (fails if there are several or none). */
async function only(
  alg: string,
  state: SigningKeyInfo['state'],
  keys: SigningKeys = server.services.keys,
): Promise<SigningKeyInfo> {
  const found = (await keys.list()).filter((k) => k.alg === alg && k.state === state);
  expect(found, `${alg} ${state}`).toHaveLength(1);
  return found[0]!;
}
async function kidsOf(alg: string, state: SigningKeyInfo['state'], keys: SigningKeys = server.services.keys) {
  return (await keys.list())
    .filter((k) => k.alg === alg && k.state === state)
    .map((k) => k.kid)
    .sort();
}

async function login(of: TestServer = server): Promise<string> {
  const res = await post(`${of.url}/login`, {
    username: 'alice',
    password: ADMIN_PASSWORD,
    client_id: 'app',
  });
  expect(res.status).toBe(200);
  return ((await res.json()) as { access_token: string }).access_token;
}
const userinfo = (token: string) =>
  request(`${server.url}/userinfo`, { headers: { authorization: `Bearer ${token}` } });

/** An ID token as the lead's id_tokens.ts makes one: the caller sets `exp`. */
function idToken(keys: SigningKeys, claims: Record<string, unknown> = {}): string {
  const now = Math.floor(server.now() / 1000);
  return keys.idTokenSigner().sign({
    sub: 'usr_alice',
    aud: 'app',
    azp: 'app',
    exp: now + config().idTokenTtl,
    ...claims,
  });
}

describe('one JWKS, a current and a next key per algorithm', () => {
  it('publishes an ES256 and an RS256 current key, each with its next key; every JWK with kid, alg and use', async () => {
    expect(config()).toMatchObject({ signingAlg: 'ES256', idTokenSigningAlg: 'RS256' });
    const keys = await publishedJwks();
    expect(keys).toHaveLength(4);
    const listed = await server.services.keys.list();
    for (const alg of ['ES256', 'RS256']) {
      const kids = [(await only(alg, 'current')).kid, (await only(alg, 'next')).kid].sort();
      expect(
        keys
          .filter((k) => k.alg === alg)
          .map((k) => k.kid)
          .sort(),
      ).toEqual(kids);
    }
    // Grouped by algorithm, the access tokens' first.
    expect(listed.map((k) => `${k.alg} ${k.state}`)).toEqual([
      'ES256 current',
      'ES256 next',
      'RS256 current',
      'RS256 next',
    ]);
    for (const key of keys) {
      expect(key).not.toHaveProperty('d');
      expect(key.use).toBe('sig');
      expect(key.kid).toBe(jwkThumbprint(key));
      expect(key.kty).toBe(key.alg === 'RS256' ? 'RSA' : 'EC');
    }
  });

  it('signs access tokens with the ES256 current key (at+jwt), ID tokens with the RS256 one (JWT)', async () => {
    const access = await login();
    expect(decodeProtectedHeader(access)).toEqual({
      alg: 'ES256',
      kid: (await only('ES256', 'current')).kid,
      typ: 'at+jwt',
    });

    const token = idToken(server.services.keys, { nonce: 'n-0S6_WzA2Mj' });
    expect(decodeProtectedHeader(token)).toEqual({
      alg: 'RS256',
      kid: (await only('RS256', 'current')).kid,
      typ: 'JWT',
    });
    const claims = decodeJwtUnverified(token);
    // iss and iat from the signer; exp as the caller set it; no jti of the signer's own.
    const now = Math.floor(server.now() / 1000);
    expect(claims.iss).toBe(config().issuer);
    expect(claims.iat).toBeGreaterThanOrEqual(now - 1);
    expect(claims.exp).toBe((claims.iat as number) + config().idTokenTtl);
    expect(claims).not.toHaveProperty('jti');
    // A client verifies it with the published JWKS (OIDC Core §3.1.3.7).
    const verified = await verifyJwt(token, createLocalJwks({ keys: await publishedJwks() }), {
      algorithms: ['RS256'],
      issuer: config().issuer,
      audience: 'app',
      currentDate: new Date(server.now()),
    });
    expect(verified.payload.nonce).toBe('n-0S6_WzA2Mj');
  });

  it('signs an access token without exp of its own with accessTokenTtl, and keeps an exp the caller set', async () => {
    const signer = server.services.keys.signer();
    const now = Math.floor(server.now() / 1000);
    const defaulted = decodeJwtUnverified(signer.sign({ sub: 'usr_x' }));
    expect(defaulted.exp).toBe((defaulted.iat as number) + config().accessTokenTtl);
    expect(typeof defaulted.jti).toBe('string');
    const own = decodeJwtUnverified(signer.sign({ sub: 'usr_x', exp: now + 7200 }));
    expect(own.exp).toBe(now + 7200);
  });
});

describe('an ID token never passes as an access token (RFC 8725 §3.11: explicit typing)', () => {
  /** Every claim the server's access-token check requires, for alice. */
  async function accessClaims(of: TestServer) {
    const alice = (await of.services.users.byUsername('alice'))!;
    return {
      sub: alice.id,
      aud: of.services.config.audience,
      client_id: 'app',
      scope: 'openid',
      sid: 'a-session',
      ver: alice.tokenVersion,
      jti: 'an-id',
      exp: Math.floor(of.now() / 1000) + 600,
    };
  }

  it('is refused by the access-token check though it carries every access-token claim', async () => {
    const claims = await accessClaims(server);
    const token = server.services.keys.idTokenSigner().sign(claims);
    await expect(server.services.accessTokens.verify(token)).rejects.toEqual(
      new AccessTokenRejected('invalid'),
    );
    expect((await userinfo(token)).status).toBe(401);
    // The same claims through the access-token signer pass: the refusal is the typing alone.
    await expect(
      server.services.accessTokens.verify(server.services.keys.signer().sign(claims)),
    ).resolves.toBeDefined();
  });

  it('is refused even when both token kinds share one algorithm, and so one key', async () => {
    const shared = await startServer({ idTokenSigningAlg: 'ES256' });
    extra.push(shared);
    const { keys } = shared.services;
    expect(keys.idTokenSigner().kid).toBe(keys.signer().kid);
    expect(await publishedJwks(shared)).toHaveLength(2);
    const claims = await accessClaims(shared);
    const token = keys.idTokenSigner().sign(claims);
    expect(decodeProtectedHeader(token)).toMatchObject({ alg: 'ES256', typ: 'JWT' });
    await expect(shared.services.accessTokens.verify(token)).rejects.toEqual(
      new AccessTokenRejected('invalid'),
    );
    await expect(shared.services.accessTokens.verify(keys.signer().sign(claims))).resolves.toBeDefined();
  });
});

describe('rotation per algorithm', () => {
  it('rotate() rotates every algorithm: each next key signs, each current key retires and stays published', async () => {
    const before = {
      es: { current: await only('ES256', 'current'), next: await only('ES256', 'next') },
      rs: { current: await only('RS256', 'current'), next: await only('RS256', 'next') },
    };
    server.advance(publishedLongEnough(config()));
    await server.services.keys.rotate();
    for (const [alg, was] of [
      ['ES256', before.es],
      ['RS256', before.rs],
    ] as const) {
      expect(await kidsOf(alg, 'current')).toEqual([was.next.kid]);
      expect(await kidsOf(alg, 'retired')).toEqual([was.current.kid]);
      expect((await only(alg, 'next')).kid).not.toBe(was.next.kid);
    }
    expect(server.services.keys.signer().kid).toBe(before.es.next.kid);
    expect(server.services.keys.idTokenSigner().kid).toBe(before.rs.next.kid);
    expect(await publishedKids()).toHaveLength(6);
  });

  it('rotate({ alg }) rotates that algorithm alone; one not signed with is refused', async () => {
    const es = await server.services.keys.list();
    const rsNext = await only('RS256', 'next');
    server.advance(publishedLongEnough(config()));
    await server.services.keys.rotate({ alg: 'RS256' });
    expect(server.services.keys.idTokenSigner().kid).toBe(rsNext.kid);
    expect((await server.services.keys.list()).filter((k) => k.alg === 'ES256')).toEqual(
      es.filter((k) => k.alg === 'ES256'),
    );

    const before = await server.services.keys.list();
    const refused = await server.services.keys.rotate({ alg: 'PS256' }).catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(UnknownSigningAlgorithm);
    expect((refused as Error).message).toBe('this server signs with ES256 and RS256, not "PS256"');
    expect(await server.services.keys.list()).toEqual(before);
  });

  it('refuses to rotate any algorithm while one has a next key too young, naming the longest wait; then rotates all', async () => {
    server.advance(publishedLongEnough(config()));
    await server.services.keys.rotate({ alg: 'RS256' });
    const rsNext = await only('RS256', 'next');
    server.advance(60_000);
    const before = await server.services.keys.list();

    const refused = await server.services.keys.rotate().catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(RotationTooSoon);
    expect(refused).toMatchObject({ alg: 'RS256', kid: rsNext.kid });
    const wait = (refused as RotationTooSoon).retryAfter;
    // The time left for the RSA next key: an hour-odd less the 60 s advanced, and less the real
    // time since it was made (generating an RSA key on a loaded machine can take over a second).
    const left = publishedLongEnough(config()) / 1000 - 60;
    expect(wait).toBeLessThanOrEqual(left);
    expect(wait).toBeGreaterThan(left - 30);
    // ES256 could have rotated, but did not: a half rotation would leave the next keys of
    // different ages, and every later `keys rotate` would be refused for one of them.
    expect(await server.services.keys.list()).toEqual(before);

    server.advance(wait * 1000);
    await server.services.keys.rotate();
    expect(server.services.keys.idTokenSigner().kid).toBe(rsNext.kid);
    expect(server.services.keys.signer().kid).toBe(
      before.find((k) => k.alg === 'ES256' && k.state === 'next')!.kid,
    );
  });

  it('rotates each algorithm on its own schedule', async () => {
    const interval = config().keyRotationInterval * 1000;
    const esCurrent = await only('ES256', 'current');
    // RS256 rotated by hand a day later than ES256 started.
    server.advance(86_400_000);
    await server.services.keys.rotate({ alg: 'RS256' });
    const rsCurrent = await only('RS256', 'current');

    server.advance(interval - 86_400_000);
    await server.services.keys.ensure();
    expect(await kidsOf('ES256', 'retired')).toEqual([esCurrent.kid]);
    expect(await kidsOf('RS256', 'current')).toEqual([rsCurrent.kid]);
    expect(server.services.keys.secondsUntilRotation()).toBeLessThanOrEqual(86_400);

    server.advance(86_400_000);
    await server.services.keys.ensure();
    expect(await kidsOf('RS256', 'current')).not.toEqual([rsCurrent.kid]);
    expect(await kidsOf('RS256', 'retired')).toContain(rsCurrent.kid);
  });
});

describe('revocation per algorithm', () => {
  it('revoking the RS256 current key leaves ES256 signing untouched', async () => {
    const es = (await server.services.keys.list()).filter((k) => k.alg === 'ES256');
    const rsCurrent = await only('RS256', 'current');
    const rsNext = await only('RS256', 'next');
    const access = await login();
    const oldIdToken = idToken(server.services.keys);

    expect(await revokeSigningKey(server.services, rsCurrent.kid)).toEqual({
      state: 'current',
      alg: 'RS256',
    });

    expect((await server.services.keys.list()).filter((k) => k.alg === 'ES256')).toEqual(es);
    expect(await kidsOf('RS256', 'revoked')).toEqual([rsCurrent.kid]);
    expect(await kidsOf('RS256', 'current')).toEqual([rsNext.kid]);
    expect((await only('RS256', 'next')).kid).not.toBe(rsNext.kid);
    expect(server.services.keys.idTokenSigner().kid).toBe(rsNext.kid);
    // Access tokens go on as before: the same key signs, and earlier tokens still pass.
    expect(server.services.keys.signer().kid).toBe(es.find((k) => k.state === 'current')!.kid);
    expect((await userinfo(access)).status).toBe(200);
    expect((await userinfo(await login())).status).toBe(200);
    // The ID tokens it signed no longer verify: it is not published.
    const published = await publishedJwks();
    expect(published.map((k) => k.kid)).not.toContain(rsCurrent.kid);
    expect(published.map((k) => k.kid)).toContain(decodeProtectedHeader(idToken(server.services.keys)).kid);
    expect(published.map((k) => k.kid)).not.toContain(decodeProtectedHeader(oldIdToken).kid);
  });
});

describe('an existing installation', () => {
  it('with only ES256 keys gains an RS256 current and next key on the next start; ID tokens sign at once', async () => {
    const old = await startServer({ idTokenSigningAlg: 'ES256' });
    extra.push(old);
    const before = await old.services.keys.list();
    expect(new Set(before.map((k) => k.alg))).toEqual(new Set(['ES256']));
    await old.close();

    const upgraded = await startServer({}, old.dataDir);
    extra[extra.indexOf(old)] = upgraded;
    const after = await upgraded.services.keys.list();
    // The ES256 keys are untouched; an RS256 pair joins them.
    expect(after.filter((k) => k.alg === 'ES256')).toEqual(before);
    expect(await kidsOf('RS256', 'current', upgraded.services.keys)).toHaveLength(1);
    expect(await kidsOf('RS256', 'next', upgraded.services.keys)).toHaveLength(1);
    const rsCurrent = await only('RS256', 'current', upgraded.services.keys);
    expect(upgraded.services.keys.idTokenSigner().kid).toBe(rsCurrent.kid);
    expect(upgraded.services.keys.signer().kid).toBe(before.find((k) => k.state === 'current')!.kid);
    expect(await publishedKids(upgraded)).toHaveLength(4);
  });

  it('keeps publishing the keys of an algorithm no longer configured, and retires them (no successor) when due', async () => {
    const rsCurrent = await only('RS256', 'current');
    const rsNext = await only('RS256', 'next');
    await server.close();
    // The operator makes ID tokens ES256 as well: RS256 no longer signs anything here.
    const restarted = await startServer({ idTokenSigningAlg: 'ES256' }, server.dataDir);
    server = restarted;
    const { keys } = server.services;
    expect(keys.idTokenSigner().alg).toBe('ES256');
    // Another instance not restarted yet may still sign with it: it stays until its rotation is due.
    await keys.ensure();
    expect(await publishedKids()).toEqual(expect.arrayContaining([rsCurrent.kid, rsNext.kid]));
    // A manual rotation rotates what this instance signs with, and leaves RS256 alone.
    server.advance(publishedLongEnough(config()));
    await keys.rotate();
    expect(await kidsOf('RS256', 'current')).toEqual([rsCurrent.kid]);

    server.advance(config().keyRotationInterval * 1000);
    await keys.ensure();
    expect(await kidsOf('RS256', 'retired')).toEqual([rsCurrent.kid]);
    expect(await kidsOf('RS256', 'next')).toEqual([]);
    expect(await kidsOf('RS256', 'current')).toEqual([]);
    // Published until ID tokens or access tokens it may have signed have expired, then gone.
    const retired = await only('RS256', 'retired');
    expect(retired.expiresAt).toBeGreaterThanOrEqual(
      server.now() - 5_000 + (config().idTokenTtl + RETIRED_KEY_MARGIN) * 1000,
    );
    expect(await publishedKids()).toContain(rsCurrent.kid);
    expect(await publishedKids()).not.toContain(rsNext.kid);
    server.advance(retired.expiresAt! - server.now() + 1_000);
    await keys.refresh();
    expect((await publishedJwks()).filter((k) => k.alg === 'RS256')).toEqual([]);
  });
});

describe('instances racing on one store', () => {
  /** A store of its own: a PostgreSQL database, or a SQLite file in a new directory. */
  async function freshStore() {
    const dataDir = mkdtempSync(join(tmpdir(), 'tessera-race-'));
    const databaseUrl = await createTestDatabase();
    const storeConfig = loadConfig(
      {},
      {},
      { dataDir, ...(databaseUrl ? { databaseUrl } : {}), masterKey: MASTER_KEY, logLevel: 'silent' },
    );
    const handles: Db[] = [];
    /**
     * `count` instances' views of the store. On PostgreSQL each has its own connections, as separate
     * processes would; on SQLite they share one handle (better-sqlite3 is synchronous: two handles in
     * one process would wait on each other's write locks), and race between its statements.
     */
    async function instances(
      count: number,
      overrides: Partial<Config> = {},
      clock: () => number = Date.now,
    ): Promise<SigningKeys[]> {
      const config = { ...storeConfig, ...overrides };
      const made: SigningKeys[] = [];
      for (let i = 0; i < count; i++) {
        if (TEST_STORE === 'postgres' || handles.length === 0) handles.push(await openDatabase(config));
        made.push(createSigningKeys(handles.at(-1)!, sealer, config, clock));
      }
      return made;
    }
    async function close() {
      for (const db of handles) await db.destroy();
      await dropTestDatabase(databaseUrl);
      await removeDataDir(dataDir);
    }
    return { instances, close, config: storeConfig };
  }

  /** Exactly one current and one next key per algorithm (and `others`), and every instance signs with them. */
  async function expectOnePairPerAlgorithm(all: SigningKeys[], others: string[] = []) {
    const listed = await all[0]!.list();
    const byAlgState = listed.map((k) => `${k.alg} ${k.state}`).sort();
    expect(byAlgState).toEqual(
      ['ES256 current', 'ES256 next', 'RS256 current', 'RS256 next', ...others].sort(),
    );
    for (const keys of all) {
      await keys.refresh();
      expect(keys.signer().kid).toBe(listed.find((k) => k.alg === 'ES256' && k.state === 'current')!.kid);
      expect(keys.idTokenSigner().kid).toBe(
        listed.find((k) => k.alg === 'RS256' && k.state === 'current')!.kid,
      );
    }
  }

  it('on an empty store end with exactly one current and one next key per algorithm, all signing with them', async () => {
    const store = await freshStore();
    try {
      const all = await store.instances(3);
      await Promise.all(all.map((keys) => keys.ensure()));
      await expectOnePairPerAlgorithm(all);
    } finally {
      await store.close();
    }
  });

  it('on a store with only ES256 keys add exactly one RS256 pair', async () => {
    const store = await freshStore();
    try {
      const [old] = await store.instances(1, { idTokenSigningAlg: 'ES256' });
      await old!.ensure();
      const es = await old!.list();
      const all = await store.instances(3);
      await Promise.all(all.map((keys) => keys.ensure()));
      await expectOnePairPerAlgorithm(all);
      expect((await all[0]!.list()).filter((k) => k.alg === 'ES256')).toEqual(es);
    } finally {
      await store.close();
    }
  });

  it('when rotation falls due on all of them at once, each algorithm rotates exactly once', async () => {
    const store = await freshStore();
    try {
      let offset = 0;
      const clock = () => Date.now() + offset;
      const all = await store.instances(3, {}, clock);
      await Promise.all(all.map((keys) => keys.ensure()));
      const before = await all[0]!.list();
      offset += store.config.keyRotationInterval * 1000;
      await Promise.all(all.map((keys) => keys.ensure()));
      const after = await all[0]!.list();
      for (const alg of ['ES256', 'RS256']) {
        const was = (state: string) => before.find((k) => k.alg === alg && k.state === state)!.kid;
        const now = after.filter((k) => k.alg === alg);
        expect(now.filter((k) => k.state === 'retired').map((k) => k.kid)).toEqual([was('current')]);
        expect(now.filter((k) => k.state === 'current').map((k) => k.kid)).toEqual([was('next')]);
        expect(now.filter((k) => k.state === 'next')).toHaveLength(1);
      }
      // One new key per algorithm, whichever instance made it.
      expect(after.filter((k) => !before.some((b) => b.kid === k.kid))).toHaveLength(2);
      await expectOnePairPerAlgorithm(all, ['ES256 retired', 'RS256 retired']);
    } finally {
      await store.close();
    }
  });
});

describe('retention per algorithm', () => {
  /** The server's store seen through keys that count client lifetimes (services.ts wires the same). */
  async function keysCountingClients(overrides: Partial<Config> = {}) {
    const keysConfig = { ...config(), ...overrides };
    const lifetimes = createAccessTokenLifetimes(server.services.db, keysConfig.accessTokenTtl, server.now);
    await lifetimes.refresh();
    const keys = createSigningKeys(server.services.db, sealer, keysConfig, server.now, lifetimes);
    await keys.ensure();
    return { keys, lifetimes };
  }

  it('keeps a retired ES256 key as long as the longest client lifetime (2 h), a retired RS256 key for the ID-token lifetime', async () => {
    await server.services.clients.add({
      clientId: 'reports',
      type: 'public',
      audiences: [config().audience],
      scopes: ['read'],
      accessTokenTtl: 7200,
    });
    const { keys } = await keysCountingClients();
    server.advance(publishedLongEnough(config()));
    await keys.rotate();
    const rotatedAt = server.now();
    const es = await only('ES256', 'retired', keys);
    const rs = await only('RS256', 'retired', keys);
    const esUntil = (7200 + RETIRED_KEY_MARGIN) * 1000;
    const rsUntil = (config().idTokenTtl + RETIRED_KEY_MARGIN) * 1000;
    expect(es.expiresAt).toBeGreaterThan(rotatedAt - 5_000 + esUntil);
    expect(es.expiresAt).toBeLessThanOrEqual(rotatedAt + esUntil);
    expect(rs.expiresAt).toBeGreaterThan(rotatedAt - 5_000 + rsUntil);
    expect(rs.expiresAt).toBeLessThanOrEqual(rotatedAt + rsUntil);

    // Past the ID tokens' lifetime the RS256 key goes; the ES256 one stays for the 2 h tokens.
    server.advance(rs.expiresAt! - server.now() + 1_000);
    await keys.refresh();
    const published = keys
      .jwks()
      .toJSON()
      .keys.map((k) => k.kid);
    expect(published).not.toContain(rs.kid);
    expect(published).toContain(es.kid);
    server.advance(es.expiresAt! - server.now() + 1_000);
    await keys.refresh();
    expect(
      keys
        .jwks()
        .toJSON()
        .keys.map((k) => k.kid),
    ).not.toContain(es.kid);
  });

  it('keeps a retired key signing both kinds of token for the longer of their lifetimes', async () => {
    const { keys } = await keysCountingClients({ idTokenSigningAlg: 'ES256' });
    server.advance(publishedLongEnough(config()));
    await keys.rotate({ alg: 'ES256' });
    const rotatedAt = server.now();
    const retired = await only('ES256', 'retired', keys);
    // The ID tokens' hour, not the access tokens' 15 minutes.
    expect(config().idTokenTtl).toBeGreaterThan(config().accessTokenTtl);
    const until = (config().idTokenTtl + RETIRED_KEY_MARGIN) * 1000;
    expect(retired.expiresAt).toBeGreaterThan(rotatedAt - 5_000 + until);
    expect(retired.expiresAt).toBeLessThanOrEqual(rotatedAt + until);
  });
});
