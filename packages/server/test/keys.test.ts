import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { GuardError } from '@tessera/guard';
import {
  createRemoteJwks,
  decodeProtectedHeader,
  type Jwk,
  jwkThumbprint,
  type KeySet,
  verifyJwt,
} from '@tessera/jose';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { main } from '../src/cli/main.js';
import { loadConfig } from '../src/config.js';
import { createSealer, MASTER_KEY_FILE } from '../src/keys/master_key.js';
import { revokeSigningKey } from '../src/keys/revoke_key.js';
import type { SigningKeyInfo } from '../src/keys/signing_keys.js';
import {
  publishedLongEnough,
  RETIRED_KEY_MARGIN,
  RotationTooSoon,
  UnknownSigningKey,
} from '../src/keys/signing_keys.js';
import { createServer } from '../src/server.js';
import {
  ADMIN_PASSWORD,
  createTestDatabase,
  dropTestDatabase,
  eventually,
  post,
  removeDataDir,
  startServer,
  type TestServer,
} from './helpers.js';
import { freePort } from './redis.js';
import { request } from './requests.js';
import { followingGuard } from './sse.js';

/** The master key `startServer` uses. */
const TEST_MASTER_KEY = 'A'.repeat(43);

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

async function login(): Promise<string> {
  const res = await post(`${server.url}/login`, {
    username: 'alice',
    password: ADMIN_PASSWORD,
    client_id: 'app',
  });
  expect(res.status).toBe(200);
  return ((await res.json()) as { access_token: string }).access_token;
}
const userinfo = (token: string) =>
  request(`${server.url}/userinfo`, { headers: { authorization: `Bearer ${token}` } });

async function jwks(): Promise<{ res: Response; keys: Jwk[] }> {
  const res = await request(`${server.url}/.well-known/jwks.json`);
  expect(res.status).toBe(200);
  return { res, keys: ((await res.json()) as { keys: Jwk[] }).keys };
}
/**
 * The kids the JWKS publishes for one algorithm: the access tokens' unless told (these tests follow
 * it; signing_keys_per_alg.test.ts has the ID tokens' beside it).
 */
const publishedKids = async (alg: string = server.services.config.signingAlg) =>
  (await jwks()).keys
    .filter((key) => key.alg === alg)
    .map((key) => key.kid)
    .sort();

/** One algorithm's keys by state: the access tokens' unless told. */
async function keysByState(
  alg: string = server.services.config.signingAlg,
): Promise<Record<SigningKeyInfo['state'], SigningKeyInfo[]>> {
  const list = (await server.services.keys.list()).filter((key) => key.alg === alg);
  return {
    current: list.filter((k) => k.state === 'current'),
    next: list.filter((k) => k.state === 'next'),
    retired: list.filter((k) => k.state === 'retired'),
    revoked: list.filter((k) => k.state === 'revoked'),
  };
}

/** A resource server's check: the published JWKS over HTTP, at the server's (controlled) time. */
function verifyRemotely(token: string, keys: KeySet) {
  const { config } = server.services;
  return verifyJwt(token, keys, {
    algorithms: [config.signingAlg],
    issuer: config.issuer,
    audience: config.audience,
    typ: 'at+jwt',
    currentDate: new Date(server.now()),
  });
}
const remoteJwks = () => createRemoteJwks(`${server.url}/.well-known/jwks.json`, { clock: server.now });

