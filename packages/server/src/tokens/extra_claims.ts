import type { User } from '../store/users.js';

/** Where the claims go. */
export type ClaimsTarget = 'access_token' | 'id_token' | 'userinfo';

export interface ExtraClaimsContext {
  target: ClaimsTarget;
  /** The user, or undefined for a client's own token (client_credentials). */
  user: User | undefined;
  clientId: string;
  /** The scopes granted. */
  scopes: readonly string[];
  /** The RFC 8707 resource the access token is for, if one was asked. */
  resource: string | undefined;
}

/**
 * A deployment's own claims (a tenant, a department) for access tokens, ID tokens and userinfo. Runs
 * on every issue: keep it fast (read from a cache, not a remote call, where you can).
 */
export type ExtraClaimsHook = (
  context: ExtraClaimsContext,
) => Record<string, unknown> | undefined | Promise<Record<string, unknown> | undefined>;

/**
 * Names the server itself sets or that the standards define (RFC 7519 §4.1, RFC 9068 §2.2, RFC 8693
 * §4, RFC 7800, OIDC Core §2, §5.1): an extra claim may never take one. Every other name is the
 * deployment's; names shared beyond it should be collision-resistant (RFC 7519 §4.2), e.g. a URI like
 * `https://acme.example/tenant`.
 */
export const RESERVED_CLAIMS: ReadonlySet<string> = new Set([
  'iss',
  'sub',
  'aud',
  'exp',
  'nbf',
  'iat',
  'jti',
  'client_id',
  'scope',
  'sid',
  'ver',
  'roles',
  'permissions',
  'cnf',
  'act',
  'may_act',
  'azp',
  'nonce',
  'auth_time',
  'acr',
  'amr',
  'at_hash',
  'c_hash',
  's_hash',
  'name',
  'given_name',
  'family_name',
  'middle_name',
  'nickname',
  'preferred_username',
  'profile',
  'picture',
  'website',
  'email',
  'email_verified',
  'gender',
  'birthdate',
  'zoneinfo',
  'locale',
  'phone_number',
  'phone_number_verified',
  'address',
  'updated_at',
  'events',
  'typ',
  'groups',
  'entitlements',
]);

/** The hook broke a rule: a server error (the deployment's bug), never a token with the wrong claims. */
export class ExtraClaimsError extends Error {
  constructor(message: string) {
    super(`extraClaims: ${message}`);
    this.name = 'ExtraClaimsError';
  }
}

/** Runs the hook and checks what it returned: only unreserved names, only JSON values. */
export async function extraClaims(
  hook: ExtraClaimsHook | undefined,
  context: ExtraClaimsContext,
): Promise<Record<string, unknown>> {
  if (!hook) return {};
  const claims = await hook(context);
  if (claims === undefined) return {};
  if (typeof claims !== 'object' || claims === null || Array.isArray(claims))
    throw new ExtraClaimsError('must return an object of claims (or undefined)');
  for (const [name, value] of Object.entries(claims)) {
    if (name === 'may_act' && context.target === 'access_token') {
      checkMayAct(value);
      continue;
    }
    if (RESERVED_CLAIMS.has(name))
      throw new ExtraClaimsError(`"${name}" is a reserved claim; use your own name, e.g. a URI`);
    if (name.length === 0 || name.length > 256)
      throw new ExtraClaimsError('a claim name is 1–256 characters');
    if (value === undefined || typeof value === 'function' || typeof value === 'bigint')
      throw new ExtraClaimsError(`"${name}" must be a JSON value`);
  }
  return claims;
}

/**
 * RFC 8693 §4.4 `may_act` is the one reserved name the hook may set, in access tokens only: who may
 * act for the subject is the deployment's decision, and token exchange enforces it
 * (http/grants/token_exchange.ts). Its shape: `{ sub, client_id? }`, strings.
 */
function checkMayAct(value: unknown): void {
  const shaped =
    typeof value === 'object' &&
    value !== null &&
    !Array.isArray(value) &&
    typeof (value as { sub?: unknown }).sub === 'string' &&
    Object.entries(value).every(
      ([key, member]) => (key === 'sub' || key === 'client_id') && typeof member === 'string',
    );
  if (!shaped) throw new ExtraClaimsError('"may_act" is { sub, client_id? } (RFC 8693 §4.4), strings');
}
