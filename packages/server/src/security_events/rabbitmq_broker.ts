import type { ChannelModel, ConfirmChannel } from 'amqplib';
import { SECURITY_EVENTS_DESTINATION, type SecurityEventBroker } from './broker.js';

/** SETs stay on the stream this long, for consumers catching up after downtime. */
const RETENTION = '7D';
const CONFIRM_TIMEOUT_MS = 2_000;
/** The server's default revocation stream on RabbitMQ (revocationBroker without `?stream=`). */
const DEFAULT_REVOCATION_STREAM = 'tessera.revocations';

/**
 * Where SETs go on RabbitMQ: the stream queue `tessera.security-events` by default; a deployment
 * sharing the broker (`?stream=S` on `revocationBroker`) gets `S.security-events`, its own.
 */
export function rabbitMqSecurityEventQueue(revocationStream: string): string {
  return revocationStream === DEFAULT_REVOCATION_STREAM
    ? SECURITY_EVENTS_DESTINATION
    : `${revocationStream}.security-events`;
}

function replyCode(err: unknown): number | undefined {
  return (err as { code?: number } | undefined)?.code;
}

/**
 * Publishes SETs on the revocation feed's RabbitMQ connection (revocation/rabbitmq_feed.ts): no
 * connection of its own. The stream queue is declared once per connection if it is missing; a
 * publish counts once the broker confirmed it, with the SET's `jti` as the AMQP `message-id`, so a
 * consumer recognises the outbox's retry of an unconfirmed publish as the same event.
 */
export function createRabbitMqSecurityEventBroker(
  current: () => { model: ChannelModel; confirm: ConfirmChannel } | undefined,
  revocationStream: string,
): SecurityEventBroker {
  const queue = rabbitMqSecurityEventQueue(revocationStream);
  const declared = new WeakSet<ChannelModel>();

  async function ensureQueue(model: ChannelModel): Promise<void> {
    if (declared.has(model)) return;
    // A failed declaration closes its channel: it gets one of its own, never the confirm channel.
    const channel = await model.createChannel();
    channel.on('error', () => {});
    try {
      await channel.assertQueue(queue, {
        durable: true,
        arguments: { 'x-queue-type': 'stream', 'x-max-age': RETENTION },
      });
      await channel.close();
    } catch (err) {
      // 406: it exists with other arguments (an operator's own declaration): use it as it is.
      if (replyCode(err) !== 406) throw err;
    }
    declared.add(model);
  }

  return {
    destination: `rabbitmq:${queue}`,
    async publish({ jti, type, set }) {
      const connection = current();
      if (!connection) throw new Error('RabbitMQ is not connected');
      await ensureQueue(connection.model);
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error('RabbitMQ did not confirm the publish')),
          CONFIRM_TIMEOUT_MS,
        );
        try {
          connection.confirm.sendToQueue(
            queue,
            Buffer.from(set),
            { persistent: true, messageId: jti, type, contentType: 'application/secevent+jwt' },
            (err) => {
              clearTimeout(timer);
              if (err) reject(new Error('RabbitMQ refused the publish'));
              else resolve();
            },
          );
        } catch (err) {
          clearTimeout(timer);
          reject(err);
        }
      });
    },
  };
}
