import type { IncomingMessage, ServerResponse } from 'node:http';
import { isPending } from '../authentication.js';
import { type Guard, prepareCheck } from '../guard.js';
import type { Principal } from '../principal.js';
import type { Requirements } from '../requirements.js';
import { respondWithError } from './respond.js';

/** A `node:http` request once the guard has let it through. */
export interface AuthenticatedRequest extends IncomingMessage {
  auth?: Principal;
}

/** A `node:http` (or Connect / Express) handler: calls `next()` when given, after setting `req.auth`. */
export type NodeAuthHandler = (
  req: AuthenticatedRequest,
  res: ServerResponse,
  next?: (err?: unknown) => void,
) => Promise<void>;

/**
 * Protects a `node:http` handler: authenticates the request, checks the requirements, sets
 * `req.auth` to the principal and calls `next()` if given. On failure it writes the error response
 * itself (status, `WWW-Authenticate` or `Retry-After`, JSON body) and does not call `next`. Works as
 * Connect or Express middleware too.
 *
 * @example
 * ```ts
 * import { requireAuth } from '@tessera/guard/node';
 * const auth = requireAuth(guard, { scopes: ['orders:read'] });
 * http.createServer(async (req, res) => {
 *   await auth(req, res, () => {
 *     res.end(JSON.stringify({ hello: req.auth.sub }));
 *   });
 * });
 * ```
 */
export function requireAuth(guard: Guard, requirements?: Requirements): NodeAuthHandler {
  const check = prepareCheck(guard, requirements);
  return async (req, res, next) => {
    let principal: Principal;
    try {
      const outcome = check(req);
      // Awaited only when the key set had to be asked: a principal in hand goes straight on.
      principal = isPending(outcome) ? await outcome : outcome;
    } catch (err) {
      respondWithError(res, err, next);
      return;
    }
    req.auth = principal;
    // Outside the try: an error thrown downstream is not an authentication failure.
    if (next) next();
  };
}
