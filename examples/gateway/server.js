// Runs the gateway: configuration from the environment, then listen. See README.md.
import { buildGateway } from './app.js';

const issuer = process.env.TESSERA_ISSUER || 'http://127.0.0.1:4000';
const audience = process.env.GATEWAY_AUDIENCE || issuer;
const host = process.env.HOST || '127.0.0.1';
const port = Number(process.env.PORT || 4200);
const level = process.env.LOG_LEVEL || 'info';
const client = { id: process.env.GATEWAY_CLIENT_ID || 'gateway', secret: process.env.GATEWAY_CLIENT_SECRET };
// name=url=audience[=scope], comma-separated, scopes joined with +:
// orders=http://127.0.0.1:4301=urn:orders=orders:read+orders:write,…
const upstreams = Object.fromEntries(
  (process.env.UPSTREAMS || '')
    .split(',')
    .filter(Boolean)
    .map((entry) => {
      const [name, url, upstreamAudience, scope] = entry.split('=');
      return [
        name,
        { url, audience: upstreamAudience, ...(scope ? { scope: scope.replaceAll('+', ' ') } : {}) },
      ];
    }),
);
if (!client.secret || Object.keys(upstreams).length === 0) {
  console.error('set GATEWAY_CLIENT_SECRET and UPSTREAMS (name=url=audience[=scope],…): see README.md');
  process.exit(2);
}
const delegation = process.env.DELEGATION !== 'off';

const { app, guard } = await buildGateway({
  issuer,
  audience,
  client,
  upstreams,
  delegation,
  logger: { level },
});
await app.listen({ host, port });
app.log.info({ issuer, audience, upstreams: Object.keys(upstreams), delegation }, 'gateway ready to forward');
guard.ready().catch((err) => app.log.warn({ reason: err.message }, 'guard not ready yet'));

for (const signal of ['SIGINT', 'SIGTERM'])
  process.once(signal, () =>
    app.close().then(
      () => process.exit(0),
      () => process.exit(1),
    ),
  );
