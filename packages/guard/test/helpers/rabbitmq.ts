import { randomBytes } from 'node:crypto';
import { connect, createServer, type Server, type Socket } from 'node:net';
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

/** A TCP proxy to RabbitMQ that can drop every connection and refuse new ones, like a restart. */
export class BrokerProxy {
  private readonly sockets = new Set<Socket>();
  private down = false;
  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static async start(target = new URL(RABBITMQ_URL)): Promise<BrokerProxy> {
    let proxy: BrokerProxy | undefined;
    const server = createServer((client) =>
      proxy!.accept(client, target.hostname, Number(target.port || 5672)),
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    proxy = new BrokerProxy(server, (server.address() as { port: number }).port);
    return proxy;
  }

  /** The broker's URL through this proxy. */
  get url(): string {
    const url = new URL(RABBITMQ_URL);
    url.host = `127.0.0.1:${this.port}`;
    return url.href;
  }

  private accept(client: Socket, host: string, port: number): void {
    if (this.down) {
      client.destroy();
      return;
    }
    const upstream = connect(port, host);
    for (const socket of [client, upstream]) {
      this.sockets.add(socket);
      socket.on('error', () => {});
      socket.on('close', () => {
        this.sockets.delete(socket);
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream).pipe(client);
  }

  cut(): void {
    this.down = true;
    for (const socket of this.sockets) socket.destroy();
  }

  restore(): void {
    this.down = false;
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise((resolve) => this.server.close(resolve));
  }
}
