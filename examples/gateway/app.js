// The gateway: a Fastify app that lets a user's token in (checked by @tessera/guard), and sends each
// upstream service only a token for that service's audience, got by token exchange (RFC 8693).
import { createGuard } from '@tessera/guard';
import { requireAuth, tesseraGuard } from '@tessera/guard/fastify';
import Fastify from 'fastify';
import { createExchanger, ExchangeFailed } from './exchanger.js';

/** Request headers that describe one hop, or carry the user's credential: never forwarded. */
const HOP_HEADERS = new Set([
  'authorization',
  'dpop',
  'cookie',
  'host',
  'connection',
  'keep-alive',
  'transfer-encoding',
  'upgrade',
  'te',
  'trailer',
  'proxy-authorization',
  'content-length',
]);

/**
 * @param {object} options
 * @param {string} options.issuer the Tessera server, exactly as in the tokens' `iss`
 * @param {string} options.audience the gateway's identifier: users' tokens must name it in `aud`
 * @param {{ id: string, secret: string }} options.client the gateway's confidential client: it follows
 *   the revocation stream and makes the exchanges (`tessera client add gateway --kind service
 *   --exchange-target <each upstream's audience> --exchange-delegation`)
 * @param {Record<string, { url: string, audience: string, scope?: string }>} options.upstreams by path
 *   prefix: `/orders/…` goes to `upstreams.orders.url` + `/…` with a token for its `audience`
 *   (and at most `scope`, when given)
 * @param {boolean} [options.delegation] name the gateway in the upstream tokens' `act`; default true
 * @param {boolean | object} [options.logger] Fastify's logger option (pino), default `{ level: 'info' }`
 * @returns {Promise<{ app: import('fastify').FastifyInstance, guard: import('@tessera/guard').Guard, exchanger: ReturnType<typeof createExchanger> }>}
 */
export async function buildGateway({
  issuer,
  audience,
  client,
  upstreams,
  delegation = true,
  logger = { level: 'info' },
}) {
  const app = Fastify({ logger });
  const guard = createGuard({ issuer, audience, client, logger: app.log });
  app.addHook('onClose', () => guard.close());
  await app.register(tesseraGuard, { guard });
  const exchanger = createExchanger({ issuer, client, delegation });
  // Forward bodies as they came: the upstream parses them, not the gateway.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));

  app.get('/healthz', async () => ({ status: 'ok' }));

  // Only the user's own token gets through: a token that already names an actor (a delegation or an
  // impersonation from elsewhere) is refused here rather than relayed further.
  const signedIn = requireAuth(guard, { actor: 'forbidden' });

  app.all('/:service/*', { preHandler: signedIn }, async (request, reply) => {
    const upstream = Object.hasOwn(upstreams, request.params.service)
      ? upstreams[request.params.service]
      : undefined;
    if (!upstream) return reply.code(404).send({ error: 'not_found', error_description: 'no such service' });
    let token;
    try {
      token = await exchanger.tokenFor(request.auth.token, upstream.audience, upstream.scope);
    } catch (err) {
      if (!(err instanceof ExchangeFailed)) throw err;
      request.log.warn(
        { service: request.params.service, status: err.status, error: err.error },
        'token exchange refused',
      );
      // The user's token passed the guard but the server would not exchange it (revoked meanwhile,
      // a scope the user lacks): the user's problem, 403; the server unreachable or failing: 502.
      if (err.status === 400) {
        const body = {
          error: 'access_denied',
          error_description: 'the service cannot be called with this token',
        };
        return reply.code(403).send(body);
      }
      return reply
        .code(502)
        .send({ error: 'bad_gateway', error_description: 'the auth server could not be reached' });
    }
    const query = request.url.includes('?') ? request.url.slice(request.url.indexOf('?')) : '';
    const headers = new Headers();
    for (const [name, value] of Object.entries(request.headers))
      if (!HOP_HEADERS.has(name) && value !== undefined)
        headers.set(name, Array.isArray(value) ? value.join(', ') : value);
    headers.set('authorization', `Bearer ${token}`);
    const hasBody = request.method !== 'GET' && request.method !== 'HEAD' && request.body !== undefined;
    const response = await fetch(`${upstream.url}/${request.params['*']}${query}`, {
      method: request.method,
      headers,
      ...(hasBody ? { body: request.body } : {}),
      redirect: 'manual',
    });
    reply.code(response.status);
    for (const name of ['content-type', 'www-authenticate', 'retry-after', 'location'])
      if (response.headers.has(name)) reply.header(name, response.headers.get(name));
    return reply.send(Buffer.from(await response.arrayBuffer()));
  });

  return { app, guard, exchanger };
}
