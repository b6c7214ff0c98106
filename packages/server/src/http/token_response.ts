import type { FastifyReply } from 'fastify';
import type { Services } from '../services.js';
import type { Client } from '../store/clients.js';
import type { Resource } from '../store/resources.js';
import type { User } from '../store/users.js';
import { clientLifetimes } from '../tokens/client_lifetimes.js';
import { extraClaims } from '../tokens/extra_claims.js';
import type { RefreshSession } from '../tokens/refresh_tokens.js';
import { scopeClaims } from '../tokens/scope_claims.js';
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

/**
 * The `aud` of a client's access tokens: the resource's audience when one was asked (RFC 8707 §2:
 * audience-restricted to it alone), else the client's audiences. Tokens that may call this server
 * too (/userinfo, /logout) also name the issuer: the first-party web client's always, and those of
 * an OpenID Connect login (the code flow with scope `openid`) without a resource.
 */
export function accessTokenAudience(
  services: Services,
  client: Client,
  openidLogin: boolean,
  resource: Resource | undefined,
): string | string[] {
  if (resource) return resource.audience;
  const { issuer } = services.config;
  const callsIssuer = client.type === 'first-party' || openidLogin;
  const audiences =
    callsIssuer && !client.audiences.includes(issuer) ? [...client.audiences, issuer] : client.audiences;
  return audiences.length === 1 ? audiences[0]! : audiences;
}

/** The resource a session's tokens are for; a resource removed since answers invalid_target. */
export async function sessionResource(
  services: Services,
  resource: string | undefined,
): Promise<Resource | undefined> {
  if (resource === undefined) return undefined;
  const found = await services.resources.byId(resource);
  if (!found) throw new OAuthError(400, 'invalid_target', `the resource ${resource} is no longer registered`);
  return found;
}

export interface UserTokenResponse {
  user: User;
  session: Pick<RefreshSession, 'familyId' | 'clientId' | 'scope' | 'refreshToken' | 'origin'>;
  client: Client;
  includeRefreshToken: boolean;
  /** Present when the grant answers an OpenID Connect login: an ID token goes with scope `openid`. */
  openid?: { nonce: string | undefined };
  /** RFC 9449 §5: the key of the request's DPoP proof; the access token is bound to it. */
  dpopJkt?: string | undefined;
}

/** RFC 6749 §5.1 (and OIDC Core §3.1.3.3 with an ID token): the token response, never cached. */
export async function tokenResponse(reply: FastifyReply, services: Services, response: UserTokenResponse) {
  const { user, session, client } = response;
  const scopes = session.scope.split(' ').filter(Boolean);
  const openidLogin = response.openid !== undefined && scopes.includes('openid');
  const resource = await sessionResource(services, session.origin.resource);
  const context = { user, clientId: client.clientId, scopes, resource: resource?.resource };
  const access = services.accessTokens.issue({
    user,
    clientId: client.clientId,
    scope: session.scope,
    sid: session.familyId,
    audience: accessTokenAudience(services, client, openidLogin, resource),
    ttl: clientLifetimes(client, services.config, resource).accessTokenTtl,
    encryptTo: resource?.accessTokenFormat === 'jwe' ? resource.encryptionJwk : undefined,
    extra: await extraClaims(services.extraClaims, { ...context, target: 'access_token' }),
    ...(response.dpopJkt !== undefined ? { jkt: response.dpopJkt } : {}),
  });
  let idToken: string | undefined;
  if (openidLogin && session.origin.authTime !== undefined) {
    idToken = services.idTokens.issue({
      user,
      clientId: client.clientId,
      sid: session.familyId,
      authTime: session.origin.authTime,
      amr: session.origin.amr ?? ['pwd'],
      acr: session.origin.acr ?? '1',
      nonce: response.openid?.nonce,
      accessToken: access.token,
      claims: {
        ...(await extraClaims(services.extraClaims, { ...context, target: 'id_token' })),
        ...scopeClaims(user, scopes),
      },
    });
  }
  reply.header('cache-control', 'no-store').header('pragma', 'no-cache');
  return {
    access_token: access.token,
    // RFC 9449 §5: a bound access token is of type DPoP.
    token_type: response.dpopJkt !== undefined ? 'DPoP' : 'Bearer',
    expires_in: access.expiresIn,
    scope: session.scope,
    ...(response.includeRefreshToken ? { refresh_token: session.refreshToken } : {}),
    ...(idToken !== undefined ? { id_token: idToken } : {}),
  };
}
