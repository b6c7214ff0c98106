import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { Services } from '../../services.js';
import { extraClaims } from '../../tokens/extra_claims.js';
import { scopeClaims } from '../../tokens/scope_claims.js';
import { authorizationToken, verifyPresentedToken } from '../dpop/protected_resource.js';
import { invalidToken, OAuthError } from '../errors.js';
import { userinfoResponse } from '../response_schemas.js';

/**
 * OIDC Core §5.3 UserInfo, by GET and by POST (§5.3.1), with the access token in the Authorization
 * header or, on POST, in the form body (RFC 6750 §2.1, §2.2). The claims follow the token's scopes
 * (§5.4); `preferred_username`, roles, permissions and `sid` are always there, as they always were for
 * first-party apps.
 */
export const userinfoRoutes: FastifyPluginAsync<{ services: Services }> = async (app, { services }) => {
  async function userinfo(request: FastifyRequest, reply: FastifyReply, fromBody: unknown) {
    // RFC 6750 §2.1 Bearer, or RFC 9449 §7.1 DPoP with a proof (dpop/protected_resource.ts).
    const fromHeader = authorizationToken(request);
    // RFC 6750 §2: "Clients MUST NOT use more than one method to transmit the token in each request."
    if (fromHeader !== undefined && fromBody !== undefined)
      throw new OAuthError(400, 'invalid_request', 'send the access token in one place only', {
        'www-authenticate': 'Bearer realm="tessera", error="invalid_request"',
      });
    const token =
      fromHeader ??
      (typeof fromBody === 'string' && fromBody !== ''
        ? { scheme: 'body' as const, token: fromBody }
        : undefined);
    if (token === undefined) {
      // RFC 6750 §3.1: no credentials at all gets a bare challenge, without an error code.
      throw new OAuthError(401, 'invalid_token', 'an access token is required', {
        'www-authenticate': 'Bearer realm="tessera"',
      });
    }
    // RFC 9068 §4, RFC 8725 §3.9: only a token meant for this server, not one for another API.
    const { claims, user } = await verifyPresentedToken(
      services,
      request,
      token,
      '/userinfo',
      services.config.issuer,
    );
    if (!user) throw invalidToken('a client token has no user to describe');
    const scopes = (claims.scope ?? '').split(' ').filter(Boolean);
    const extra = await extraClaims(services.extraClaims, {
      target: 'userinfo',
      user,
      clientId: claims.client_id,
      scopes,
      resource: undefined,
    });
    reply.header('cache-control', 'no-store');
    return {
      ...extra,
      ...scopeClaims(user, scopes),
      sub: user.id,
      preferred_username: user.username,
      roles: user.roles,
      permissions: user.permissions,
      sid: claims.sid,
    };
  }
  app.get('/userinfo', { schema: { response: userinfoResponse } }, (request, reply) =>
    userinfo(request, reply, undefined),
  );
  app.post<{ Body: { access_token?: string } }>(
    '/userinfo',
    {
      schema: {
        body: { type: 'object', properties: { access_token: { type: 'string', maxLength: 16384 } } },
        response: userinfoResponse,
      },
      preValidation: async (request: { body: unknown }) => {
        request.body ??= {};
      },
    },
    (request, reply) => userinfo(request, reply, request.body.access_token),
  );
};
