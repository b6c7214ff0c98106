import { createServer as createHttpServer } from 'node:http';
import cookie from '@fastify/cookie';
import formbody from '@fastify/formbody';
import Fastify, { type FastifyError, type FastifyInstance } from 'fastify';
import type { Services } from '../services.js';
import { loggerOptions } from '../shared/logger.js';
import { isStoreUnavailable } from '../store/database.js';
import { registerCors } from './cors.js';
import { createWebOrigins } from './cors_origins.js';
import { OAuthError, sendOAuthError } from './errors.js';
import { createLoginThrottle, createRedisLoginThrottle } from './login_throttle.js';
import { createMetrics, type Metrics } from './metrics.js';
import { createRevocationBudget } from './revocation_budget.js';
import { authorizeRoutes } from './routes/authorize.js';
import { debuggerRoutes } from './routes/debugger.js';
import { endSessionRoutes } from './routes/end_session.js';
import { healthRoutes } from './routes/health.js';
import { introspectionRoutes } from './routes/introspect.js';
import { loginRoutes } from './routes/login.js';
import { logoutRoutes } from './routes/logout.js';
import { revocationEventsRoutes } from './routes/revocation_events.js';
import { revokeRoutes } from './routes/revoke.js';
import { tokenRoutes } from './routes/token.js';
import { userinfoRoutes } from './routes/userinfo.js';
import { wellKnownRoutes } from './routes/well_known.js';

/** Bodies are small JSON or form documents; anything bigger is refused before it is read. */
export const BODY_LIMIT = 16 * 1024;

export interface AppOptions {
  /** pino logger options, or false for silence (tests). */
  logger?: boolean | Record<string, unknown>;
  /** The metrics registry to count into (the server shares it with its metrics listener). */
  metrics?: Metrics;
}

/** Builds the Fastify app on top of the services: one plugin per concern, as the endpoint table reads. */
export async function buildApp(services: Services, options: AppOptions = {}): Promise<FastifyInstance> {
  // Redaction, and no query string in any logged URL (shared/logger.ts).
  const logger =
    options.logger === false
      ? false
      : loggerOptions(services.config, typeof options.logger === 'object' ? options.logger : {});
  const { headersTimeout, requestTimeout } = services.config;
  const app = Fastify({
    logger,
    // A client that sends its headers or body slowly holds a socket and a parser; without limits a
    // few thousand such clients exhaust the server (Node's and Fastify's request timeout is 0 in
    // Fastify 5). The limits are checked every second, so they hold to within a second.
    serverFactory: (handler) =>
      createHttpServer(
        {
          headersTimeout: headersTimeout * 1000,
          requestTimeout: requestTimeout * 1000,
          connectionsCheckingInterval: 1000,
        },
        handler,
      ),
    bodyLimit: BODY_LIMIT,
    // `request.ip` is the socket's peer unless that peer is a configured proxy: only then is
    // X-Forwarded-For believed (walked from the right, up to the first untrusted hop). Believing it
    // from anyone would let every client pick its own address, and with it a fresh login budget.
    trustProxy: services.config.trustProxy.length > 0 ? services.config.trustProxy : false,
    // Schemas validate; they never coerce a number into a string or add defaults behind our back.
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, allErrors: false } },
  });
  // Strict content types: JSON and forms only (Fastify would otherwise also parse text/plain).
  app.removeContentTypeParser('text/plain');
  await app.register(formbody, { bodyLimit: BODY_LIMIT });
  await app.register(cookie);

  const metrics = options.metrics ?? createMetrics(services);
  const throttle = services.redis
    ? createRedisLoginThrottle(services.redis, services.log, services.clock)
    : createLoginThrottle(services.clock, { log: services.log });

  app.addHook('onSend', async (request, reply, payload) => {
    // Security headers: JSON answers, and pages with no script and nothing from elsewhere.
    reply.header('x-content-type-options', 'nosniff');
    // Pages set `same-origin` (their form posts must carry a real Origin); everything else sends none.
    if (!reply.hasHeader('referrer-policy')) reply.header('referrer-policy', 'no-referrer');
    reply.header('x-frame-options', 'DENY');
    // Pages (the authorization endpoint's) set their own policy; everything else is JSON.
    if (!reply.hasHeader('content-security-policy'))
      reply.header('content-security-policy', "default-src 'none'; frame-ancestors 'none'");
    reply.header('cross-origin-resource-policy', 'same-origin');
    if (services.config.issuer.startsWith('https:'))
      reply.header('strict-transport-security', 'max-age=31536000');
    metrics.observe(request.routeOptions.url ?? 'unknown', reply.statusCode);
    return payload;
  });

  app.setErrorHandler((error: FastifyError | OAuthError, request, reply) => {
    if (error instanceof OAuthError) return sendOAuthError(reply, error);
    const status = error.statusCode ?? 500;
    if (error.validation) {
      return sendOAuthError(
        reply,
        new OAuthError(400, 'invalid_request', `invalid request: ${error.message}`),
      );
    }
    if (status === 413)
      return sendOAuthError(reply, new OAuthError(413, 'invalid_request', 'request body too large'));
    if (status === 415) {
      return sendOAuthError(
        reply,
        new OAuthError(
          415,
          'invalid_request',
          'content type must be application/json or application/x-www-form-urlencoded',
        ),
      );
    }
    if (status >= 400 && status < 500)
      return sendOAuthError(reply, new OAuthError(status, 'invalid_request', error.message));
    if (isStoreUnavailable(error)) {
      // The database is restarting or out of reach: nothing was half-written (each change is one
      // transaction or one conditional update), and the client may simply try again.
      request.log.warn({ reason: error.message }, 'store unavailable');
      return sendOAuthError(
        reply,
        new OAuthError(503, 'temporarily_unavailable', 'try again shortly', { 'retry-after': '1' }),
      );
    }
    request.log.error({ err: error }, 'request failed');
    return sendOAuthError(reply, new OAuthError(500, 'server_error', 'internal error'));
  });
  app.setNotFoundHandler((_request, reply) =>
    sendOAuthError(reply, new OAuthError(404, 'invalid_request', 'no such endpoint')),
  );

  // Before the routes, so its hooks run for every endpoint a browser app calls from another origin.
  registerCors(app, {
    config: services.config,
    webOrigins: createWebOrigins(services.clients, services.config, services.clock),
  });
  await app.register(loginRoutes, { services, throttle, metrics });
  await app.register(tokenRoutes, { services, metrics });
  await app.register(authorizeRoutes, { services, throttle, metrics });
  const revocationBudget = createRevocationBudget(services);
  await app.register(revokeRoutes, { services, revocationBudget });
  await app.register(introspectionRoutes, { services });
  await app.register(logoutRoutes, { services, revocationBudget });
  await app.register(endSessionRoutes, { services, revocationBudget });
  await app.register(userinfoRoutes, { services });
  await app.register(wellKnownRoutes, { services });
  await app.register(revocationEventsRoutes, { services });
  await app.register(healthRoutes, { services, metrics });
  await app.register(debuggerRoutes, { services });
  return app;
}