describe('signing keys', () => {
  it('starts with one current and one next key, both published, cached for less than a rotation', async () => {
    const states = await keysByState();
    expect(states.current).toHaveLength(1);
    expect(states.next).toHaveLength(1);
    expect(states.retired).toHaveLength(0);

    const { res } = await jwks();
    const keys = (await jwks()).keys.filter((k) => k.alg === server.services.config.signingAlg);
    expect(res.headers.get('content-type')).toMatch(/^application\/jwk-set\+json/);
    expect(keys.map((k) => k.kid).sort()).toEqual([states.current[0]!.kid, states.next[0]!.kid].sort());
    const cacheControl = res.headers.get('cache-control') ?? '';
    expect(cacheControl).toMatch(/(^|,\s*)public(,|$)/);
    const maxAge = Number(/max-age=(\d+)/.exec(cacheControl)?.[1]);
    expect(maxAge).toBeGreaterThan(0);
    expect(maxAge).toBeLessThanOrEqual(server.services.config.keyRotationInterval);

    for (const key of keys) {
      // Public halves only; the kid is the RFC 7638 thumbprint of exactly what is published.
      expect(key).not.toHaveProperty('d');
      expect(key).toMatchObject({ alg: server.services.config.signingAlg, use: 'sig' });
      expect(key.kid).toBe(jwkThumbprint(key));
    }

    const token = await login();
    expect(decodeProtectedHeader(token)).toMatchObject({
      kid: states.current[0]!.kid,
      typ: 'at+jwt',
      alg: server.services.config.signingAlg,
    });
  });

  it('rotates next → current → retired; tokens of the retired key verify until they expire, then it goes', async () => {
    const before = await keysByState();
    const oldCurrent = before.current[0]!.kid;
    const oldNext = before.next[0]!.kid;
    // The next key has been published long enough for every verifier's cached JWKS to hold it.
    server.advance(publishedLongEnough(server.services.config));
    const oldToken = await login();
    expect(decodeProtectedHeader(oldToken).kid).toBe(oldCurrent);

    // A resource server that fetched the key set before the rotation.
    const cached = remoteJwks();
    await expect(verifyRemotely(oldToken, cached)).resolves.toBeDefined();
    expect(cached.status().fetches).toBe(1);

    await server.services.keys.rotate();
    const rotatedAt = server.now();
    const after = await keysByState();
    expect(after.current.map((k) => k.kid)).toEqual([oldNext]);
    expect(after.retired.map((k) => k.kid)).toEqual([oldCurrent]);
    expect(after.next).toHaveLength(1);
    const newNext = after.next[0]!.kid;
    expect([oldCurrent, oldNext]).not.toContain(newNext);
    // Published until the last token it signed has expired, plus a minute of skew.
    const ttlMs = (server.services.config.accessTokenTtl + RETIRED_KEY_MARGIN) * 1000;
    expect(after.retired[0]!.expiresAt).toBeGreaterThanOrEqual(rotatedAt - 5_000 + ttlMs);
    expect(after.retired[0]!.expiresAt).toBeLessThanOrEqual(rotatedAt + ttlMs);

    expect(await publishedKids()).toEqual([oldCurrent, oldNext, newNext].sort());
    for (const key of (await jwks()).keys) expect(key.kid).toBe(jwkThumbprint(key));

    // The token signed before the rotation still works, on the server and at a resource server.
    expect((await userinfo(oldToken)).status).toBe(200);
    await expect(verifyRemotely(oldToken, remoteJwks())).resolves.toBeDefined();

    // New tokens carry the new current kid, which the old cache already held (it was `next`).
    const newToken = await login();
    expect(decodeProtectedHeader(newToken).kid).toBe(oldNext);
    expect((await userinfo(newToken)).status).toBe(200);
    await expect(verifyRemotely(newToken, cached)).resolves.toBeDefined();
    expect(cached.status().fetches).toBe(1);

    // Past the old token's lifetime (plus the skew minute) the retired key is no longer published.
    server.advance(ttlMs + 1_000);
    expect((await userinfo(oldToken)).status).toBe(401);
    await server.services.keys.ensure();
    expect(await publishedKids()).toEqual([oldNext, newNext].sort());
    // The next rotation deletes it from the store as well.
    server.advance(publishedLongEnough(server.services.config));
    await server.services.keys.rotate();
    const finalKeys = await keysByState();
    expect(finalKeys.current.map((k) => k.kid)).toEqual([newNext]);
    expect(finalKeys.retired.map((k) => k.kid)).toEqual([oldNext]);
    expect((await server.services.keys.list()).map((k) => k.kid)).not.toContain(oldCurrent);
    expect(await publishedKids()).not.toContain(oldCurrent);
    expect(decodeProtectedHeader(await login()).kid).toBe(newNext);
  });

  it('`tessera keys rotate` rotates the store a running server uses; the server picks it up on ensure()', async () => {
    const before = await keysByState();
    const previousEnv = process.env.TESSERA_MASTER_KEY;
    process.env.TESSERA_MASTER_KEY = TEST_MASTER_KEY;
    const write = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    let code: number;
    let output: string;
    try {
      // The command line runs on the real clock: the next key was published long enough ago.
      await server.services.db
        .updateTable('signing_keys')
        .set({ created_at: Date.now() - publishedLongEnough(server.services.config) })
        .where('state', '=', 'next')
        .execute();
      // The same store as the server: its data directory, and its database when on PostgreSQL.
      const database = server.services.config.databaseUrl;
      code = await main([
        'keys',
        'rotate',
        '--json',
        '--data-dir',
        server.dataDir,
        ...(database ? ['--database-url', database] : []),
      ]);
      output = write.mock.calls.map((call) => String(call[0])).join('');
    } finally {
      write.mockRestore();
      if (previousEnv === undefined) delete process.env.TESSERA_MASTER_KEY;
      else process.env.TESSERA_MASTER_KEY = previousEnv;
    }
    expect(code).toBe(0);
    const printed = (JSON.parse(output) as SigningKeyInfo[]).filter(
      (k) => k.alg === server.services.config.signingAlg,
    );
    expect(printed.find((k) => k.state === 'current')?.kid).toBe(before.next[0]!.kid);
    expect(printed.find((k) => k.state === 'retired')?.kid).toBe(before.current[0]!.kid);

    // Housekeeping calls ensure(); it reloads the keys the command line rotated.
    await server.services.keys.ensure();
    const after = await keysByState();
    expect(after.current.map((k) => k.kid)).toEqual([before.next[0]!.kid]);
    expect(await publishedKids()).toEqual(printed.map((k) => k.kid).sort());
    expect(decodeProtectedHeader(await login()).kid).toBe(before.next[0]!.kid);
    expect((await server.services.audit.recent()).map((e) => e.type)).toContain('key_rotated');
  });

  it('rotates on schedule in ensure() once keyRotationInterval has passed', async () => {
    const interval = server.services.config.keyRotationInterval * 1000;
    const before = await keysByState();
    expect(server.services.keys.secondsUntilRotation()).toBeGreaterThan(interval / 1000 - 60);

    server.advance(interval - 60_000);
    await server.services.keys.ensure();
    expect((await keysByState()).current.map((k) => k.kid)).toEqual([before.current[0]!.kid]);
    expect(server.services.keys.secondsUntilRotation()).toBeLessThanOrEqual(60);

    server.advance(60_000);
    await server.services.keys.ensure();
    const after = await keysByState();
    expect(after.current.map((k) => k.kid)).toEqual([before.next[0]!.kid]);
    expect(after.retired.map((k) => k.kid)).toEqual([before.current[0]!.kid]);
    expect(after.next).toHaveLength(1);
    expect(server.services.keys.secondsUntilRotation()).toBeGreaterThan(interval / 1000 - 60);
    expect(decodeProtectedHeader(await login()).kid).toBe(before.next[0]!.kid);

    // A second ensure() right away does not rotate again.
    await server.services.keys.ensure();
    expect((await keysByState()).current.map((k) => k.kid)).toEqual([before.next[0]!.kid]);
  });

  it('stores private keys sealed under the master key; another master key cannot open them', async () => {
    const sealer = createSealer(Buffer.from(TEST_MASTER_KEY, 'base64url'));
    const rows = await server.services.db.selectFrom('signing_keys').selectAll().execute();
    // A current and a next key for access tokens (ES256) and for ID tokens (RS256).
    expect(rows).toHaveLength(4);
    for (const row of rows) {
      const privateJwk = JSON.parse(sealer.open(row.private_jwk_sealed, 'signing-key')) as Jwk;
      expect(typeof privateJwk.d).toBe('string');
      expect(row.private_jwk_sealed).not.toContain(privateJwk.d);
      expect(row.private_jwk_sealed).not.toContain('"d"');
      expect(row.private_jwk_sealed).not.toContain('{');
      expect(JSON.parse(row.public_jwk)).not.toHaveProperty('d');
      // Sealed for one purpose, it cannot be opened as another.
      expect(() => sealer.open(row.private_jwk_sealed, 'refresh-successor')).toThrow();
      const wrong = createSealer(Buffer.alloc(32, 7));
      expect(() => wrong.open(row.private_jwk_sealed, 'signing-key')).toThrow();
    }

    const dir = server.dataDir;
    const published = (await jwks()).keys.map((key) => key.kid).sort();
    await server.close();
    // A restart with another master key fails to start, saying why.
    await expect(startServer({ masterKey: 'B'.repeat(43) }, dir)).rejects.toThrow(
      /sealed under a different master key/,
    );
    // With the right key it starts, with the same keys.
    server = await startServer({}, dir);
    expect((await jwks()).keys.map((key) => key.kid).sort()).toEqual(published);
    expect((await userinfo(await login())).status).toBe(200);
  });

  it('creates the development master key file with mode 0600 when no master key is configured', async () => {
    const dataDir = join(mkdtempSync(join(tmpdir(), 'tessera-dev-key-')), 'data');
    // The data directory must not exist yet (the server creates it): on PostgreSQL the database is
    // made here rather than through the data directory (startServer's way).
    const databaseUrl = await createTestDatabase();
    const config = loadConfig({}, {}, { dataDir, databaseUrl, port: 0, logLevel: 'silent' });
    expect(config.masterKey).toBeUndefined();
    const started: { close(): Promise<void> }[] = [];
    try {
      const dev = await createServer(config, { logger: false });
      started.push(dev);
      expect(dev.services.masterKey.origin).toBe('generated');
      const file = join(dataDir, MASTER_KEY_FILE);
      expect(statSync(file).mode & 0o777).toBe(0o600);
      expect(statSync(dataDir).mode & 0o777).toBe(0o700);
      const key = readFileSync(file, 'utf8').trim();
      expect(key).toMatch(/^[\w-]{43}$/);
      // The file key is what seals the signing keys.
      const sealer = createSealer(Buffer.from(key, 'base64url'));
      for (const row of await dev.services.db.selectFrom('signing_keys').selectAll().execute()) {
        expect(JSON.parse(sealer.open(row.private_jwk_sealed, 'signing-key'))).toHaveProperty('d');
      }
      const kids = (await dev.services.keys.list()).map((k) => k.kid);
      await started.pop()!.close();

      // On the next start the same file is read, and the same keys open.
      const again = await createServer(config, { logger: false });
      started.push(again);
      expect(again.services.masterKey.origin).toBe('file');
      expect((await again.services.keys.list()).map((k) => k.kid)).toEqual(kids);
      expect(statSync(file).mode & 0o777).toBe(0o600);
    } finally {
      for (const s of started) await s.close();
      await removeDataDir(join(dataDir, '..'));
      await dropTestDatabase(databaseUrl);
    }
  });
});

