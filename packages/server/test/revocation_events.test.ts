import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { eventually, removeDataDir, startServer, type TestServer } from './helpers.js';
import { freePort } from './redis.js';
import { followingGuard, RESOURCE_SERVER_ID, SseStream, streamAuth } from './sse.js';

/** `GET /revocations`: who may follow it, how many at once, and snapshots of any size. */

let server: TestServer;
const streams: SseStream[] = [];
afterEach(async () => {
  for (const stream of streams.splice(0)) stream.close();
  await server.close();
  await removeDataDir(server.dataDir);
});

async function open(headers: Record<string, string>): Promise<SseStream> {
  const stream = await SseStream.open(server.url, headers);
  streams.push(stream);
  return stream;
}

/** Writes `count` live `jti` revocations straight into the store, as months of traffic would. */
async function seedRevocations(count: number): Promise<void> {
  const now = server.now();
  await server.services.db.transaction().execute(async (trx) => {
    for (let from = 0; from < count; from += 1000) {
      const rows = [];
      for (let i = from; i < Math.min(count, from + 1000); i++)
        rows.push({
          kind: 'jti' as const,
          value: `jti-${i.toString().padStart(6, '0')}-${'x'.repeat(22)}`,
          ver: null,
          created_at: now,
          expires_at: now + 600_000,
          published_at: now,
        });
      await trx.insertInto('revocations').values(rows).execute();
    }
  });
  await server.services.revocations.load();
}

describe('GET /revocations: resource-server authentication', () => {
  beforeEach(async () => {
    server = await startServer();
  });

  it('refuses a request without credentials with a Basic challenge', async () => {
    const res = await fetch(`${server.url}/revocations`);
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe('Basic realm="tessera"');
    expect(((await res.json()) as { error: string }).error).toBe('invalid_client');
  });

  it('refuses a wrong secret', async () => {
    await streamAuth(server.services);
    const wrong = Buffer.from(`${RESOURCE_SERVER_ID}:not-the-secret`).toString('base64');
    const res = await fetch(`${server.url}/revocations`, { headers: { authorization: `Basic ${wrong}` } });
    expect(res.status).toBe(401);
  });

  it('refuses a public client, which has no secret to prove who it is', async () => {
    await server.services.clients.add({
      clientId: 'spa',
      type: 'public',
      audiences: [server.services.config.audience],
      scopes: [],
    });
    const res = await fetch(`${server.url}/revocations`, {
      headers: { authorization: `Basic ${Buffer.from('spa:').toString('base64')}` },
    });
    expect(res.status).toBe(401);
  });

  it('refuses a bearer access token (the stream is for resource servers, not users)', async () => {
    const res = await fetch(`${server.url}/revocations`, {
      headers: { authorization: 'Bearer abc.def.ghi' },
    });
    expect(res.status).toBe(401);
  });

  it('streams to a confidential client', async () => {
    const stream = await open(await streamAuth(server.services));
    expect(stream.response.status).toBe(200);
    await stream.until((s) => s.snapshotComplete, 'end of snapshot');
  });
});

describe('GET /revocations: public only by an explicit setting', () => {
  it('streams without credentials when revocationStreamPublic is set', async () => {
    server = await startServer({ revocationStreamPublic: true });
    const stream = await open({});
    expect(stream.response.status).toBe(200);
    await stream.until((s) => s.snapshotComplete, 'end of snapshot');
  });
});

describe('GET /revocations: caps on open streams', () => {
  it('caps the streams one address may hold open, and frees a slot when one closes', async () => {
    server = await startServer({ maxRevocationStreamsPerAddress: 2 });
    const auth = await streamAuth(server.services);
    const first = await open(auth);
    await first.until((s) => s.snapshotComplete, 'end of snapshot');
    const second = await open(auth);
    await second.until((s) => s.snapshotComplete, 'end of snapshot');
    const third = await fetch(`${server.url}/revocations`, { headers: auth });
    expect(third.status).toBe(429);
    expect(third.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(((await third.json()) as { error: string }).error).toBe('slow_down');
    first.close();
    // The slot is free once the server has seen the subscriber leave: until then a new stream is 429.
    let again: Response | undefined;
    await eventually(async () => {
      again = await fetch(`${server.url}/revocations`, { headers: auth });
      if (again.status === 200) return true;
      expect(again.status).toBe(429);
      await again.body?.cancel();
      return false;
    }, 'the closed stream to free its slot');
    expect(again?.status).toBe(200);
    await again?.body?.cancel();
  });

  it('caps the streams open in all', async () => {
    server = await startServer({ maxRevocationStreams: 1 });
    const auth = await streamAuth(server.services);
    const first = await open(auth);
    await first.until((s) => s.snapshotComplete, 'end of snapshot');
    const second = await fetch(`${server.url}/revocations`, { headers: auth });
    expect(second.status).toBe(429);
  });
});

describe('GET /revocations: large snapshots', () => {
  beforeEach(async () => {
    server = await startServer();
  });

  it('sends a snapshot of 100,000 live entries whole, in order, then the end-of-snapshot marker', async () => {
    await seedRevocations(100_000);
    const stream = await open(await streamAuth(server.services));
    await stream.until((s) => s.snapshotComplete, 'end of snapshot');
    const snapshot = stream.snapshot;
    expect(snapshot).toHaveLength(100_000);
    expect(snapshot[0]!.value).toBe(`jti-000000-${'x'.repeat(22)}`);
    expect(snapshot.at(-1)!.value).toBe(`jti-099999-${'x'.repeat(22)}`);
    expect(snapshot.every((event, i) => i === 0 || event.id > snapshot[i - 1]!.id)).toBe(true);
  });

  it('a fresh guard following the stream becomes ready holding all 100,000 entries', async () => {
    // The guard discovers the stream from the issuer URL: the server must listen where it says.
    await server.close();
    await removeDataDir(server.dataDir);
    server = await startServer({ port: await freePort() });
    await seedRevocations(100_000);
    const guard = await followingGuard(server);
    try {
      // The time this takes is measured by `BENCH_SUITES=snapshot npm run bench`, not asserted here.
      await guard.ready();
      expect(guard.health().revocations.entries).toBe(100_000);
      expect(guard.health().revocations.state).toBe('live');
    } finally {
      await guard.close();
    }
  });

  it('waits for a subscriber that pauses mid-snapshot instead of dropping it, and sends a revocation made meanwhile exactly once', async () => {
    await seedRevocations(50_000);
    const auth = await streamAuth(server.services);
    const controller = new AbortController();
    const res = await fetch(`${server.url}/revocations`, { headers: auth, signal: controller.signal });
    const reader = res.body!.getReader();
    const first = await reader.read();
    expect(first.done).toBe(false);
    // Not reading now: the server can only go on once we do. A revocation happens meanwhile.
    const entry = await server.services.revocations.revoke('jti', 'revoked-during-the-snapshot');
    let text = new TextDecoder().decode(first.value);
    const decoder = new TextDecoder();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
      if (text.includes('revoked-during-the-snapshot') && text.includes(': snapshot complete')) break;
    }
    controller.abort();
    const events = text.split('\n\n').filter((block) => block.includes('event: revocation'));
    expect(events).toHaveLength(50_001);
    expect(events.filter((block) => block.includes('revoked-during-the-snapshot'))).toEqual([
      expect.stringContaining(`id: ${entry.id}\n`),
    ]);
  });
});
