import type { FastifyReply } from 'fastify';
import type { Services } from '../services.js';
import type { Client } from '../store/clients.js';
import type { User } from '../store/users.js';
import type { RefreshSession } from '../tokens/refresh_tokens.js';
import { OAuthError } from './errors.js';

/** RFC 6749 §3.3: the requested scope must be a subset of what the client may ask for. */
export function grantedScope(client: Client, requested: string | undefined): string {
  if (requested === undefined || requested.trim() === '') return client.scopes.join(' ');
  const scopes = [...new Set(requested.trim().split(/ +/))];
  const unknown = scopes.filter((scope) => !client.scopes.includes(scope));
  if (unknown.length)
    throw new OAuthError(400, 'invalid_scope', `scope not allowed for this client: ${unknown.join(' ')}`);
  return scopes.join(' ');
}

/** RFC 6749 §5.1: the token response, never cached. */
export function tokenResponse(
  reply: FastifyReply,
  services: Services,
  user: User,
  session: Pick<RefreshSession, 'familyId' | 'clientId' | 'scope' | 'refreshToken'>,
  client: Client,
  includeRefreshToken: boolean,
) {
  // The first-party web client also calls this server (/userinfo, /logout), which accepts only
  // tokens naming it as an audience: its tokens always do.
  const audiences =
    client.type === 'first-party' && !client.audiences.includes(services.config.issuer)
      ? [...client.audiences, services.config.issuer]
      : client.audiences;
  const audience = audiences.length === 1 ? audiences[0]! : audiences;
  const access = services.accessTokens.issue(user, session, audience);
  reply.header('cache-control', 'no-store').header('pragma', 'no-cache');
  return {
    access_token: access.token,
    token_type: 'Bearer',
    expires_in: access.expiresIn,
    scope: session.scope,
    ...(includeRefreshToken ? { refresh_token: session.refreshToken } : {}),
  };
}