describe('rotation waits for verifiers to hold the next key', () => {
  it('refuses a manual rotation while the next key is younger than the JWKS max-age, saying how long to wait', async () => {
    const before = await keysByState();
    const wait = publishedLongEnough(server.services.config);
    server.advance(wait - 10_000);
    const refused = await server.services.keys.rotate().catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(RotationTooSoon);
    expect((refused as RotationTooSoon).retryAfter).toBeGreaterThan(0);
    expect((refused as RotationTooSoon).retryAfter).toBeLessThanOrEqual(10);
    expect(await keysByState()).toEqual(before);
    server.advance(10_000);
    await server.services.keys.rotate();
    expect((await keysByState()).current.map((k) => k.kid)).toEqual(before.next.map((k) => k.kid));
  });

  it('a second rotation right after the first is refused: the key published by the first is only seconds old', async () => {
    server.advance(publishedLongEnough(server.services.config));
    await server.services.keys.rotate();
    const after = await keysByState();
    server.advance(5_000);
    await expect(server.services.keys.rotate()).rejects.toBeInstanceOf(RotationTooSoon);
    expect(await keysByState()).toEqual(after);
  });

  it('a scheduled rotation that falls due while the next key is too young waits for a later round', async () => {
    const interval = server.services.config.keyRotationInterval * 1000;
    server.advance(publishedLongEnough(server.services.config));
    await server.services.keys.rotate();
    const after = await keysByState();
    // Due again, but the next key was made only now (a manual rotation moments ago, say).
    await server.services.db
      .updateTable('signing_keys')
      .set({ created_at: server.now() + interval })
      .where('state', '=', 'next')
      .execute();
    server.advance(interval);
    await server.services.keys.ensure();
    expect((await keysByState()).current).toEqual(after.current);
    server.advance(publishedLongEnough(server.services.config));
    await server.services.keys.ensure();
    expect((await keysByState()).current.map((k) => k.kid)).toEqual(after.next.map((k) => k.kid));
  });
});

