// Runs one upstream service (see upstream.js and README.md): configuration from the environment.
import { buildUpstream } from './upstream.js';

const issuer = process.env.TESSERA_ISSUER || 'http://127.0.0.1:4000';
const name = process.env.SERVICE_NAME || 'orders';
const audience = process.env.SERVICE_AUDIENCE || `urn:${name}`;
const client = { id: process.env.SERVICE_CLIENT_ID || name, secret: process.env.SERVICE_CLIENT_SECRET };
const port = Number(process.env.PORT || 4301);
if (!client.secret) {
  console.error('set SERVICE_CLIENT_SECRET (tessera client add <name> --kind service): see README.md');
  process.exit(2);
}
const actor = process.env.REQUIRE_ACTOR === 'yes' ? 'required' : undefined;

const { app } = await buildUpstream({
  name,
  issuer,
  audience,
  client,
  actor,
  logger: { level: process.env.LOG_LEVEL || 'info' },
});
await app.listen({ host: process.env.HOST || '127.0.0.1', port });
app.log.info({ name, audience }, 'upstream service listening');

for (const signal of ['SIGINT', 'SIGTERM'])
  process.once(signal, () =>
    app.close().then(
      () => process.exit(0),
      () => process.exit(1),
    ),
  );
