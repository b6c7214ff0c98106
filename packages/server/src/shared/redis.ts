import { Redis } from 'ioredis';
import type { Logger } from './logger.js';

/**
 * The Redis connection every instance shares state through. PostgreSQL stays the truth: nothing here
 * is the only copy of anything durable, so a command that cannot run now fails at once instead of
 * waiting in a queue (`enableOfflineQueue: false`), and the caller falls back or retries from the
 * database later.
 */
export interface SharedRedis {
  /** For ordinary commands. Fails fast while disconnected. */
  client: Redis;
  /** Every key starts with this (`tessera:` by default). */
  prefix: string;
  /** Connected and answering. */
  ready(): boolean;
  /** A second connection for blocking reads (XREAD BLOCK would stall every other command). */
  duplicate(): Redis;
  close(): Promise<void>;
}

/** Reconnect soon after a blip, then every two seconds at most. */
const retryStrategy = (attempt: number) => Math.min(100 * attempt, 2_000);

export function openRedis(url: string, prefix: string, log: Logger): SharedRedis {
  const options = {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 2_000,
    retryStrategy,
    // The URL may carry a password: ioredis never prints it, and neither do we.
    connectionName: 'tessera',
  };
  const client = new Redis(url, options);
  const extra = new Set<Redis>();
  let down = false;
  // One line per outage, not one per reconnect attempt.
  client.on('error', (err: Error) => {
    if (down) return;
    down = true;
    log.warn({ reason: err.message }, 'redis unreachable: shared revocations and login limits degrade');
  });
  client.on('ready', () => {
    if (down) log.info('redis reachable again');
    down = false;
  });
  return {
    client,
    prefix,
    ready: () => client.status === 'ready',
    duplicate() {
      const connection = client.duplicate(options);
      // Errors are reported once through the main connection's handler; this one only reconnects.
      connection.on('error', () => {});
      extra.add(connection);
      return connection;
    },
    async close() {
      for (const connection of [client, ...extra]) connection.disconnect(false);
    },
  };
}
