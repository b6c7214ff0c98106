import type { RequestHandler } from 'express';
import type { Guard } from '../guard.js';
import type { Principal } from '../principal.js';
import type { Requirements } from '../requirements.js';
import { requireAuth as requireNodeAuth } from './node.js';

declare global {
  // Express's own extension point: its `Request` extends `Express.Request`.
  namespace Express {
    interface Request {
      /** The principal, set by `requireAuth` before the route runs. */
      auth?: Principal;
    }
  }
}

/**
 * Express middleware: authenticates the request, checks the requirements, sets `req.auth` and calls
 * `next()`; on failure it answers itself (400, 401, 403 or 503 with `WWW-Authenticate` or
 * `Retry-After` and a JSON body). Express is not imported at run time.
 *
 * @example
 * ```ts
 * import { requireAuth } from '@tessera/guard/express';
 * app.get('/orders', requireAuth(guard, { scopes: ['orders:read'] }), (req, res) => {
 *   res.json({ user: req.auth?.sub });
 * });
 * ```
 */
export function requireAuth(guard: Guard, requirements?: Requirements): RequestHandler {
  return requireNodeAuth(guard, requirements) as unknown as RequestHandler;
}
