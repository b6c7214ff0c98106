import type { FastifyPluginAsync } from 'fastify';
import { JWKS_STALE_SECONDS, jwksMaxAge } from '../../keys/signing_keys.js';
import type { Services } from '../../services.js';
import { jwksResponse, metadataResponse } from '../response_schemas.js';
import { SUPPORTED_GRANT_TYPES } from './token.js';

/**
 * `GET /.well-known/jwks.json` and the RFC 8414 authorization server metadata, which lists only what
 * is actually implemented.
 */
export const wellKnownRoutes: FastifyPluginAsync<{ services: Services }> = async (app, { services }) => {
  const { config } = services;
  app.get('/.well-known/jwks.json', { schema: { response: jwksResponse } }, async (_request, reply) => {
    // A key signs only once published longer than this (see publishedLongEnough), so a cache this
    // old always holds it; an hour (or a quarter interval) keeps load low.
    reply.header(
      'cache-control',
      `public, max-age=${jwksMaxAge(config)}, stale-while-revalidate=${JWKS_STALE_SECONDS}`,
    );
    reply.type('application/jwk-set+json');
    return services.keys.jwks().toJSON();
  });

  const metadata = () => ({
    issuer: config.issuer,
    jwks_uri: `${config.issuer}/.well-known/jwks.json`,
    token_endpoint: `${config.issuer}/token`,
    revocation_endpoint: `${config.issuer}/revoke`,
    introspection_endpoint: `${config.issuer}/introspect`,
    userinfo_endpoint: `${config.issuer}/userinfo`,
    grant_types_supported: SUPPORTED_GRANT_TYPES,
    response_types_supported: [],
    token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'none'],
    revocation_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'none'],
    introspection_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
    scopes_supported: ['openid', 'profile', 'offline_access'],
    access_token_signing_alg_values_supported: [config.signingAlg],
    // Tessera extensions: the first-party login and the revocation event stream.
    login_endpoint: `${config.issuer}/login`,
    revocation_events_endpoint: `${config.issuer}/revocations`,
  });
  // RFC 8414 only. `/.well-known/openid-configuration` (OpenID Connect Discovery 1.0) is not served:
  // this server issues no ID tokens and has no authorization endpoint, and a client library that
  // found that document would take it for an OpenID Provider.
  app.get(
    '/.well-known/oauth-authorization-server',
    { schema: { response: metadataResponse } },
    async (_request, reply) => {
      reply.header('cache-control', 'public, max-age=3600');
      return metadata();
    },
  );
};
