import type { MiddlewareHandler } from 'hono';
import { isPending } from '../authentication.js';
import { GuardError } from '../errors.js';
import { type Guard, prepareCheck } from '../guard.js';
import type { Principal } from '../principal.js';
import type { Requirements } from '../requirements.js';

/** The context variables `requireAuth` sets: `c.get('auth')`. */
export interface GuardVariables {
  auth: Principal;
}

/** A Hono environment with the guard's variables, for `new Hono<GuardEnv>()`. */
export interface GuardEnv {
  Variables: GuardVariables;
}

/**
 * Hono middleware: authenticates the request, checks the requirements, `c.set('auth', principal)`
 * and continues; on failure it answers with the error (status, `WWW-Authenticate` or `Retry-After`,
 * JSON body). Hono is not imported at run time.
 *
 * @example
 * ```ts
 * import { requireAuth, type GuardEnv } from '@tessera/guard/hono';
 * const app = new Hono<GuardEnv>();
 * app.get('/orders', requireAuth(guard, { scopes: ['orders:read'] }), (c) => c.json({ user: c.get('auth').sub }));
 * ```
 */
export function requireAuth(guard: Guard, requirements?: Requirements): MiddlewareHandler<GuardEnv> {
  const check = prepareCheck(guard, requirements);
  return async (c, next) => {
    let principal: Principal;
    try {
      const outcome = check(c.req.raw);
      principal = isPending(outcome) ? await outcome : outcome;
    } catch (err) {
      if (!(err instanceof GuardError)) throw err;
      const headers: Record<string, string> = { 'content-type': 'application/json; charset=utf-8' };
      Object.assign(headers, err.headers);
      return c.body(JSON.stringify(err), err.status, headers);
    }
    c.set('auth', principal);
    await next();
    return undefined;
  };
}
