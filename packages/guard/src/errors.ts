/**
 * The `error` codes a guard answers with. The first four are RFC 6750 §3.1 codes (and RFC 6749
 * §4.1.2.1 for `temporarily_unavailable`); `invalid_dpop_proof` is RFC 9449 §7.1's; `unauthorized`
 * is used only in the body of a 401 for a request without credentials, whose `WWW-Authenticate`
 * challenge carries no error code (RFC 6750 §3.1: "the resource server SHOULD NOT include an error
 * code").
 */
export type GuardErrorCode =
  | 'invalid_request'
  | 'invalid_token'
  | 'invalid_dpop_proof'
  | 'insufficient_scope'
  | 'temporarily_unavailable'
  | 'unauthorized';

/** The JSON body of an error response. */
export interface GuardErrorBody {
  error: GuardErrorCode;
  error_description: string;
}

export interface GuardErrorInit {
  status: 400 | 401 | 403 | 503;
  error: GuardErrorCode;
  description: string;
  headers: Readonly<Record<string, string>>;
  reason: string;
  cause?: unknown;
}

/**
 * A request the guard refuses, carrying the whole HTTP answer: `status`, `headers` (with the
 * `WWW-Authenticate` challenge of RFC 6750 §3, or `Retry-After` for a 503) and the body
 * (`toJSON()`). The body and headers are the same for every failure of a kind, so a caller cannot
 * learn which check refused its token; the real cause is in `reason` (and `cause`), for the API's
 * own logs only. Neither ever contains the token.
 *
 * @example
 * ```ts
 * try {
 *   req.auth = await guard.authenticate(req);
 * } catch (err) {
 *   if (!(err instanceof GuardError)) throw err;
 *   log.info({ reason: err.reason }, 'request refused');
 *   res.writeHead(err.status, { ...err.headers, 'content-type': 'application/json' });
 *   res.end(JSON.stringify(err));
 * }
 * ```
 */
export class GuardError extends Error {
  /** HTTP status: 400, 401, 403 or 503. */
  readonly status: 400 | 401 | 403 | 503;
  /** The error code of the body (and of the challenge, except `unauthorized`). */
  readonly error: GuardErrorCode;
  /** The `error_description` sent: generic on purpose. */
  readonly description: string;
  /** Response headers to send: `WWW-Authenticate` or `Retry-After`, and `Cache-Control`. */
  readonly headers: Readonly<Record<string, string>>;
  /** What actually failed, for the API's logs; never sent to the client. */
  readonly reason: string;

  constructor(init: GuardErrorInit) {
    // The message is the public description: a framework that prints messages leaks nothing.
    super(init.description, init.cause === undefined ? undefined : { cause: init.cause });
    this.name = 'GuardError';
    this.status = init.status;
    this.error = init.error;
    this.description = init.description;
    this.headers = init.headers;
    this.reason = init.reason;
  }

  /** The response body: `{ error, error_description }`. */
  toJSON(): GuardErrorBody {
    return { error: this.error, error_description: this.description };
  }
}

const INVALID_TOKEN = 'the access token is not valid';
const EXPIRED_TOKEN = 'the access token expired';
const MALFORMED_REQUEST = 'the Authorization header is malformed';
const MISSING_TOKEN = 'an access token is required';
const UNAVAILABLE = 'the access token cannot be checked right now; retry later';
const MISSING_SCOPE = 'the access token does not grant the required scope';
const MISSING_ROLE = 'the access token does not carry the required role';
const MISSING_PERMISSION = 'the access token does not carry the required permission';
const ACTOR_FORBIDDEN = 'the access token names an actor (act): this resource takes the subject only';
const ACTOR_REQUIRED = 'the access token names no actor (act): this resource takes delegated tokens only';
const INVALID_DPOP_PROOF = 'the DPoP proof is not valid';

/** Seconds a client should wait before retrying a 503, by cause. */
export const RETRY_AFTER = {
  /** The revocation feed reconnects within a few seconds. */
  revocations: 5,
  /** A key set that failed is refetched only after its cool-down (30 s by default). */
  keys: 30,
  /** Discovery is retried with back-off. */
  startup: 5,
} as const;

