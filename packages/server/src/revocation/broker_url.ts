import { parseNatsBroker } from './nats_url.js';

/**
 * `revocationBroker`'s URL schemes and the broker each picks: the one table both config.ts (which
 * refuses any other scheme) and broker_feed.ts (which builds the feed) read.
 */
export const BROKER_SCHEMES = {
  'amqp:': 'rabbitmq',
  'amqps:': 'rabbitmq',
  'nats:': 'nats',
  'tls:': 'nats',
} as const;

export type BrokerKind = (typeof BROKER_SCHEMES)[keyof typeof BROKER_SCHEMES];

/** The broker a URL picks, or undefined for a URL (or a value) that picks none. */
export function brokerKind(url: string): BrokerKind | undefined {
  let protocol: string;
  try {
    protocol = new URL(url).protocol;
  } catch {
    return undefined;
  }
  return Object.hasOwn(BROKER_SCHEMES, protocol)
    ? BROKER_SCHEMES[protocol as keyof typeof BROKER_SCHEMES]
    : undefined;
}

/** RabbitMQ queue names: at most 255 bytes; ours stay plain so they read well in rabbitmqctl. */
const RABBITMQ_STREAM = /^[A-Za-z0-9._:-]{1,200}$/;

/**
 * Why a `revocationBroker` URL cannot be used, or undefined when it can (config.ts turns the reason
 * into a ConfigError naming the setting). The scheme picks the broker; each broker checks the rest.
 * No reason ever repeats the URL: it may carry a password or a token.
 */
export function brokerUrlProblem(value: string): string | undefined {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return 'expected a URL such as amqp://user:password@host:5672 or nats://host:4222';
  }
  switch (brokerKind(value)) {
    case 'rabbitmq': {
      if (url.hostname === '') return 'the RabbitMQ broker URL has no host';
      const stream = url.searchParams.get('stream');
      if (stream !== null && !RABBITMQ_STREAM.test(stream))
        return 'stream must be 1 to 200 letters, digits or . _ : -';
      return undefined;
    }
    case 'nats':
      try {
        parseNatsBroker(value);
        return undefined;
      } catch (err) {
        return (err as Error).message;
      }
    default:
      return 'must be an amqp:// or amqps:// URL (RabbitMQ stream) or a nats:// or tls:// URL (NATS JetStream)';
  }
}
