import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import SQLite from 'better-sqlite3';
import { Kysely, PostgresDialect, SqliteDialect } from 'kysely';
import pg from 'pg';
import type { Config } from '../config.js';
import { migrate } from './migrations.js';
import type { Database } from './schema.js';

export type Db = Kysely<Database>;

/** The SQLite database's file name in the data directory. */
export const SQLITE_FILE = 'tessera.db';

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
    const pool = new pg.Pool({
      connectionString: config.databaseUrl,
      max: 10,
      types: types as never,
      // A request waits at most this long for a connection while PostgreSQL is away, then fails
      // cleanly (503) instead of hanging.
      connectionTimeoutMillis: 5_000,
    });
    // An idle connection that PostgreSQL drops (restart, failover) is discarded by the pool and
    // replaced on demand; without a listener the 'error' event would end the process.
    pool.on('error', () => {});
    // A connection that drops while checked out (a transaction between two statements) makes its
    // client emit 'error' too, and the pool listens only to idle clients: without this the process
    // would end. The statement that needed the connection fails instead (503), and the pool
    // discards the client when it is released.
    pool.on('connect', (client) => client.on('error', () => {}));
    db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  } else {
    mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
    const sqlite = new SQLite(join(config.dataDir, SQLITE_FILE));
    // WAL lets readers proceed while a refresh writes; a busy timeout queues writers instead of failing.
    sqlite.pragma('journal_mode = WAL');
    sqlite.pragma('busy_timeout = 5000');
    // In WAL mode NORMAL syncs at checkpoints rather than on every commit: the database can never be
    // corrupted, and only the last moments of writes are at risk on power loss (a refresh token then
    // lost just asks its user to log in again).
    sqlite.pragma('synchronous = NORMAL');
    sqlite.pragma('foreign_keys = ON');
    db = new Kysely<Database>({ dialect: new SqliteDialect({ database: withStatementCache(sqlite) }) });
  }
  await migrateWithRetry(db as Kysely<unknown>, config.databaseUrl ? 'postgres' : 'sqlite');
  return db;
}

/**
 * Kysely prepares every query anew, and preparing costs better-sqlite3 more than running a simple
 * statement. The queries are the same few shapes with different parameters, so keep the prepared
 * statements, keyed by SQL text (bounded, in case some query is built dynamically).
 */
function withStatementCache(sqlite: SQLite.Database): SQLite.Database {
  const statements = new Map<string, SQLite.Statement>();
  return new Proxy(sqlite, {
    get(target, property, receiver) {
      if (property !== 'prepare') return Reflect.get(target, property, receiver);
      return (source: string) => {
        let statement = statements.get(source);
        if (!statement) {
          statement = target.prepare(source);
          if (statements.size >= 500) statements.delete(statements.keys().next().value as string);
          statements.set(source, statement);
        }
        return statement;
      };
    },
  });
}

/**
 * Two processes opening a fresh data directory at once (`tessera serve` and `tessera user add` on a
 * first run) race to create the tables; the loser's transaction fails. Its retry finds the
 * migrations done, or waits its turn.
 */
async function migrateWithRetry(db: Kysely<unknown>, dialect: 'sqlite' | 'postgres'): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await migrate(db, dialect);
    } catch (err) {
      if (attempt >= 5) throw err;
      await new Promise((resolve) => setTimeout(resolve, 100 * attempt));
    }
  }
}

/** A unique constraint refused the write (both dialects): another writer got there first. */
export function isUniqueViolation(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === '23505' || code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY';
}

/**
 * The store cannot be reached right now (PostgreSQL restarting, connection dropped): the request
 * failed cleanly and may be retried, so it answers 503 rather than 500.
 */
export function isStoreUnavailable(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== 'string') {
    const message = (err as Error | null)?.message ?? '';
    return /Connection terminated|connection timeout|timeout exceeded when trying to connect/i.test(message);
  }
  // PostgreSQL class 08 (connection exception), 57P01–57P03 (shutdown, cannot connect now), and the
  // socket errors of a server that went away.
  return (
    code.startsWith('08') ||
    code === '57P01' ||
    code === '57P02' ||
    code === '57P03' ||
    code === 'ECONNREFUSED' ||
    code === 'ECONNRESET' ||
    code === 'EPIPE' ||
    code === 'ETIMEDOUT' ||
    code === 'SQLITE_BUSY'
  );
}
