import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Config, loadConfig } from '../src/config.js';
import { createServer, type TesseraServer } from '../src/server.js';

export const ADMIN_PASSWORD = 'correct horse battery staple';

export interface TestServer extends TesseraServer {
  url: string;
  dataDir: string;
  /** Moves the server's clock forward. */
  advance(ms: number): void;
  now(): number;
}

/**
 * A real server on 127.0.0.1 (random port) with its own data directory and a controllable clock.
 * `overrides` adjusts the configuration; `dataDir` reuses a directory (restart tests).
 */
export async function startServer(overrides: Partial<Config> = {}, dataDir?: string): Promise<TestServer> {
  const dir = dataDir ?? mkdtempSync(join(tmpdir(), 'tessera-test-'));
  let offset = 0;
  const clock = () => Date.now() + offset;
  const config = loadConfig(
    {},
    {},
    { dataDir: dir, port: 0, masterKey: 'A'.repeat(43), logLevel: 'silent', ...overrides },
  );
  const server = await createServer(config, { logger: false, clock });
  if (!(await server.services.users.byUsername('alice'))) {
    await server.services.users.create('alice', ADMIN_PASSWORD, { roles: ['customer'] });
  }
  const url = await server.listen();
  // The issuer must be where the server actually listens (port 0 picks one at random).
  return Object.assign(server, {
    url,
    dataDir: dir,
    advance: (ms: number) => {
      offset += ms;
    },
    now: clock,
  });
}

export function removeDataDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

export async function post(
  url: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<Response> {
  return fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
}
