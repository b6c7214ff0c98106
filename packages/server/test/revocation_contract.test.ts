import { readFileSync } from 'node:fs';
import type { RevocationEntry } from '@tessera/protocol';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { removeDataDir, startServer, type TestServer } from './helpers.js';
import { deleteKeys, REDIS_URL, redisUnreachable, uniquePrefix } from './redis.js';
import { SseStream, streamAuth } from './sse.js';

/**
 * The server's side of the revocation wire contract (packages/protocol/test/contract): what it writes
 * on `GET /revocations` and into the shared Redis stream is, byte for byte, what guards read.
 */

interface Contract {
  events: { entry: RevocationEntry; eventId: string; sse: string; rowId: number; streamFields: string[] }[];
}
const contract = JSON.parse(
  readFileSync(new URL('../../protocol/test/contract/revocation_events.json', import.meta.url), 'utf8'),
) as Contract;

const redisSkip = await redisUnreachable();
if (redisSkip && process.env.CI === 'true') throw new Error(`${redisSkip} (required on CI)`);
if (redisSkip) console.warn(`skipping the Redis side of the revocation contract: ${redisSkip}`);

let server: TestServer | undefined;
afterEach(async () => {
  await server?.close();
  if (server) await removeDataDir(server.dataDir);
  server = undefined;
});

/** Writes the contract's entries into the store under their row ids. */
async function storeContractEntries(target: TestServer, publishedAt: number | null): Promise<void> {
  for (const { entry, rowId } of contract.events) {
    await target.services.db
      .insertInto('revocations')
      .values({
        id: rowId,
        kind: entry.kind,
        value: entry.value,
        ver: entry.ver,
        created_at: target.now(),
        expires_at: entry.expiresAt * 1000,
        published_at: publishedAt,
      } as never)
      .execute();
  }
}

describe('the revocation wire contract, server side', () => {
  it('GET /revocations writes each entry exactly as the contract says (one machine: the row id is the event id)', async () => {
    server = await startServer();
    await storeContractEntries(server, server.now());
    await server.services.revocations.load();
    const stream = await SseStream.open(server.url, await streamAuth(server.services));
    try {
      await stream.until((s) => s.snapshotComplete, 'end of snapshot');
      for (const { sse, eventId, rowId } of contract.events.filter((e) => e.eventId === String(e.rowId))) {
        expect(stream.raw).toContain(sse);
        expect(eventId).toBe(String(rowId));
      }
    } finally {
      stream.close();
    }
  });

  it.skipIf(redisSkip)(
    'the shared Redis stream holds each entry with exactly the contract fields',
    async () => {
      const prefix = uniquePrefix();
      server = await startServer({ redisUrl: REDIS_URL, redisPrefix: prefix });
      const redis = new Redis(REDIS_URL);
      try {
        await storeContractEntries(server, null);
        await server.services.revocations.sync();
        const entries = (await redis.xrange(`${prefix}revocations`, '-', '+')) as [string, string[]][];
        for (const { streamFields } of contract.events)
          expect(entries.map(([, fields]) => fields)).toContainEqual(streamFields);
      } finally {
        redis.disconnect();
        await deleteKeys(prefix);
      }
    },
  );
});
