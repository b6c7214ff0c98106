import type { FastifyRequest } from 'fastify';
import type { Services } from '../services.js';
import type { Client } from '../store/clients.js';
import { invalidClient, OAuthError } from './errors.js';

export interface ClientCredentials {
  client_id?: unknown;
  client_secret?: unknown;
}

/**
 * Identifies the calling client (RFC 6749 §2.3): `client_secret_basic` or `client_secret_post` for
 * confidential clients, which must authenticate; `client_id` alone for public and first-party ones.
 * Using two methods at once is refused (§2.3: "MUST NOT use more than one").
 */
export async function authenticateClient(
  services: Services,
  request: FastifyRequest,
  body: ClientCredentials,
  fallbackClientId?: string,
): Promise<Client> {
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
  if (client.type === 'confidential') {
    if (secret === undefined || !services.clients.verifySecret(client, secret)) throw invalidClient();
  } else if (secret !== undefined) {
    throw invalidClient('this client has no secret');
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

/** RFC 6750 §2.1: the access token from `Authorization: Bearer …`, or undefined. */
export function bearerToken(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  if (!header) return undefined;
  const match = /^Bearer ([\w.~+/-]+=*)$/i.exec(header.trim());
  return match?.[1];
}
