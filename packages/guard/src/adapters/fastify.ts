import type { FastifyPluginCallback, preHandlerAsyncHookHandler } from 'fastify';
import { GuardError } from '../errors.js';
import type { Guard } from '../guard.js';
import type { Principal } from '../principal.js';
import type { Requirements } from '../requirements.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The principal, set by the `requireAuth` preHandler; `null` on routes it does not guard. */
    auth: Principal | null;
  }
}

export interface TesseraGuardPluginOptions {
  guard: Guard;
}

const plugin: FastifyPluginCallback<TesseraGuardPluginOptions> = (fastify, options, done) => {
  if (typeof options?.guard?.authenticate !== 'function') {
    done(new TypeError('register tesseraGuard with { guard: createGuard(...) }'));
    return;
  }
  // null, not an object: Fastify 5 refuses reference types as request decorations (shared state).
  fastify.decorateRequest('auth', null);
  done();
};

/**
 * The Fastify plugin: decorates `request.auth` (null until `requireAuth` sets it). Not
 * encapsulated (it marks itself `skip-override` and names itself, as fastify-plugin would, without
 * depending on it), so the decoration is visible to every route of the instance it is registered on.
 *
 * @example
 * ```ts
 * import { requireAuth, tesseraGuard } from '@tessera/guard/fastify';
 * await app.register(tesseraGuard, { guard });
 * app.get('/orders', { preHandler: requireAuth(guard, { scopes: ['orders:read'] }) }, async (request) => ({
 *   user: request.auth?.sub,
 * }));
 * ```
 */
export const tesseraGuard: FastifyPluginCallback<TesseraGuardPluginOptions> = Object.assign(plugin, {
  [Symbol.for('skip-override')]: true,
  [Symbol.for('fastify.display-name')]: '@tessera/guard',
  // Name and supported Fastify versions, as fastify-plugin records them (checked at register()).
  [Symbol.for('plugin-meta')]: { name: '@tessera/guard', fastify: '5.x' },
});

/**
 * A preHandler that authenticates the request, checks the requirements and sets `request.auth`; on
 * failure it sends the error response itself (status, `WWW-Authenticate` or `Retry-After`, JSON).
 */
export function requireAuth(guard: Guard, requirements?: Requirements): preHandlerAsyncHookHandler {
  const check = guard.require(requirements);
  return async function tesseraRequireAuth(request, reply) {
    let principal: Principal;
    try {
      // The raw request: its rawHeaders reveal a repeated Authorization header.
      principal = await check(request.raw);
    } catch (err) {
      if (!(err instanceof GuardError)) throw err;
      return reply
        .code(err.status)
        .headers(err.headers)
        .type('application/json; charset=utf-8')
        .send(JSON.stringify(err));
    }
    request.auth = principal;
  };
}
