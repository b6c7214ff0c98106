import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Logger } from '../shared/logger.js';
import type { Db } from '../store/database.js';
import { brokerKind } from './broker_url.js';
import type { RevocationFeed } from './feed.js';
import { createNatsFeed } from './nats_feed.js';
import { parseNatsBroker } from './nats_url.js';
import { createRabbitMqFeed } from './rabbitmq_feed.js';

/**
 * A revocation this much younger than now may still be on its way to the broker (committed, its
 * publish not confirmed yet): it does not hold heartbeats back. Older and still undelivered, the
 * broker missed it, and the stream is not whole until the store sync (every second) delivers it.
 */
const IN_FLIGHT_MS = 1_000;

export interface BrokerFeedOptions {
  db: Db;
  /** Messages are kept this long (where the broker lets it change): the longest access-token lifetime plus a margin. */
  retentionMs: () => number;
  clock: () => number;
}

/**
 * The heartbeat hold-back every broker feed shares: a heartbeat says "this stream holds every live
 * revocation", so none goes out while the shared store has a live revocation older than a moment
 * that no instance got the broker to confirm (the broker was down when it was made, or the instance
 * that made it died before publishing). Asking the store, not each instance's memory, covers rows of
 * other and of crashed instances too; the store sync (revocations.ts) delivers them and then the
 * heartbeats resume.
 */
export function undeliveredRevocations(db: Db, clock: () => number): () => Promise<boolean> {
  return async () => {
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
}

/**
 * The feed between instances on a message broker (`revocationBroker`), picked by the URL's scheme
 * (broker_url.ts BROKER_SCHEMES; config.ts has refused every other). Every broker feed carries
 * @tessera/protocol's broker messages, relays the stream to this instance's SSE subscribers, and
 * heartbeats only while the stream holds every live revocation ({@link undeliveredRevocations}).
 */
export function createBrokerFeed(url: string, log: Logger, options: BrokerFeedOptions): RevocationFeed {
  const { db, clock, retentionMs } = options;
  const instance = `${hostname()}/${process.pid}/${randomBytes(3).toString('hex')}`;
  const undelivered = undeliveredRevocations(db, clock);
  const kind = brokerKind(url);
  switch (kind) {
    case 'rabbitmq':
      return createRabbitMqFeed(log, { url, instance, undelivered, clock });
    case 'nats':
      return createNatsFeed(parseNatsBroker(url), log, { retentionMs, clock, instance, undelivered });
    default:
      // loadConfig refused it already (brokerUrlProblem); never the URL itself: it may hold a password.
      throw new Error('revocationBroker: no broker for this URL scheme');
  }
}
