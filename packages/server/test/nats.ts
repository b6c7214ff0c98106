/**
 * NATS JetStream for the broker tests: the shared server at `TESSERA_TEST_NATS_URL` (default the
 * local one), a stream and subject of each test's own (deleted after), what a stream holds, and a
 * TCP proxy a test can cut to take NATS away from one instance.
 */
import { randomBytes } from 'node:crypto';
import { connect as connectTcp, createServer, type Server, type Socket } from 'node:net';
import { type BrokerMessage, parseBrokerMessage } from '@tessera/protocol';
import { connect, type NatsConnection } from 'nats';
import { freePort } from './redis.js';

export const NATS_URL = process.env.TESSERA_TEST_NATS_URL || 'nats://127.0.0.1:4222';

/** Why NATS (with JetStream) cannot be used for the tests, or undefined when it can. */
export async function natsUnreachable(url = NATS_URL): Promise<string | undefined> {
  let nc: NatsConnection | undefined;
  try {
    nc = await connect({ servers: new URL(url).host, timeout: 2_000, reconnect: false });
    await (await nc.jetstreamManager()).getAccountInfo();
    return undefined;
  } catch (err) {
    return `NATS with JetStream at ${new URL(url).host} is not reachable (${(err as Error).message})`;
  } finally {
    await nc?.close();
  }
}

/** Skips a file's broker tests with a printed reason, or fails under CI=true where NATS must be there. */
export async function natsSkip(what: string): Promise<string | undefined> {
  const reason = await natsUnreachable();
  if (reason && process.env.CI === 'true') throw new Error(`${reason} (required on CI)`);
  if (reason) console.warn(`skipping ${what}: ${reason}`);
  return reason;
}

export interface TestStream {
  stream: string;
  subject: string;
  /** The server's `revocationBroker` for this stream, through `base` (default the shared NATS). */
  url(base?: string): string;
}

/** A stream name and subject no other test or run uses. */
export function uniqueStream(): TestStream {
  const suffix = `${process.pid}_${randomBytes(4).toString('hex')}`;
  const stream = `TESSERA_TEST_${suffix}`;
  const subject = `tessera.test.${suffix}`;
  return {
    stream,
    subject,
    url: (base = NATS_URL) => `${base}?stream=${stream}&subject=${subject}`,
  };
}

/** A connection of the test's own (close it after use). */
export function natsConnection(url = NATS_URL): Promise<NatsConnection> {
  return connect({ servers: new URL(url).host });
}

/** Deletes a test's stream (the end of a test); a stream that is not there is fine. */
export async function deleteStream(stream: string): Promise<void> {
  const nc = await natsConnection();
  try {
    await (await nc.jetstreamManager()).streams.delete(stream).catch(() => false);
  } finally {
    await nc.close();
  }
}

export interface StoredMessage {
  seq: number;
  subject: string;
  msgId: string | undefined;
  message: BrokerMessage | undefined;
}

/** Every message the stream holds now, in order. */
export async function storedMessages(stream: string): Promise<StoredMessage[]> {
  const nc = await natsConnection();
  try {
    const jsm = await nc.jetstreamManager();
    const { state } = await jsm.streams.info(stream);
    const out: StoredMessage[] = [];
    for (let seq = state.first_seq; seq <= state.last_seq && state.messages > 0; seq++) {
      const stored = await jsm.streams.getMessage(stream, { seq }).catch(() => undefined);
      if (!stored) continue;
      out.push({
        seq,
        subject: stored.subject,
        msgId: stored.header?.get('Nats-Msg-Id') || undefined,
        message: parseBrokerMessage(stored.data),
      });
    }
    return out;
  } finally {
    await nc.close();
  }
}

/** A TCP proxy to NATS that a test can cut (every connection dropped, new ones refused) and restore. */
export class TcpProxy {
  private readonly sockets = new Set<Socket>();
  private down = false;
  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static async start(target = NATS_URL): Promise<TcpProxy> {
    const { hostname, port } = new URL(target);
    const listenPort = await freePort();
    let proxy: TcpProxy | undefined;
    const server = createServer((client) => proxy!.accept(client, hostname, Number(port || 4222)));
    await new Promise<void>((resolve) => server.listen(listenPort, '127.0.0.1', resolve));
    proxy = new TcpProxy(server, listenPort);
    return proxy;
  }

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  private accept(client: Socket, host: string, port: number): void {
    if (this.down) {
      client.destroy();
      return;
    }
    const upstream = connectTcp(port, host);
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
