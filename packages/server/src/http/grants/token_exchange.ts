import type { FastifyRequest } from 'fastify';
import type { Services } from '../../services.js';
import type { Client } from '../../store/clients.js';
import type { Resource } from '../../store/resources.js';
import type { User } from '../../store/users.js';
import { type AccessTokenClaims, AccessTokenRejected, type ActorClaim } from '../../tokens/access_tokens.js';
import { clientLifetimes } from '../../tokens/client_lifetimes.js';
import { extraClaims } from '../../tokens/extra_claims.js';
import { beginImpersonation, IMPERSONATION_MAX_TTL } from '../../tokens/impersonation.js';
import { authenticateClient } from '../client_auth.js';
import { requireProofIfBound } from '../dpop/token_request.js';
import { OAuthError } from '../errors.js';
import type { GrantHandler } from './grant.js';

export const TOKEN_EXCHANGE_GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
/** RFC 8693 §3: the only token type exchanged here, both ways: our own access tokens. */
export const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';
/** Impersonation asks for this role on the admin's account (store/users.ts roles). */
export const ADMIN_ROLE = 'admin';

/**
 * RFC 8693 §2.2.2: a subject or actor token that is invalid, or unacceptable by policy, MUST be
 * answered `invalid_request` (not RFC 6749's `invalid_grant`: the tokens are not the grant).
 */
const invalidRequest = (description: string) => new OAuthError(400, 'invalid_request', description);
const invalidTarget = (description: string) => new OAuthError(400, 'invalid_target', description);
const unauthorizedClient = (description: string) => new OAuthError(400, 'unauthorized_client', description);

/** What one verified token presented in the exchange says. */
interface Presented {
  claims: AccessTokenClaims;
  user: User | undefined;
}

/**
 * RFC 8693 §2.1 OAuth 2.0 Token Exchange, in three shapes, all answered with a new access token for
 * one audience and no refresh token (§2.2.1: the client exchanges again):
 *
 * - downscoping: `subject_token` (a user's access token of ours) → a token for `audience` or
 *   `resource` with at most the subject's scope and expiry;
 * - delegation (§1.1): plus `actor_token` → the same, naming the actor in `act` (§4.1), when the
 *   subject's `may_act` (§4.4), if any, names it;
 * - impersonation: `subject_token` an admin's token plus `requested_subject` (a user id, as
 *   Keycloak names the parameter) → a token for that user, with the admin in `act`, at most 15
 *   minutes, carrying the admin's session, audited (tokens/impersonation.ts).
 *
 * The issued token keeps the subject's `sub`, `sid` and `ver`, so the user's logout (or the admin's,
 * for an impersonation) and logout-everywhere revoke it wherever the original would be refused.
 */
