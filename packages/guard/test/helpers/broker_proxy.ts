import { connect, createServer, type Server, type Socket } from 'node:net';

const DEFAULT_PORTS: Record<string, number> = { 'amqp:': 5672, 'amqps:': 5671, 'nats:': 4222, 'tls:': 4222 };

/**
 * A TCP proxy to a broker (RabbitMQ, NATS) that a test can cut — every connection dropped, new ones
 * refused, as in a broker restart — and restore, without touching the broker other tests use.
 */
export class BrokerProxy {
  private readonly sockets = new Set<Socket>();
  private down = false;
  private constructor(
    private readonly server: Server,
    private readonly target: URL,
    readonly port: number,
  ) {}

  static async start(target: string): Promise<BrokerProxy> {
    const url = new URL(target);
    const port = Number(url.port || DEFAULT_PORTS[url.protocol]);
    let proxy: BrokerProxy | undefined;
    const server = createServer((client) => proxy!.accept(client, url.hostname, port));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    proxy = new BrokerProxy(server, url, (server.address() as { port: number }).port);
    return proxy;
  }

  /** The broker's URL through this proxy (credentials and query kept). */
  get url(): string {
    const url = new URL(this.target);
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
