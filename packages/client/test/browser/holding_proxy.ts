import { once } from 'node:events';
import { createServer, request as forward, type Server } from 'node:http';

/** A request the proxy is holding back from the server. */
export interface HeldRequest {
  /** Resolves when the request has arrived (and is being held). */
  arrived: Promise<void>;
  /** Resolves when its browser gave up on it (the tab closed): it never reached the server. */
  abandoned: Promise<void>;
}

/**
 * A transparent HTTP proxy in front of the server, on the port the browser knows as the issuer's
 * (the server listens elsewhere with that issuer configured, so URLs, cookies, CORS and DPoP `htu`
 * are all as if there were no proxy). `holdNext` keeps the next matching request from the server
 * until its client goes away: a refresh in flight when its tab closes, which the server never saw.
 */
export async function startHoldingProxy(port: number, target: number) {
  let hold: { method: string; path: string; arrived: () => void; abandoned: () => void } | undefined;
  const server: Server = createServer((incoming, outgoing) => {
    if (hold && incoming.method === hold.method && incoming.url === hold.path) {
      const held = hold;
      hold = undefined;
      held.arrived();
      // The browser cancels a closed tab's requests, closing the connection.
      outgoing.on('close', held.abandoned);
      return;
    }
    const upstream = forward(
      {
        host: '127.0.0.1',
        port: target,
        method: incoming.method,
        path: incoming.url,
        headers: incoming.headers,
      },
      (response) => {
        outgoing.writeHead(response.statusCode ?? 502, response.rawHeaders);
        response.pipe(outgoing);
      },
    );
    upstream.on('error', () => outgoing.destroy());
    incoming.pipe(upstream);
  });
  server.listen(port, '127.0.0.1');
  await once(server, 'listening');
  return {
    holdNext(method: string, path: string): HeldRequest {
      let arrived!: () => void;
      let abandoned!: () => void;
      const held: HeldRequest = {
        arrived: new Promise((resolve) => {
          arrived = resolve;
        }),
        abandoned: new Promise((resolve) => {
          abandoned = resolve;
        }),
      };
      hold = { method, path, arrived, abandoned };
      return held;
    },
    async close() {
      server.closeAllConnections();
      server.close();
    },
  };
}
