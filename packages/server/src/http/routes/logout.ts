import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { endEverySession, endSession } from '../../revocation/sessions.js';
import type { Services } from '../../services.js';
import { authorizationToken, verifyPresentedToken } from '../dpop/protected_resource.js';
import { invalidToken, OAuthError } from '../errors.js';
import { emptyResponse } from '../response_schemas.js';
import type { RevocationBudget } from '../revocation_budget.js';
import { assertSameOrigin, clearRefreshCookie, refreshCookie } from '../session_cookie.js';

/**
 * `POST /logout` ends this session: the refresh-token family and, through `sid`, every access token
 * it issued. `POST /logout/all` bumps the user's token version: every session, every token.
 * Authenticated by the bearer access token, or by the web client's cookie (with the CSRF checks).
 */
export const logoutRoutes: FastifyPluginAsync<{
  services: Services;
  revocationBudget: RevocationBudget;
}> = async (app, { services, revocationBudget }) => {
  async function caller(request: FastifyRequest, path: string) {
    // RFC 6750 §2.1 Bearer, or RFC 9449 §7.1 DPoP with a proof (dpop/protected_resource.ts).
    const token = authorizationToken(request);
    if (token !== undefined) {
      // RFC 9068 §4, RFC 8725 §3.9: a token meant for another API does not speak to this server.
      const { claims, user } = await verifyPresentedToken(
        services,
        request,
        token,
        path,
        services.config.issuer,
      );
      // A client's own token (client_credentials) has no user session to end.
      if (!user || claims.sid === undefined) throw invalidToken('a client token has no session to log out');
      return { userId: user.id, sid: claims.sid, clientId: claims.client_id };
    }
    const cookie = refreshCookie(request);
    if (cookie !== undefined) {
      assertSameOrigin(request, services.config);
      const family = await services.refreshTokens.familyOf(cookie);
      // Only the live token of a live session speaks for it: not a rotated, expired or revoked one.
      if (family?.active) return { userId: family.userId, sid: family.familyId, clientId: family.clientId };
    }
    // RFC 6750 §3.1: a request with no credentials at all gets a bare challenge, without an error code.
    throw new OAuthError(401, 'invalid_token', 'an access token or the session cookie is required', {
      'www-authenticate': 'Bearer realm="tessera"',
    });
  }

  app.post(
    '/logout',
    { schema: { response: emptyResponse(204) } },
    async (request: FastifyRequest, reply: FastifyReply) => {
      const { userId, sid, clientId } = await caller(request, '/logout');
      await revocationBudget.spend(userId, clientId);
      await endSession(services, sid, 'logout');
      await services.audit.record({
        type: 'session_revoked',
        userId,
        clientId,
        ip: request.ip,
        detail: { sid, reason: 'logout' },
      });
      clearRefreshCookie(reply);
      return reply.code(204).header('cache-control', 'no-store').send();
    },
  );

  app.post(
    '/logout/all',
    { schema: { response: emptyResponse(204) } },
    async (request: FastifyRequest, reply: FastifyReply) => {
      const { userId, clientId } = await caller(request, '/logout/all');
      await revocationBudget.spend(userId, clientId);
      const { sids } = await endEverySession(
        services,
        userId,
        (trx) => services.users.bumpTokenVersion(userId, trx),
        'logout_all',
      );
      await services.audit.record({
        type: 'user_logged_out_everywhere',
        userId,
        clientId,
        ip: request.ip,
        detail: { sessions: sids.length },
      });
      clearRefreshCookie(reply);
      return reply.code(204).header('cache-control', 'no-store').send();
    },
  );
};
