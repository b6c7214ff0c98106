import { randomBytes } from 'node:crypto';
import amqp from 'amqplib';

export const RABBITMQ_URL = process.env.TESSERA_TEST_RABBITMQ_URL || 'amqp://guest:guest@127.0.0.1:5672';

/** Why RabbitMQ cannot be used, or undefined when it can. */
export async function rabbitmqUnreachable(url = RABBITMQ_URL): Promise<string | undefined> {
  try {
    const connection = await amqp.connect(url, { timeout: 2_000 });
    await connection.close();
    return undefined;
  } catch (err) {
    return `RabbitMQ at ${new URL(url).host} is not reachable (${(err as Error).message})`;
  }
}

/** A stream name no other test or run uses. */
export function uniqueStream(): string {
  return `tessera-guard-test-${process.pid}-${randomBytes(4).toString('hex')}`;
}

/** Declares a stream as the server does (a durable stream queue). */
export async function declareStream(stream: string, url = RABBITMQ_URL): Promise<void> {
  const connection = await amqp.connect(url);
  try {
    const channel = await connection.createChannel();
    await channel.assertQueue(stream, { durable: true, arguments: { 'x-queue-type': 'stream' } });
  } finally {
    await connection.close().catch(() => {});
  }
}

export async function deleteStream(stream: string, url = RABBITMQ_URL): Promise<void> {
  const connection = await amqp.connect(url);
  try {
    const channel = await connection.createChannel();
    await channel.deleteQueue(stream);
  } finally {
    await connection.close().catch(() => {});
  }
}

/** Publishes message bodies to a stream, in order, confirmed (as a server instance does). */
export async function publish(stream: string, bodies: Buffer[], url = RABBITMQ_URL): Promise<void> {
  const connection = await amqp.connect(url);
  try {
    const channel = await connection.createConfirmChannel();
    for (const body of bodies) channel.sendToQueue(stream, body, { persistent: true });
    await channel.waitForConfirms();
  } finally {
    await connection.close().catch(() => {});
  }
}
