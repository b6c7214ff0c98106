import type { FastifyPluginAsync } from 'fastify';
import { createUnknownUserCheck } from '../../passwords.js';
import type { Services } from '../../services.js';
import { MAX_PASSWORD_LENGTH } from '../../store/users.js';
import { clientLifetimes } from '../../tokens/client_lifetimes.js';
import { AccountChanged } from '../../tokens/refresh_tokens.js';
import { authenticateClient } from '../client_auth.js';
import { refreshBindingKey, requireProofIfBound, tokenRequestProof } from '../dpop/token_request.js';
import { OAuthError } from '../errors.js';
import type { LoginThrottle } from '../login_throttle.js';
import type { Metrics } from '../metrics.js';
import { checkPasswordLogin, INVALID_CREDENTIALS } from '../password_login.js';
import { tokenResponse as tokenResponseSchema } from '../response_schemas.js';
import { assertNotCrossOrigin, setRefreshCookie } from '../session_cookie.js';
import { CLIENT_ID_SCHEMA } from '../token_request.js';
import { grantedScope, tokenResponse } from '../token_response.js';

interface LoginBody {
  username: string;
  password: string;
  client_id?: string;
  scope?: string;
}

/** `POST /login`: first-party password login (DESIGN.md story step 1). */
export const loginRoutes: FastifyPluginAsync<{
  services: Services;
  throttle: LoginThrottle;
  metrics: Metrics;
}> = async (app, { services, throttle, metrics }) => {
  // Ready before the first request (the app is built before it listens).
  const verifyUnknownUser = await createUnknownUserCheck();
  app.post<{ Body: LoginBody }>(
    '/login',
    {
      schema: {
        body: {
          type: 'object',
          required: ['username', 'password'],
          additionalProperties: false,
          properties: {
            // No control characters: they are never part of a username (and PostgreSQL refuses NUL).
            username: {
              type: 'string',
              minLength: 1,
              maxLength: 64,
              pattern: '^[^\\u0000-\\u001f\\u007f]+$',
            },
            password: { type: 'string', minLength: 1, maxLength: MAX_PASSWORD_LENGTH },
            client_id: CLIENT_ID_SCHEMA,
            scope: { type: 'string', maxLength: 1024 },
          },
        },
        // The same answer as the token endpoint (RFC 6749 §5.1), or an OAuth error.
        response: tokenResponseSchema,
      },
    },
    async (request, reply) => {
      const { username, password } = request.body;
      // RFC 9449 §5: the proof before the password, so a nonce retry never costs a login attempt.
      const dpop = await tokenRequestProof(services, request, reply, '/login');
      const client = await authenticateClient(services, request, request.body, 'web');
      if (client.type === 'confidential') {
        throw new OAuthError(
          400,
          'unauthorized_client',
          'confidential clients do not log users in with passwords',
        );
      }
      if (client.type === 'first-party') assertNotCrossOrigin(request, services.config);
      requireProofIfBound(client, dpop);
      // Everything that does not depend on the password is settled first, so no answer can confirm a
      // password without a session being made (and audited).
      const scope = grantedScope(client, request.body.scope);
      const user = await checkPasswordLogin(services, throttle, metrics, verifyUnknownUser, {
        username,
        password,
        clientId: client.clientId,
        ip: request.ip,
      });
      let session: Awaited<ReturnType<typeof services.refreshTokens.start>>;
      try {
        session = await services.refreshTokens.start(user.id, client.clientId, scope, user.tokenVersion, {
          ttl: clientLifetimes(client, services.config).refreshTokenTtl,
          dpopJkt: refreshBindingKey(client, dpop),
        });
      } catch (err) {
        // The password was changed (or every session ended) while this one was being checked.
        if (err instanceof AccountChanged) throw new OAuthError(400, 'invalid_grant', INVALID_CREDENTIALS);
        throw err;
      }
      metrics.login('succeeded');
      await services.audit.record({
        type: 'login_succeeded',
        userId: user.id,
        clientId: client.clientId,
        ip: request.ip,
        detail: { sid: session.familyId },
      });
      // The web client's refresh token travels only in its HttpOnly cookie, never in the body.
      const inCookie = client.type === 'first-party';
      if (inCookie) setRefreshCookie(reply, session.refreshToken, services.config.refreshAbsoluteTtl);
      return tokenResponse(reply, services, {
        user,
        session,
        client,
        includeRefreshToken: !inCookie,
        dpopJkt: dpop?.jkt,
      });
    },
  );
};
