/**
 * The broker side of security events: when the revocation feed runs over a broker
 * (`revocationBroker`), every SET is also published there, for consumers that would rather read a
 * stream than expose an endpoint. RabbitMQ: the stream queue `tessera.security-events`; NATS
 * JetStream: the subject `tessera.security-events` in a stream of its own.
 *
 * This is the seam: the publisher of each broker is built on that broker's connection (the one the
 * revocation feed holds), never a second connection manager. The SET's bytes are the message body;
 * `jti` is the message id, so a publish retried after an unacknowledged attempt is recognised as the
 * same message (JetStream `Nats-Msg-Id` deduplication; a RabbitMQ consumer drops a repeated `jti`).
 */
export interface SecurityEventBroker {
  /** Where SETs go, for logs and the README: the queue or subject. */
  readonly destination: string;
  /** Resolves once the broker confirmed it holds the message (publisher confirm, JetStream ack). */
  publish(message: { jti: string; type: string; set: string }): Promise<void>;
}

/** The queue (RabbitMQ) or subject (NATS) SETs are published to. */
export const SECURITY_EVENTS_DESTINATION = 'tessera.security-events';
