import { createHash } from 'node:crypto';
import type { SharedRedis } from './redis.js';

/**
 * Remembers identifiers that may be used once (a client assertion's `jti`, RFC 7523 §3 item 7; later
 * a DPoP proof's `jti`, RFC 9449 §11.1) until they expire. Identifiers live in namespaces, so the
 * same `jti` from two clients, or from two kinds of token, never collide.
 */
export interface ReplayCache {
  /**
   * True the first time `id` is seen in `namespace`; false on every later call until `expiresAt`
   * (milliseconds since the epoch), after which the id is forgotten. An id whose `expiresAt` has
   * already passed is not remembered (it answers true): the caller refuses expired tokens anyway.
   * Rejects with {@link ReplayCacheUnavailable} when the answer cannot be known: the caller must
   * then refuse the token, since accepting it could accept a replay.
   */
  firstUse(namespace: string, id: string, expiresAt: number): Promise<boolean>;
}

/**
 * The cache cannot say whether an id was used: the in-memory cache is full of live ids (`full`), or
 * Redis did not answer (`unreachable`). Fail closed: treat the request as temporarily refused
 * (`temporarily_unavailable`), not as a replay.
 */
export class ReplayCacheUnavailable extends Error {
  constructor(
    readonly reason: 'full' | 'unreachable',
    options?: { cause?: unknown },
  ) {
    super(
      reason === 'full'
        ? 'the replay cache is full of identifiers that have not expired'
        : 'the replay cache (Redis) did not answer',
      options,
    );
    this.name = 'ReplayCacheUnavailable';
  }
}

/** Default cap of the in-memory cache: enough for 5-minute assertions at over 300 per second. */
export const DEFAULT_REPLAY_CACHE_ENTRIES = 100_000;

export interface MemoryReplayCacheOptions {
  /** Most ids held at once (default {@link DEFAULT_REPLAY_CACHE_ENTRIES}). */
  maxEntries?: number;
}

/**
 * A replay cache for one process. Expired ids are dropped as time passes (an expiry queue, so each
 * call does work in proportion to what expired, never a scan of the whole cache). At `maxEntries`
 * live ids it refuses new ones with {@link ReplayCacheUnavailable} (`full`) rather than forget a
 * live one: forgetting an id would let its token be replayed. Ids seen before still answer false.
 */
export function createMemoryReplayCache(
  clock: () => number,
  options: MemoryReplayCacheOptions = {},
): ReplayCache {
  const maxEntries = options.maxEntries ?? DEFAULT_REPLAY_CACHE_ENTRIES;
  if (!Number.isSafeInteger(maxEntries) || maxEntries <= 0)
    throw new TypeError('maxEntries must be a positive integer');
  const expiries = new Map<string, number>();
  const queue = new ExpiryQueue();

  function dropExpired(now: number): void {
    for (let next = queue.peek(); next && next.expiresAt <= now; next = queue.peek()) {
      queue.pop();
      expiries.delete(next.key);
    }
  }

  return {
    async firstUse(namespace, id, expiresAt) {
      checkExpiry(expiresAt);
      const now = clock();
      dropExpired(now);
      if (expiresAt <= now) return true;
      const key = cacheKey(namespace, id);
      if (expiries.has(key)) return false;
      if (expiries.size >= maxEntries) throw new ReplayCacheUnavailable('full');
      expiries.set(key, expiresAt);
      queue.push({ key, expiresAt });
      return true;
    },
  };
}

/**
 * The replay cache every instance shares: one Redis key per id, `<prefix>replay:<namespace>:<hash>`,
 * set with `SET … NX PXAT expiresAt` so the first instance to see an id wins and Redis forgets it
 * when it expires. Unlike the rate limits there is no in-memory fallback while Redis is unreachable:
 * one instance's memory cannot tell whether another instance accepted the id, so the call rejects
 * with {@link ReplayCacheUnavailable} (`unreachable`).
 */
export function createRedisReplayCache(redis: SharedRedis): ReplayCache {
  return {
    async firstUse(namespace, id, expiresAt) {
      checkExpiry(expiresAt);
      // PXAT takes whole milliseconds; one in the past makes Redis store nothing, matching the
      // in-memory cache (an expired id is not remembered).
      const at = Math.ceil(expiresAt);
      let answer: string | null;
      try {
        answer = await redis.client.set(
          `${redis.prefix}replay:${cacheKey(namespace, id)}`,
          '1',
          'PXAT',
          at,
          'NX',
        );
      } catch (err) {
        throw new ReplayCacheUnavailable('unreachable', { cause: err });
      }
      return answer === 'OK';
    },
  };
}

/** A NaN or infinite expiry is a caller's bug; answering either way could let a replay through. */
function checkExpiry(expiresAt: number): void {
  if (!Number.isFinite(expiresAt)) throw new TypeError('expiresAt must be a finite number of milliseconds');
}

/**
 * `<namespace>:<SHA-256 of id, base64url>`. Hashing bounds the size of what is kept whatever the id's
 * length, and its fixed length without a colon keeps the key unambiguous even when the namespace
 * holds colons itself (`client_assertion:<client_id>`).
 */
function cacheKey(namespace: string, id: string): string {
  return `${namespace}:${createHash('sha256').update(id, 'utf8').digest('base64url')}`;
}

interface QueuedId {
  key: string;
  expiresAt: number;
}

/** A binary min-heap on `expiresAt`: the next id to expire is always at the top. */
class ExpiryQueue {
  private readonly heap: QueuedId[] = [];

  peek(): QueuedId | undefined {
    return this.heap[0];
  }

  push(item: QueuedId): void {
    const heap = this.heap;
    heap.push(item);
    let index = heap.length - 1;
    while (index > 0) {
      const parent = (index - 1) >> 1;
      if (heap[parent]!.expiresAt <= item.expiresAt) break;
      heap[index] = heap[parent]!;
      index = parent;
    }
    heap[index] = item;
  }

  pop(): QueuedId | undefined {
    const heap = this.heap;
    const top = heap[0];
    const last = heap.pop();
    if (top === undefined || last === undefined || heap.length === 0) return top;
    let index = 0;
    for (;;) {
      const left = 2 * index + 1;
      if (left >= heap.length) break;
      const right = left + 1;
      const child = right < heap.length && heap[right]!.expiresAt < heap[left]!.expiresAt ? right : left;
      if (heap[child]!.expiresAt >= last.expiresAt) break;
      heap[index] = heap[child]!;
      index = child;
    }
    heap[index] = last;
    return top;
  }
}
