import { AuthError } from './errors.js';
import { send, type Transport } from './send.js';
import { type TokenSet, tokenSetFrom } from './session.js';

/**
 * A request that answers with tokens (`/login`, `/token`, `/token/refresh`): sent with a DPoP proof,
 * read as an RFC 6749 §5.1 response, or turned into an AuthError (`ERR_OAUTH` with the server's
 * `error`, or `ERR_NETWORK`). `previous` keeps a refresh token the response does not replace.
 */
export async function requestTokens(
  transport: Transport,
  request: Request,
  previous?: TokenSet,
): Promise<TokenSet> {
  const endpoint = new URL(request.url).pathname;
  let response: Response;
  try {
    response = await send(transport, request);
  } catch (cause) {
    throw new AuthError('ERR_NETWORK', `${endpoint} could not be reached`, { cause });
  }
  const body: unknown = await response.json().catch(() => undefined);
  if (response.ok) {
    const tokens = tokenSetFrom(body, Date.now(), previous);
    if (tokens) return tokens;
    throw new AuthError('ERR_NETWORK', `${endpoint} answered ${response.status} without a token response`, {
      status: response.status,
    });
  }
  const { error, error_description } = (body ?? {}) as { error?: unknown; error_description?: unknown };
  if (typeof error !== 'string') {
    throw new AuthError('ERR_NETWORK', `${endpoint} answered ${response.status}`, {
      status: response.status,
    });
  }
  const description = typeof error_description === 'string' ? `: ${error_description}` : '';
  throw new AuthError('ERR_OAUTH', `${endpoint} answered ${error}${description}`, {
    error,
    status: response.status,
  });
}
