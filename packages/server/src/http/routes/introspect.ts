import type { FastifyPluginAsync } from 'fastify';
import type { Services } from '../../services.js';
import { AccessTokenRejected } from '../../tokens/access_tokens.js';
import { authenticateClient } from '../client_auth.js';
import { invalidClient, OAuthError } from '../errors.js';
import { introspectionResponse } from '../response_schemas.js';
import { type TokenRequestParameters, tokenRequestSchema } from '../token_request.js';

/**
 * `POST /introspect` (RFC 7662) for resource servers that prefer asking: only confidential clients
 * may call it (§2.1), and the answer reflects revocations at once. Anything not active is just
 * `{"active": false}` (§2.2).
 */
export const introspectionRoutes: FastifyPluginAsync<{ services: Services }> = async (app, { services }) => {
  app.post<{
    Body: TokenRequestParameters;
  }>(
    '/introspect',
    {
      schema: { ...tokenRequestSchema, response: introspectionResponse },
    },
    async (request, reply) => {
      // RFC 6749 §5.2: no client authentication at all is `invalid_client` (401), not a bad request.
      if (!/^basic /i.test(request.headers.authorization ?? '') && request.body.client_id === undefined)
        throw invalidClient('introspection needs an authenticated resource server');
      const client = await authenticateClient(services, request, request.body);
      if (client.type !== 'confidential') {
        throw new OAuthError(401, 'invalid_client', 'introspection needs an authenticated resource server', {
          'www-authenticate': 'Basic realm="tessera"',
        });
      }
      reply.header('cache-control', 'no-store');
      const token = request.body.token!;
      if (token.split('.').length === 3) {
        try {
          const { claims, user } = await services.accessTokens.verify(token);
          // RFC 7662 §4: tell a resource server only about tokens meant for it (its audiences).
          const audiences = typeof claims.aud === 'string' ? [claims.aud] : (claims.aud ?? []);
          if (!audiences.some((aud) => client.audiences.includes(aud))) return { active: false };
          const jkt = claims.cnf?.jkt;
          return {
            active: true,
            // RFC 9449 §6.2: a bound token is of type DPoP and says which key it is bound to.
            token_type: jkt !== undefined ? 'DPoP' : 'Bearer',
            ...(jkt !== undefined ? { cnf: { jkt } } : {}),
            scope: claims.scope,
            client_id: claims.client_id,
            ...(user ? { username: user.username } : {}),
            sub: claims.sub,
            aud: claims.aud,
            iss: claims.iss,
            exp: claims.exp,
            iat: claims.iat,
            jti: claims.jti,
            sid: claims.sid,
            // RFC 8693 §4.1: an exchanged token's actor (the chain nested), as the token says it.
            ...(claims.act !== undefined ? { act: claims.act } : {}),
          };
        } catch (err) {
          if (!(err instanceof AccessTokenRejected)) throw err;
          return { active: false };
        }
      }
      const refresh = await services.refreshTokens.familyOf(token);
      if (!refresh?.active) return { active: false };
      // Likewise a refresh token: only to a resource server among the audiences its client serves.
      const owner =
        refresh.clientId === client.clientId ? client : await services.clients.byId(refresh.clientId);
      if (!owner?.audiences.some((aud) => client.audiences.includes(aud))) return { active: false };
      const user = await services.users.byId(refresh.userId);
      if (!user || user.disabled) return { active: false };
      return {
        active: true,
        token_type: 'refresh_token',
        scope: refresh.scope,
        client_id: refresh.clientId,
        username: user.username,
        sub: user.id,
        exp: Math.floor(refresh.expiresAt / 1000),
        sid: refresh.familyId,
      };
    },
  );
};
