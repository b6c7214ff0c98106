import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Config } from '../config.js';
import { OAuthError } from './errors.js';

/**
 * The first-party web client's refresh token lives only in this cookie. `__Host-` pins it to this
 * host, `Secure`, with `Path=/` and no Domain; HttpOnly keeps it from scripts; SameSite=Strict keeps it
 * off cross-site requests.
 */
export const REFRESH_COOKIE = '__Host-tessera_refresh';
/** The custom header cookie-authenticated endpoints require: a cross-site form cannot send it. */
export const CSRF_HEADER = 'x-tessera-csrf';

export function setRefreshCookie(reply: FastifyReply, token: string, maxAgeSeconds: number): void {
  reply.setCookie(REFRESH_COOKIE, token, {
    httpOnly: true,
    secure: true,
    sameSite: 'strict',
    path: '/',
    maxAge: maxAgeSeconds,
  });
}

export function clearRefreshCookie(reply: FastifyReply): void {
  reply.clearCookie(REFRESH_COOKIE, { httpOnly: true, secure: true, sameSite: 'strict', path: '/' });
}

export function refreshCookie(request: FastifyRequest): string | undefined {
  const value = request.cookies[REFRESH_COOKIE];
  return value === undefined || value === '' ? undefined : value;
}

/**
 * The issuer's own origin, or a registered origin of the built-in web client (its web origins and
 * the `webOrigins` setting, resolved for this request by the CORS hook, http/cors.ts). Nothing else:
 * not the origins of other clients, not `null`.
 */
function isFirstPartyOrigin(
  request: FastifyRequest,
  config: Pick<Config, 'issuer'>,
  origin: string,
): boolean {
  return origin === new URL(config.issuer).origin || request.webOriginTrust === 'first-party';
}

/**
 * CSRF defence for requests authenticated by the cookie: the Origin must be a first-party one (the
 * issuer's, or a registered web origin of the web client: a page the operator vouched for, which
 * the browser sends the SameSite=Strict cookie from only when it is same-site), never absent (these
 * POSTs always carry one), and the custom header must be present, which a cross-site form or a
 * simple request cannot add without a CORS preflight.
 */
export function assertSameOrigin(request: FastifyRequest, config: Pick<Config, 'issuer'>): void {
  const origin = request.headers.origin;
  if (origin === undefined || !isFirstPartyOrigin(request, config, origin)) {
    throw new OAuthError(
      403,
      'invalid_request',
      'cookie requests must come from the issuer origin or a web origin of the web client',
    );
  }
  if (request.headers[CSRF_HEADER] !== '1') {
    throw new OAuthError(403, 'invalid_request', `cookie requests must send the ${CSRF_HEADER}: 1 header`);
  }
}

/**
 * Login CSRF: a browser posting the web client's login from another site would plant a session of
 * the attacker's choosing. Browsers always send Origin on such POSTs, so an Origin that is not
 * first-party (the issuer's, or a registered web origin of the web client) is refused; requests
 * without one (curl, server-side code) are not browser requests and carry no cookie risk.
 */
export function assertNotCrossOrigin(request: FastifyRequest, config: Pick<Config, 'issuer'>): void {
  const origin = request.headers.origin;
  if (origin !== undefined && !isFirstPartyOrigin(request, config, origin)) {
    throw new OAuthError(
      403,
      'invalid_request',
      'browser logins must come from the issuer origin or a web origin of the web client',
    );
  }
}
