// Serves the single-page app: configuration from the environment, then listen. See README.md.
import { isIP } from 'node:net';
import { createSpaServer } from './spa_server.js';

// `localhost`, not 127.0.0.1: the app and Tessera must be the same site (scheme and host; the port
// does not count), or the browser keeps Tessera's SameSite=Strict refresh cookie from the app's requests.
const issuer = process.env.TESSERA_ISSUER || 'http://localhost:4000';
const ordersApi = process.env.ORDERS_API || 'http://127.0.0.1:4100';
const clientId = process.env.CLIENT_ID || 'web';
const port = process.env.PORT || '5173';
if (!/^\d{1,5}$/.test(port)) {
  console.error(`PORT must be a port number, got ${JSON.stringify(port)}`);
  process.exit(2);
}
const origin = `http://localhost:${port}`;

for (const [name, value] of [
  ['TESSERA_ISSUER', issuer],
  ['ORDERS_API', ordersApi],
]) {
  if (!URL.canParse(value) || !/^https?:$/.test(new URL(value).protocol)) {
    console.error(`${name} must be an http(s) URL, got ${JSON.stringify(value)}`);
    process.exit(2);
  }
}
if (!sameSite(new URL(origin), new URL(issuer))) {
  console.warn(
    `warning: ${origin} and the issuer ${issuer} are not the same site, so the browser will not send ` +
      "Tessera's refresh cookie: signing in works, staying signed in does not. Start Tessera with " +
      'TESSERA_ISSUER=http://localhost:4000 (and the orders API with the same TESSERA_ISSUER).',
  );
}

const server = await createSpaServer({ issuer, ordersApi, clientId });
server.listen(Number(port), 'localhost', () => {
  console.log(
    `the app is running at ${origin} (client ${clientId}, issuer ${issuer}, orders API ${ordersApi})`,
  );
});
server.on('error', (err) => {
  console.error(`cannot listen on ${origin}: ${err.message}`);
  process.exit(1);
});

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => server.close(() => process.exit(0)));
}

/**
 * Same site as browsers decide it, near enough for a warning: the same scheme, and the same host for
 * `localhost` and IP addresses, else the same last two labels (a public suffix like `co.uk` would need
 * the Public Suffix List, which a warning can do without).
 */
function sameSite(a, b) {
  if (a.protocol !== b.protocol) return false;
  const single = (host) => host === 'localhost' || isIP(host.replace(/^\[|\]$/g, '')) !== 0;
  if (single(a.hostname) || single(b.hostname)) return a.hostname === b.hostname;
  const site = (host) => host.split('.').slice(-2).join('.');
  return site(a.hostname) === site(b.hostname);
}
