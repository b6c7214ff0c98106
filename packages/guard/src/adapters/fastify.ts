import type { FastifyPluginCallback, FastifyReply, preHandlerHookHandler } from 'fastify';
import { isPending } from '../authentication.js';
import { GuardError } from '../errors.js';
import { type Guard, prepareCheck } from '../guard.js';
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
 * Callback-style on purpose: when the key is in memory the check is synchronous and Fastify goes on
 * to the handler at once, without a promise per request.
 */
export function requireAuth(guard: Guard, requirements?: Requirements): preHandlerHookHandler {
  const check = prepareCheck(guard, requirements);
  return function tesseraRequireAuth(request, reply, done) {
    let outcome: Principal | PromiseLike<Principal>;
    try {
      // The raw request: its rawHeaders reveal a repeated Authorization header.
      outcome = check(request.raw);
    } catch (err) {
      refuse(reply, err, done);
      return;
    }
    if (isPending(outcome)) {
      outcome.then(
        (principal) => {
          request.auth = principal;
          done();
        },
        (err: unknown) => refuse(reply, err, done),
      );
      return;
    }
    request.auth = outcome;
    done();
  };
}

/** Sends a GuardError as the response (the hook then ends without `done`); anything else is Fastify's to handle. */
function refuse(reply: FastifyReply, err: unknown, done: (err?: Error) => void): void {
  if (!(err instanceof GuardError)) {
    // Never done() without an error here: that would run the route unauthenticated.
    done(err instanceof Error ? err : new Error(`the guard's check failed: ${String(err)}`));
    return;
  }
  reply
    .code(err.status)
    .headers(err.headers)
    .type('application/json; charset=utf-8')
    .send(JSON.stringify(err));
}
