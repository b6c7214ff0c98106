import type { JwtPayload } from '@tessera/jose';

/**
 * The claims of a Tessera access token: RFC 9068 §2.2 (`iss sub aud exp iat jti client_id scope`),
 * plus `sid` (the session), `ver` (the user's token version), `roles` and `permissions`.
 */
export interface AccessTokenClaims extends JwtPayload {
  sub: string;
  client_id?: string;
  /** Space-separated scope tokens (RFC 9068 §2.2.3, RFC 6749 §3.3). */
  scope?: string;
  sid?: string;
  ver?: number;
  roles?: string[];
  permissions?: string[];
  /** Confirmation (RFC 7800 §3.1): `jkt`, the thumbprint of the key a DPoP-bound token is bound to (RFC 9449 §6.1). */
  cnf?: { jkt?: string; [method: string]: unknown };
  /** RFC 8693 §4.1: who acts for the subject (a token from token exchange), and before them, nested. */
  act?: { sub: string; client_id?: string; act?: unknown; [claim: string]: unknown };
}

/**
 * RFC 8693 §4.1 `act`: the party acting for the subject, e.g. a gateway calling on a user's behalf,
 * or an admin impersonating the user. `actor` is who acted before it (the chain, informational: §4.1
 * says only the current actor counts for access decisions).
 */
export interface Actor {
  readonly sub: string;
  /** The client the actor acted through (`client_id`), when named. */
  readonly clientId?: string;
  readonly actor?: Actor;
}

/** Who made the request, from a verified and unrevoked access token. Frozen; shared between requests. */
export interface Principal {
  /** The subject (`sub`). */
  readonly sub: string;
  /** The `scope` claim, split on spaces. */
  readonly scopes: readonly string[];
  readonly roles: readonly string[];
  readonly permissions: readonly string[];
  /** The session (`sid`), when the token has one. */
  readonly sid?: string;
  /** The client the token was issued to (`client_id`, RFC 9068 §2.2). */
  readonly clientId?: string;
  /** `exp`, seconds since the epoch. */
  readonly expiresAt: number;
  /**
   * For a DPoP-bound token (`cnf.jkt`, RFC 9449 §6.1): the RFC 7638 thumbprint of the client's key.
   * Such a token is admitted only with a DPoP proof signed by that key, so its presence says the
   * request proved possession of the key.
   */
  readonly jkt?: string;
  /**
   * The actor (RFC 8693 §4.1 `act`) of a delegated or impersonation token; undefined for a token the
   * subject uses itself. Requirements can refuse or require one (`actor`).
   */
  readonly actor?: Actor;
  /** Every claim of the token, deeply frozen. */
  readonly claims: Readonly<AccessTokenClaims>;
  /**
   * The access token itself, to forward to a downstream API. Readable, but not part of the
   * principal's JSON or inspection: serialising or logging the principal never writes it out.
   */
  readonly token: string;
}

/** A claim with a shape the guard cannot use: the token is refused as invalid. */
export class MalformedClaim extends Error {
  constructor(
    readonly claim: string,
    message = `the "${claim}" claim has the wrong type`,
  ) {
    super(message);
    this.name = 'MalformedClaim';
  }
}

const EMPTY: readonly string[] = Object.freeze([]);

/**
 * Principals built so far, by payload object. The verifier's cache hands back the same frozen
 * payload for a repeated token, so a repeat costs one lookup here instead of a new principal.
 */
const principals = new WeakMap<object, Principal>();

/**
 * The principal of a verified payload. Checks the types of the claims it reads; `sub`, `exp`,
 * `iss`, `aud`, `iat`, `jti` and `client_id` were already required by the verifier (RFC 9068 §2.2).
 */
export function principalOf(payload: AccessTokenClaims, token: string): Principal {
  const known = principals.get(payload);
  if (known !== undefined) return known;
  const principal = newPrincipal(payload, token);
  principals.set(payload, principal);
  return principal;
}

/** Principals of encrypted tokens, by the payload of the signed token inside, apart from the others. */
const encryptedPrincipals = new WeakMap<object, Principal>();

/**
 * The principal of a verified payload that arrived encrypted: its `token` is the encrypted token as
 * sent, never the signed token inside, which the API's client never sees and which must not travel
 * further in clear. Kept apart from `principalOf`'s, and checked against the token, because the
 * payload belongs to the signed token: were the same signed token presented in clear, or wrapped in
 * another JWE (anyone with the API's public key can wrap it), its principal must carry that token.
 */
export function principalOfEncrypted(payload: AccessTokenClaims, token: string): Principal {
  const known = encryptedPrincipals.get(payload);
  if (known !== undefined && known.token === token) return known;
  const principal = newPrincipal(payload, token);
  encryptedPrincipals.set(payload, principal);
  return principal;
}