describe('emergency removal of a compromised key (tessera keys revoke)', () => {
  it('withdraws the current key at once: its tokens fail, the next key signs, a kid revocation is published', async () => {
    const before = await keysByState();
    const compromised = before.current[0]!.kid;
    const token = await login();
    const heard: string[] = [];
    const unsubscribe = server.services.revocations.subscribe(
      (event) => void heard.push(`${event.kind}:${event.value}`),
    );
    try {
      await revokeSigningKey(server.services, compromised);
    } finally {
      unsubscribe();
    }
    expect(heard).toEqual([`kid:${compromised}`]);
    expect(await publishedKids()).not.toContain(compromised);
    expect((await userinfo(token)).status).toBe(401);
    const after = await keysByState();
    expect(after.revoked.map((k) => k.kid)).toEqual([compromised]);
    expect(after.current.map((k) => k.kid)).toEqual(before.next.map((k) => k.kid));
    expect(after.next).toHaveLength(1);
    const fresh = await login();
    expect(decodeProtectedHeader(fresh).kid).toBe(before.next[0]!.kid);
    expect((await userinfo(fresh)).status).toBe(200);
    expect((await server.services.audit.recent()).map((e) => e.type)).toContain('key_revoked');
    // Never published again, whatever happens next.
    server.advance(publishedLongEnough(server.services.config));
    await server.services.keys.rotate();
    expect(await publishedKids()).not.toContain(compromised);
  });

  it('withdraws the next key and publishes a new one; the current key keeps signing', async () => {
    const before = await keysByState();
    await revokeSigningKey(server.services, before.next[0]!.kid);
    const after = await keysByState();
    expect(after.current).toEqual(before.current);
    expect(after.next).toHaveLength(1);
    expect(after.next[0]!.kid).not.toBe(before.next[0]!.kid);
    expect(await publishedKids()).not.toContain(before.next[0]!.kid);
  });

  it('refuses an unknown or already revoked kid, and changes nothing', async () => {
    const before = await keysByState();
    await expect(revokeSigningKey(server.services, 'no-such-kid')).rejects.toBeInstanceOf(UnknownSigningKey);
    expect(await keysByState()).toEqual(before);
    await revokeSigningKey(server.services, before.next[0]!.kid);
    await expect(revokeSigningKey(server.services, before.next[0]!.kid)).rejects.toBeInstanceOf(
      UnknownSigningKey,
    );
  });
});

