// An upstream service behind the gateway: a guarded Fastify app that takes tokens for its own
// audience only, and (for the walkthrough and the test) says what it received.
import { createGuard } from '@tessera/guard';
import { requireAuth, tesseraGuard } from '@tessera/guard/fastify';
import Fastify from 'fastify';

/**
 * @param {object} options
 * @param {string} options.name the service's name, in its answers
 * @param {string} options.issuer the Tessera server
 * @param {string} options.audience this service's identifier: tokens must name it in `aud`
 * @param {{ id: string, secret: string }} options.client its confidential client (the revocation stream)
 * @param {'required' | 'forbidden'} [options.actor] take only delegated tokens (from the gateway), or
 *   never; default either
 * @param {boolean | object} [options.logger]
 */
export async function buildUpstream({ name, issuer, audience, client, actor, logger = { level: 'info' } }) {
  const app = Fastify({ logger });
  const guard = createGuard({ issuer, audience, client, logger: app.log });
  app.addHook('onClose', () => guard.close());
  await app.register(tesseraGuard, { guard });

  // What this service knows of the caller: the user (`sub`), who acts for them (`act`, the gateway),
  // and the token's audience and scope. Never the token itself.
  app.get('/whoami', { preHandler: requireAuth(guard, actor ? { actor } : {}) }, async (request) => ({
    service: name,
    sub: request.auth.sub,
    actor: request.auth.actor ?? null,
    aud: request.auth.claims.aud,
    scopes: request.auth.scopes,
    clientId: request.auth.clientId,
    // Which token it was (not the token): the same jti twice means the gateway reused its exchange.
    jti: request.auth.claims.jti,
  }));

  // A request with a body, to show the gateway forwards it as it came.
  app.post('/notes', { preHandler: requireAuth(guard, actor ? { actor } : {}) }, async (request, reply) =>
    reply.code(201).send({ service: name, sub: request.auth.sub, note: request.body }),
  );

  app.get('/healthz', async () => ({ status: 'ok' }));
  return { app, guard };
}
