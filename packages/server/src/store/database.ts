import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import SQLite from 'better-sqlite3';
import { Kysely, PostgresDialect, SqliteDialect } from 'kysely';
import pg from 'pg';
import type { Config } from '../config.js';
import { migrate } from './migrations.js';
import type { Database } from './schema.js';

export type Db = Kysely<Database>;

/**
 * Opens the store: PostgreSQL when `databaseUrl` is set, else a SQLite file in the data directory.
 * Both go through the same Kysely queries and the same migrations, which run here.
 */
export async function openDatabase(config: Pick<Config, 'databaseUrl' | 'dataDir'>): Promise<Db> {
  let db: Db;
  if (config.databaseUrl) {
    // bigint columns hold millisecond times: read them as numbers, not pg's default strings.
    const types = {
      getTypeParser: (oid: number, format?: string) =>
        oid === 20 ? Number : pg.types.getTypeParser(oid, format as 'text'),
    };
    const pool = new pg.Pool({ connectionString: config.databaseUrl, max: 10, types: types as never });
    db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  } else {
    mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
    const sqlite = new SQLite(join(config.dataDir, 'tessera.db'));
    // WAL lets readers proceed while a refresh writes; a busy timeout queues writers instead of failing.
    sqlite.pragma('journal_mode = WAL');
    sqlite.pragma('busy_timeout = 5000');
    sqlite.pragma('foreign_keys = ON');
    db = new Kysely<Database>({ dialect: new SqliteDialect({ database: sqlite }) });
  }
  await migrate(db as Kysely<unknown>, config.databaseUrl ? 'postgres' : 'sqlite');
  return db;
}
