/**
 * Security event tokens on RabbitMQ: with `revocationBroker: amqp://…` every SET is also published,
 * through the outbox, on the revocation feed's connection, to a stream queue of its own, with its
 * `jti` as the AMQP message id, confirmed by the broker before the outbox row counts as delivered.
 */
import amqp from 'amqplib';
import { createLocalJWKSet, type JWK, jwtVerify } from 'jose';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SECURITY_EVENT_TYPES } from '../src/security_events/event_types.js';
import { rabbitMqSecurityEventQueue } from '../src/security_events/rabbitmq_broker.js';
import { eventually, post, startServer, stopServer, type TestServer } from './helpers.js';
import { addClients, loginApp } from './http.js';
import { brokerUrl, deleteStream, RABBITMQ_URL, rabbitmqSkip, uniqueStream } from './rabbitmq.js';

const skip = await rabbitmqSkip('the RabbitMQ security event tests');
const SESSION_REVOKED = SECURITY_EVENT_TYPES['session-revoked'];

/** The first `count` messages of a stream queue, read from its start. */
async function read(queue: string, count: number): Promise<amqp.ConsumeMessage[]> {
  const connection = await amqp.connect(RABBITMQ_URL);
  try {
    const channel = await connection.createChannel();
    await channel.prefetch(100);
    const messages: amqp.ConsumeMessage[] = [];
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`fewer than ${count} messages on ${queue}`)), 10_000);
      void channel.consume(
        queue,
        (message) => {
          if (!message) return;
          messages.push(message);
          channel.ack(message);
          if (messages.length === count) {
            clearTimeout(timer);
            resolve();
          }
        },
        { noAck: false, arguments: { 'x-stream-offset': 'first' } },
      );
    });
    return messages;
  } finally {
    await connection.close().catch(() => {});
  }
}

describe.skipIf(skip)('security events on RabbitMQ', () => {
  let stream: string;
  let queue: string;
  let server: TestServer | undefined;

  beforeEach(() => {
    stream = uniqueStream();
    queue = rabbitMqSecurityEventQueue(stream);
  });

  afterEach(async () => {
    if (server) await stopServer(server);
    server = undefined;
    await deleteStream(stream);
  });

  it('names a queue of its own per revocation stream, the default one tessera.security-events', () => {
    expect(rabbitMqSecurityEventQueue('tessera.revocations')).toBe('tessera.security-events');
    expect(queue).toBe(`${stream}.security-events`);
  });

  it('publishes each SET to a stream queue of its own, no aud, its jti the message id', async () => {
    server = await startServer({ revocationBroker: brokerUrl(stream) });
    await addClients(server);
    await eventually(() => server!.services.revocations.feed.live(), 'the feed live');
    const login = await loginApp(server);
    const res = await post(`${server.url}/logout`, {}, { authorization: `Bearer ${login.access_token}` });
    expect(res.status).toBe(204);
    const row = async () =>
      (
        await server!.services.db
          .selectFrom('outbox')
          .selectAll()
          .where('kind', '=', 'security_event_broker')
          .execute()
      )[0];
    await eventually(async () => {
      server!.delivery.wake();
      return (await row())?.delivered_at != null;
    }, 'the SET confirmed by RabbitMQ');
    const [message] = await read(queue, 1);
    expect(message!.properties.contentType).toBe('application/secevent+jwt');
    const jwks = (await (await fetch(`${server.url}/.well-known/jwks.json`)).json()) as { keys: JWK[] };
    const { payload, protectedHeader } = await jwtVerify(
      message!.content.toString('utf8'),
      createLocalJWKSet({ keys: jwks.keys }),
      { issuer: server.services.config.issuer, typ: 'secevent+jwt' },
    );
    expect(protectedHeader.typ).toBe('secevent+jwt');
    expect(payload.aud).toBeUndefined();
    expect(message!.properties.messageId).toBe(payload.jti);
    expect(message!.properties.type).toBe(SESSION_REVOKED);
    expect(Object.keys(payload.events as object)).toEqual([SESSION_REVOKED]);
  });
});
