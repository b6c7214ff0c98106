import type { FastifyPluginAsync } from 'fastify';
import { sql } from 'kysely';
import type { Services } from '../../services.js';
import type { Metrics } from '../metrics.js';

/** `GET /healthz` (the process is up), `/readyz` (it can serve: the store answers), `/metrics` (Prometheus). */
export const healthRoutes: FastifyPluginAsync<{ services: Services; metrics: Metrics }> = async (
  app,
  { services, metrics },
) => {
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => {
    try {
      await sql`select 1`.execute(services.db);
      return { status: 'ready' };
    } catch {
      return reply.code(503).send({ status: 'unavailable', reason: 'database' });
    }
  });
  app.get('/metrics', async (_request, reply) => {
    reply.type(metrics.registry.contentType);
    return metrics.registry.metrics();
  });
};
