/**
 * RabbitMQ for the broker tests (the `brokers` project, one file at a time): the machine's broker at
 * `TESSERA_TEST_RABBITMQ_URL` (default the local one, guest/guest), a stream name of each test's
 * own, deleted afterwards, and the broker's own stop and start (`rabbitmqctl`) for the tests that
 * restart it. This module does not import vitest: the bench uses it too.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import amqp from 'amqplib';

export const RABBITMQ_URL = process.env.TESSERA_TEST_RABBITMQ_URL || 'amqp://guest:guest@127.0.0.1:5672';

/** Why RabbitMQ cannot be used for the tests, or undefined when it can. */
export async function rabbitmqUnreachable(url = RABBITMQ_URL): Promise<string | undefined> {
  try {
    const connection = await amqp.connect(url, { timeout: 2_000 });
    await connection.close();
    return undefined;
  } catch (err) {
    return `RabbitMQ at ${new URL(url).host} is not reachable (${(err as Error).message})`;
  }
}

/**
 * Skips the calling file's tests with a printed reason when RabbitMQ is absent, except on CI
 * (`CI=true`), where absence fails.
 */
export async function rabbitmqSkip(what: string): Promise<string | undefined> {
  const skip = await rabbitmqUnreachable();
  if (skip && process.env.CI === 'true') throw new Error(`${skip} (required on CI)`);
  if (skip) console.warn(`skipping ${what}: ${skip}`);
  return skip;
}

/** A stream (queue) name no other test or run uses. */
export function uniqueStream(): string {
  return `tessera-test-${process.pid}-${randomBytes(4).toString('hex')}`;
}

/** The server's `revocationBroker` for `stream` on `url`. */
export function brokerUrl(stream: string, url = RABBITMQ_URL): string {
  const broker = new URL(url);
  broker.searchParams.set('stream', stream);
  return broker.href;
}

/**
 * Deletes a stream (the end of a test), and the security events' stream queue a server on it may
 * have declared beside it; one that was never declared is fine.
 */
export async function deleteStream(stream: string, url = RABBITMQ_URL): Promise<void> {
  const connection = await amqp.connect(url);
  try {
    const channel = await connection.createChannel();
    await channel.deleteQueue(stream);
    await channel.deleteQueue(`${stream}.security-events`);
  } finally {
    await connection.close().catch(() => {});
  }
}

/** Publishes raw message bodies to a stream (the tests' own, malformed ones included), confirmed. */
export async function publishRaw(stream: string, bodies: Buffer[], url = RABBITMQ_URL): Promise<void> {
  const connection = await amqp.connect(url);
  try {
    const channel = await connection.createConfirmChannel();
    for (const body of bodies) channel.sendToQueue(stream, body, { persistent: true });
    await channel.waitForConfirms();
  } finally {
    await connection.close().catch(() => {});
  }
}

const run = promisify(execFile);

/**
 * The machine's RabbitMQ application stopped (`rabbitmqctl stop_app`: every connection dropped,
 * new ones refused) or started again; start waits until it takes connections.
 */
export async function rabbitmqApp(action: 'stop' | 'start'): Promise<void> {
  await run('rabbitmqctl', [action === 'stop' ? 'stop_app' : 'start_app'], { timeout: 120_000 });
  if (action === 'stop') return;
  for (let i = 0; i < 600; i++) {
    if (!(await rabbitmqUnreachable())) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error('RabbitMQ did not take connections after start_app');
}

/** Whether `rabbitmqctl` can stop and start the broker here (the restart tests need it). */
export async function rabbitmqctlMissing(): Promise<string | undefined> {
  try {
    await run('rabbitmqctl', ['status'], { timeout: 60_000 });
    return undefined;
  } catch (err) {
    return `rabbitmqctl cannot reach the broker (${(err as Error).message.split('\n')[0]})`;
  }
}