export const tokenExchangeGrant: GrantHandler = {
  grantType: TOKEN_EXCHANGE_GRANT,
  async handle(request, reply, { services, dpop }) {
    const { body } = request;
    const client = await authenticateClient(services, request, body);
    // Policy first, before any token is looked at: a client that may not exchange learns nothing.
    if (client.type !== 'confidential')
      throw unauthorizedClient('only confidential clients may exchange tokens');
    const policy = client.tokenExchange;
    if (policy.targets.length === 0) throw unauthorizedClient('this client has no token-exchange policy');
    requireProofIfBound(client, dpop);

    const subjectToken = requiredString(body.subject_token, 'subject_token');
    if (requiredString(body.subject_token_type, 'subject_token_type') !== ACCESS_TOKEN_TYPE)
      throw invalidRequest(`subject_token_type must be ${ACCESS_TOKEN_TYPE}`);
    const actorToken = optionalString(body.actor_token, 'actor_token');
    const actorTokenType = optionalString(body.actor_token_type, 'actor_token_type');
    // §2.1: actor_token_type is REQUIRED with actor_token and MUST NOT be sent without it.
    if ((actorToken === undefined) !== (actorTokenType === undefined))
      throw invalidRequest('actor_token and actor_token_type go together');
    if (actorTokenType !== undefined && actorTokenType !== ACCESS_TOKEN_TYPE)
      throw invalidRequest(`actor_token_type must be ${ACCESS_TOKEN_TYPE}`);
    const requestedType = optionalString(body.requested_token_type, 'requested_token_type');
    if (requestedType !== undefined && requestedType !== ACCESS_TOKEN_TYPE)
      throw invalidRequest(`only ${ACCESS_TOKEN_TYPE} is issued`);
    const requestedSubject = optionalString(body.requested_subject, 'requested_subject');
    if (requestedSubject !== undefined && actorToken !== undefined)
      throw invalidRequest('impersonation (requested_subject) takes no actor_token');
    if (actorToken !== undefined && !policy.delegation)
      throw unauthorizedClient('this client may not exchange with an actor token (delegation)');
    if (requestedSubject !== undefined && !policy.impersonation)
      throw unauthorizedClient('this client may not impersonate users');

    const { resource, audience } = await exchangeTarget(services, client, body.resource, body.audience);
    const subject = await presented(services, client, subjectToken, 'subject_token');
    const nowSeconds = Math.floor(services.clock() / 1000);

    let user: User;
    let act: ActorClaim | undefined;
    let maxTtl = subject.claims.exp! - nowSeconds;
    if (requestedSubject !== undefined) {
      user = await impersonated(services, subject, requestedSubject);
      act = actorOf(subject.claims, undefined);
      maxTtl = Math.min(maxTtl, IMPERSONATION_MAX_TTL);
    } else {
      if (!subject.user) throw invalidRequest("subject_token is a client's own token: it has no user");
      user = subject.user;
      if (actorToken !== undefined) {
        const actor = await presented(services, client, actorToken, 'actor_token');
        checkMayAct(subject.claims.may_act, actor.claims);
        // §4.1: the actor's own chain, if it acts for someone, else the subject's prior actors.
        act = actorOf(actor.claims, actor.claims.act ?? subject.claims.act);
      } else {
        // Downscoping keeps who acts: a narrowed token of an impersonation still names the admin.
        act = subject.claims.act;
      }
    }

    const scope = narrowedScope(subject.claims.scope, body.scope);
    const ttl = Math.min(clientLifetimes(client, services.config, resource).accessTokenTtl, maxTtl);
    // Within the verifier's clock tolerance a subject may pass with nothing left to give.
    if (ttl < 1) throw invalidRequest('subject_token expires too soon to exchange');
    const scopes = scope.split(' ').filter(Boolean);
    const context = { user, clientId: client.clientId, scopes, resource: resource?.resource };
    const access = services.accessTokens.issue({
      user,
      clientId: client.clientId,
      scope,
      // The subject's session (the admin's, for an impersonation): its logout revokes this token.
      sid: subject.claims.sid,
      audience,
      ttl,
      encryptTo: resource?.accessTokenFormat === 'jwe' ? resource.encryptionJwk : undefined,
      extra: await extraClaims(services.extraClaims, { ...context, target: 'access_token' }),
      ...(dpop ? { jkt: dpop.jkt } : {}),
      ...(act ? { act } : {}),
    });
    if (requestedSubject !== undefined)
      await beginImpersonation(
        services,
        {
          jti: access.jti,
          adminId: subject.claims.sub,
          userId: user.id,
          clientId: client.clientId,
          sid: subject.claims.sid!,
          ver: user.tokenVersion,
          startedAt: services.clock(),
          expiresAt: access.exp * 1000,
        },
        (request as FastifyRequest).ip,
      );
    reply.header('cache-control', 'no-store').header('pragma', 'no-cache');
    return {
      access_token: access.token,
      // §2.2.1: what was issued, beside how to use it.
      issued_token_type: ACCESS_TOKEN_TYPE,
      token_type: dpop ? 'DPoP' : 'Bearer',
      expires_in: access.expiresIn,
      scope,
    };
  },
};

function requiredString(value: unknown, name: string): string {
  const text = optionalString(value, name);
  if (text === undefined) throw invalidRequest(`${name} is required`);
  return text;
}

function optionalString(value: unknown, name: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value === '') throw invalidRequest(`${name} must be given once`);
  return value;
}

/**
 * RFC 8693 §2.1 `resource` (an RFC 8707 resource's identifier) and/or `audience`: both name the one
 * audience the token is for, and the client's policy must list it (as the resource's identifier or
 * as an audience). Required: an exchange always narrows the audience to one.
 */
