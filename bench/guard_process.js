// An API protected by @tessera/guard, in its own process (one core), for the guard and cluster
// benchmarks: Fastify with the same handler on `/open` (unprotected) and `/protected` (the guard's
// preHandler). Configured by environment; prints one JSON line ({ url }) once the guard is ready.
//   GUARD_ISSUER     the issuer (exact `iss`)
//   GUARD_AUDIENCE   this API's audience
//   GUARD_JWKS       JWKS URL (default: discovery)
//   GUARD_STREAM     revocation stream URL (default: discovery)
//   GUARD_CLIENT_ID, GUARD_CLIENT_SECRET   the API's confidential client (the stream requires one)
//   GUARD_REDIS      read revocations from this Redis instead (GUARD_REDIS_KEY: the stream key)
//   GUARD_RABBITMQ   or from this RabbitMQ stream (GUARD_RABBITMQ_STREAM: its name)
//   GUARD_NATS       or from this NATS JetStream stream (GUARD_NATS_STREAM: its name)
//   GUARD_STALE_AFTER, GUARD_ON_STALE   staleness settings (defaults: the guard's)
import { createGuard } from '@tessera/guard';
import { requireAuth, tesseraGuard } from '@tessera/guard/fastify';
import Fastify from 'fastify';

const guard = createGuard({
  issuer: process.env.GUARD_ISSUER,
  audience: process.env.GUARD_AUDIENCE,
  ...(process.env.GUARD_JWKS ? { jwksUri: process.env.GUARD_JWKS } : {}),
  ...(process.env.GUARD_STREAM ? { revocations: { url: process.env.GUARD_STREAM } } : {}),
  ...(process.env.GUARD_CLIENT_ID
    ? { client: { id: process.env.GUARD_CLIENT_ID, secret: process.env.GUARD_CLIENT_SECRET } }
    : {}),
  ...(process.env.GUARD_REDIS
    ? { revocations: { redis: process.env.GUARD_REDIS, key: process.env.GUARD_REDIS_KEY } }
    : {}),
  ...(process.env.GUARD_RABBITMQ
    ? { revocations: { rabbitmq: process.env.GUARD_RABBITMQ, stream: process.env.GUARD_RABBITMQ_STREAM } }
    : {}),
  ...(process.env.GUARD_NATS
    ? { revocations: { nats: process.env.GUARD_NATS, stream: process.env.GUARD_NATS_STREAM } }
    : {}),
  ...(process.env.GUARD_STALE_AFTER ? { staleAfter: Number(process.env.GUARD_STALE_AFTER) } : {}),
  ...(process.env.GUARD_ON_STALE ? { onStale: process.env.GUARD_ON_STALE } : {}),
});
await guard.ready();
const app = Fastify({ logger: false });
await app.register(tesseraGuard, { guard });
const handler = async (request) => ({ ok: true, sub: request.auth?.sub ?? null });
app.get('/open', handler);
app.get('/protected', { preHandler: requireAuth(guard) }, handler);
app.get('/health', async () => guard.health());
// CPU time this process has used, so the benchmark can charge each route its own cost per request.
app.get('/cpu', async () => process.cpuUsage());
const url = await app.listen({ host: '127.0.0.1', port: 0 });
process.stdout.write(`${JSON.stringify({ url })}\n`);
process.on('SIGTERM', async () => {
  await app.close();
  await guard.close();
  process.exit(0);
});
