/**
 * Password checks at login: the argon2id work they cost (the same for every answer), and how a hash
 * made with older parameters is replaced. argon2 is watched (and, where a test says so, held) through
 * a wrapper around the real functions.
 */
import * as argon2 from '@node-rs/argon2';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ADMIN_PASSWORD, removeDataDir, startServer, type TestServer } from './helpers.js';
import { addClients } from './http.js';

vi.mock('@node-rs/argon2', async (importOriginal) => {
  const real = await importOriginal<typeof import('@node-rs/argon2')>();
  return { ...real, hash: vi.fn(real.hash), verify: vi.fn(real.verify) };
});
const hash = vi.mocked(argon2.hash);
const verify = vi.mocked(argon2.verify);

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanup.length) await cleanup.pop()!();
});

async function start(): Promise<TestServer> {
  const server = await startServer();
  cleanup.push(async () => {
    await server.close();
    await removeDataDir(server.dataDir);
  });
  await addClients(server);
  return server;
}

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
