import type { FastifyRequest } from 'fastify';
import type { Services } from '../../services.js';
import { ReplayCacheUnavailable } from '../../shared/replay_cache.js';
import type { User } from '../../store/users.js';
import { type AccessTokenClaims, AccessTokenRejected } from '../../tokens/access_tokens.js';
import { errorDescription, invalidToken, OAuthError } from '../errors.js';
import { DPOP_SIGNING_ALGORITHMS, DpopRefused } from './proofs.js';

/** How the access token came: RFC 6750 §2.1 `Bearer`, RFC 9449 §7.1 `DPoP`, or the form body (§2.2). */
export interface PresentedAccessToken {
  scheme: 'Bearer' | 'DPoP' | 'body';
  token: string;
}

/** The token in `Authorization: Bearer …` or `Authorization: DPoP …` (schemes are case-insensitive). */
export function authorizationToken(request: FastifyRequest): PresentedAccessToken | undefined {
  const header = request.headers.authorization;
  if (!header) return undefined;
  const match = /^(Bearer|DPoP) ([\w.~+/-]+=*)$/i.exec(header.trim());
  if (!match) return undefined;
  return { scheme: match[1]!.toLowerCase() === 'dpop' ? 'DPoP' : 'Bearer', token: match[2]! };
}

/** RFC 9449 §7.1: a DPoP challenge, naming the proof algorithms accepted. */
function dpopChallenge(error: string, description: string): Record<string, string> {
  return {
    'www-authenticate': `DPoP algs="${DPOP_SIGNING_ALGORITHMS.join(' ')}", error="${error}", error_description="${errorDescription(description)}"`,
  };
}

function dpopError(error: 'invalid_token' | 'invalid_dpop_proof', description: string): OAuthError {
  return new OAuthError(401, error, description, dpopChallenge(error, description));
}

/**
 * Verifies an access token presented at one of this server's own protected resources (userinfo,
 * logout) for `audience`. A DPoP-bound token (`cnf.jkt`, RFC 9449 §6.1) is accepted only with the
 * `DPoP` scheme and a proof of its key for this request: `htm`, `htu` = the issuer's URL with `path`,
 * `ath` of the token, one use per `jti` (§7.1, §4.3). Sent as a bearer token (or in the body) it is
 * refused (§7.2: otherwise a stolen bound token would work as a bearer one). The `DPoP` scheme with an
 * unbound token is refused too: the client thinks it is protected and is not. No server nonce is
 * asked for here (§9 allows it; the token itself was issued against a nonce-checked proof, and the
 * proof's `iat` window and `jti` cache bound replays): one round trip per call, as with Bearer.
 */
export async function verifyPresentedToken(
  services: Services,
  request: FastifyRequest,
  presented: PresentedAccessToken,
  path: string,
  audience: string,
): Promise<{ claims: AccessTokenClaims; user: User | undefined }> {
  let verified: Awaited<ReturnType<Services['accessTokens']['verify']>>;
  try {
    verified = await services.accessTokens.verify(presented.token, audience);
  } catch (err) {
    if (!(err instanceof AccessTokenRejected)) throw err;
    if (presented.scheme === 'DPoP')
      throw dpopError('invalid_token', 'the access token is invalid, expired or revoked');
    throw invalidToken();
  }
  const jkt = verified.claims.cnf?.jkt;
  if (presented.scheme !== 'DPoP') {
    if (jkt !== undefined)
      throw dpopError(
        'invalid_token',
        'this access token is DPoP-bound: send it as Authorization: DPoP with a proof',
      );
    return verified;
  }
  if (jkt === undefined)
    throw dpopError('invalid_token', 'this access token is not DPoP-bound: send it as Bearer');
  if (request.headers.dpop === undefined)
    throw dpopError('invalid_dpop_proof', 'a DPoP proof is required with a DPoP-bound access token');
  try {
    await services.dpop.check(request.headers.dpop, {
      htm: request.method,
      path,
      accessToken: presented.token,
      jkt,
      nonce: false,
    });
  } catch (err) {
    if (err instanceof DpopRefused) throw dpopError('invalid_dpop_proof', err.message);
    if (err instanceof ReplayCacheUnavailable)
      throw new OAuthError(503, 'temporarily_unavailable', 'try again shortly', { 'retry-after': '1' });
    throw err;
  }
  return verified;
}
