import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import { requireAuth } from '../../guard/src/adapters/node.js';
import { createGuard, type Guard } from '../../guard/src/index.js';

/**
 * An API behind a real `@tessera/guard` on a node:http server, taking DPoP and Bearer tokens:
 * `/me` answers the caller's `sub` and the scheme it used. `clock` is the guard's (tests move it
 * ahead to make tokens expire there).
 */
export async function startGuardedApi(
  issuer: string,
  audience: string,
  clock: () => number,
): Promise<{ url: string; hits: () => number; close(): Promise<void> }> {
  // Tests move the guard's clock ahead by a token lifetime or a day: the revocation stream must not
  // count as silent (stale, 503) over that jump.
  const guard: Guard = createGuard({ issuer, audience, clock, staleAfter: 7 * 86_400, dpop: true });
  await guard.ready();
  const auth = requireAuth(guard);
  let hits = 0;
  const server: Server = createServer((req, res) => {
    hits++;
    void auth(req, res, () => {
      res.setHeader('content-type', 'application/json');
      const { sub, jkt } = (req as unknown as { auth: { sub: string; jkt?: string } }).auth;
      res.end(JSON.stringify({ sub, scheme: req.headers.authorization?.split(' ')[0], jkt }));
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    hits: () => hits,
    async close() {
      await guard.close();
      server.closeAllConnections();
      server.close();
    },
  };
}
