import type { RevocationSet } from '@tessera/protocol';
import type { GuardLog } from '../logger.js';
import type { Liveness } from './liveness.js';

/** A source of revocations that keeps a {@link RevocationSet} current and proves it is. */
export interface RevocationFeed {
  readonly mode: 'stream' | 'redis' | 'rabbitmq' | 'nats';
  /** Resolves when the first complete snapshot is in the set; rejects only when the feed is closed first. */
  readonly loaded: Promise<void>;
  /**
   * The position to resume from: the SSE last event ID, the last Redis stream id, RabbitMQ offset
   * or NATS sequence read.
   */
  readonly lastEventId: string | undefined;
  /** What the feed is reading from, for messages (an origin or a stream key, never credentials). */
  readonly source: string;
  /** The last failure to read, until reading works again (for diagnostics). */
  readonly lastError: string | undefined;
  /** Stops reading and releases the connection. */
  close(): Promise<void>;
}

/** What every feed is given. */
export interface FeedContext {
  readonly set: RevocationSet;
  readonly liveness: Liveness;
  readonly clock: () => number;
  readonly logger: GuardLog;
  /** Seconds without proof before the set counts as stale, in milliseconds. */
  readonly staleAfterMs: number;
}

/** The rejection of `loaded` when a feed is closed before its first snapshot. */
export class FeedClosed extends Error {
  constructor() {
    super('the revocation feed was closed');
    this.name = 'FeedClosed';
  }
}

/** Logs a malformed entry without its content, at most `limit` times per connection. */
export function createMalformedReporter(logger: GuardLog, source: string, limit = 10) {
  let reported = 0;
  return {
    report(): void {
      reported++;
      if (reported <= limit) logger.warn({ source }, 'ignored a malformed revocation entry');
      if (reported === limit)
        logger.warn({ source }, 'further malformed revocation entries on this connection are not logged');
    },
    reset(): void {
      reported = 0;
    },
  };
}
