/**
 * The user store: usernames compared as RFC 8265's UsernameCaseMapped profile compares them, at
 * creation, at lookup, in the login throttle, and for the rows stored before.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import SQLite from 'better-sqlite3';
import { Kysely, Migrator, SqliteDialect } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { migrate, migrations } from '../src/store/migrations.js';
import { toJsonText } from '../src/store/schema.js';
import { UserExists } from '../src/store/users.js';
import { TEST_STORE } from './databases.js';
import { ADMIN_PASSWORD, post, type TestServer } from './helpers.js';
import { serversPerTest } from './http.js';

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanup.length) await cleanup.pop()!();
});

const start = serversPerTest();

const PASSWORD = 'a long enough password';
const FULLWIDTH_ALICE = '\uff41\uff4c\uff49\uff43\uff45'; // ａｌｉｃｅ

describe('usernames (RFC 8265 §3.2, UsernameCaseMapped)', () => {
  it('stores the lowercase, width-folded form and finds the account however the name is typed', async () => {
    const { services } = await start();
    const created = await services.users.create('Ｂｏｂ_Smith', PASSWORD);
    expect(created.username).toBe('bob_smith');
    for (const typed of ['bob_smith', 'BOB_SMITH', 'Bob_Smith', '\uff42\uff4f\uff42_smith'])
      expect((await services.users.byUsername(typed))?.id).toBe(created.id);
    // Compatibility forms fold too: the ligature ﬀ is "ff".
    const staff = await services.users.create('sta\ufb00', PASSWORD);
    expect((await services.users.byUsername('STAFF'))?.id).toBe(staff.id);
  });

  it('refuses a second account whose name differs only in case or width', async () => {
    const { services } = await start();
    await expect(services.users.create('ALICE', PASSWORD)).rejects.toBeInstanceOf(UserExists);
    await expect(services.users.create(FULLWIDTH_ALICE, PASSWORD)).rejects.toBeInstanceOf(UserExists);
    expect((await services.users.list()).map((u) => u.username)).toEqual(['alice']);
  });

  it('refuses control and invisible formatting characters, edge spaces, empty and overlong names', async () => {
    const { services } = await start();
    for (const name of [
      '',
      'bell\u0007',
      'tab\tbed',
      ' carol',
      'carol ',
      'zero\u200bwidth',
      'rtl\u202eevil',
      'x'.repeat(65),
    ])
      await expect(services.users.create(name, PASSWORD), JSON.stringify(name)).rejects.toThrow(TypeError);
    expect(await services.users.byUsername('bell\u0007')).toBeUndefined();
    // Spaces inside a name were allowed before and still are; 64 characters is the limit.
    expect((await services.users.create('carol de la mer', PASSWORD)).username).toBe('carol de la mer');
    expect((await services.users.create('y'.repeat(64), PASSWORD)).username).toHaveLength(64);
  });

  it('a login under any case or width is the same account, counted by the throttle as one', async () => {
    const server = await start();
    const login = (username: string, password: string) =>
      post(`${server.url}/login`, { username, password, client_id: 'app' });
    expect((await login('ALICE', ADMIN_PASSWORD)).status).toBe(200);
    expect((await login(FULLWIDTH_ALICE, ADMIN_PASSWORD)).status).toBe(200);
    // Five failures under five spellings are five failures of one account.
    for (const typed of ['alice', 'Alice', 'ALICE', FULLWIDTH_ALICE, 'aLiCe'])
      expect((await login(typed, 'not the password')).status).toBe(400);
    expect((await login('alice', ADMIN_PASSWORD)).status).toBe(429);
    const audit = await server.services.audit.recent(6);
    expect(audit.filter((e) => e.type === 'login_failed').map((e) => e.detail.username)).toEqual(
      Array(5).fill('alice'),
    );
  });
});

describe('usernames stored before they were normalised (migration 0006)', () => {
  const MIGRATION = '0006_usernames_rfc8265';

  /** Rows as an earlier version stored them, then the migration run again over them. */
  async function storedBefore(server: TestServer, names: string[]) {
    const { db, users } = server.services;
    const ids: string[] = [];
    const hash = (await users.byUsername('alice'))!.passwordHash;
    for (const [i, username] of names.entries()) {
      const id = `usr_before_${i}`;
      ids.push(id);
      await db
        .insertInto('users')
        .values({
          id,
          username,
          password_hash: hash,
          token_version: 0,
          disabled: 0,
          roles: toJsonText([]),
          permissions: toJsonText([]),
          name: null,
          email: null,
          email_verified: 0,
          created_at: i,
          updated_at: i,
        })
        .execute();
    }
    // The migration itself, run again over them (later migrations need not be undone for that).
    const migration = migrations(TEST_STORE === 'postgres' ? 'postgres' : 'sqlite')[MIGRATION]!;
    return { ids, migrate: () => migration.up(db as unknown as Kysely<unknown>) };
  }

  it('rewrites them in their RFC 8265 form: those accounts keep logging in, under any case', async () => {
    const server = await start();
    const { ids, migrate } = await storedBefore(server, ['Dave', 'ＥＶＥ', 'frank']);
    await migrate();
    const rows = await server.services.db
      .selectFrom('users')
      .select(['id', 'username'])
      .where('id', 'in', ids)
      .execute();
    expect(Object.fromEntries(rows.map((r) => [r.id, r.username]))).toEqual({
      usr_before_0: 'dave',
      usr_before_1: 'eve',
      usr_before_2: 'frank',
    });
    for (const typed of ['Dave', 'dave', 'EVE', 'eve'])
      expect(
        (await post(`${server.url}/login`, { username: typed, password: ADMIN_PASSWORD, client_id: 'app' }))
          .status,
      ).toBe(200);
  });

  it('changes nothing and says which accounts clash when two stored names are one account', async () => {
    const server = await start();
    const { ids, migrate } = await storedBefore(server, ['Grace', 'GRACE', 'ＡＬＩＣＥ', 'Heidi']);
    const failure = migrate();
    await expect(failure).rejects.toThrow(/RFC 8265/);
    const message = ((await failure.catch((err: unknown) => err)) as Error).message;
    for (const id of ids.slice(0, 3)) expect(message).toContain(id);
    expect(message).toContain('"grace"');
    expect(message).toContain('"alice"');
    expect(message).not.toContain(ids[3]);
    expect(message).toMatch(/rename all but one/i);
    // Nothing was rewritten, not even the row that clashes with nobody.
    const heidi = await server.services.db
      .selectFrom('users')
      .select('username')
      .where('id', '=', ids[3]!)
      .executeTakeFirst();
    expect(heidi?.username).toBe('Heidi');
    const grace = await server.services.db
      .selectFrom('users')
      .select('username')
      .where('id', '=', ids[0]!)
      .executeTakeFirst();
    expect(grace?.username).toBe('Grace');
  });

  it.runIf(TEST_STORE === 'sqlite')(
    'stops an upgrade with the clash named, for the operator to see',
    async () => {
      // A store as the previous version left it: every migration before this one.
      const dir = mkdtempSync(join(tmpdir(), 'tessera-test-'));
      const db = new Kysely<unknown>({
        dialect: new SqliteDialect({ database: new SQLite(join(dir, 'tessera.db')) }),
      });
      cleanup.push(async () => {
        await db.destroy();
        rmSync(dir, { recursive: true, force: true });
      });
      const earlier = Object.fromEntries(
        Object.entries(migrations('sqlite')).filter(([name]) => name < MIGRATION),
      );
      await new Migrator({ db, provider: { getMigrations: async () => earlier } }).migrateToLatest();
      const user = { password_hash: 'x', created_at: 0, updated_at: 0 };
      await (db as Kysely<{ users: Record<string, unknown> }>)
        .insertInto('users')
        .values([
          { id: 'usr_1', username: 'Ivan', ...user },
          { id: 'usr_2', username: 'ivan', ...user },
        ])
        .execute();
      await expect(migrate(db, 'sqlite')).rejects.toThrow(
        /^database migration 0006_usernames_rfc8265 failed: .*"Ivan" \(usr_1\), "ivan" \(usr_2\) are all the account "ivan"/,
      );
    },
  );
});
