import { parseStreamFields } from '@tessera/protocol';
import { createBackoff, sleep } from '../backoff.js';
import { describeFailure } from '../logger.js';
import { createMalformedReporter, FeedClosed, type FeedContext, type RevocationFeed } from './feed.js';

/**
 * The little of an ioredis connection the guard uses. `call` sends a raw command and resolves to
 * its reply (strings and arrays, as ioredis returns them).
 */
export interface RedisConnectionLike {
  call(command: string, ...args: (string | number)[]): Promise<unknown>;
  disconnect(reconnect?: boolean): void;
  on(event: 'error', listener: (err: Error) => void): unknown;
}

/**
 * An ioredis client of yours. The guard never sends commands on it and never closes it: it reads
 * on a `duplicate()`, which it closes itself.
 */
export interface RedisLikeClient {
  duplicate(override?: Record<string, unknown>): RedisConnectionLike;
}

/** Checks a `redis` option (revocations, DPoP replay): a redis:// or rediss:// URL, or an ioredis client. */
export function checkRedisOption(redis: unknown, name: string): asserts redis is string | RedisLikeClient {
  const isUrl = typeof redis === 'string' && /^rediss?:\/\//i.test(redis);
  const isClient =
    typeof redis === 'object' && redis !== null && typeof (redis as RedisLikeClient).duplicate === 'function';
  if (!isUrl && !isClient)
    throw new TypeError(`${name} must be a redis:// or rediss:// URL or an ioredis client`);
}

export interface RedisFeedOptions extends FeedContext {
  redis: string | RedisLikeClient;
  key: string;
}

/** Entries per XRANGE / XREAD reply. */
const BATCH = 1000;
/** The server-side wait of one XREAD when nothing arrives (with the default staleAfter of 30 s). */
const MAX_BLOCK_MS = 5000;

/**
 * Follows the server's revocation stream in Redis directly (`XADD key * kind … value … ver … exp …`,
 * trimmed by MINID so the whole stream is the set in force): the snapshot with XRANGE in batches,
 * then `XREAD BLOCK` from the last id, on a dedicated connection. Every XREAD reply, even an empty
 * one at the end of its block, proves the connection and the server are alive.
 */
export function createRedisFeed(options: RedisFeedOptions): RevocationFeed {
  const { set, liveness, clock, logger, key, staleAfterMs } = options;
  // Block well under staleAfter, so an idle but healthy stream never looks stale.
  const blockMs = Math.max(50, Math.min(MAX_BLOCK_MS, Math.floor(staleAfterMs / 3)));
  const source = `redis stream ${key}`;
  /**
   * The server sets this once the stream holds every revocation in force. A Redis that restarted
   * empty has neither the mark nor the entries until the server has published them again, so
   * without the mark the stream proves nothing and the set is not called current.
   */
  const seedMark = `${key}:seeded`;
  const backoff = createBackoff();
  const closing = new AbortController();
  const malformed = createMalformedReporter(logger, source);
  let connection: RedisConnectionLike | undefined;
  /** Whether the whole stream must be read (at start, and after the seed mark went missing). */
  let needSnapshot = true;
  /** Only entries after this id are read; `0-0` before any. */
  let lastId = '0-0';
  let lastEventId: string | undefined;
  let lastError: string | undefined;
  let outageLogged = false;
  let resolveLoaded!: () => void;
  let rejectLoaded!: (err: Error) => void;
  const loaded = new Promise<void>((resolve, reject) => {
    resolveLoaded = resolve;
    rejectLoaded = reject;
  });
  loaded.catch(() => {});

  function reportOutage(err: unknown): void {
    lastError = describeFailure(err);
    if (outageLogged) return;
    outageLogged = true;
    logger.warn({ source, error: describeFailure(err) }, 'reading revocations from Redis failed; retrying');
  }

  function recovered(): void {
    backoff.reset();
    lastError = undefined;
    if (outageLogged) {
      outageLogged = false;
      logger.info({ source }, 'reading revocations from Redis works again');
    }
  }

  function apply(entries: unknown): void {
    if (!Array.isArray(entries)) return;
    const now = clock();
    for (const item of entries) {
      if (!Array.isArray(item) || typeof item[0] !== 'string') continue;
      lastId = item[0];
      lastEventId = item[0];
      const entry = Array.isArray(item[1]) ? parseStreamFields(item[1])?.entry : undefined;
      if (entry === undefined) malformed.report();
      else set.add(entry, now);
    }
  }

  /**
   * An XREAD reply: null when the block ended without entries; else, in RESP2, `[[key, entries]]`,
   * and in RESP3 a map, which ioredis flattens to `[key, entries]`.
   */
  function applyXread(reply: unknown): void {
    if (!Array.isArray(reply) || reply.length === 0) return;
    if (typeof reply[0] === 'string') {
      for (let i = 1; i < reply.length; i += 2) apply(reply[i]);
    } else {
      for (const stream of reply) if (Array.isArray(stream)) apply(stream[1]);
    }
  }

  /**
   * A command's reply, or FeedClosed as soon as the feed closes: while ioredis waits to reconnect,
   * `disconnect()` leaves queued commands pending for ever, and close() must not wait for them.
   */
  function untilClosed<T>(command: Promise<T>): Promise<T> {
    return new Promise((resolve, reject) => {
      const onClose = () => reject(new FeedClosed());
      if (closing.signal.aborted) return onClose();
      closing.signal.addEventListener('abort', onClose, { once: true });
      command.then(
        (reply) => {
          closing.signal.removeEventListener('abort', onClose);
          resolve(reply);
        },
        (err: unknown) => {
          closing.signal.removeEventListener('abort', onClose);
          reject(err);
        },
      );
    });
  }

  async function seeded(redis: RedisConnectionLike): Promise<boolean> {
    const exists = await untilClosed(redis.call('EXISTS', seedMark));
    if (exists === 1) return true;
    lastError = `the stream is not seeded (${seedMark} is missing): waiting for the server to publish every revocation in force`;
    return false;
  }

  async function readSnapshot(redis: RedisConnectionLike): Promise<void> {
    // From the start: after the stream was republished, its ids may all be below the last one read.
    lastId = '0-0';
    let start = '-';
    for (;;) {
      const batch = await untilClosed(redis.call('XRANGE', key, start, '+', 'COUNT', BATCH));
      apply(batch);
      if (!Array.isArray(batch) || batch.length < BATCH) break;
      start = followingId(lastId);
    }
  }

  async function run(): Promise<void> {
    try {
      connection = await connect(options.redis, blockMs);
    } catch (err) {
      lastError = describeFailure(err);
      logger.warn({ source, error: lastError }, 'cannot follow revocations in Redis');
      rejectLoaded(err as Error);
      return;
    }
    if (closing.signal.aborted) {
      connection.disconnect();
      return;
    }
    // ioredis reports connection trouble as events; without a listener it prints them itself.
    connection.on('error', reportOutage);
    while (!closing.signal.aborted) {
      try {
        if (needSnapshot) {
          // Seeded before and after the read: the snapshot read is then the whole set in force.
          let whole = await seeded(connection);
          if (whole) {
            await readSnapshot(connection);
            whole = await seeded(connection);
          }
          if (whole) {
            needSnapshot = false;
            liveness.markSnapshot();
            recovered();
            resolveLoaded();
          } else await sleep(blockMs, closing.signal);
          continue;
        }
        // Raced against close(): while Redis is unreachable a pending command never settles.
        const reply = await untilClosed(
          connection.call('XREAD', 'COUNT', BATCH, 'BLOCK', blockMs, 'STREAMS', key, lastId),
        );
        applyXread(reply);
        recovered();
        if (await seeded(connection)) liveness.markLive();
        // The mark is gone: Redis lost its data. The stream is republished with new ids (which a
        // Redis whose clock is behind may give lower than ours), so it is read again from the start.
        else needSnapshot = true;
      } catch (err) {
        if (closing.signal.aborted) break;
        reportOutage(err);
        await sleep(backoff.next(), closing.signal);
      }
    }
  }

  const running = run();

  return {
    mode: 'redis',
    loaded,
    source,
    get lastEventId() {
      return lastEventId;
    },
    get lastError() {
      return lastError;
    },
    async close() {
      closing.abort();
      rejectLoaded(new FeedClosed());
      // Rejects the pending XREAD at once; the user's own client is never touched.
      connection?.disconnect();
      await running;
    },
  };
}

