import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inject } from 'vitest';
import { type Config, loadConfig } from '../src/config.js';
import type { AppOptions } from '../src/http/app.js';
import { createServer, type TesseraServer } from '../src/server.js';
import type { ServerHooks } from '../src/services.js';
import { createDatabase, dropDatabase, TEST_STORE } from './databases.js';
import { request, serveInProcess } from './requests.js';

export const ADMIN_PASSWORD = 'correct horse battery staple';

export interface TestServer extends TesseraServer {
  url: string;
  dataDir: string;
  /** Moves the server's clock forward. */
  advance(ms: number): void;
  now(): number;
}

/** Where a data directory remembers the test database its store lives in (PostgreSQL runs). */
const DATABASE_URL_FILE = 'test-database-url';

/**
 * A new, empty PostgreSQL database for one test store when the suite runs on PostgreSQL
 * (`TESSERA_TEST_STORE=postgres`), else undefined (SQLite, in the data directory). The caller drops
 * it ({@link dropTestDatabase}); the run's global teardown drops any that are left.
 */
export async function createTestDatabase(): Promise<string | undefined> {
  if (TEST_STORE !== 'postgres') return undefined;
  return createDatabase(inject('tesseraRunPid') ?? process.pid);
}

export async function dropTestDatabase(url: string | undefined): Promise<void> {
  if (url) await dropDatabase(url);
}

/**
 * The `databaseUrl` for a store in `dataDir`: undefined on SQLite; on PostgreSQL the database this
 * data directory was given the first time (remembered in a file inside it, so restart tests reopen
 * the same store), else a new one.
 */
export async function databaseUrlFor(dataDir: string): Promise<string | undefined> {
  if (TEST_STORE !== 'postgres') return undefined;
  const file = join(dataDir, DATABASE_URL_FILE);
  if (existsSync(file)) return readFileSync(file, 'utf8');
  const url = (await createTestDatabase())!;
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  writeFileSync(file, url);
  return url;
}

/**
 * A real server on 127.0.0.1 (random port) with its own data directory and a controllable clock.
 * `overrides` adjusts the configuration; `dataDir` reuses a directory (restart tests). The store is
 * the one the suite runs on: SQLite in the data directory, or a PostgreSQL database of its own.
 */
export async function startServer(
  overrides: Partial<Config> = {},
  dataDir?: string,
  /** Server hooks, and a logger to capture what the server logs (silent otherwise). */
  hooks: ServerHooks & Pick<AppOptions, 'logger'> = {},
): Promise<TestServer> {
  const dir = dataDir ?? mkdtempSync(join(tmpdir(), 'tessera-test-'));
  // A database given in `overrides` is the caller's to create and drop.
  const databaseUrl = 'databaseUrl' in overrides ? undefined : await databaseUrlFor(dir);
  let offset = 0;
  const clock = () => Date.now() + offset;
  const config = loadConfig(
    {},
    {},
    {
      dataDir: dir,
      ...(databaseUrl ? { databaseUrl } : {}),
      port: 0,
      masterKey: 'A'.repeat(43),
      logLevel: 'silent',
      ...overrides,
    },
  );
  const server = await createServer(config, { logger: false, clock, ...hooks });
  if (!(await server.services.users.byUsername('alice'))) {
    await server.services.users.create('alice', ADMIN_PASSWORD, { roles: ['customer'] });
  }
  const url = await server.listen();
  // Requests from the tests reach it through app.inject() (see requests.ts) until it closes.
  const forget = serveInProcess(url, server.app);
  const close = server.close.bind(server);
  // The issuer must be where the server actually listens (port 0 picks one at random).
  return Object.assign(server, {
    async close() {
      forget();
      await close();
    },
    url,
    dataDir: dir,
    advance: (ms: number) => {
      offset += ms;
    },
    now: clock,
  });
}

/** Closes a test server and removes its data directory (and database). */
export async function stopServer(server: TestServer): Promise<void> {
  await server.close();
  await removeDataDir(server.dataDir);
}

/** Removes a data directory, and drops its PostgreSQL database if it has one. */
export async function removeDataDir(dir: string): Promise<void> {
  const file = join(dir, DATABASE_URL_FILE);
  if (existsSync(file)) await dropDatabase(readFileSync(file, 'utf8'));
  rmSync(dir, { recursive: true, force: true });
}

export async function post(
  url: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<Response> {
  return request(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
}

/** Polls `check` until it holds; fails after a generous bound (never asserted as a duration). */
export async function eventually(
  check: () => Promise<boolean> | boolean,
  what: string,
  ms = 10_000,
): Promise<void> {
  const until = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
