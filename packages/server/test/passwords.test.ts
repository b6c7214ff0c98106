/**
 * Password checks at login: the argon2id work they cost (the same for every answer), and how a hash
 * made with older parameters is replaced. argon2 is watched (and, where a test says so, held) through
 * a wrapper around the real functions.
 */
import * as argon2 from '@node-rs/argon2';
import { describe, expect, it, vi } from 'vitest';
import { ARGON2_PARAMETERS, hashPassword } from '../src/passwords.js';
import { endEverySession } from '../src/revocation/sessions.js';
import { ADMIN_PASSWORD, type TestServer } from './helpers.js';
import { serversPerTest, type TokenBody } from './http.js';

vi.mock('@node-rs/argon2', async (importOriginal) => {
  const real = await importOriginal<typeof import('@node-rs/argon2')>();
  return { ...real, hash: vi.fn(real.hash), verify: vi.fn(real.verify) };
});
const hash = vi.mocked(argon2.hash);
const verify = vi.mocked(argon2.verify);
const realHash = (await vi.importActual<typeof argon2>('@node-rs/argon2')).hash;

const start = serversPerTest();

const login = (server: TestServer, username: string, password: string) =>
  server.app.inject({
    method: 'POST',
    url: '/login',
    payload: { username, password, client_id: 'app' },
  });

describe('the argon2 work of a failed login', () => {
  it('is one verification for an unknown user as for a wrong password, with the dummy hash made at start', async () => {
    const server = await start();
    hash.mockClear();
    verify.mockClear();
    // The very first unknown user: were the dummy hash made now, this login would also hash.
    expect((await login(server, 'nobody', 'some guess or other')).statusCode).toBe(400);
    expect({ hashes: hash.mock.calls.length, verifications: verify.mock.calls.length }).toEqual({
      hashes: 0,
      verifications: 1,
    });
    expect((await login(server, 'alice', 'some guess or other')).statusCode).toBe(400);
    expect({ hashes: hash.mock.calls.length, verifications: verify.mock.calls.length }).toEqual({
      hashes: 0,
      verifications: 2,
    });
    // The dummy is an argon2id hash with the current parameters, like alice's: the same cost.
    const [dummyHash] = verify.mock.calls[0]!;
    const [aliceHash] = verify.mock.calls[1]!;
    expect(String(dummyHash).split('$').slice(0, 4)).toEqual(String(aliceHash).split('$').slice(0, 4));
    expect((await login(server, 'alice', ADMIN_PASSWORD)).statusCode).toBe(200);
  });
});

const { memoryCost: m, timeCost: t, parallelism: p } = ARGON2_PARAMETERS;
const CURRENT = `$argon2id$v=19$m=${m},t=${t},p=${p}$`;

/** Stores a hash for alice as an earlier version (or other parameters) would have made it. */
async function storeAliceHash(server: TestServer, passwordHash: string) {
  await server.services.db
    .updateTable('users')
    .set({ password_hash: passwordHash })
    .where('username', '=', 'alice')
    .execute();
}
const aliceHash = async (server: TestServer) =>
  (await server.services.users.byUsername('alice'))!.passwordHash;

