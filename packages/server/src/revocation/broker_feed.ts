import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { BROKER_SCHEMES } from '../config.js';
import type { Logger } from '../shared/logger.js';
import type { Db } from '../store/database.js';
import type { RevocationFeed } from './feed.js';
import { createRabbitMqFeed } from './rabbitmq_feed.js';

/**
 * A revocation this much younger than now may still be on its way to the broker (committed, its
 * publish not confirmed yet): it does not hold heartbeats back. Older and still undelivered, the
 * broker missed it, and the stream is not whole until the store sync (every second) delivers it.
 */
const IN_FLIGHT_MS = 1_000;

export interface BrokerFeedOptions {
  db: Db;
  clock: () => number;
}

/**
 * The feed between instances on a message broker (`revocationBroker`), picked by the URL's
 * scheme (config.ts has checked it is one of {@link BROKER_SCHEMES}). Every broker feed carries
 * @tessera/protocol's broker messages and heartbeats only while the stream holds every live
 * revocation, which the shared store tells: no live row older than a moment is undelivered.
 */
export function createBrokerFeed(url: string, log: Logger, options: BrokerFeedOptions): RevocationFeed {
  const { db, clock } = options;
  const instance = `${hostname()}/${process.pid}/${randomBytes(3).toString('hex')}`;
  const undelivered = async () => {
    const now = clock();
    const row = await db
      .selectFrom('revocations')
      .select('id')
      .where('published_at', 'is', null)
      .where('expires_at', '>', now)
      .where('created_at', '<', now - IN_FLIGHT_MS)
      .limit(1)
      .executeTakeFirst();
    return row !== undefined;
  };
  const scheme = new URL(url).protocol as keyof typeof BROKER_SCHEMES;
  switch (BROKER_SCHEMES[scheme]) {
    case 'rabbitmq':
      return createRabbitMqFeed(log, { url, instance, undelivered, clock });
    // case 'nats': the NATS JetStream feed.
    default:
      throw new Error(`revocationBroker: no broker for ${scheme} URLs`);
  }
}
