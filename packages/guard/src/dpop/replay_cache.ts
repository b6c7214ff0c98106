import { createHash } from 'node:crypto';
import { connectRedis, type RedisConnectionLike, type RedisLikeClient } from '../revocation/redis.js';

/**
 * Remembers each DPoP proof (`jkt` and `jti`) for as long as its `iat` keeps it acceptable
 * (RFC 9449 §11.1), so that a proof is used once.
 */
export interface ReplayCache {
  /**
   * True the first time the proof is seen, false for a replay. Synchronous in memory; with Redis a
   * promise, rejecting with {@link ReplayCacheUnavailable} when Redis cannot answer.
   */
  firstUse(jkt: string, jti: string, expiresAtMs: number): boolean | Promise<boolean>;
  close(): Promise<void>;
}

/** The cache cannot tell whether a proof was used: full of live proofs, or Redis did not answer. */
export class ReplayCacheUnavailable extends Error {
  constructor(
    readonly why: 'full' | 'unreachable',
    options?: { cause?: unknown },
  ) {
    super(
      why === 'full'
        ? 'the DPoP replay cache is full of proofs still inside their iat window'
        : 'the DPoP replay cache (Redis) did not answer',
      options,
    );
    this.name = 'ReplayCacheUnavailable';
  }
}

/**
 * The proofs of this process, in two generations of `windowMs` each: a proof goes into the current
 * one and is looked up in both; when a window has passed, the current generation becomes the
 * previous one and the previous is dropped whole. A proof is thus remembered for at least one
 * window, the whole time its `iat` lets it be accepted (maxAge plus the tolerance on either side),
 * at O(1) per request and without a timer. Past `maxEntries` live proofs it refuses new ones
 * (fail closed, 503) rather than forget one that could still be replayed.
 */
export function createMemoryReplayCache(
  windowMs: number,
  maxEntries: number,
  clock: () => number,
): ReplayCache {
  let current = new Set<string>();
  let previous = new Set<string>();
  let rotatedAt = clock();
  return {
    firstUse(jkt, jti) {
      const now = clock();
      if (now - rotatedAt >= windowMs) {
        // Two windows or more without a request: the previous generation is past its window too.
        previous = now - rotatedAt >= 2 * windowMs ? new Set() : current;
        current = new Set();
        rotatedAt = now;
      }
      // A thumbprint is 43 characters (base64url of SHA-256): the key reads unambiguously.
      const key = jkt + jti;
      if (current.has(key) || previous.has(key)) return false;
      if (current.size + previous.size >= maxEntries) throw new ReplayCacheUnavailable('full');
      current.add(key);
      return true;
    },
    async close() {
      current.clear();
      previous.clear();
    },
  };
}

/**
 * The proofs of every instance of the API, in Redis: one key per proof, `<prefix><jkt>:<hash of
 * jti>`, set with `SET … NX PXAT` so the first instance to see a proof wins and Redis forgets it when
 * its window ends. A connection of the guard's own (your client is duplicated, never used or closed);
 * a command that gets no answer within a second fails, and the request with it (503).
 */
export function createRedisReplayCache(redis: string | RedisLikeClient, prefix: string): ReplayCache {
  let connection: RedisConnectionLike | undefined;
  let closed = false;
  const connecting = connectRedis(redis, { maxRetriesPerRequest: 1, commandTimeout: 1000 }).then((made) => {
    // ioredis reports connection trouble as events; without a listener it prints them itself. The
    // failed commands say it to the requests.
    made.on('error', () => {});
    if (closed) made.disconnect();
    connection = made;
    return made;
  });
  connecting.catch(() => {});
  return {
    async firstUse(jkt, jti, expiresAtMs) {
      let answer: unknown;
      try {
        const made = connection ?? (await connecting);
        answer = await made.call(
          'SET',
          `${prefix}${jkt}:${createHash('sha256').update(jti).digest('base64url')}`,
          '1',
          'PXAT',
          Math.ceil(expiresAtMs),
          'NX',
        );
      } catch (err) {
        throw new ReplayCacheUnavailable('unreachable', { cause: err });
      }
      return answer === 'OK';
    },
    async close() {
      closed = true;
      connection?.disconnect();
    },
  };
}
