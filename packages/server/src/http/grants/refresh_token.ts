import { endSession } from '../../revocation/sessions.js';
import { InvalidRefreshToken } from '../../tokens/refresh_tokens.js';
import { authenticateClient } from '../client_auth.js';
import { requireProofIfBound } from '../dpop/token_request.js';
import { OAuthError } from '../errors.js';
import { assertSameOrigin, clearRefreshCookie, refreshCookie, setRefreshCookie } from '../session_cookie.js';
import { tokenResponse } from '../token_response.js';
import type { GrantHandler } from './grant.js';

const MESSAGES: Record<InvalidRefreshToken['reason'], string> = {
  unknown: 'refresh token is invalid',
  expired: 'refresh token has expired',
  revoked: 'refresh token has been revoked',
  client_mismatch: 'refresh token was issued to another client',
  reused: 'refresh token was already used; the session has been revoked',
  dpop_mismatch: 'refresh token is bound to a DPoP key: send a proof of that key',
};

/**
 * RFC 6749 §6 with rotation (RFC 9700 §4.14.2): every use returns a new refresh token; reuse of a
 * rotated one revokes the family. The first-party web client sends its token in the cookie and must
 * pass the CSRF checks; everyone else sends `refresh_token` in the body.
 */
export const refreshTokenGrant: GrantHandler = {
  grantType: 'refresh_token',
  async handle(request, reply, { services, metrics, dpop }) {
    const body = request.body;
    const fromBody =
      typeof body.refresh_token === 'string' && body.refresh_token !== '' ? body.refresh_token : undefined;
    const fromCookie = refreshCookie(request);
    if (fromBody === undefined && fromCookie === undefined) {
      throw new OAuthError(400, 'invalid_request', 'refresh_token is required');
    }
    const client = await authenticateClient(
      services,
      request,
      body,
      fromBody === undefined ? 'web' : undefined,
    );
    requireProofIfBound(client, dpop);
    const cookieClient = client.type === 'first-party';
    if (cookieClient) {
      if (fromCookie === undefined)
        throw new OAuthError(400, 'invalid_request', 'the web client refreshes with its cookie');
      assertSameOrigin(request, services.config);
    } else if (fromBody === undefined) {
      throw new OAuthError(400, 'invalid_request', 'refresh_token is required');
    }
    const presented = cookieClient ? fromCookie! : fromBody!;
    // RFC 6749 §6: a refresh may narrow the scope, never widen it. Checked before rotating, so a
    // refused request leaves the token usable.
    let narrowedScope: string | undefined;
    if (typeof body.scope === 'string' && body.scope.trim() !== '') {
      const current = await services.refreshTokens.familyOf(presented);
      // Also for a rotated token: a duplicate inside the grace window must not skip this check.
      if (current) {
        const granted = new Set(current.scope.split(' '));
        const requested = [...new Set(body.scope.trim().split(/ +/))];
        const extra = requested.filter((scope) => !granted.has(scope));
        if (extra.length)
          throw new OAuthError(400, 'invalid_scope', `scope beyond the original grant: ${extra.join(' ')}`);
        narrowedScope = requested.join(' ');
      }
    }
    let session: Awaited<ReturnType<typeof services.refreshTokens.rotate>>;
    try {
      session = await services.refreshTokens.rotate(presented, client.clientId, dpop?.jkt);
    } catch (err) {
      if (!(err instanceof InvalidRefreshToken)) throw err;
      if (err.reason === 'reused' && err.familyId) {
        metrics.refresh('reuse_detected');
        // Theft: the family and every access token of the session go at once (RFC 9700 §4.14.2).
        await endSession(services, err.familyId, 'reuse_detected', [
          { name: 'refresh-token-reuse', userId: err.userId!, sid: err.familyId, clientId: client.clientId },
        ]);
        await services.audit.record({
          type: 'refresh_reuse_detected',
          userId: err.userId,
          clientId: client.clientId,
          ip: request.ip,
          detail: { sid: err.familyId },
        });
      } else {
        metrics.refresh('rejected');
      }
      // A proof of the wrong key leaves the session as it was (RFC 9449 §5): so does the cookie.
      if (cookieClient && err.reason !== 'dpop_mismatch') clearRefreshCookie(reply);
      throw new OAuthError(400, 'invalid_grant', MESSAGES[err.reason]);
    }
    const user = await services.users.byId(session.userId);
    if (!user || user.disabled) {
      await endSession(services, session.familyId, 'user_unavailable');
      if (cookieClient) clearRefreshCookie(reply);
      throw new OAuthError(400, 'invalid_grant', 'the account is no longer active');
    }
    metrics.refresh(session.replayed ? 'replayed' : 'rotated');
    if (narrowedScope !== undefined) session = { ...session, scope: narrowedScope };
    if (cookieClient) setRefreshCookie(reply, session.refreshToken, services.config.refreshAbsoluteTtl);
    return tokenResponse(reply, services, {
      user,
      session,
      client,
      includeRefreshToken: !cookieClient,
      dpopJkt: dpop?.jkt,
      // OIDC Core §12.2: a session that began with an OpenID sign-in gets a new ID token.
      ...(!cookieClient && session.origin.authTime !== undefined ? { openid: { nonce: undefined } } : {}),
    });
  },
};
