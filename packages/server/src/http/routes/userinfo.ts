import type { FastifyPluginAsync } from 'fastify';
import type { Services } from '../../services.js';
import { AccessTokenRejected } from '../../tokens/access_tokens.js';
import { bearerToken } from '../client_auth.js';
import { invalidToken, OAuthError } from '../errors.js';
import { userinfoResponse } from '../response_schemas.js';

/** `GET /userinfo`: the first protected route of the story, guarded by the server's own verifier. */
export const userinfoRoutes: FastifyPluginAsync<{ services: Services }> = async (app, { services }) => {
  app.get('/userinfo', { schema: { response: userinfoResponse } }, async (request, reply) => {
    const token = bearerToken(request);
    if (token === undefined) {
      // RFC 6750 §3.1: no credentials at all gets a bare challenge, without an error code.
      throw new OAuthError(401, 'invalid_token', 'an access token is required', {
        'www-authenticate': 'Bearer realm="tessera"',
      });
    }
    try {
      // RFC 9068 §4, RFC 8725 §3.9: only a token meant for this server, not one for another API.
      const { claims, user } = await services.accessTokens.verify(token, services.config.issuer);
      reply.header('cache-control', 'no-store');
      return {
        sub: user.id,
        preferred_username: user.username,
        roles: user.roles,
        permissions: user.permissions,
        sid: claims.sid,
      };
    } catch (err) {
      if (err instanceof AccessTokenRejected) throw invalidToken();
      throw err;
    }
  });
};