describe('password rehash on login', () => {
  it('replaces a hash made with other argon2 parameters on the next successful login', async () => {
    const server = await start();
    const alice = (await server.services.users.byUsername('alice'))!;
    expect(alice.passwordHash.startsWith(CURRENT)).toBe(true);
    const old = await realHash(ADMIN_PASSWORD, {
      algorithm: 2,
      memoryCost: 8192,
      timeCost: 1,
      parallelism: 1,
    });
    expect(old.startsWith('$argon2id$v=19$m=8192,t=1,p=1$')).toBe(true);
    await storeAliceHash(server, old);

    // A failed login does not rehash (it does not know the password).
    expect((await login(server, 'alice', 'some guess or other')).statusCode).toBe(400);
    expect(await aliceHash(server)).toBe(old);

    const first = await login(server, 'alice', ADMIN_PASSWORD);
    expect(first.statusCode).toBe(200);
    const after = (await server.services.users.byUsername('alice'))!;
    expect(after.passwordHash).not.toBe(old);
    expect(after.passwordHash.startsWith(CURRENT)).toBe(true);
    // Same password, same token version: the rehash logs nobody out.
    expect(after.tokenVersion).toBe(alice.tokenVersion);
    const { access_token } = first.json<TokenBody>();
    const me = await server.app.inject({
      url: '/userinfo',
      headers: { authorization: `Bearer ${access_token}` },
    });
    expect(me.statusCode).toBe(200);
    // A hash already current is left alone.
    expect((await login(server, 'alice', ADMIN_PASSWORD)).statusCode).toBe(200);
    expect(await aliceHash(server)).toBe(after.passwordHash);
  });

  it('upgrades an argon2i or argon2d hash to argon2id', async () => {
    const server = await start();
    await storeAliceHash(server, await realHash(ADMIN_PASSWORD, { algorithm: 1 }));
    expect((await login(server, 'alice', ADMIN_PASSWORD)).statusCode).toBe(200);
    expect(await aliceHash(server)).toMatch(/^\$argon2id\$/);
  });

  it('never overwrites a password changed while the login was making the new hash', async () => {
    const server = await start();
    const alice = (await server.services.users.byUsername('alice'))!;
    await storeAliceHash(server, await realHash(ADMIN_PASSWORD, { algorithm: 1 }));
    const changed = 'the password alice changed to';
    const changedHash = await hashPassword(changed);

    // The login's rehash is held until the password has been changed: the slow hash, made slower.
    let hashing!: () => void;
    let finish!: () => void;
    const inHash = new Promise<void>((resolve) => {
      hashing = resolve;
    });
    const held = new Promise<void>((resolve) => {
      finish = resolve;
    });
    hash.mockImplementationOnce(async (...args) => {
      hashing();
      await held;
      return realHash(...args);
    });
    const loggingIn = login(server, 'alice', ADMIN_PASSWORD);
    await inHash;
    await server.services.users.setPasswordHash(alice.id, changedHash);
    finish();
    // The change raised the token version, so the login that checked the old password starts no
    // session either (see the next test).
    expect((await loggingIn).statusCode).toBe(400);

    expect(await aliceHash(server)).toBe(changedHash);
    expect((await login(server, 'alice', changed)).statusCode).toBe(200);
    expect((await login(server, 'alice', ADMIN_PASSWORD)).statusCode).toBe(400);
  });
});

describe('a password change while a login checks the old password', () => {
  it('ends that login too: no session is started, and the answer is the failed-login one', async () => {
    const server = await start();
    const alice = (await server.services.users.byUsername('alice'))!;
    const changedHash = await hashPassword('the password alice changed to');

    // The login's argon2 verification is held until the password has been changed and every session
    // of alice ended: the old password was right when it was checked.
    let verifying!: () => void;
    let finish!: () => void;
    const inVerify = new Promise<void>((resolve) => {
      verifying = resolve;
    });
    const held = new Promise<void>((resolve) => {
      finish = resolve;
    });
    const realVerify = (await vi.importActual<typeof argon2>('@node-rs/argon2')).verify;
    verify.mockImplementationOnce(async (...args) => {
      verifying();
      await held;
      return realVerify(...args);
    });
    const loggingIn = login(server, 'alice', ADMIN_PASSWORD);
    await inVerify;
    await endEverySession(
      server.services,
      alice.id,
      (trx) => server.services.users.setPasswordHash(alice.id, changedHash, trx),
      'password_changed',
    );
    finish();
    const answer = await loggingIn;
    expect(answer.statusCode).toBe(400);
    expect(answer.json()).toMatchObject({ error: 'invalid_grant' });
    const live = await server.services.db
      .selectFrom('refresh_token_families')
      .select('id')
      .where('user_id', '=', alice.id)
      .where('revoked_at', 'is', null)
      .execute();
    expect(live).toEqual([]);
  });
});