export interface GuardErrors {
  /** 401 without an error code: no Authorization header, or another scheme (RFC 6750 §3.1). */
  missingToken(reason: string): GuardError;
  /** 400 `invalid_request`: a malformed Authorization header (RFC 6750 §2.1, §3.1). */
  malformedRequest(reason: string): GuardError;
  /** 401 `invalid_token`, one description for every cause (RFC 6750 §3.1). */
  invalidToken(reason: string, cause?: unknown): GuardError;
  /** 401 `invalid_token` for an expired token, the one cause a client may act on. */
  expiredToken(reason: string, cause?: unknown): GuardError;
  /** 403 `insufficient_scope`; `scope` lists the scopes required (RFC 6750 §3). */
  insufficientScope(scope: string, reason: string): GuardError;
  insufficientRole(reason: string): GuardError;
  insufficientPermission(reason: string): GuardError;
  /** 403 `insufficient_scope` for a token whose actor (RFC 8693 §4.1 `act`) the route refuses or lacks. */
  insufficientActor(actorRequired: boolean, reason: string): GuardError;
  /** 503 `temporarily_unavailable` with `Retry-After`: the token is not blamed. */
  unavailable(reason: string, retryAfter: number, cause?: unknown): GuardError;
  /** 401 `invalid_dpop_proof` with a DPoP challenge (RFC 9449 §7.1): the proof is missing or fails a check. */
  invalidDpopProof(reason: string, cause?: unknown): GuardError;
  /**
   * 401 `invalid_token` for a DPoP-bound token sent as Bearer (RFC 9449 §7.2), whose challenge
   * also offers DPoP (§7.1).
   */
  boundTokenAsBearer(reason: string): GuardError;
  /**
   * The same refusal for a request that used the DPoP scheme: its challenge becomes a DPoP
   * challenge with the same error, description and parameters, and the accepted `algs` (§7.1).
   * Anything else (a 503, a DPoP challenge already) is returned as it is.
   */
  inDpopScheme(err: unknown): unknown;
}

/** How a guard takes DPoP, for its challenges; undefined for a guard that takes Bearer tokens only. */
export interface DpopChallenge {
  /** The proof algorithms accepted: the challenge's `algs` (RFC 9449 §7.1). */
  readonly algorithms: readonly string[];
  /** Whether Bearer tokens are refused: a challenge then offers DPoP alone. */
  readonly required: boolean;
}

/**
 * Builds the error factory for one realm. The challenge strings are assembled here, once; a failure
 * only allocates its error object.
 */
