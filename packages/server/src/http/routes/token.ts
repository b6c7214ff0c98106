import type { FastifyPluginAsync } from 'fastify';
import type { Services } from '../../services.js';
import { tokenRequestProof } from '../dpop/token_request.js';
import { OAuthError } from '../errors.js';
import { authorizationCodeGrant } from '../grants/authorization_code.js';
import { clientCredentialsGrant } from '../grants/client_credentials.js';
import type { GrantHandler, TokenRequestBody } from '../grants/grant.js';
import { refreshTokenGrant } from '../grants/refresh_token.js';
import { TOKEN_EXCHANGE_GRANT, tokenExchangeGrant } from '../grants/token_exchange.js';
import type { Metrics } from '../metrics.js';
import { tokenResponse } from '../response_schemas.js';
import { CLIENT_ID_SCHEMA } from '../token_request.js';

const GRANTS: ReadonlyMap<string, GrantHandler> = new Map(
  [authorizationCodeGrant, refreshTokenGrant, clientCredentialsGrant, tokenExchangeGrant].map((grant) => [
    grant.grantType,
    grant,
  ]),
);
export const SUPPORTED_GRANT_TYPES = [...GRANTS.keys()];

const bodySchema = {
  type: 'object',
  properties: {
    grant_type: { type: 'string', maxLength: 128 },
    refresh_token: { type: 'string', maxLength: 512 },
    client_id: CLIENT_ID_SCHEMA,
    client_secret: { type: 'string', maxLength: 512 },
    scope: { type: 'string', maxLength: 1024 },
    code: { type: 'string', maxLength: 256 },
    redirect_uri: { type: 'string', maxLength: 2048 },
    code_verifier: { type: 'string', maxLength: 256 },
    client_assertion: { type: 'string', maxLength: 8192 },
    client_assertion_type: { type: 'string', maxLength: 256 },
    // RFC 8707 §2 allows several; the grants say how many they take (arrays come from repeats).
    resource: {
      anyOf: [
        { type: 'string', maxLength: 512 },
        { type: 'array', maxItems: 8, items: { type: 'string', maxLength: 512 } },
      ],
    },
    audience: {
      anyOf: [
        { type: 'string', maxLength: 512 },
        { type: 'array', maxItems: 8, items: { type: 'string', maxLength: 512 } },
      ],
    },
    // RFC 8693 §2.1 (an encrypted access token is a few KB).
    subject_token: { type: 'string', maxLength: 16384 },
    subject_token_type: { type: 'string', maxLength: 256 },
    actor_token: { type: 'string', maxLength: 16384 },
    actor_token_type: { type: 'string', maxLength: 256 },
    requested_token_type: { type: 'string', maxLength: 256 },
    // Impersonation (grants/token_exchange.ts): the user id an admin asks to act as.
    requested_subject: { type: 'string', maxLength: 128 },
  },
} as const;

/**
 * `POST /token` (RFC 6749 §3.2), `POST /token/refresh` (the refresh grant under its common name) and
 * `POST /token/exchange` (RFC 8693 token exchange under its name).
 */
export const tokenRoutes: FastifyPluginAsync<{ services: Services; metrics: Metrics }> = async (
  app,
  context,
) => {
  const handle =
    (path: string, defaultGrant?: string) =>
    async (request: Parameters<GrantHandler['handle']>[0], reply: Parameters<GrantHandler['handle']>[1]) => {
      // RFC 9449 §5: the proof first, before any grant changes anything (dpop/token_request.ts).
      const dpop = await tokenRequestProof(context.services, request, reply, path);
      const body = (request.body ?? {}) as TokenRequestBody;
      const grantType = body.grant_type ?? defaultGrant;
      if (grantType === undefined) throw new OAuthError(400, 'invalid_request', 'grant_type is required');
      const grant = GRANTS.get(grantType);
      if (!grant || (defaultGrant !== undefined && grantType !== defaultGrant)) {
        throw new OAuthError(
          400,
          'unsupported_grant_type',
          `unsupported grant_type ${JSON.stringify(grantType)}`,
        );
      }
      return grant.handle(Object.assign(request, { body }), reply, { ...context, dpop });
    };
  // A body-less POST (the web client refreshing with its cookie) validates as an empty body.
  const options = {
    schema: { body: bodySchema, response: tokenResponse },
    preValidation: async (request: { body: unknown }) => {
      request.body ??= {};
    },
  };
  app.post<{ Body: TokenRequestBody }>('/token', options, handle('/token'));
  app.post<{ Body: TokenRequestBody }>('/token/refresh', options, handle('/token/refresh', 'refresh_token'));
  app.post<{ Body: TokenRequestBody }>(
    '/token/exchange',
    options,
    handle('/token/exchange', TOKEN_EXCHANGE_GRANT),
  );
};
