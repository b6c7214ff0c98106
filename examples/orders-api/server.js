// Runs the orders API: configuration from the environment, then listen. See README.md.
import { buildApp } from './app.js';

const issuer = process.env.TESSERA_ISSUER || 'http://127.0.0.1:4000';
// The Tessera server's default access-token audience is its issuer.
const audience = process.env.API_AUDIENCE || issuer;
const host = process.env.HOST || '127.0.0.1';
const port = Number(process.env.PORT || 4100);
const level = process.env.LOG_LEVEL || 'info';
// Browser origins whose pages may call the API, comma-separated (examples/spa: http://localhost:5173).
const corsOrigins = (process.env.CORS_ORIGINS || '').split(',').filter(Boolean);
// The API's confidential client at the issuer: it authenticates the revocation stream.
const client = { id: process.env.API_CLIENT_ID || 'orders-api', secret: process.env.API_CLIENT_SECRET };
if (!client.secret) {
  console.error(
    'API_CLIENT_SECRET is not set: register the API with `tessera client add orders-api --type confidential` and pass the secret it prints',
  );
  process.exit(2);
}

const { app, guard } = await buildApp({ issuer, audience, client, logger: { level }, corsOrigins });
await app.listen({ host, port });
app.log.info({ issuer, audience }, 'orders API protected by @tessera/guard');

// Serve at once: /healthz answers, and guarded routes (and /readyz) answer 503 until the guard holds
// the issuer's keys and its revocation list. The guard keeps trying in the background.
guard.ready().then(
  () => app.log.info('guard ready: keys fetched, revocation stream live'),
  (err) => app.log.warn({ reason: err.message }, 'guard not ready yet; /readyz answers 503 until it is'),
);

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    app.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  });
}
