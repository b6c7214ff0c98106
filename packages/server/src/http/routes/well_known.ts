import type { FastifyPluginAsync, FastifyReply } from 'fastify';
import { JWKS_STALE_SECONDS, jwksMaxAge } from '../../keys/signing_keys.js';
import type { Services } from '../../services.js';
import { CLIENT_ASSERTION_SIGNING_ALGORITHMS } from '../client_assertion.js';
import { DPOP_SIGNING_ALGORITHMS } from '../dpop/proofs.js';
import { jwksResponse, metadataResponse } from '../response_schemas.js';
import { END_SESSION_PATH } from './end_session.js';
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

  const endpoint = (path: string) => `${config.issuer}${path}`;
  const secretMethods = ['client_secret_basic', 'client_secret_post'];
  // Only what exists: each value here is implemented and tested (conformance.test.ts mirrors the
  // OpenID conformance suite's discovery checks).
  const metadata = () => ({
    issuer: config.issuer,
    authorization_endpoint: endpoint('/authorize'),
    token_endpoint: endpoint('/token'),
    userinfo_endpoint: endpoint('/userinfo'),
    jwks_uri: endpoint('/.well-known/jwks.json'),
    revocation_endpoint: endpoint('/revoke'),
    introspection_endpoint: endpoint('/introspect'),
    // OIDC RP-Initiated Logout 1.0 §2.1.
    end_session_endpoint: endpoint(END_SESSION_PATH),
    grant_types_supported: SUPPORTED_GRANT_TYPES,
    response_types_supported: ['code'],
    response_modes_supported: ['query'],
    subject_types_supported: ['public'],
    id_token_signing_alg_values_supported: [config.idTokenSigningAlg],
    code_challenge_methods_supported: ['S256'],
    // RFC 9207: every authorization response carries `iss`.
    authorization_response_iss_parameter_supported: true,
    token_endpoint_auth_methods_supported: [...secretMethods, 'private_key_jwt', 'none'],
    token_endpoint_auth_signing_alg_values_supported: [...CLIENT_ASSERTION_SIGNING_ALGORITHMS],
    revocation_endpoint_auth_methods_supported: [...secretMethods, 'private_key_jwt', 'none'],
    introspection_endpoint_auth_methods_supported: [...secretMethods, 'private_key_jwt'],
    scopes_supported: ['openid', 'profile', 'email', 'offline_access'],
    claims_supported: [
      'sub',
      'iss',
      'aud',
      'exp',
      'iat',
      'auth_time',
      'nonce',
      'acr',
      'amr',
      'azp',
      'sid',
      'at_hash',
      'name',
      'preferred_username',
      'email',
      'email_verified',
    ],
    prompt_values_supported: ['none', 'login', 'consent', 'select_account'],
    claims_parameter_supported: false,
    request_parameter_supported: false,
    request_uri_parameter_supported: false,
    access_token_signing_alg_values_supported: [config.signingAlg],
    // RFC 9449 §5.1: the proof algorithms the token endpoint and this server's resources accept.
    dpop_signing_alg_values_supported: [...DPOP_SIGNING_ALGORITHMS],
    // OpenID Connect Back-Channel Logout 1.0 §2.1: logout tokens are sent, and always carry `sid`.
    backchannel_logout_supported: true,
    backchannel_logout_session_supported: true,
    // Tessera extensions: the first-party login and the revocation event stream.
    login_endpoint: endpoint('/login'),
    revocation_events_endpoint: endpoint('/revocations'),
  });
  const serve = async (_request: unknown, reply: FastifyReply) => {
    reply.header('cache-control', 'public, max-age=3600');
    return metadata();
  };
  // OIDC Discovery 1.0 §4 and RFC 8414 §3: the same document under both names.
  app.get('/.well-known/openid-configuration', { schema: { response: metadataResponse } }, serve);
  app.get('/.well-known/oauth-authorization-server', { schema: { response: metadataResponse } }, serve);
};
