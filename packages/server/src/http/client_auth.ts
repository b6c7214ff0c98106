import { decodeJwtUnverified } from '@tessera/jose';
import type { FastifyRequest } from 'fastify';
import type { Services } from '../services.js';
import { ReplayCacheUnavailable } from '../shared/replay_cache.js';
import type { Client } from '../store/clients.js';
import { InvalidClientAssertion, JWT_BEARER_CLIENT_ASSERTION_TYPE } from './client_assertion.js';
import { invalidClient, OAuthError } from './errors.js';

export interface ClientCredentials {
  client_id?: unknown;
  client_secret?: unknown;
  client_assertion?: unknown;
  client_assertion_type?: unknown;
}

/**
 * Identifies the calling client (RFC 6749 §2.3): `client_secret_basic` or `client_secret_post` for
 * clients with a secret, `private_key_jwt` (RFC 7523 §2.2, OIDC Core §9) for clients with keys, which
 * must authenticate; `client_id` alone for public and first-party ones. Using two methods at once is
 * refused (§2.3: "MUST NOT use more than one").
 */
export async function authenticateClient(
  services: Services,
  request: FastifyRequest,
  body: ClientCredentials,
  fallbackClientId?: string,
): Promise<Client> {
  if (body.client_assertion !== undefined || body.client_assertion_type !== undefined)
    return authenticateByAssertion(services, request, body);
  const basic = parseBasic(request.headers.authorization);
  if (basic && (body.client_id !== undefined || body.client_secret !== undefined)) {
    if (body.client_id !== basic.id || body.client_secret !== undefined) {
      throw new OAuthError(400, 'invalid_request', 'use one client authentication method');
    }
  }
  const clientId = basic?.id ?? (typeof body.client_id === 'string' ? body.client_id : fallbackClientId);
  const secret = basic?.secret ?? (typeof body.client_secret === 'string' ? body.client_secret : undefined);
  if (clientId === undefined) throw new OAuthError(400, 'invalid_request', 'client_id is required');
  const client = await services.clients.byId(clientId);
  if (!client) throw invalidClient('unknown client');
  if (client.tokenEndpointAuthMethod === 'private_key_jwt')
    throw invalidClient('this client authenticates with private_key_jwt (client_assertion)');
  if (client.type === 'confidential') {
    if (secret === undefined || !services.clients.verifySecret(client, secret)) throw invalidClient();
  } else if (secret !== undefined) {
    throw invalidClient('this client has no secret');
  }
  return client;
}

/**
 * RFC 7521 §4.2: the assertion names the client (`sub`); `client_id`, if sent too, must agree. Its
 * claims are read unverified only to find the client whose keys then verify it.
 */
async function authenticateByAssertion(
  services: Services,
  request: FastifyRequest,
  body: ClientCredentials,
): Promise<Client> {
  if (body.client_assertion_type !== JWT_BEARER_CLIENT_ASSERTION_TYPE)
    throw new OAuthError(
      400,
      'invalid_request',
      `client_assertion_type must be ${JWT_BEARER_CLIENT_ASSERTION_TYPE}`,
    );
  if (typeof body.client_assertion !== 'string' || body.client_assertion === '')
    throw new OAuthError(400, 'invalid_request', 'client_assertion is required');
  if (request.headers.authorization?.toLowerCase().startsWith('basic ') || body.client_secret !== undefined)
    throw new OAuthError(400, 'invalid_request', 'use one client authentication method');
  let subject: unknown;
  try {
    subject = decodeJwtUnverified(body.client_assertion).sub;
  } catch {
    throw invalidClient('client_assertion is not a well-formed signed JWT');
  }
  if (typeof subject !== 'string' || !/^[\w.~-]{1,128}$/.test(subject))
    throw invalidClient('client_assertion must name the client in "sub"');
  if (body.client_id !== undefined && body.client_id !== subject)
    throw invalidClient('client_id and the assertion name different clients');
  const client = await services.clients.byId(subject);
  if (!client) throw invalidClient('unknown client');
  if (client.tokenEndpointAuthMethod !== 'private_key_jwt')
    throw invalidClient(`this client authenticates with ${client.tokenEndpointAuthMethod}`);
  try {
    await services.clientAssertions.verify(body.client_assertion, client);
  } catch (err) {
    if (err instanceof InvalidClientAssertion) throw invalidClient(err.reason);
    if (err instanceof ReplayCacheUnavailable)
      throw new OAuthError(503, 'temporarily_unavailable', 'try again shortly', { 'retry-after': '1' });
    throw err;
  }
  return client;
}

function parseBasic(header: string | undefined): { id: string; secret: string } | undefined {
  if (!header?.toLowerCase().startsWith('basic ')) return undefined;
  const decoded = Buffer.from(header.slice(6).trim(), 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) throw invalidClient('malformed Basic credentials');
  // RFC 6749 §2.3.1: both parts are form-urlencoded before base64.
  let id: string;
  let secret: string;
  try {
    id = decodeURIComponent(decoded.slice(0, colon));
    secret = decodeURIComponent(decoded.slice(colon + 1));
  } catch {
    throw invalidClient('malformed Basic credentials');
  }
  // The same client_id rule as the request schemas (and no control characters ever reach the store).
  if (!/^[\w.~-]{1,128}$/.test(id) || secret.length > 512) throw invalidClient('malformed Basic credentials');
  return { id, secret };
}
