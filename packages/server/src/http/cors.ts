import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Config } from '../config.js';
import type { WebOrigins, WebOriginTrust } from './cors_origins.js';
import { OAuthError } from './errors.js';
import { emptyResponse } from './response_schemas.js';
import { CSRF_HEADER } from './session_cookie.js';

declare module 'fastify' {
  interface FastifyRequest {
    /**
     * How far this request's `Origin` is trusted, for the endpoints browsers call across origins
     * (set by {@link registerCors} before the handler; null for no Origin, the issuer's own, or one
     * nobody registered). The cookie endpoints' CSRF checks read it (session_cookie.ts).
     */
    webOriginTrust: WebOriginTrust | null;
  }
}

/** The endpoints a browser app on another origin calls, and the methods it calls them with. */
export const CORS_ENDPOINTS: Readonly<Record<string, readonly ('GET' | 'POST')[]>> = {
  '/login': ['POST'],
  '/token': ['POST'],
  '/token/refresh': ['POST'],
  '/logout': ['POST'],
  '/logout/all': ['POST'],
  '/userinfo': ['GET', 'POST'],
  '/revoke': ['POST'],
};

/** Public documents: anyone may read them from anywhere, without credentials. */
export const PUBLIC_DOCUMENTS: readonly string[] = [
  '/.well-known/jwks.json',
  '/.well-known/openid-configuration',
  '/.well-known/oauth-authorization-server',
];

/**
 * The request headers a browser app may send (the Fetch standard's CORS-safelisted ones need no
 * grant): `Authorization` (Bearer or DPoP), `Content-Type: application/json` (not safelisted),
 * `DPoP` (RFC 9449 §4.1) and the cookie endpoints' CSRF header.
 */
export const CORS_ALLOWED_HEADERS: readonly string[] = ['authorization', 'content-type', 'dpop', CSRF_HEADER];

/**
 * The response headers its scripts may read besides the safelisted ones: the DPoP nonce (RFC 9449
 * §8, §9: the retry after `use_dpop_nonce` needs it) and the resource's challenge (RFC 6750 §3,
 * RFC 9449 §7.1), which says why a token was refused.
 */
export const CORS_EXPOSED_HEADERS: readonly string[] = ['dpop-nonce', 'www-authenticate'];

/**
 * How long a browser may reuse a preflight's answer, in seconds: Chromium's cap (Firefox allows a
 * day). It only saves round trips: every actual response is granted again, per request, from the
 * current registrations, so an origin that is removed loses access within the origin cache's TTL.
 */
export const CORS_MAX_AGE = 7200;

/** Adds `value` to the reply's `Vary` header, keeping what another hook put there. */
function vary(reply: FastifyReply, ...values: string[]): void {
  const current = reply.getHeader('vary');
  const list =
    current === undefined
      ? []
      : String(current)
          .split(/\s*,\s*/)
          .filter(Boolean);
  for (const value of values)
    if (!list.some((v) => v.toLowerCase() === value.toLowerCase())) list.push(value);
  reply.header('vary', list.join(', '));
}

/** What the request said, as it may be quoted in an error: attacker-chosen text, cut short. */
function quoted(text: string): string {
  return JSON.stringify(text.length > 200 ? `${text.slice(0, 200)}…` : text);
}

/**
 * CORS (the Fetch standard, §3.2 "CORS protocol") for browser apps on registered web origins:
 * preflights and the grant on every answer of {@link CORS_ENDPOINTS}, `Access-Control-Allow-Origin:
 * *` on the public documents. An origin gets CORS only when a client registered it exactly
 * (http/cors_origins.ts), and credentials only when it is the built-in web client's: no wildcard,
 * never `null`, never an origin reflected unchecked.
 */
