// A fresh guard against a large revocation list: how long from createGuard() to ready() when the
// server holds BENCH_SNAPSHOT_ENTRIES (100,000) live revocations, the whole list arriving as the
// snapshot of GET /revocations. Server and guard share this process (the server streams the snapshot
// at the guard's pace, so their work interleaves as it would on two cores, only slower).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createGuard } from '../packages/guard/dist/index.js';
import { createServer, loadConfig } from '../packages/server/dist/index.js';
import { freePort } from './processes.js';

const ENTRIES = Number(process.env.BENCH_SNAPSHOT_ENTRIES ?? 100_000);
const ROUNDS = Number(process.env.BENCH_SNAPSHOT_ROUNDS ?? 5);

export async function runSnapshot() {
  const dataDir = mkdtempSync(join(tmpdir(), 'tessera-bench-snapshot-'));
  const port = await freePort();
  const config = loadConfig({}, {}, { dataDir, port, masterKey: 'S'.repeat(43), logLevel: 'silent' });
  const server = await createServer(config, { logger: false });
  try {
    const { services } = server;
    const { secret } = await services.clients.add({
      clientId: 'api',
      type: 'confidential',
      audiences: [config.audience],
      scopes: [],
    });
    const now = Date.now();
    await services.db.transaction().execute(async (trx) => {
      for (let from = 0; from < ENTRIES; from += 1000) {
        const rows = [];
        for (let i = from; i < Math.min(ENTRIES, from + 1000); i++)
          rows.push({
            kind: i % 3 === 0 ? 'sid' : 'jti',
            value: `${i % 3 === 0 ? 'sid_' : 'at_'}${i.toString(36).padStart(8, '0')}-${'x'.repeat(27)}`,
            ver: null,
            created_at: now,
            expires_at: now + 3_600_000,
            published_at: now,
          });
        await trx.insertInto('revocations').values(rows).execute();
      }
    });
    await services.revocations.load();
    await server.listen();
    const times = [];
    for (let round = 0; round < ROUNDS; round++) {
      const started = performance.now();
      const guard = createGuard({
        issuer: config.issuer,
        audience: config.audience,
        client: { id: 'api', secret },
        logger: { warn() {}, error() {} },
      });
      await guard.ready();
      times.push(performance.now() - started);
      const { entries } = guard.health().revocations;
      await guard.close();
      if (entries !== ENTRIES) throw new Error(`the guard holds ${entries} entries, expected ${ENTRIES}`);
    }
    times.sort((a, b) => a - b);
    const median = times[Math.floor(times.length / 2)];
    console.log(
      `\nRevocation snapshot: a fresh guard ready with ${ENTRIES.toLocaleString('en')} live entries (server and guard in one process, SQLite)`,
    );
    console.log(
      `  createGuard → ready(): median ${(median / 1000).toFixed(2)} s, min ${(times[0] / 1000).toFixed(2)} s, max ${(times.at(-1) / 1000).toFixed(2)} s (${ROUNDS} rounds)`,
    );
    return { entries: ENTRIES, readyMs: { median, min: times[0], max: times.at(-1), all: times } };
  } finally {
    await server.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}
