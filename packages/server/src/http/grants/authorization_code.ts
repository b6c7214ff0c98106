import { createHash, timingSafeEqual } from 'node:crypto';
import { endSession } from '../../revocation/sessions.js';
import { clientLifetimes } from '../../tokens/client_lifetimes.js';
import { AccountChanged, SsoSessionEnded } from '../../tokens/refresh_tokens.js';
import { authenticateClient } from '../client_auth.js';
import { refreshBindingKey, requireProofIfBound } from '../dpop/token_request.js';
import { OAuthError } from '../errors.js';
import { sessionResource, tokenResponse } from '../token_response.js';
import type { GrantHandler } from './grant.js';

/** RFC 7636 §4.1: code_verifier = 43*128unreserved. */
const CODE_VERIFIER = /^[A-Za-z0-9._~-]{43,128}$/;

/** RFC 7636 §4.6: BASE64URL(SHA256(ASCII(code_verifier))) == code_challenge, compared in constant time. */
function verifierMatches(verifier: string, challenge: string): boolean {
  const computed = Buffer.from(createHash('sha256').update(verifier, 'ascii').digest('base64url'));
  const expected = Buffer.from(challenge);
  return computed.length === expected.length && timingSafeEqual(computed, expected);
}

const invalidGrant = (description: string) => new OAuthError(400, 'invalid_grant', description);

/**
 * RFC 6749 §4.1.3 with PKCE (RFC 7636 §4.5) and OIDC Core §3.1.3: the code from /authorize, for
 * tokens (and an ID token with scope `openid`). A code works once: a second exchange is refused and
 * ends the session the first one started, so every token it gave stops working at the guards too
 * (RFC 6749 §4.1.2: "SHOULD revoke all tokens previously issued based on that authorization code").
 */
export const authorizationCodeGrant: GrantHandler = {
  grantType: 'authorization_code',
  async handle(request, reply, { services, dpop }) {
    const { body } = request;
    const code = typeof body.code === 'string' && body.code !== '' ? body.code : undefined;
    if (code === undefined) throw new OAuthError(400, 'invalid_request', 'code is required');
    // OIDC Core §3.1.3.1: required when the authorization request had it, which this server requires.
    if (typeof body.redirect_uri !== 'string' || body.redirect_uri === '')
      throw new OAuthError(400, 'invalid_request', 'redirect_uri is required');
    const verifier = typeof body.code_verifier === 'string' ? body.code_verifier : undefined;
    if (verifier !== undefined && !CODE_VERIFIER.test(verifier))
      throw new OAuthError(400, 'invalid_request', 'code_verifier must be 43–128 unreserved characters');
    const client = await authenticateClient(services, request, body);
    if (!client.grantTypes.includes('authorization_code'))
      throw new OAuthError(
        400,
        'unauthorized_client',
        'this client may not use the authorization_code grant',
      );
    requireProofIfBound(client, dpop);

    // RFC 9449 §10: a code asked for with dpop_jkt is exchanged only with a proof of that key; the
    // store judges it before the code is used up (or its reuse detected).
    const redemption = await services.authorizationCodes.redeem(code, dpop?.jkt);
    if (redemption.outcome === 'dpop_mismatch')
      throw invalidGrant(
        'the DPoP proof is not signed with the key the authorization request named (dpop_jkt)',
      );
    if (redemption.outcome === 'reused') {
      if (redemption.familyId !== undefined) await endSession(services, redemption.familyId, 'code_reuse');
      await services.audit.record({
        type: 'authorization_code_reused',
        userId: redemption.userId,
        clientId: client.clientId,
        ip: request.ip,
        detail: { sid: redemption.familyId ?? null },
      });
      throw invalidGrant('the authorization code was already used; the tokens issued for it are revoked');
    }
    if (redemption.outcome !== 'redeemed')
      throw invalidGrant(
        `the authorization code is ${redemption.outcome === 'expired' ? 'expired' : 'invalid'}`,
      );
    const { grant, codeHash } = redemption;
    // RFC 6749 §4.1.3: issued to this client, for this redirect URI.
    if (grant.clientId !== client.clientId)
      throw invalidGrant('the authorization code was issued to another client');
    if (grant.redirectUri !== body.redirect_uri)
      throw invalidGrant('redirect_uri differs from the authorization request');
    if (grant.codeChallenge !== undefined) {
      if (verifier === undefined) throw invalidGrant('code_verifier is required (PKCE)');
      if (!verifierMatches(verifier, grant.codeChallenge))
        throw invalidGrant('code_verifier does not match the code_challenge');
    } else if (verifier !== undefined) {
      // RFC 9700 §2.1.1: a verifier for a code issued without a challenge is a PKCE downgrade attempt.
      throw invalidGrant('the authorization request had no code_challenge');
    }
    // The browser's sign-in must still stand: a logout (or log out everywhere) since the code ends it.
    const ssoSession = await services.ssoSessions.byId(grant.ssoSessionId);
    const user = await services.users.byId(grant.userId);
    if (!ssoSession || !user || user.disabled)
      throw invalidGrant('the sign-in this code came from has ended');

    const resource = await sessionResource(services, grant.resource);
    const lifetimes = clientLifetimes(client, services.config, resource);
    const includeRefreshToken =
      client.grantTypes.includes('refresh_token') && lifetimes.refreshTokenTtl !== undefined;
    let session: Awaited<ReturnType<typeof services.refreshTokens.start>>;
    try {
      session = await services.refreshTokens.start(user.id, client.clientId, grant.scope, user.tokenVersion, {
        ttl: lifetimes.refreshTokenTtl ?? services.config.accessTokenTtl,
        ssoSessionId: grant.ssoSessionId,
        authTime: grant.authTime,
        amr: grant.amr,
        acr: grant.acr,
        resource: grant.resource,
        dpopJkt: refreshBindingKey(client, dpop),
      });
    } catch (err) {
      if (err instanceof AccountChanged || err instanceof SsoSessionEnded)
        throw invalidGrant('the sign-in this code came from has ended');
      throw err;
    }
    // A second exchange may have come in meanwhile: then this session ends before anyone gets it.
    if (!(await services.authorizationCodes.attachSession(codeHash, session.familyId))) {
      await endSession(services, session.familyId, 'code_reuse');
      throw invalidGrant('the authorization code was already used; the tokens issued for it are revoked');
    }
    return tokenResponse(reply, services, {
      user,
      session,
      client,
      includeRefreshToken,
      openid: { nonce: grant.nonce },
      dpopJkt: dpop?.jkt,
    });
  },
};
