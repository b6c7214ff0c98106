import type { DpopKey } from './dpop/key.js';
import type { DpopNonces } from './dpop/nonces.js';
import { createDpopProof } from './dpop/proof.js';
import type { TokenSet } from './session.js';
import { parseChallenge } from './www_authenticate.js';

/** How requests leave the client: the platform's (or the caller's) fetch, and the DPoP key. */
export interface Transport {
  fetch: (request: Request) => Promise<Response>;
  /** Undefined when DPoP is off (or WebCrypto is missing): tokens are then Bearer tokens. */
  dpop: DpopKey | undefined;
  nonces: DpopNonces;
}

/**
 * Sends `request` (never consumed: each attempt is a clone) with the access token, when given, and
 * a fresh DPoP proof. When the server answers that the proof needs its nonce (RFC 9449 §8: 400
 * `use_dpop_nonce` at the token endpoint; §9: 401 with `WWW-Authenticate: DPoP
 * error="use_dpop_nonce"` at an API) and sent a new one, it is retried once with that nonce.
 */
export async function send(transport: Transport, request: Request, token?: TokenSet): Promise<Response> {
  // A Bearer token is sent as such: a proof would bind nothing (RFC 9449 §7.2 is the other way round).
  const proofKey = token?.tokenType === 'Bearer' ? undefined : transport.dpop;
  for (let attempt = 0; ; attempt++) {
    const outgoing = request.clone();
    if (token) outgoing.headers.set('authorization', `${token.tokenType} ${token.accessToken}`);
    if (proofKey) {
      outgoing.headers.set(
        'dpop',
        await createDpopProof(proofKey, {
          htm: outgoing.method,
          url: outgoing.url,
          accessToken: token?.accessToken,
          nonce: transport.nonces.get(outgoing.url),
        }),
      );
    }
    const response = await transport.fetch(outgoing);
    const newNonce = proofKey !== undefined && transport.nonces.remember(outgoing.url, response);
    if (attempt === 0 && newNonce && (await asksForNonce(response))) continue;
    return response;
  }
}

async function asksForNonce(response: Response): Promise<boolean> {
  if (response.status === 401)
    return parseChallenge(response.headers.get('www-authenticate')).error === 'use_dpop_nonce';
  if (response.status !== 400) return false;
  try {
    const body = (await response.clone().json()) as { error?: unknown };
    return body.error === 'use_dpop_nonce';
  } catch {
    return false;
  }
}
