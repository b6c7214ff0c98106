import type { FastifyReply } from 'fastify';

/** RFC 6749 §5.2, RFC 6750 §3.1, RFC 7009 §2.2.1 and our own first-party endpoints. */
export type OAuthErrorCode =
  | 'invalid_request'
  | 'invalid_client'
  | 'invalid_grant'
  | 'unauthorized_client'
  | 'unsupported_grant_type'
  | 'unsupported_token_type'
  | 'invalid_scope'
  | 'invalid_token'
  | 'insufficient_scope'
  | 'access_denied'
  | 'slow_down'
  | 'server_error'
  | 'temporarily_unavailable';

/** An error the handlers throw; the error handler turns it into an OAuth-style JSON answer. */
export class OAuthError extends Error {
  constructor(
    readonly status: number,
    readonly error: OAuthErrorCode,
    readonly description: string,
    /** Extra headers: `WWW-Authenticate`, `Retry-After`. */
    readonly headers: Record<string, string> = {},
  ) {
    super(description);
    this.name = 'OAuthError';
  }
}

/** RFC 6750 §3: a bearer-protected resource answers 401 with a challenge. */
export function invalidToken(description = 'the access token is invalid, expired or revoked'): OAuthError {
  return new OAuthError(401, 'invalid_token', description, {
    'www-authenticate': `Bearer error="invalid_token", error_description="${description}"`,
  });
}

/** RFC 6749 §5.2: a failed client authentication over Basic answers 401 with a Basic challenge. */
export function invalidClient(description = 'client authentication failed'): OAuthError {
  return new OAuthError(401, 'invalid_client', description, { 'www-authenticate': 'Basic realm="tessera"' });
}

export function sendOAuthError(reply: FastifyReply, error: OAuthError): FastifyReply {
  return reply
    .code(error.status)
    .headers({ 'cache-control': 'no-store', ...error.headers })
    .send({ error: error.error, error_description: error.description });
}