export function createGuardErrors(realm: string, dpop?: DpopChallenge): GuardErrors {
  const realmParam = `realm=${quote(realm)}`;
  // RFC 9449 §7.1: the DPoP challenge lists the accepted algorithms (space-delimited JWS alg values).
  const dpopParams = dpop === undefined ? '' : `${realmParam}, algs="${dpop.algorithms.join(' ')}"`;
  const challenge = (error: GuardErrorCode, description: string, extra = '') =>
    `Bearer ${realmParam}, error="${error}", error_description="${description}"${extra}`;
  const noStore = 'no-store';
  const headers = (wwwAuthenticate: string) =>
    Object.freeze({ 'www-authenticate': wwwAuthenticate, 'cache-control': noStore });

  // RFC 6750 §3.1: a request without authentication information gets a challenge without an error
  // code; RFC 9449 §7.1: one challenge per scheme the guard accepts.
  const missingHeaders = headers(
    dpop === undefined
      ? `Bearer ${realmParam}`
      : dpop.required
        ? `DPoP ${dpopParams}`
        : `Bearer ${realmParam}, DPoP ${dpopParams}`,
  );
  const dpopProofHeaders = headers(
    `DPoP ${realmParam}, error="invalid_dpop_proof", error_description="${INVALID_DPOP_PROOF}", algs="${dpop?.algorithms.join(' ') ?? ''}"`,
  );
  const boundAsBearerHeaders = headers(`${challenge('invalid_token', INVALID_TOKEN)}, DPoP ${dpopParams}`);
  /** DPoP forms of Bearer challenges, by the Bearer challenge: a few kinds, and a scope list per route. */
  const dpopForms = new Map<string, Readonly<Record<string, string>>>();
  const malformedHeaders = headers(challenge('invalid_request', MALFORMED_REQUEST));
  const invalidHeaders = headers(challenge('invalid_token', INVALID_TOKEN));
  const expiredHeaders = headers(challenge('invalid_token', EXPIRED_TOKEN));
  const roleHeaders = headers(challenge('insufficient_scope', MISSING_ROLE));
  const permissionHeaders = headers(challenge('insufficient_scope', MISSING_PERMISSION));
  const actorForbiddenHeaders = headers(challenge('insufficient_scope', ACTOR_FORBIDDEN));
  const actorRequiredHeaders = headers(challenge('insufficient_scope', ACTOR_REQUIRED));
  const scopeHeaders = new Map<string, Readonly<Record<string, string>>>();
  const unavailableHeaders = new Map<number, Readonly<Record<string, string>>>();

  return {
    missingToken: (reason) =>
      new GuardError({
        status: 401,
        error: 'unauthorized',
        description: MISSING_TOKEN,
        headers: missingHeaders,
        reason,
      }),
    malformedRequest: (reason) =>
      new GuardError({
        status: 400,
        error: 'invalid_request',
        description: MALFORMED_REQUEST,
        headers: malformedHeaders,
        reason,
      }),
    invalidToken: (reason, cause) =>
      new GuardError({
        status: 401,
        error: 'invalid_token',
        description: INVALID_TOKEN,
        headers: invalidHeaders,
        reason,
        cause,
      }),
    expiredToken: (reason, cause) =>
      new GuardError({
        status: 401,
        error: 'invalid_token',
        description: EXPIRED_TOKEN,
        headers: expiredHeaders,
        reason,
        cause,
      }),
    insufficientScope(scope, reason) {
      let scoped = scopeHeaders.get(scope);
      if (scoped === undefined) {
        // Scope tokens are NQCHAR (RFC 6749 §3.3), checked when the requirement was compiled.
        scoped = headers(challenge('insufficient_scope', MISSING_SCOPE, `, scope="${scope}"`));
        if (scopeHeaders.size < 1024) scopeHeaders.set(scope, scoped);
      }
      return new GuardError({
        status: 403,
        error: 'insufficient_scope',
        description: MISSING_SCOPE,
        headers: scoped,
        reason,
      });
    },
    insufficientRole: (reason) =>
      new GuardError({
        status: 403,
        error: 'insufficient_scope',
        description: MISSING_ROLE,
        headers: roleHeaders,
        reason,
      }),
    insufficientPermission: (reason) =>
      new GuardError({
        status: 403,
        error: 'insufficient_scope',
        description: MISSING_PERMISSION,
        headers: permissionHeaders,
        reason,
      }),
    insufficientActor: (actorRequired, reason) =>
      new GuardError({
        status: 403,
        error: 'insufficient_scope',
        description: actorRequired ? ACTOR_REQUIRED : ACTOR_FORBIDDEN,
        headers: actorRequired ? actorRequiredHeaders : actorForbiddenHeaders,
        reason,
      }),
    unavailable(reason, retryAfter, cause) {
      let retry = unavailableHeaders.get(retryAfter);
      if (retry === undefined) {
        retry = Object.freeze({ 'retry-after': String(retryAfter), 'cache-control': noStore });
        unavailableHeaders.set(retryAfter, retry);
      }
      return new GuardError({
        status: 503,
        error: 'temporarily_unavailable',
        description: UNAVAILABLE,
        headers: retry,
        reason,
        cause,
      });
    },
    invalidDpopProof: (reason, cause) =>
      new GuardError({
        status: 401,
        error: 'invalid_dpop_proof',
        description: INVALID_DPOP_PROOF,
        headers: dpopProofHeaders,
        reason,
        cause,
      }),
    boundTokenAsBearer: (reason) =>
      new GuardError({
        status: 401,
        error: 'invalid_token',
        description: INVALID_TOKEN,
        headers: dpop === undefined ? invalidHeaders : boundAsBearerHeaders,
        reason,
      }),
    inDpopScheme(err) {
      if (!(err instanceof GuardError)) return err;
      const bearer = err.headers['www-authenticate'];
      if (bearer === undefined || !bearer.startsWith('Bearer ')) return err;
      let converted = dpopForms.get(bearer);
      if (converted === undefined) {
        // The missing-credentials challenge offers every scheme already; the others keep their
        // parameters (realm, error, description, scope) under the DPoP scheme, with `algs`.
        converted =
          err.headers === missingHeaders
            ? missingHeaders
            : headers(`DPoP ${bearer.slice(7)}, algs="${dpop?.algorithms.join(' ') ?? ''}"`);
        if (dpopForms.size < 1024) dpopForms.set(bearer, converted);
      }
      return new GuardError({
        status: err.status,
        error: err.error,
        description: err.description,
        headers: converted,
        reason: err.reason,
        cause: err.cause,
      });
    },
  };
}

/** An RFC 9110 §5.6.4 quoted-string: backslash before `"` and `\`. */
function quote(value: string): string {
  return `"${value.replace(/["\\]/g, '\\$&')}"`;
}
