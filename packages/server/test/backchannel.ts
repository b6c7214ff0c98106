import type { Selectable } from 'kysely';
import { vi } from 'vitest';
import { main } from '../src/cli/main.js';
import type { OutboxTable } from '../src/store/schema.js';

export type OutboxRow = Selectable<OutboxTable>;

import { BackchannelRp } from './backchannel_rp.js';
import { eventually, type TestServer } from './helpers.js';

/** The master key startServer gives every test server (helpers.ts). */
const TEST_MASTER_KEY = 'A'.repeat(43);

/** An RP listening for logout tokens of `clientId` from `server` (its JWKS read over HTTP). */
export function startRp(
  server: Pick<TestServer, 'services' | 'url'>,
  clientId: string,
  port?: number,
): Promise<BackchannelRp> {
  return BackchannelRp.start({
    issuer: server.services.config.issuer,
    jwksUrl: `${server.url}/.well-known/jwks.json`,
    clientId,
    ...(port !== undefined ? { port } : {}),
  });
}

/** Registers a public client whose back-channel logout URI is `rp`'s. */
export async function addRpClient(
  server: TestServer,
  rp: BackchannelRp,
  extra: { backchannelLogoutSessionRequired?: boolean } = {},
): Promise<void> {
  await server.services.clients.add({
    clientId: rp.clientId,
    type: 'public',
    audiences: [server.services.config.audience],
    scopes: ['openid', 'profile', 'offline_access'],
    backchannelLogoutUri: rp.uri,
    ...extra,
  });
}

export function outboxRows(server: TestServer): Promise<OutboxRow[]> {
  return server.services.db.selectFrom('outbox').selectAll().orderBy('id').execute();
}

/**
 * Waits until every outbox row is finished (delivered or given up) and no attempt is in flight in
 * any of `servers`: after that, nothing more reaches an RP.
 */
export async function settled(servers: TestServer[], ms = 60_000): Promise<OutboxRow[]> {
  let rows: OutboxRow[] = [];
  await eventually(
    async () => {
      rows = await outboxRows(servers[0]!);
      return (
        rows.every((row) => row.delivered_at !== null || row.gave_up_at !== null) &&
        servers.every((server) => server.delivery.inFlight() === 0)
      );
    },
    'every outbox row finished',
    ms,
  );
  return rows;
}

/**
 * Runs `tessera <args>` in this process against `server`'s store (its data directory, its database
 * on PostgreSQL), as an operator would from another shell while the server runs: the command opens
 * the store with services of its own. Resolves to the exit code and what it printed.
 */
export async function runCli(server: TestServer, args: string[]): Promise<{ code: number; output: string }> {
  const previous = process.env.TESSERA_MASTER_KEY;
  process.env.TESSERA_MASTER_KEY = TEST_MASTER_KEY;
  const write = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
  try {
    const database = server.services.config.databaseUrl;
    const code = await main([
      ...args,
      '--json',
      '--data-dir',
      server.dataDir,
      ...(database ? ['--database-url', database] : []),
    ]);
    return { code, output: write.mock.calls.map((call) => String(call[0])).join('') };
  } finally {
    write.mockRestore();
    if (previous === undefined) delete process.env.TESSERA_MASTER_KEY;
    else process.env.TESSERA_MASTER_KEY = previous;
  }
}