async function exchangeTarget(
  services: Services,
  client: Client,
  resourceParameter: unknown,
  audienceParameter: unknown,
): Promise<{ resource: Resource | undefined; audience: string }> {
  if (Array.isArray(resourceParameter) || Array.isArray(audienceParameter))
    throw invalidTarget('exchange for one audience at a time');
  const { targets } = client.tokenExchange;
  let byResource: Resource | undefined;
  if (typeof resourceParameter === 'string') {
    byResource = targets.includes(resourceParameter)
      ? await services.resources.byId(resourceParameter)
      : undefined;
    if (!byResource)
      throw invalidTarget(`this client may not exchange for the resource ${resourceParameter}`);
  }
  if (typeof audienceParameter !== 'string') {
    if (!byResource) throw invalidRequest('name the audience or resource the token is for');
    return { resource: byResource, audience: byResource.audience };
  }
  if (byResource) {
    if (byResource.audience !== audienceParameter)
      throw invalidTarget('resource and audience name different targets');
    return { resource: byResource, audience: byResource.audience };
  }
  // An audience is allowed when listed itself, or as the audience of a listed resource (whose
  // lifetime and format then apply).
  for (const target of targets) {
    const resource = await services.resources.byId(target);
    if (resource?.audience === audienceParameter) return { resource, audience: resource.audience };
  }
  if (targets.includes(audienceParameter)) return { resource: undefined, audience: audienceParameter };
  throw invalidTarget(`this client may not exchange for the audience ${audienceParameter}`);
}

/**
 * A token presented as subject or actor: one of ours, passing the server's own verification (keys,
 * expiry, revocations, the user's current version and status), and presented by the party it was
 * issued to (`client_id`) or for (its `aud` names one of the client's audiences, as a gateway's
 * users' tokens name the gateway). A token that leaked to any other client is of no use to it.
 */
async function presented(
  services: Services,
  client: Client,
  token: string,
  name: 'subject_token' | 'actor_token',
): Promise<Presented> {
  let result: Presented;
  try {
    result = await services.accessTokens.verify(token);
  } catch (err) {
    if (err instanceof AccessTokenRejected) throw invalidRequest(`${name} is invalid, expired or revoked`);
    throw err;
  }
  const { claims } = result;
  const audiences = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
  const forClient =
    claims.client_id === client.clientId || audiences.some((aud) => client.audiences.includes(aud!));
  if (!forClient) throw invalidRequest(`${name} was issued neither to nor for this client`);
  return result;
}

/** §4.1: the actor's identity (`sub`, and the client it acted through), with its prior chain. */
function actorOf(claims: AccessTokenClaims, prior: ActorClaim | undefined): ActorClaim {
  return { sub: claims.sub, client_id: claims.client_id, ...(prior ? { act: prior } : {}) };
}

/**
 * §4.4 `may_act`: when the subject token names who may act for it, the actor must be that party
 * (its `sub`, and its `client_id` when named). Absent: the client's delegation policy decides.
 */
function checkMayAct(mayAct: unknown, actor: AccessTokenClaims): void {
  if (mayAct === undefined) return;
  if (typeof mayAct !== 'object' || mayAct === null || typeof (mayAct as { sub?: unknown }).sub !== 'string')
    throw invalidRequest('the subject_token has a may_act claim without a sub');
  const { sub, client_id: clientId } = mayAct as { sub: string; client_id?: unknown };
  if (sub !== actor.sub || (clientId !== undefined && clientId !== actor.client_id))
    throw invalidRequest("the actor is not the party the subject_token's may_act allows");
}

/** The user an admin asked to become: known, enabled, someone else; the admin an admin now. */
async function impersonated(services: Services, admin: Presented, userId: string): Promise<User> {
  if (!admin.user?.roles.includes(ADMIN_ROLE))
    throw invalidRequest(`only a user with the ${ADMIN_ROLE} role may impersonate`);
  // An impersonation's token is not a way to start another (the chain would hide who began it).
  if (admin.claims.act !== undefined) throw invalidRequest('the subject_token already has an actor');
  if (admin.claims.sid === undefined) throw invalidRequest('the subject_token has no session');
  if (userId === admin.user.id) throw invalidRequest('an admin does not impersonate themselves');
  const user = await services.users.byId(userId);
  if (!user || user.disabled) throw invalidRequest('requested_subject is not an active user');
  return user;
}

/** §2.1 `scope`: at most the subject token's scope (RFC 6749 §3.3); absent, all of it. */
function narrowedScope(granted: string, requested: unknown): string {
  if (requested === undefined || (typeof requested === 'string' && requested.trim() === '')) return granted;
  if (typeof requested !== 'string') throw invalidRequest('scope must be given once');
  const held = new Set(granted.split(' ').filter(Boolean));
  const asked = [...new Set(requested.trim().split(/ +/))];
  const extra = asked.filter((scope) => !held.has(scope));
  if (extra.length)
    throw new OAuthError(400, 'invalid_scope', `scope beyond the subject_token's: ${extra.join(' ')}`);
  return asked.join(' ');
}
