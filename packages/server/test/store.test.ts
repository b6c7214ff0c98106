/**
 * The server suite runs twice (vitest.config.ts): on SQLite (`server-sqlite`) and on PostgreSQL
 * (`server-postgres`). This file checks that each run really uses the store it is meant to, and that
 * both stores read values back with the same JavaScript types (pg returns bigint columns as strings
 * unless told otherwise).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_STORE } from './databases.js';
import { ADMIN_PASSWORD, eventually, post, removeDataDir, startServer, type TestServer } from './helpers.js';
import { request } from './requests.js';

let server: TestServer;
beforeAll(async () => {
  server = await startServer();
  await server.services.clients.add({
    clientId: 'app',
    type: 'public',
    audiences: [server.services.config.audience],
    scopes: ['openid', 'profile', 'offline_access'],
  });
});
afterAll(async () => {
  await server?.close();
  if (server) await removeDataDir(server.dataDir);
});

describe(`the store of this run (${TEST_STORE})`, () => {
  it.runIf(TEST_STORE === 'sqlite')('is the SQLite file in the data directory', () => {
    expect(server.services.config.databaseUrl).toBeUndefined();
    expect(existsSync(join(server.dataDir, 'tessera.db'))).toBe(true);
  });

  it.runIf(TEST_STORE === 'postgres')('is a PostgreSQL database of this server’s own', async () => {
    const url = server.services.config.databaseUrl;
    expect(url).toMatch(/^postgres:\/\/.+\/tessera_t_\d+_[0-9a-f]+$/);
    expect(existsSync(join(server.dataDir, 'tessera.db'))).toBe(false);
    // The rows the server wrote are in that database.
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      const { rows } = await client.query<{ username: string }>('select username from users');
      expect(rows).toEqual([{ username: 'alice' }]);
    } finally {
      await client.end();
    }
  });

  it('reads times, versions and ids back as numbers', async () => {
    const keys = await server.services.keys.list();
    // A current and a next key for each algorithm: ES256 access tokens, RS256 ID tokens.
    expect(keys.map((k) => `${k.alg} ${k.state}`).sort()).toEqual([
      'ES256 current',
      'ES256 next',
      'RS256 current',
      'RS256 next',
    ]);
    for (const key of keys) expect(typeof key.createdAt).toBe('number');
    const user = await server.services.users.byUsername('alice');
    expect(typeof user!.createdAt).toBe('number');
    expect(user!.tokenVersion).toBe(0);

    const login = await post(`${server.url}/login`, {
      username: 'alice',
      password: ADMIN_PASSWORD,
      client_id: 'app',
    });
    expect(login.status).toBe(200);
    const { access_token } = (await login.json()) as { access_token: string };
    const before = await server.services.revocations.feed.backlog(undefined);
    const res = await request(`${server.url}/logout/all`, {
      method: 'POST',
      headers: { authorization: `Bearer ${access_token}` },
    });
    expect(res.status).toBe(204);
    const after = await server.services.revocations.feed.backlog(undefined);
    // The user's version (`sub`), then the `sid` of the session that was still live.
    expect(after).toHaveLength(before.length + 2);
    const added = after.at(-2)!;
    expect(added).toMatchObject({ kind: 'sub', ver: 1 });
    expect(Number.isSafeInteger(added.id)).toBe(true);
    expect(added.id).toBeGreaterThan(Math.max(0, ...before.map((e) => e.id)));
    expect(typeof added.expiresAt).toBe('number');
    expect((await server.services.users.byUsername('alice'))!.tokenVersion).toBe(1);
  });
});

describe.runIf(TEST_STORE === 'postgres')('a PostgreSQL connection lost inside a transaction', () => {
  it('fails that transaction only: the process carries on and the next request is served', async () => {
    const admin = new pg.Client({ connectionString: server.services.config.databaseUrl });
    await admin.connect();
    try {
      const failed = server.services.db.transaction().execute(async (trx) => {
        const { rows } = await sql<{ pid: number }>`select pg_backend_pid() as pid`.execute(trx);
        // The backend goes away while the transaction holds its connection between two statements
        // (a failover, an administrator): its client learns of it with no query in flight.
        await admin.query('select pg_terminate_backend($1)', [rows[0]!.pid]);
        await eventually(
          async () =>
            (await admin.query('select 1 from pg_stat_activity where pid = $1', [rows[0]!.pid])).rowCount ===
            0,
          'the backend to be gone',
        );
        await new Promise((resolve) => setImmediate(resolve));
        await sql`select 1`.execute(trx);
      });
      await expect(failed).rejects.toThrow();
      // Had the client's 'error' event gone unheard, the process would have ended by now.
      const res = await request(`${server.url}/readyz`);
      expect(res.status).toBe(200);
    } finally {
      await admin.end();
    }
  });
});
