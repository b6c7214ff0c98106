import type { FastifyPluginAsync } from 'fastify';
import { endSession } from '../../revocation/sessions.js';
import type { Services } from '../../services.js';
import { AccessTokenRejected } from '../../tokens/access_tokens.js';
import { authenticateClient } from '../client_auth.js';
import { OAuthError } from '../errors.js';
import { emptyResponse } from '../response_schemas.js';
import type { RevocationBudget } from '../revocation_budget.js';
import { type TokenRequestParameters, tokenRequestSchema } from '../token_request.js';

/** What a lookup found: nothing of ours, a token of the caller's, or a token of another client. */
type Found = 'none' | 'revoked' | 'foreign';

/**
 * `POST /revoke` (RFC 7009). A refresh token revokes its whole family (and its access tokens via
 * `sid`); an access token revokes its `jti`. Unknown, expired and invalid tokens are answered 200 like
 * successes (§2.2): there is nothing left to revoke, and the answer tells a prober nothing. A token
 * issued to another client is refused (§2.1).
 */
export const revokeRoutes: FastifyPluginAsync<{
  services: Services;
  revocationBudget: RevocationBudget;
}> = async (app, { services, revocationBudget }) => {
  app.post<{ Body: TokenRequestParameters }>(
    '/revoke',
    {
      schema: { ...tokenRequestSchema, response: emptyResponse(200) },
    },
    async (request, reply) => {
      const client = await authenticateClient(services, request, request.body);
      const { token, token_type_hint: hint } = request.body;
      // §2.1: the hint only orders the lookups, and a server "MAY ignore" it: an unknown one is.
      const attempts =
        hint === 'access_token' ? [revokeAccess, revokeRefresh] : [revokeRefresh, revokeAccess];
      for (const attempt of attempts) {
        const found = await attempt(token!, client.clientId, request.ip);
        // §2.1: "verifies whether the token was issued to the client making the revocation request.
        // If this validation fails, the request is refused".
        if (found === 'foreign')
          throw new OAuthError(400, 'unauthorized_client', 'the token was issued to another client');
        if (found === 'revoked') break;
      }
      return reply.code(200).header('cache-control', 'no-store').send();
    },
  );

  async function revokeRefresh(token: string, clientId: string, ip: string): Promise<Found> {
    const family = await services.refreshTokens.familyOf(token);
    if (!family) return 'none';
    if (family.clientId !== clientId) return 'foreign';
    // A rotated, expired or revoked token revokes nothing more: no budget spent, nothing written.
    if (!family.active) return 'revoked';
    await revocationBudget.spend(family.userId, clientId);
    if (await endSession(services, family.familyId, 'revoked')) {
      await services.audit.record({
        type: 'session_revoked',
        userId: family.userId,
        clientId,
        ip,
        detail: { sid: family.familyId, reason: 'revoke' },
      });
    }
    return 'revoked';
  }

  async function revokeAccess(token: string, clientId: string, ip: string): Promise<Found> {
    if (token.split('.').length !== 3) return 'none';
    let claims: Awaited<ReturnType<typeof services.accessTokens.verify>>['claims'];
    try {
      ({ claims } = await services.accessTokens.verify(token));
    } catch (err) {
      // An expired, forged or already revoked token needs nothing; the caller still gets 200.
      if (err instanceof AccessTokenRejected) return 'none';
      throw err;
    }
    if (claims.client_id !== clientId) return 'foreign';
    await revocationBudget.spend(claims.sub, clientId);
    await services.revocations.revoke('jti', claims.jti as string);
    await services.audit.record({
      type: 'token_revoked',
      userId: claims.sub,
      clientId,
      ip,
      detail: { jti: claims.jti },
    });
    return 'revoked';
  }
};