/**
 * A connection of our own: a new client for a URL (ioredis, an optional peer dependency, loaded
 * only now), or a duplicate of the user's client. Commands wait for a reconnection instead of
 * failing after a few retries (staleness, not errors, tells the guard the feed is down), and a
 * socket silent for longer than a block plus a margin is presumed dead and replaced. (ioredis's
 * `blockingTimeout` is not used: it resolves a blocked command with null, which would look like a
 * live, empty reply.)
 */
function connect(redis: string | RedisLikeClient, blockMs: number): Promise<RedisConnectionLike> {
  return connectRedis(redis, {
    lazyConnect: true,
    maxRetriesPerRequest: null,
    socketTimeout: blockMs + 10_000,
  });
}

/**
 * A Redis connection of the guard's own, with these ioredis options: a new client for a URL
 * (ioredis, an optional peer dependency, loaded only now), or a duplicate of the user's client,
 * which the guard never sends commands on and never closes.
 */
export async function connectRedis(
  redis: string | RedisLikeClient,
  options: Record<string, unknown>,
): Promise<RedisConnectionLike> {
  const overrides = {
    ...options,
    // On disconnect ioredis waits this long for a graceful close before destroying the socket, on a
    // timer that keeps the process alive even when the socket was already gone (Redis unreachable).
    // The guard's connections have nothing to flush, so there is nothing to wait for.
    disconnectTimeout: 100,
  };
  if (typeof redis !== 'string') return redis.duplicate(overrides);
  let module: IoredisModule;
  try {
    module = (await import('ioredis')) as unknown as IoredisModule;
  } catch {
    throw new Error(
      '{ redis } with a URL needs the ioredis package (an optional peer dependency): npm install ioredis',
    );
  }
  const Redis = module.Redis ?? module.default?.Redis ?? module.default;
  if (typeof Redis !== 'function') throw new Error('the ioredis package does not export Redis');
  return new Redis(redis, overrides);
}

type RedisConstructor = new (url: string, options: object) => RedisConnectionLike;
interface IoredisModule {
  Redis?: RedisConstructor;
  default?: RedisConstructor & { Redis?: RedisConstructor };
}

/** The smallest stream id after `id` (`ms-seq` → `ms-(seq+1)`), for an exclusive XRANGE start. */
function followingId(id: string): string {
  const dash = id.indexOf('-');
  if (dash === -1) return `${id}-1`;
  return `${id.slice(0, dash)}-${(BigInt(id.slice(dash + 1)) + 1n).toString()}`;
}