describe('a withdrawn key reaches a guard at once', () => {
  it('a guard that still holds the key in its cached JWKS refuses its tokens as soon as the kid revocation arrives', async () => {
    // The guard discovers the server from its issuer URL: the server must listen where that says.
    await server.close();
    await removeDataDir(server.dataDir);
    server = await startServer({ port: await freePort() });
    await server.services.clients.add({
      clientId: 'app',
      type: 'public',
      audiences: [server.services.config.audience],
      scopes: ['openid', 'profile', 'offline_access'],
    });
    const guard = await followingGuard(server);
    try {
      await guard.ready();
      const token = await login();
      const compromised = decodeProtectedHeader(token).kid as string;
      const authenticate = () =>
        guard.authenticate({ headers: { authorization: `Bearer ${token}` } }).then(
          () => 'accepted',
          (err: GuardError) => err.reason,
        );
      expect(await authenticate()).toBe('accepted');

      await revokeSigningKey(server.services, compromised);
      // Its JWKS cache (up to an hour) still holds the key; the revocation stream says otherwise.
      await eventually(async () => (await authenticate()) === 'revoked (kid)', 'the guard to refuse the key');
      // Tokens of the key that signs now pass.
      const fresh = await login();
      expect(decodeProtectedHeader(fresh).kid).not.toBe(compromised);
      await eventually(
        async () =>
          (await guard.authenticate({ headers: { authorization: `Bearer ${fresh}` } }).then(
            () => true,
            () => false,
          )) === true,
        'the guard to accept the new key',
      );
    } finally {
      await guard.close();
    }
  });
});
