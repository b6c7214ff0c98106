import { parseStreamFields } from '@tessera/protocol';
import type { Redis } from 'ioredis';
import type { Logger } from '../shared/logger.js';
import type { SharedRedis } from '../shared/redis.js';
import { type FeedEvent, type RevocationFeed, wireEntry } from './feed.js';

/**
 * Publishes one entry, at most once per store row (the row's mark is written last, so a run that
 * failed part-way is completed by the next delivery): the stream entry, and a denylist key per handle
 * (`<prefix>denylist:jti:<jti>` …, value `1` or, for `sub`, the version below which tokens are
 * revoked) that lives exactly as long as the entry. The stream is trimmed (MINID, Redis ≥ 6.2) to the
 * longest access-token lifetime by Redis's own clock, the one its entry ids are made from.
 *
 * KEYS: stream, dedupe marker, denylist key. ARGV: kind, value, ver ('' for none), exp (unix s),
 * row id, ttl (ms), retention (ms).
 */
const PUBLISH = `
if redis.replicate_commands then redis.replicate_commands() end
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
if ARGV[1] == 'sub' and not tonumber(ARGV[3]) then return redis.error_reply('sub entry without a version') end
local ttl = tonumber(ARGV[6])
local left = redis.call('PTTL', KEYS[3])
if left > ttl then ttl = left end
local value = '1'
if ARGV[1] == 'sub' then
  local below = tonumber(ARGV[3])
  local known = tonumber(redis.call('GET', KEYS[3]) or '')
  if known and known > below then below = known end
  value = string.format('%.0f', below)
end
redis.call('SET', KEYS[3], value, 'PX', ttl)
local time = redis.call('TIME')
local oldest = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000) - tonumber(ARGV[7])
redis.call('XADD', KEYS[1], 'MINID', '~', string.format('%.0f', oldest), '*',
  'kind', ARGV[1], 'value', ARGV[2], 'ver', ARGV[3], 'exp', ARGV[4], 'rid', ARGV[5])
-- Marked last: a script that failed half-way (Redis keeps a script's earlier writes) is run again.
redis.call('SET', KEYS[2], '1', 'PX', ARGV[6])
return 1
`;

/** A reader that has not heard from Redis for this long no longer vouches for the stream. */
const LIVE_WINDOW_MS = 10_000;
const BLOCK_MS = 5_000;
const STREAM_ID = /^\d{1,20}-\d{1,20}$/;

type Publisher = Redis & {
  tesseraPublishRevocation(...args: (string | number)[]): Promise<number>;
};

export interface RedisFeedOptions {
  /** Stream entries are kept this long: the longest access-token lifetime plus a margin. */
  retentionMs: () => number;
  clock?: () => number;
}

/**
 * Scaled out: every instance publishes to one Redis stream and relays it to its own subscribers, so
 * a guard connected to any instance hears revocations made on any other. Stream ids order events,
 * and resuming with `Last-Event-ID` works on every instance.
 */
export function createRedisFeed(redis: SharedRedis, log: Logger, options: RedisFeedOptions): RevocationFeed {
  const clock = options.clock ?? Date.now;
  const key = `${redis.prefix}revocations`;
  // Set once the stream holds every live entry; Redis losing its data loses this mark too.
  const seedMark = `${redis.prefix}revocations:seeded`;
  const client = redis.client as Publisher;
  client.defineCommand('tesseraPublishRevocation', { numberOfKeys: 3, lua: PUBLISH });
  const listeners = new Set<(event: FeedEvent) => void>();
  const reader = redis.duplicate();
  // Liveness is about the connection, so it runs on real time whatever clock the tokens use.
  let liveAt = 0;
  /**
   * Whether the stream is known to hold every live entry (its seed mark was seen). Until then, and
   * after Redis came back empty, backlog() refuses (subscribers get the store's list instead) and the
   * feed is not live: an empty stream must not pass for a complete one.
   */
  let seeded = false;
  let closed = false;

  /** A stream entry as a feed event; its fields are @tessera/protocol's (see the PUBLISH script). */
  function toEvent(id: string, fields: string[]): FeedEvent | undefined {
    const parsed = parseStreamFields(fields);
    if (!parsed) return;
    const { entry, rowId } = parsed;
    return { eventId: id, id: rowId, ...entry, expiresAt: entry.expiresAt * 1000, createdAt: 0 };
  }

  async function read(): Promise<void> {
    // From the start of the stream: entries published before this reader connected (or while it
    // was reconnecting) still reach this instance's list. Subscribers connect later and are sent
    // the past by backlog(), so nothing is relayed twice to them.
    let lastId = '0-0';
    while (!closed) {
      try {
        if (reader.status !== 'ready') {
          await new Promise((resolve) => setTimeout(resolve, 20));
          continue;
        }
        const reply = (await reader.xread('COUNT', 1000, 'BLOCK', BLOCK_MS, 'STREAMS', key, lastId)) as
          | [string, [string, string[]][]][]
          | null;
        liveAt = Date.now();
        for (const [id, fields] of reply?.[0]?.[1] ?? []) {
          lastId = id;
          const event = toEvent(id, fields);
          if (event) for (const listener of listeners) listener(event);
        }
      } catch (err) {
        if (closed) return;
        log.debug({ reason: (err as Error).message }, 'revocation stream read failed; retrying');
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    }
  }
  void read();

  return {
    shared: true,
    async publish(entry) {
      const ttl = entry.expiresAt - clock();
      if (ttl <= 0) return true;
      const wire = wireEntry(entry);
      try {
        await client.tesseraPublishRevocation(
          key,
          // A row is known by id and creation time, so a store started afresh never collides with old marks.
          `${redis.prefix}revocation:row:${entry.id}:${entry.createdAt}`,
          `${redis.prefix}denylist:${wire.kind}:${wire.value}`,
          wire.kind,
          wire.value,
          wire.ver === null ? '' : String(wire.ver),
          String(wire.expiresAt),
          String(entry.id),
          String(ttl),
          String(options.retentionMs()),
        );
        return true;
      } catch {
        // Redis is down: the row stays unpublished in the store and is sent when Redis is back.
        return false;
      }
    },
    async backlog(lastEventId) {
      if (!seeded) throw new Error('the revocation stream is not seeded yet');
      // An unknown or malformed id gets the whole live stream: a repeat is harmless, a gap is not.
      let start = lastEventId !== undefined && STREAM_ID.test(lastEventId) ? `(${lastEventId}` : '-';
      const out: FeedEvent[] = [];
      const now = clock();
      for (;;) {
        const batch = (await redis.client.xrange(key, start, '+', 'COUNT', 1000)) as [string, string[]][];
        for (const [id, fields] of batch) {
          const event = toEvent(id, fields);
          if (event && event.expiresAt > now) out.push(event);
        }
        if (batch.length < 1000) return out;
        start = `(${(batch.at(-1) as [string, string[]])[0]}`;
      }
    },
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    live: () => seeded && redis.ready() && Date.now() - liveAt < LIVE_WINDOW_MS,
    async seeded() {
      try {
        seeded = (await redis.client.exists(seedMark)) === 1;
      } catch (err) {
        seeded = false;
        throw err;
      }
      return seeded;
    },
    async markSeeded() {
      await redis.client.set(seedMark, new Date().toISOString());
      seeded = true;
    },
    async close() {
      closed = true;
      listeners.clear();
      reader.disconnect(false);
    },
  };
}
