import { send, type Transport } from './send.js';
import type { TokenSet } from './session.js';
import { parseChallenge } from './www_authenticate.js';

/** What the fetch wrapper needs from the client. */
export interface FetchSession {
  transport: Transport;
  /** May the token go to this URL? (the issuer, this page and the configured API origins) */
  allowed(url: string): boolean;
  /** The current tokens, refreshed first when due; undefined when logged out. */
  tokens(): Promise<TokenSet | undefined>;
  /** One refresh (shared with other callers and tabs) replacing `stale`. */
  refresh(stale: TokenSet): Promise<TokenSet | undefined>;
  /** The API refused the session: end it here and in every tab. */
  unauthorized(): void;
}

/**
 * `fetch` with the access token (RFC 6750 §2.1 `Bearer`, or RFC 9449 §7.1 `DPoP` and a proof per
 * request with `ath`). On a 401 saying the token expired, one refresh and one retry; on any other
 * 401 (but a nonce still demanded) the session ends (logged-out state); a request is sent at most
 * four times (a nonce retry for each token), so nothing loops. The response is returned as is.
 */
export async function authenticatedFetch(
  session: FetchSession,
  input: RequestInfo | URL,
  init?: RequestInit,
): Promise<Response> {
  const request = new Request(input, init);
  if (!session.allowed(request.url)) return session.transport.fetch(request);
  let tokens = await session.tokens();
  let refreshed = false;
  for (;;) {
    const response = await send(session.transport, request, tokens);
    if (response.status !== 401 || tokens === undefined) return response;
    const challenge = parseChallenge(response.headers.get('www-authenticate'));
    // A nonce the API still wants after send() retried once (or gave no new nonce for): the proof
    // is refused, not the session.
    if (challenge.error === 'use_dpop_nonce') return response;
    if (!refreshed && expired(challenge.error, challenge.description, tokens)) {
      refreshed = true;
      const next = await session.refresh(tokens);
      if (next === undefined) return response;
      tokens = next;
      continue;
    }
    session.unauthorized();
    return response;
  }
}

/**
 * The expired-token signal: `invalid_token` whose description says the token expired (the guard's
 * "the access token expired"; RFC 6750 §3.1 has no code of its own for it), or a token past the
 * expiry the server gave when issuing it (clocks of client and API disagree).
 */
function expired(error: string | undefined, description: string | undefined, tokens: TokenSet): boolean {
  if (error !== 'invalid_token') return false;
  return /expired/i.test(description ?? '') || Date.now() >= tokens.expiresAt;
}
