// Runs one app: `node server.js --name Notes --port 3001 --client-id notes`, with the client's secret
// in CLIENT_SECRET (never a flag: flags show up in the process list). See README.md.
import { parseArgs } from 'node:util';
import { createSsoApp } from './app.js';

const usage =
  'usage: CLIENT_SECRET=<secret> node server.js --name <app name> --port <port> --client-id <client id>';
let values;
try {
  ({ values } = parseArgs({
    options: {
      name: { type: 'string' },
      port: { type: 'string' },
      'client-id': { type: 'string' },
    },
  }));
} catch (err) {
  console.error(`${err.message}\n${usage}`);
  process.exit(2);
}
const { name, port, 'client-id': clientId } = values;
const clientSecret = process.env.CLIENT_SECRET;
const issuer = process.env.TESSERA_ISSUER || 'http://127.0.0.1:4000';
if (!name || !port || !clientId) {
  console.error(usage);
  process.exit(2);
}
if (!/^\d{1,5}$/.test(port)) {
  console.error(`--port must be a port number, got ${JSON.stringify(port)}`);
  process.exit(2);
}
// The client id names the app's session cookie, so it must be a plain cookie-name token.
if (!/^[\w.~-]{1,128}$/.test(clientId)) {
  console.error('--client-id may hold letters, digits, _ . ~ and - only');
  process.exit(2);
}
if (!clientSecret) {
  console.error(
    `CLIENT_SECRET is not set: register the app with \`tessera client add ${clientId} --kind web --redirect-uri http://localhost:${port}/callback\` and pass the secret it prints`,
  );
  process.exit(2);
}

// The browser reaches the app as localhost; Tessera redirects it back to <baseUrl>/callback.
const baseUrl = `http://localhost:${port}`;
let server;
try {
  server = await createSsoApp({ name, issuer, clientId, clientSecret, baseUrl });
} catch (err) {
  console.error(`cannot read Tessera's discovery document at ${issuer} (is it running?): ${err.message}`);
  process.exit(1);
}
server.listen(Number(port), 'localhost', () => {
  console.log(`${name} is running at ${baseUrl} (client ${clientId}, issuer ${issuer})`);
});
server.on('error', (err) => {
  console.error(`${name} cannot listen on ${baseUrl}: ${err.message}`);
  process.exit(1);
});

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => server.close(() => process.exit(0)));
}
