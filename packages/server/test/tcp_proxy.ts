import { connect, createServer as createTcpServer, type Server, type Socket } from 'node:net';
import { freePort } from './redis.js';

/**
 * A TCP proxy to a service (PostgreSQL, RabbitMQ) that can drop every connection and refuse new
 * ones, like a restart of the service, without touching the service others use.
 */
export class TcpProxy {
  private readonly sockets = new Set<Socket>();
  private down = false;
  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static async start(host: string, port: number): Promise<TcpProxy> {
    const listenPort = await freePort();
    let proxy: TcpProxy | undefined;
    const server = createTcpServer((client) => proxy!.accept(client, host, port));
    await new Promise<void>((resolve) => server.listen(listenPort, '127.0.0.1', resolve));
    proxy = new TcpProxy(server, listenPort);
    return proxy;
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
