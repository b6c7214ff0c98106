// The orders API: a Fastify app whose routes are protected by @tessera/guard. server.js reads the
// environment and listens; the tests build the app here against an in-process Tessera server.
import { randomUUID } from 'node:crypto';
import { createGuard, GuardError } from '@tessera/guard';
import { requireAuth, tesseraGuard } from '@tessera/guard/fastify';
import Fastify from 'fastify';

/**
 * Builds the app and its guard. The guard starts fetching the issuer's discovery document, keys and
 * revocation stream at once; `await guard.ready()` to wait for them (until then guarded routes answer
 * 503 and `/readyz` says why). Closing the app closes the guard.
 *
 * @param {object} options
 * @param {string} options.issuer the Tessera server, exactly as in the tokens' `iss`
 * @param {string | string[]} options.audience this API's identifier: tokens must name it in `aud`
 * @param {{ id: string, secret: string }} options.client this API's confidential client at the issuer:
 *   the revocation stream is only for authenticated resource servers (`tessera client add`)
 * @param {boolean | object} [options.logger] Fastify's logger option (pino), default `{ level: 'info' }`
 * @param {string[]} [options.corsOrigins] browser origins whose pages may call the API (CORS), exactly
 *   as browsers send them, like `http://localhost:5173` (examples/spa); default none
 * @returns {Promise<{ app: import('fastify').FastifyInstance, guard: import('@tessera/guard').Guard }>}
 */
export async function buildApp({ issuer, audience, client, logger = { level: 'info' }, corsOrigins = [] }) {
  const app = Fastify({ logger });
  // CORS (Fetch standard §3.2) for the listed origins only, compared exactly. No credentials: the
  // token travels in Authorization (and its DPoP proof in DPoP), never in a cookie.
  app.addHook('onRequest', async (request, reply) => {
    reply.header('vary', 'origin');
    if (!corsOrigins.includes(request.headers.origin)) return;
    reply.header('access-control-allow-origin', request.headers.origin);
    reply.header('access-control-expose-headers', 'www-authenticate, dpop-nonce');
    if (request.method !== 'OPTIONS' || !request.headers['access-control-request-method']) return;
    reply.header('access-control-allow-methods', 'GET, POST, DELETE');
    reply.header('access-control-allow-headers', 'authorization, content-type, dpop');
    return reply.code(204).header('access-control-max-age', '600').send();
  });
  // The guard logs its own trouble (keys it cannot fetch, a stale revocation feed) through pino.
  // DPoP (RFC 9449) alongside Bearer: a browser's DPoP-bound token (examples/spa) comes with a proof
  // of its key on every request, each proof accepted once (`jti`, §11.1) by this one process.
  const guard = createGuard({ issuer, audience, client, logger: app.log, dpop: { replay: 'memory' } });
  app.addHook('onClose', () => guard.close());
  await app.register(tesseraGuard, { guard }); // request.auth: the caller's principal on guarded routes

  // requireAuth answers a refused request itself (401 or 403 with WWW-Authenticate, 503 with
  // Retry-After), with the same generic body for every cause. Why it refused is GuardError.reason: log it, never the token.
  const logged = logRefusals(guard, app.log);
  const signedIn = requireAuth(logged);
  const canOrder = requireAuth(logged, { scopes: ['orders:write'] });
  const canCancel = requireAuth(logged, { permissions: ['orders:cancel'] });
  const isAdmin = requireAuth(logged, { roles: ['admin'] });

  /** @type {Map<string, { id: string, owner: string, item: string, quantity: number, status: string, createdAt: string }>} */
  const orders = new Map();

  // Any signed-in user: their own orders, keyed by the token's subject.
  app.get('/orders', { preHandler: signedIn }, async (request) => ({
    orders: [...orders.values()].filter((order) => order.owner === request.auth.sub),
  }));

  // Placing an order needs the `orders:write` scope, which the client must ask for at login.
  app.post(
    '/orders',
    {
      preHandler: canOrder,
      schema: {
        body: {
          type: 'object',
          required: ['item'],
          additionalProperties: false,
          properties: {
            item: { type: 'string', minLength: 1, maxLength: 100 },
            quantity: { type: 'integer', minimum: 1, maximum: 100, default: 1 },
          },
        },
      },
    },
    async (request, reply) => {
      const order = {
        id: `ord_${randomUUID().slice(0, 8)}`,
        owner: request.auth.sub,
        item: request.body.item,
        quantity: request.body.quantity,
        status: 'placed',
        createdAt: new Date().toISOString(),
      };
      orders.set(order.id, order);
      return reply.code(201).send(order);
    },
  );

  // Support staff cancel anyone's order: a permission the user holds, whatever the client asked for.
  app.delete('/orders/:id', { preHandler: canCancel }, async (request, reply) => {
    const order = orders.get(request.params.id);
    if (!order) return reply.code(404).send({ error: 'not_found', error_description: 'no such order' });
    order.status = 'cancelled';
    return order;
  });

  // Administrators see every order.
  app.get('/admin/orders', { preHandler: isAdmin }, async () => ({ orders: [...orders.values()] }));

  // Liveness: the process answers.
  app.get('/healthz', async () => ({ status: 'ok' }));

  // Readiness: this API can check tokens: it holds the issuer's keys and its revocation list is live
  // (otherwise a revoked token could pass, and the guard answers 503 anyway).
  app.get('/readyz', async (_request, reply) => {
    const health = guard.health();
    const ready = health.ready && health.revocations.state === 'live';
    return reply.code(ready ? 200 : 503).send({
      ready,
      revocations: health.revocations.state,
      keys: health.jwks?.state ?? 'none',
    });
  });

  return { app, guard };
}

/**
 * The guard as requireAuth sees it, except that every refusal is logged at debug level with its
 * reason first. requireAuth checks each request with `guard.require(requirements)`; only that is
 * wrapped. The log line has the method, the path (without the query string) and the reason: never
 * the token or the Authorization header.
 *
 * @param {import('@tessera/guard').Guard} guard
 * @param {import('fastify').FastifyBaseLogger} log
 * @returns {import('@tessera/guard').Guard}
 */
function logRefusals(guard, log) {
  return {
    ...guard,
    require(requirements) {
      const check = guard.require(requirements);
      return async (request) => {
        try {
          return await check(request);
        } catch (err) {
          if (err instanceof GuardError) {
            log.debug(
              {
                method: request.method,
                path: request.url?.split('?')[0],
                status: err.status,
                error: err.error,
                reason: err.reason,
              },
              'request refused',
            );
          }
          throw err;
        }
      };
    },
  };
}
