import type { Services } from '../../services.js';
import type { Client } from '../../store/clients.js';
import type { Resource } from '../../store/resources.js';
import { clientLifetimes } from '../../tokens/client_lifetimes.js';
import { extraClaims } from '../../tokens/extra_claims.js';
import { authenticateClient } from '../client_auth.js';
import { requireProofIfBound } from '../dpop/token_request.js';
import { OAuthError } from '../errors.js';
import { grantedScope } from '../token_response.js';
import type { GrantHandler } from './grant.js';

/** Scopes about a user: a client's own token has no user, so it never carries them. */
const USER_SCOPES = new Set(['openid', 'profile', 'email', 'offline_access']);

const invalidTarget = (description: string) => new OAuthError(400, 'invalid_target', description);

/**
 * The resource the token is for: RFC 8707 `resource` (one; the token's `aud` is that resource's
 * audience alone), or `audience` naming a registered resource's audience or one of the client's own.
 * Undefined: the client's own audiences.
 */
async function targetOf(
  services: Services,
  client: Client,
  resourceParameter: unknown,
  audienceParameter: unknown,
): Promise<{ resource: Resource | undefined; audience: string | string[] }> {
  if (Array.isArray(resourceParameter) || Array.isArray(audienceParameter))
    throw invalidTarget('ask for one resource per token request');
  if (resourceParameter !== undefined && audienceParameter !== undefined)
    throw new OAuthError(400, 'invalid_request', 'give resource or audience, not both');
  if (typeof resourceParameter === 'string') {
    const resource = client.resources.includes(resourceParameter)
      ? await services.resources.byId(resourceParameter)
      : undefined;
    if (!resource) throw invalidTarget(`this client may not ask for the resource ${resourceParameter}`);
    return { resource, audience: resource.audience };
  }
  if (typeof audienceParameter === 'string') {
    for (const name of client.resources) {
      const resource = await services.resources.byId(name);
      if (resource?.audience === audienceParameter) return { resource, audience: resource.audience };
    }
    if (client.audiences.includes(audienceParameter))
      return { resource: undefined, audience: audienceParameter };
    throw invalidTarget(`this client may not ask for the audience ${audienceParameter}`);
  }
  const own = client.audiences;
  return { resource: undefined, audience: own.length === 1 ? own[0]! : own };
}

/**
 * RFC 6749 §4.4: a confidential client's own token, for calling APIs as itself. `sub` is the client
 * id; there is no session and no refresh token (§4.4.3): the client asks again when it expires.
 */
export const clientCredentialsGrant: GrantHandler = {
  grantType: 'client_credentials',
  async handle(request, reply, { services, dpop }) {
    const { body } = request;
    const client = await authenticateClient(services, request, body);
    if (client.type !== 'confidential')
      throw new OAuthError(
        400,
        'unauthorized_client',
        'only confidential clients may use client_credentials',
      );
    if (!client.grantTypes.includes('client_credentials'))
      throw new OAuthError(
        400,
        'unauthorized_client',
        'this client may not use the client_credentials grant',
      );
    requireProofIfBound(client, dpop);
    const asked = typeof body.scope === 'string' ? body.scope : undefined;
    const scopes = grantedScope(client, asked).split(' ').filter(Boolean);
    const userScopes = scopes.filter((scope) => USER_SCOPES.has(scope));
    if (asked !== undefined && userScopes.length)
      throw new OAuthError(400, 'invalid_scope', `a client's own token has no user: ${userScopes.join(' ')}`);
    const scope = scopes.filter((s) => !USER_SCOPES.has(s)).join(' ');
    const { resource, audience } = await targetOf(services, client, body.resource, body.audience);
    const context = { user: undefined, clientId: client.clientId, scopes, resource: resource?.resource };
    const access = services.accessTokens.issue({
      user: undefined,
      clientId: client.clientId,
      scope,
      audience,
      ttl: clientLifetimes(client, services.config, resource).accessTokenTtl,
      encryptTo: resource?.accessTokenFormat === 'jwe' ? resource.encryptionJwk : undefined,
      extra: await extraClaims(services.extraClaims, { ...context, target: 'access_token' }),
      // RFC 9449 §5: bound to the proof's key (cnf.jkt).
      ...(dpop ? { jkt: dpop.jkt } : {}),
    });
    reply.header('cache-control', 'no-store').header('pragma', 'no-cache');
    return {
      access_token: access.token,
      token_type: dpop ? 'DPoP' : 'Bearer',
      expires_in: access.expiresIn,
      scope,
    };
  },
};
