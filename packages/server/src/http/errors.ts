import type { FastifyReply } from 'fastify';

/**
 * RFC 6749 §4.1.2.1 and §5.2, RFC 6750 §3.1, RFC 7009 §2.2.1, RFC 8707 §2 (`invalid_target`), OIDC
 * Core §3.1.2.6, RFC 9449 §12.2 (DPoP), and our own first-party endpoints.
 */
export type OAuthErrorCode =
  | 'unsupported_response_type'
  | 'invalid_target'
  | 'login_required'
  | 'consent_required'
  | 'interaction_required'
  | 'request_not_supported'
  | 'request_uri_not_supported'
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
  | 'temporarily_unavailable'
  /** RFC 9449 §5, §7.1: the DPoP proof is missing where required, or fails a §4.3 check. */
  | 'invalid_dpop_proof'
  /** RFC 9449 §8: send the proof again with the nonce in the `DPoP-Nonce` header. */
  | 'use_dpop_nonce';

/**
 * RFC 6749 §4.1.2.1 and §5.2: error_description = 1*( %x20-21 / %x23-5B / %x5D-7E ). Descriptions
 * often quote what the client sent (a scope, a resource), which may hold anything: quotes become
 * apostrophes, a backslash a slash, dashes and any other character outside the set a `?`. The same
 * text is then safe inside a quoted `WWW-Authenticate` parameter (RFC 6750 §3).
 */
export function errorDescription(text: string): string {
  const cleaned = text
    .replaceAll('"', "'")
    .replaceAll('\\', '/')
    .replace(/[\u2010-\u2015]/g, '-')
    .replace(/[^\x20-\x21\x23-\x5b\x5d-\x7e]/g, '?');
  return cleaned === '' ? 'error' : cleaned;
}

/** An error the handlers throw; the error handler turns it into an OAuth-style JSON answer. */
export class OAuthError extends Error {
  readonly description: string;
  constructor(
    readonly status: number,
    readonly error: OAuthErrorCode,
    description: string,
    /** Extra headers: `WWW-Authenticate`, `Retry-After`. */
    readonly headers: Record<string, string> = {},
  ) {
    super(description);
    this.name = 'OAuthError';
    this.description = errorDescription(description);
  }
}

/** RFC 6750 §3: a bearer-protected resource answers 401 with a challenge. */
export function invalidToken(description = 'the access token is invalid, expired or revoked'): OAuthError {
  return new OAuthError(401, 'invalid_token', description, {
    'www-authenticate': `Bearer error="invalid_token", error_description="${errorDescription(description)}"`,
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
