import type { FastifyPluginAsync } from 'fastify';
import { sql } from 'kysely';
import type { Services } from '../../services.js';
import type { Metrics } from '../metrics.js';

/**
 * `GET /healthz` (the process is up), `/readyz` (it can serve: the store answers and, when scaled
 * out, Redis too), `/metrics` (Prometheus).
 */
export const healthRoutes: FastifyPluginAsync<{ services: Services; metrics: Metrics }> = async (
  app,
  { services, metrics },
) => {
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => {
    try {
      await sql`select 1`.execute(services.db);
    } catch {
      return reply.code(503).send({ status: 'unavailable', reason: 'database' });
    }
    // Without Redis this instance still issues and refreshes (the store is the truth), but its
    // revocations reach other instances' guards late and its login limits are its own: take it out
    // of rotation until Redis is back.
    if (services.redis && !services.revocations.feed.live()) {
      return reply.code(503).send({ status: 'unavailable', reason: 'redis' });
    }
    return { status: 'ready' };
  });
  app.get('/metrics', async (_request, reply) => {
    reply.type(metrics.registry.contentType);
    return metrics.registry.metrics();
  });
};
