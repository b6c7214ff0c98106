import { decodeJwtUnverified } from '@tessera/jose';
import type { FastifyPluginAsync } from 'fastify';
import { endSession } from '../../revocation/sessions.js';
import type { Services } from '../../services.js';
import { AccessTokenRejected } from '../../tokens/access_tokens.js';
import { authenticateClient } from '../client_auth.js';
import { OAuthError } from '../errors.js';
import { type TokenRequestParameters, tokenRequestSchema } from '../token_request.js';

/**
 * `POST /revoke` (RFC 7009). A refresh token revokes its whole family (and its access tokens via
 * `sid`); an access token revokes its `jti`. Tokens of other clients, unknown or invalid tokens are
 * answered 200 like successes (§2.2): the answer never tells a prober what it found.
 */
export const revokeRoutes: FastifyPluginAsync<{ services: Services }> = async (app, { services }) => {
  app.post<{ Body: TokenRequestParameters }>(
    '/revoke',
    {
      schema: tokenRequestSchema,
    },
    async (request, reply) => {
      const client = await authenticateClient(services, request, request.body);
      const { token, token_type_hint: hint } = request.body;
      if (hint !== undefined && hint !== 'access_token' && hint !== 'refresh_token') {
        throw new OAuthError(
          400,
          'unsupported_token_type',
          'token_type_hint must be access_token or refresh_token',
        );
      }
      // §2.1: the hint only orders the lookups.
      const attempts =
        hint === 'access_token' ? [revokeAccess, revokeRefresh] : [revokeRefresh, revokeAccess];
      for (const attempt of attempts) if (await attempt(token!, client.clientId, request.ip)) break;
      return reply.code(200).header('cache-control', 'no-store').send();
    },
  );

  async function revokeRefresh(token: string, clientId: string, ip: string): Promise<boolean> {
    const family = await services.refreshTokens.familyOf(token);
    if (!family) return false;
    if (family.clientId !== clientId) return true; // §2.1: only the client it was issued to may revoke it
    if (await endSession(services, family.familyId, 'revoked')) {
      await services.audit.record({
        type: 'session_revoked',
        userId: family.userId,
        clientId,
        ip,
        detail: { sid: family.familyId, reason: 'revoke' },
      });
    }
    return true;
  }

  async function revokeAccess(token: string, clientId: string, ip: string): Promise<boolean> {
    if (token.split('.').length !== 3) return false;
    try {
      const { claims } = await services.accessTokens.verify(token);
      if (claims.client_id !== clientId) return true;
      await services.revocations.revoke('jti', claims.jti as string);
      await services.audit.record({
        type: 'token_revoked',
        userId: claims.sub,
        clientId,
        ip,
        detail: { jti: claims.jti },
      });
      return true;
    } catch (err) {
      // An expired, foreign or already revoked token needs nothing; the caller still gets 200.
      if (err instanceof AccessTokenRejected) return decodeable(token);
      throw err;
    }
  }
};

function decodeable(token: string): boolean {
  try {
    decodeJwtUnverified(token);
    return true;
  } catch {
    return false;
  }
}
