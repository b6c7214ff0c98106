import type { GuardErrors } from './errors.js';

/** What `headers.get` of a Fetch `Request` (or Hono's request) offers. */
export interface HeadersLike {
  get(name: string): string | null;
}

/** Node's `IncomingHttpHeaders`, or any plain record of lower-cased header names. */
export interface HeaderRecord {
  readonly [name: string]: string | readonly string[] | undefined;
}

/**
 * Anything the guard can read an Authorization header from: a `node:http` `IncomingMessage` (and so
 * Express's and Fastify's raw request), a Fetch `Request`, a `Headers`, or `{ headers }` as a record.
 * A DPoP request (RFC 9449 §7.1) also needs its method and URL, to check the proof's `htm` and `htu`:
 * the requests of node:http, Express and Fetch carry them; a `{ headers }` record must add `method`
 * and `url` (a path, with the Host header, or an absolute URL).
 */
export type AuthenticatableRequest =
  | HeadersLike
  | {
      readonly headers: HeadersLike | HeaderRecord;
      readonly rawHeaders?: readonly string[];
      readonly method?: string;
      readonly url?: string;
    };

/**
 * RFC 6750 §2.1: `b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
 * A JWT (base64url segments and dots) always fits.
 */
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;

const AUTHORIZATION = 'authorization';

/** The Authorization schemes a guard understands: RFC 6750 §2.1 and RFC 9449 §7.1. */
export type TokenScheme = 'Bearer' | 'DPoP';

/**
 * The scheme of an Authorization header value (RFC 9110 §11.1: case-insensitive), or undefined for
 * any other. A value that is the scheme alone counts as that scheme (its missing token is found by
 * {@link tokenAfterScheme}).
 */
export function schemeOf(value: string): TokenScheme | undefined {
  if (value.length >= 6) {
    const scheme = value.slice(0, 6);
    if (
      (scheme === 'Bearer' || scheme.toLowerCase() === 'bearer') &&
      (value.length === 6 || value.charCodeAt(6) === 32)
    )
      return 'Bearer';
  }
  if (value.length >= 4) {
    const scheme = value.slice(0, 4);
    if (
      (scheme === 'DPoP' || scheme.toLowerCase() === 'dpop') &&
      (value.length === 4 || value.charCodeAt(4) === 32)
    )
      return 'DPoP';
  }
  return undefined;
}

/**
 * The token after the scheme: RFC 6750 §2.1 `"Bearer" 1*SP b64token`, and the same for DPoP (RFC
 * 9449 §7.1 uses token68). The scheme without a token is a malformed request (400).
 */
export function tokenAfterScheme(value: string, scheme: TokenScheme, errors: GuardErrors): string {
  const length = scheme.length;
  let start = length + 1;
  while (start < value.length && value.charCodeAt(start) === 32) start++;
  const token = start === length + 1 ? value.slice(length + 1) : value.slice(start);
  if (token.length === 0) throw errors.malformedRequest(`"${scheme}" without a token`);
  return token;
}

/**
 * The Authorization header of a request, trimmed. Only the header is read: tokens in the query
 * string (RFC 6750 §2.3) or a form body (§2.2) are never looked at.
 *
 * - no header: 401 without an error code (§3.1);
 * - several Authorization headers: 400 `invalid_request` (§3.1).
 *
 * The header's value is never copied into an error.
 */
export function authorizationOf(request: AuthenticatableRequest, errors: GuardErrors): string {
  const value = authorizationValueOf(request, errors);
  if (value === undefined) throw errors.missingToken('no Authorization header');
  return value;
}

/**
 * Reads the bearer token of a request, RFC 6750 §2.1: `Authorization: Bearer <b64token>`.
 *
 * - no header, or another scheme: 401 without an error code (§3.1);
 * - `Bearer` without a token, or several Authorization headers: 400 `invalid_request` (§3.1);
 *   two tokens or characters outside b64token are found by {@link assertTokenSyntax}.
 */
export function bearerTokenOf(request: AuthenticatableRequest, errors: GuardErrors): string {
  const value = authorizationOf(request, errors);
  if (schemeOf(value) !== 'Bearer') throw errors.missingToken('the Authorization header uses another scheme');
  return tokenAfterScheme(value, 'Bearer', errors);
}

/**
 * RFC 6750 §2.1: a token outside b64token (or two of them) is a malformed request (400), not an
 * invalid token (401). Checked only once a token has failed verification: a token that verified is
 * a JWT, which always fits, and skipping the scan keeps it off the hot path of every request.
 */
export function assertTokenSyntax(token: string, errors: GuardErrors): void {
  if (!B64TOKEN.test(token)) {
    throw errors.malformedRequest(
      token.includes(' ') || token.includes(',')
        ? 'more than one token in the Authorization header'
        : 'the token has characters outside RFC 6750 b64token',
    );
  }
}

/** The Authorization header, trimmed; `undefined` when absent or empty. */
function authorizationValueOf(request: AuthenticatableRequest, errors: GuardErrors): string | undefined {
  const headers = (request as { headers?: HeadersLike | HeaderRecord }).headers ?? request;
  let value: string | null | undefined;
  if (typeof (headers as HeadersLike).get === 'function') {
    // Fetch headers join repeated fields with ", ", which b64token refuses: two tokens, one 400.
    value = (headers as HeadersLike).get(AUTHORIZATION);
  } else {
    const rawHeaders = (request as { rawHeaders?: readonly string[] }).rawHeaders;
    if (rawHeaders !== undefined) {
      // node:http keeps only the first Authorization header in `headers`; the raw list has them all.
      value = fromRawHeaders(rawHeaders, errors);
    } else {
      const record = headers as HeaderRecord;
      const field = record[AUTHORIZATION] ?? record.Authorization;
      if (typeof field === 'string') value = field;
      else if (field !== undefined) {
        if (field.length > 1) throw errors.malformedRequest('more than one Authorization header');
        value = field[0];
      }
    }
  }
  if (value === null || value === undefined) return undefined;
  const trimmed = isTrimmed(value) ? value : value.trim();
  return trimmed.length === 0 ? undefined : trimmed;
}

function fromRawHeaders(rawHeaders: readonly string[], errors: GuardErrors): string | undefined {
  let value: string | undefined;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    if (name.length === 13 && name.toLowerCase() === AUTHORIZATION) {
      if (value !== undefined) throw errors.malformedRequest('more than one Authorization header');
      value = rawHeaders[i + 1];
    }
  }
  return value;
}

function isTrimmed(value: string): boolean {
  if (value.length === 0) return true;
  const first = value.charCodeAt(0);
  const last = value.charCodeAt(value.length - 1);
  return first !== 32 && first !== 9 && last !== 32 && last !== 9;
}