function newPrincipal(payload: AccessTokenClaims, token: string): Principal {
  const { scope, sid, client_id: clientId } = payload;
  if (scope !== undefined && typeof scope !== 'string') throw new MalformedClaim('scope');
  if (sid !== undefined && typeof sid !== 'string') throw new MalformedClaim('sid');
  if (clientId !== undefined && typeof clientId !== 'string') throw new MalformedClaim('client_id');
  if (payload.ver !== undefined && typeof payload.ver !== 'number') throw new MalformedClaim('ver');
  return new AuthenticatedPrincipal(
    jktOf(payload.cnf),
    payload.sub,
    scope === undefined ? EMPTY : Object.freeze(splitScope(scope)),
    stringList(payload.roles, 'roles'),
    stringList(payload.permissions, 'permissions'),
    sid,
    clientId,
    actorOf(payload.act, 0),
    payload.exp as number,
    Object.isFrozen(payload) ? payload : deepFreeze(payload),
    token,
  );
}

/**
 * A principal as the guard builds it. The bearer token is a credential: whoever reads it can call
 * the API as this user until it expires. Principals get logged (`log.info({ auth: req.auth })`),
 * serialised into responses and error reports, so the token is kept out of every such form: it is
 * a private field behind a getter on the prototype, which neither `JSON.stringify` (hence pino), nor
 * object spread, `structuredClone` or `Object.keys` see, and `util.inspect` prints the public members
 * only, even with `showHidden` and `getters`.
 */
class AuthenticatedPrincipal implements Principal {
  readonly #token: string;

  constructor(
    readonly jkt: string | undefined,
    readonly sub: string,
    readonly scopes: readonly string[],
    readonly roles: readonly string[],
    readonly permissions: readonly string[],
    readonly sid: string | undefined,
    readonly clientId: string | undefined,
    readonly actor: Actor | undefined,
    readonly expiresAt: number,
    readonly claims: Readonly<AccessTokenClaims>,
    token: string,
  ) {
    this.#token = token;
    Object.freeze(this);
  }

  get token(): string {
    return this.#token;
  }

  /** What `util.inspect` (and so `console.log`) prints: the public members, never the token. */
  [Symbol.for('nodejs.util.inspect.custom')](
    _depth: number,
    options: object,
    inspect: (value: unknown, options: object) => string,
  ): string {
    const { sub, scopes, roles, permissions, sid, clientId, actor, expiresAt, jkt, claims } = this;
    const members = { sub, scopes, roles, permissions, sid, clientId, actor, expiresAt, jkt, claims };
    return `Principal ${inspect(members, options)}`;
  }
}

/**
 * The key a token is bound to. RFC 7800 §3.1: `cnf` is an object of confirmation methods; the
 * guard can confirm `jkt` (RFC 9449 §6.1) only, so a token bound by any other method (an mTLS
 * certificate's `x5t#S256`, RFC 8705 §3.1) is refused: accepting it unconfirmed would undo the binding.
 */
function jktOf(cnf: unknown): string | undefined {
  if (cnf === undefined) return undefined;
  if (typeof cnf !== 'object' || cnf === null || Array.isArray(cnf)) throw new MalformedClaim('cnf');
  const { jkt } = cnf as { jkt?: unknown };
  if (typeof jkt !== 'string' || jkt.length === 0)
    throw new MalformedClaim(
      'cnf',
      'the token is bound ("cnf") by a method the guard cannot confirm: only "jkt" (DPoP)',
    );
  return jkt;
}

/** Deeper chains than this are refused as malformed: no issuer nests actors without end. */
const MAX_ACTOR_DEPTH = 16;

/**
 * RFC 8693 §4.1: `act` is a JSON object with `sub` (a string) naming the actor, optionally
 * `client_id`, and optionally a nested `act`. Any other shape makes the token invalid: an API must
 * not mistake a delegated token for the subject's own.
 */
function actorOf(act: unknown, depth: number): Actor | undefined {
  if (act === undefined) return undefined;
  if (depth >= MAX_ACTOR_DEPTH) throw new MalformedClaim('act', 'the "act" chain is too deep');
  if (typeof act !== 'object' || act === null || Array.isArray(act)) throw new MalformedClaim('act');
  const {
    sub,
    client_id: clientId,
    act: prior,
  } = act as { sub?: unknown; client_id?: unknown; act?: unknown };
  if (typeof sub !== 'string') throw new MalformedClaim('act', 'the "act" claim names no actor ("sub")');
  if (clientId !== undefined && typeof clientId !== 'string') throw new MalformedClaim('act');
  const actor: Actor = {
    sub,
    ...(clientId !== undefined ? { clientId } : {}),
    ...(prior !== undefined ? { actor: actorOf(prior, depth + 1) } : {}),
  };
  return Object.freeze(actor);
}

/** RFC 6749 §3.3: scope tokens separated by spaces (extra spaces tolerated). */
function splitScope(scope: string): string[] {
  const scopes: string[] = [];
  for (const part of scope.split(' ')) if (part !== '') scopes.push(part);
  return scopes;
}

function stringList(value: unknown, claim: string): readonly string[] {
  if (value === undefined) return EMPTY;
  if (!Array.isArray(value)) throw new MalformedClaim(claim);
  for (const item of value) if (typeof item !== 'string') throw new MalformedClaim(claim);
  // Already frozen when the payload came from the verifier's cache.
  return Object.isFrozen(value) ? value : Object.freeze(value);
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const member of Object.values(value)) deepFreeze(member);
  }
  return value;
}
