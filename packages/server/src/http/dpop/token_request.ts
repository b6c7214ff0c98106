import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Services } from '../../services.js';
import { ReplayCacheUnavailable } from '../../shared/replay_cache.js';
import type { Client } from '../../store/clients.js';
import { OAuthError } from '../errors.js';
import { DPOP_NONCE_HEADER, type DpopProof, DpopRefused } from './proofs.js';

/**
 * The DPoP proof of a token request (the token endpoint, `/token/refresh`, `/login`), checked before
 * anything else happens: before the client authenticates (a `private_key_jwt` assertion is used up),
 * before a code is redeemed or a password checked, so a request refused for its proof (or its nonce,
 * which openid-client and @tessera/client retry at once) has changed nothing. Undefined without a
 * `DPoP` header. When nonces are on, every answer to a request with a proof carries a fresh
 * `DPoP-Nonce` (RFC 9449 §8.2), so clients keep a current one without an extra round trip.
 */
export async function tokenRequestProof(
  services: Services,
  request: FastifyRequest,
  reply: FastifyReply,
  path: string,
): Promise<DpopProof | undefined> {
  const header = request.headers.dpop;
  if (header === undefined) return undefined;
  const nonces = services.dpop.nonces;
  const nonceHeader: Record<string, string> = nonces ? { [DPOP_NONCE_HEADER]: nonces.current() } : {};
  reply.headers(nonceHeader);
  try {
    return await services.dpop.check(header, { htm: 'POST', path, nonce: true });
  } catch (err) {
    // RFC 9449 §5 and §8: both answered 400 at the token endpoint, with the nonce to use.
    if (err instanceof DpopRefused) throw new OAuthError(400, err.error, err.message, nonceHeader);
    if (err instanceof ReplayCacheUnavailable)
      throw new OAuthError(503, 'temporarily_unavailable', 'try again shortly', { 'retry-after': '1' });
    throw err;
  }
}

/**
 * RFC 9449 §5.2 `dpop_bound_access_tokens`: such a client's token requests must carry a proof. A
 * missing proof is answered as an invalid one (§5: `invalid_dpop_proof`), which tells the client what
 * to fix.
 */
export function requireProofIfBound(client: Client, proof: DpopProof | undefined): void {
  if (client.dpopBoundAccessTokens && proof === undefined)
    throw new OAuthError(
      400,
      'invalid_dpop_proof',
      'this client must send a DPoP proof with every token request (dpop_bound_access_tokens)',
    );
}

/**
 * RFC 9449 §5: "refresh tokens issued to public clients MUST be bound" to the proof's key. The
 * first-party web client is a public client too (its cookie is its refresh token). A confidential
 * client's refresh tokens are bound to its credentials already (§5: not to the key), so any proof of
 * its may bind each access token.
 */
export function refreshBindingKey(client: Client, proof: DpopProof | undefined): string | undefined {
  return client.type === 'confidential' ? undefined : proof?.jkt;
}
