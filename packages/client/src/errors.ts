/**
 * What went wrong, on a stable `code` (a session that ends is not an error: it is the `logout`
 * event, with its reason):
 * - `ERR_LOGIN_FAILED`: the server refused the username and password (or the account).
 * - `ERR_OAUTH`: another OAuth error from the server; `error` holds its code (RFC 6749 §5.2), such
 *   as `login_required` after `loginWithRedirect({ prompt: 'none' })`.
 * - `ERR_NETWORK`: the server could not be reached, or answered something that is not OAuth.
 * - `ERR_CALLBACK_INVALID`: a redirect callback this client did not start (unknown or reused
 *   `state`, another issuer's `iss`, no `code`).
 * - `ERR_NOT_SUPPORTED`: the call needs something this runtime lacks (`location` for redirects).
 */
export type AuthErrorCode =
  | 'ERR_LOGIN_FAILED'
  | 'ERR_OAUTH'
  | 'ERR_NETWORK'
  | 'ERR_CALLBACK_INVALID'
  | 'ERR_NOT_SUPPORTED';

/** The error every rejected promise of the client carries. Messages never hold tokens or proofs. */
export class AuthError extends Error {
  readonly code: AuthErrorCode;
  /** The OAuth `error` the server answered with, when it did. */
  readonly error: string | undefined;
  /** The HTTP status, when a response came. */
  readonly status: number | undefined;

  constructor(
    code: AuthErrorCode,
    message: string,
    details: { error?: string; status?: number; cause?: unknown } = {},
  ) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'AuthError';
    this.code = code;
    this.error = details.error;
    this.status = details.status;
  }
}
