import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../config.js';
import { MASTER_KEY_FILE, SealedValueError } from '../keys/master_key.js';
import type { Services } from '../services.js';
import { CommandFailed, UsageError } from './errors.js';

/**
 * Opens the store the server uses, runs `work`, and closes it. Every command but `serve` comes here,
 * and none of them may create a new installation: a mistyped `--data-dir` (or a command run from
 * another directory, since the default is relative) would otherwise make a second, empty database
 * and master key, and the user or client added there would never reach the running server.
 */
export async function withStore<T>(config: Config, work: (services: Services) => Promise<T>): Promise<T> {
  // Loaded here, not at start: --help, --version and keygen run without the store's modules.
  const { SQLITE_FILE } = await import('../store/database.js');
  if (config.databaseUrl === undefined && !existsSync(join(config.dataDir, SQLITE_FILE))) {
    throw new UsageError(
      `no Tessera data directory at ${config.dataDir}: start the server there first (tessera serve), or point --data-dir or TESSERA_DATA_DIR at the server's`,
    );
  }
  if (config.databaseUrl !== undefined && !(await postgresHasStore(config.databaseUrl))) {
    throw new UsageError(
      `no Tessera store in the PostgreSQL database ${describeDatabase(config.databaseUrl)}: start the server on it first (tessera serve), or check --database-url or DATABASE_URL`,
    );
  }
  if (config.masterKey === undefined && !existsSync(join(config.dataDir, MASTER_KEY_FILE))) {
    throw new UsageError(
      `no master key: set TESSERA_MASTER_KEY to the server's, or point --data-dir or TESSERA_DATA_DIR at the directory holding its ${MASTER_KEY_FILE} (${config.dataDir} has none)`,
    );
  }
  const { createServices } = await import('../services.js');
  const services = await createServices(config).catch((err: unknown) => {
    // The signing keys were sealed under a master key this command was not given: say so in one line.
    if (err instanceof SealedValueError || (err as Error).cause instanceof SealedValueError)
      throw new CommandFailed(`${(err as Error).message}; previous keys go in TESSERA_MASTER_KEYRING`);
    throw err;
  });
  try {
    return await work(services);
  } finally {
    await services.close();
  }
}

/** Whether the server's migrations have run in this database (its `users` table exists). */
async function postgresHasStore(url: string): Promise<boolean> {
  const { default: pg } = await import('pg');
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
  await client.connect();
  try {
    const { rows } = await client.query(
      `select 1 from information_schema.tables where table_schema = current_schema() and table_name = 'users'`,
    );
    return rows.length > 0;
  } finally {
    await client.end();
  }
}

/** Host and database name, never the credentials a URL may carry. */
function describeDatabase(url: string): string {
  const parsed = new URL(url);
  return `${parsed.host}${parsed.pathname}`;
}
