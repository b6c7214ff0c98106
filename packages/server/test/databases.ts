/**
 * The PostgreSQL side of the server suite. The `server-postgres` project (vitest.config.ts) sets
 * `TESSERA_TEST_STORE=postgres`: every test server then gets a database of its own on the server at
 * `TESSERA_TEST_DATABASE_URL`, created empty from the template and dropped when the test is done.
 *
 * Database names carry the pid of the vitest run that created them (`tessera_t_<pid>_<random>`):
 * a run's global teardown drops its own, its global setup drops those of runs that are no longer
 * alive, and runs sharing one PostgreSQL never touch each other's databases.
 *
 * This module does not import vitest: the root config and the global setup use it too.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';

/** The store the server tests run on. */
export const TEST_STORE: 'sqlite' | 'postgres' =
  process.env.TESSERA_TEST_STORE === 'postgres' ? 'postgres' : 'sqlite';

/** Where the test databases are created: a database to connect to as a user who may create others. */
export const ADMIN_URL = process.env.TESSERA_TEST_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/test';

const PREFIX = 'tessera_t_';
const NAME = /^tessera_t_(\d+)_[0-9a-f]+$/;

async function withAdmin<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: ADMIN_URL, connectionTimeoutMillis: 5_000 });
  client.on('error', () => {}); // a dropped connection fails the query in progress; nothing else to do
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** Why PostgreSQL cannot be used for the tests, or undefined when it can. */
export async function postgresUnreachable(): Promise<string | undefined> {
  const host = (() => {
    try {
      return new URL(ADMIN_URL).host;
    } catch {
      return 'TESSERA_TEST_DATABASE_URL';
    }
  })();
  try {
    await withAdmin((client) => client.query('select 1'));
    return undefined;
  } catch (err) {
    const message = (err instanceof Error && err.message) || String(err) || 'connection failed';
    return `PostgreSQL at ${host} is not reachable (${message})`;
  }
}

/** Creates an empty database owned by the run `ownerPid`; returns its URL. */
export async function createDatabase(ownerPid: number): Promise<string> {
  const name = `${PREFIX}${ownerPid}_${randomBytes(6).toString('hex')}`;
  await withAdmin((client) => client.query(`CREATE DATABASE ${name}`));
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  return url.href;
}

/** Drops a database that {@link createDatabase} made (closing any connection still open to it). */
export async function dropDatabase(url: string): Promise<void> {
  const name = new URL(url).pathname.slice(1);
  if (!NAME.test(name)) throw new Error(`not a test database: ${name}`);
  await withAdmin((client) => client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
}

/** Drops the test databases whose creating run's pid satisfies `owned`; returns their names. */
export async function dropDatabasesOf(owned: (pid: number) => boolean): Promise<string[]> {
  return withAdmin(async (client) => {
    const { rows } = await client.query<{ datname: string }>(
      `select datname from pg_database where datname like '${PREFIX}%'`,
    );
    const names = rows
      .map((r) => r.datname)
      .filter((name) => {
        const pid = NAME.exec(name)?.[1];
        return pid !== undefined && owned(Number(pid));
      });
    for (const name of names) await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    return names;
  });
}

/** Whether a process with this pid is running (on this machine). */
export function isAlive(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists, it just belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
