import { parseNatsBroker } from './nats_url.js';

/** The URL's scheme, lower-case, without the colon. */
export function brokerScheme(url: string): string {
  return url.slice(0, Math.max(0, url.indexOf(':'))).toLowerCase();
}

/**
 * Why a `revocationBroker` URL cannot be used, or undefined when it can (config.ts turns the reason
 * into a ConfigError). The scheme picks the broker; each broker checks the rest of its URL.
 */
export function brokerUrlProblem(url: string): string | undefined {
  switch (brokerScheme(url)) {
    case 'nats':
    case 'tls':
      try {
        parseNatsBroker(url);
        return undefined;
      } catch (err) {
        return (err as Error).message;
      }
    // RabbitMQ streams (amqp://, amqps://) are chosen here when they arrive.
    default:
      return 'must be a nats:// or tls:// URL (NATS JetStream)';
  }
}
