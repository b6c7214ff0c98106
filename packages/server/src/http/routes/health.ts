import { timingSafeEqual } from 'node:crypto';
import type { FastifyPluginAsync } from 'fastify';
import { sql } from 'kysely';
import type { Services } from '../../services.js';
import { OAuthError } from '../errors.js';
import type { Metrics } from '../metrics.js';
import { healthResponse } from '../response_schemas.js';

/**
 * `GET /healthz` (the process is up), `/readyz` (it can serve: the store answers and, when scaled
 * out, Redis and the revocation broker too), `/metrics` (Prometheus) when the operator set `metricsToken`: counters of logins,
 * refreshes and routes are for the operator, not for anyone on the internet. (`metricsPort` serves
 * them on a listener of their own instead, see metrics.ts.)
 */
export const healthRoutes: FastifyPluginAsync<{ services: Services; metrics: Metrics }> = async (
  app,
  { services, metrics },
) => {
  app.get('/healthz', { schema: { response: healthResponse } }, async () => ({ status: 'ok' }));
  app.get('/readyz', { schema: { response: healthResponse } }, async (_request, reply) => {
    try {
      await sql`select 1`.execute(services.db);
    } catch {
      return reply.code(503).send({ status: 'unavailable', reason: 'database' });
    }
    // Without its revocation feed (Redis, or the broker) this instance still issues and refreshes
    // (the store is the truth), but its revocations reach other instances' guards late (and without
    // Redis its login limits are its own): take it out of rotation until the feed is back.
    if (services.revocations.feed.shared && !services.revocations.feed.live()) {
      const reason = services.config.revocationBroker ? 'revocation broker' : 'redis';
      return reply.code(503).send({ status: 'unavailable', reason });
    }
    if (services.redis && !services.redis.ready()) {
      return reply.code(503).send({ status: 'unavailable', reason: 'redis' });
    }
    return { status: 'ready' };
  });
  const token = services.config.metricsToken;
  if (token === undefined) return;
  const expected = Buffer.from(`Bearer ${token}`);
  app.get('/metrics', async (request, reply) => {
    const presented = Buffer.from(request.headers.authorization ?? '');
    // Constant time: the comparison must not tell a prober how much of the token it got right.
    if (presented.length !== expected.length || !timingSafeEqual(presented, expected)) {
      throw new OAuthError(401, 'invalid_token', 'the metrics token is required', {
        'www-authenticate': 'Bearer realm="tessera-metrics"',
      });
    }
    reply.header('cache-control', 'no-store');
    reply.type(metrics.registry.contentType);
    return metrics.registry.metrics();
  });
};
