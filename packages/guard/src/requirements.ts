import type { GuardErrors } from './errors.js';
import type { Principal } from './principal.js';

/** What a route requires. Every value listed must be present on the principal. */
export interface Requirements {
  /** Scope tokens the access token must grant (its `scope` claim). */
  scopes?: readonly string[];
  /** Roles the `roles` claim must contain. */
  roles?: readonly string[];
  /** Permissions the `permissions` claim must contain. */
  permissions?: readonly string[];
  /**
   * Whether the token may name an actor (RFC 8693 §4.1 `act`: a delegated or impersonation token
   * from token exchange). `'forbidden'`: only the subject's own tokens (an account-settings route
   * an admin acting as the user must not reach); `'required'`: only delegated ones (an internal API
   * that only a gateway acting for users calls). Default: either.
   */
  actor?: 'forbidden' | 'required';
}

/** Checks a principal against compiled requirements; throws a 403 `GuardError` when one is missing. */
export type Authorizer = (principal: Principal) => void;

/** RFC 6749 §3.3: `scope-token = 1*( %x21 / %x23-5B / %x5D-7E )`. */
const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]+$/;

const allowEveryone: Authorizer = () => {};

/**
 * Compiles requirements once: the values are validated here (a scope that could not appear in a
 * token, or in the `scope` parameter of a challenge, is a `TypeError`), and the returned function
 * only looks values up.
 */
export function compileRequirements(requirements: Requirements, errors: GuardErrors): Authorizer {
  if (typeof requirements !== 'object' || requirements === null)
    throw new TypeError('requirements must be an object: { scopes?, roles?, permissions?, actor? }');
  const { actor } = requirements;
  if (actor !== undefined && actor !== 'forbidden' && actor !== 'required')
    throw new TypeError(`requirements.actor is 'forbidden' or 'required', got ${JSON.stringify(actor)}`);
  const scopes = listOf(requirements.scopes, 'scopes');
  const roles = listOf(requirements.roles, 'roles');
  const permissions = listOf(requirements.permissions, 'permissions');
  for (const scope of scopes) {
    if (!SCOPE_TOKEN.test(scope))
      throw new TypeError(`scope ${JSON.stringify(scope)} is not a valid scope token (RFC 6749 §3.3)`);
  }
  if (scopes.length + roles.length + permissions.length === 0 && actor === undefined) return allowEveryone;
  // RFC 6750 §3: the `scope` attribute of the challenge lists the scopes needed.
  const scopeParameter = scopes.join(' ');

  return (principal) => {
    if (actor !== undefined && (principal.actor !== undefined) !== (actor === 'required'))
      throw errors.insufficientActor(
        actor === 'required',
        actor === 'required' ? 'no actor' : `actor ${principal.actor!.sub}`,
      );
    for (let i = 0; i < scopes.length; i++) {
      if (!principal.scopes.includes(scopes[i]!))
        throw errors.insufficientScope(scopeParameter, `missing scope ${scopes[i]}`);
    }
    for (let i = 0; i < roles.length; i++) {
      if (!principal.roles.includes(roles[i]!)) throw errors.insufficientRole(`missing role ${roles[i]}`);
    }
    for (let i = 0; i < permissions.length; i++) {
      if (!principal.permissions.includes(permissions[i]!))
        throw errors.insufficientPermission(`missing permission ${permissions[i]}`);
    }
  };
}

function listOf(value: readonly string[] | undefined, name: string): readonly string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || !value.every((item) => typeof item === 'string' && item.length > 0))
    throw new TypeError(`requirements.${name} must be an array of non-empty strings`);
  return Object.freeze([...value]);
}