export function registerCors(
  app: FastifyInstance,
  { config, webOrigins }: { config: Pick<Config, 'issuer'>; webOrigins: WebOrigins },
): void {
  const issuerOrigin = new URL(config.issuer).origin;
  app.decorateRequest('webOriginTrust', null);

  // Resolved once per request, before the handler: the CSRF checks need it as much as the answer.
  // Callback-style hooks: a request that is not cross-origin goes on without a promise.
  app.addHook('onRequest', (request, _reply, done) => {
    const path = request.routeOptions.url;
    const origin = request.headers.origin;
    // The issuer's own pages need no CORS; `null` is never registered (store/web_origin.ts).
    if (
      path === undefined ||
      !Object.hasOwn(CORS_ENDPOINTS, path) ||
      origin === undefined ||
      origin === issuerOrigin ||
      origin === 'null'
    )
      return done();
    webOrigins.trust(origin).then((trust) => {
      request.webOriginTrust = trust ?? null;
      done();
    }, done);
  });

  app.addHook('onSend', (request, reply, payload, done) => {
    const path = request.routeOptions.url;
    if (path !== undefined && PUBLIC_DOCUMENTS.includes(path)) {
      // The same answer for everyone, so no `Vary: Origin`; never with credentials (a `*` cannot
      // carry them anyway, Fetch §3.2.5).
      reply.header('access-control-allow-origin', '*');
    } else if (path !== undefined && Object.hasOwn(CORS_ENDPOINTS, path)) {
      // The answer depends on the Origin: a shared cache must not hand one origin's grant to another.
      vary(reply, 'Origin');
      const trust = request.webOriginTrust;
      if (trust !== null) {
        reply.header('access-control-allow-origin', request.headers.origin);
        // Fetch §3.2.5: credentials only with an exact origin, and here only for the pages of the
        // client whose refresh token is a cookie; every other client's tokens travel in bodies and
        // headers.
        if (trust === 'first-party') reply.header('access-control-allow-credentials', 'true');
        if (request.method !== 'OPTIONS')
          reply.header('access-control-expose-headers', CORS_EXPOSED_HEADERS.join(', '));
      }
    }
    done(null, payload);
  });

  const preflightSchema = { response: emptyResponse(204) };
  for (const [path, methods] of Object.entries(CORS_ENDPOINTS)) {
    app.options(path, { schema: preflightSchema }, async (request, reply) =>
      preflight(request, reply, methods, issuerOrigin),
    );
  }
  for (const path of PUBLIC_DOCUMENTS) {
    app.options(path, { schema: preflightSchema }, async (request, reply) => {
      if (request.headers['access-control-request-method'] === undefined)
        return reply.code(204).header('allow', 'GET, OPTIONS').send();
      return reply
        .code(204)
        .header('access-control-allow-methods', 'GET')
        .header('access-control-max-age', String(CORS_MAX_AGE))
        .send();
    });
  }
}

/**
 * Fetch §3.2.2–3.2.3: a preflight (`OPTIONS` with `Access-Control-Request-Method`) from a registered
 * origin, for a method the endpoint serves and headers it accepts, gets 204 with the grant; anything
 * else a 403 that says why (the browser then fails the fetch). A plain `OPTIONS` (RFC 9110 §9.3.7)
 * learns the methods.
 */
async function preflight(
  request: FastifyRequest,
  reply: FastifyReply,
  methods: readonly string[],
  issuerOrigin: string,
): Promise<FastifyReply> {
  const method = request.headers['access-control-request-method'];
  if (method === undefined)
    return reply
      .code(204)
      .header('allow', [...methods, 'OPTIONS'].join(', '))
      .send();
  vary(reply, 'Access-Control-Request-Method', 'Access-Control-Request-Headers');
  const origin = request.headers.origin;
  if (origin === undefined || origin === issuerOrigin)
    throw new OAuthError(403, 'invalid_request', 'a CORS preflight comes from another origin');
  if (origin === 'null')
    throw new OAuthError(
      403,
      'invalid_request',
      'the origin "null" (a sandboxed or file: page) gets no CORS',
    );
  if (request.webOriginTrust === null)
    throw new OAuthError(
      403,
      'invalid_request',
      `the origin ${quoted(origin)} is not registered for CORS (tessera client update <client_id> --web-origin <origin>)`,
    );
  if (!methods.includes(method))
    throw new OAuthError(
      403,
      'invalid_request',
      `CORS allows ${methods.join(' and ')} here, not ${quoted(method)}`,
    );
  const requested = (request.headers['access-control-request-headers'] ?? '')
    .split(',')
    .map((name) => name.trim().toLowerCase())
    .filter(Boolean);
  const refused = requested.filter((name) => !CORS_ALLOWED_HEADERS.includes(name));
  if (refused.length)
    throw new OAuthError(
      403,
      'invalid_request',
      `CORS allows the headers ${CORS_ALLOWED_HEADERS.join(', ')}, not ${quoted(refused.join(', '))}`,
    );
  return reply
    .code(204)
    .header('access-control-allow-methods', methods.join(', '))
    .header('access-control-allow-headers', CORS_ALLOWED_HEADERS.join(', '))
    .header('access-control-max-age', String(CORS_MAX_AGE))
    .send();
}
