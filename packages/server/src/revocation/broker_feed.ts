import type { Logger } from '../shared/logger.js';
import { brokerScheme } from './broker_url.js';
import type { RevocationFeed } from './feed.js';
import { createNatsFeed } from './nats_feed.js';
import { parseNatsBroker } from './nats_url.js';

export interface BrokerFeedOptions {
  /** Messages are kept this long: the longest access-token lifetime plus a margin. */
  retentionMs: () => number;
  clock?: () => number;
}

/** The feed between instances on a message broker: the scheme of `revocationBroker` picks which. */
export function createBrokerFeed(url: string, log: Logger, options: BrokerFeedOptions): RevocationFeed {
  switch (brokerScheme(url)) {
    case 'nats':
    case 'tls':
      return createNatsFeed(parseNatsBroker(url), log, options);
    default:
      // loadConfig refused it already (brokerUrlProblem).
      throw new Error('revocationBroker: unsupported scheme');
  }
}
