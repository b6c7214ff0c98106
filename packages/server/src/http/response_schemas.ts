/**
 * JSON schemas of what the endpoints answer. Fastify serialises each answer through its schema: a
 * property not declared here is never sent (no field leaks by accident), and serialisation is
 * faster than JSON.stringify.
 */

const string = { type: 'string' } as const;
const integer = { type: 'integer' } as const;
const strings = { type: 'array', items: string } as const;

/** RFC 6749 §5.2 (and RFC 6750 §3, RFC 7009 §2.2.1): every error answer. */
export const errorResponse = {
  type: 'object',
  required: ['error'],
  properties: { error: string, error_description: string },
} as const;

/** Error answers of a route, by status class. */
export const errorResponses = { '4xx': errorResponse, '5xx': errorResponse } as const;

/** RFC 6749 §5.1. */
export const tokenResponse = {
  200: {
    type: 'object',
    required: ['access_token', 'token_type', 'expires_in'],
    properties: {
      access_token: string,
      token_type: string,
      expires_in: integer,
      scope: string,
      refresh_token: string,
      /** OIDC Core §3.1.3.3. */
      id_token: string,
      /** RFC 8693 §2.2.1: the type of a token from token exchange. */
      issued_token_type: string,
    },
  },
  ...errorResponses,
} as const;

/** RFC 7662 §2.2. */
export const introspectionResponse = {
  200: {
    type: 'object',
    required: ['active'],
    properties: {
      active: { type: 'boolean' },
      token_type: string,
      scope: string,
      client_id: string,
      username: string,
      sub: string,
      aud: { anyOf: [string, strings] },
      iss: string,
      exp: integer,
      iat: integer,
      jti: string,
      sid: string,
      /** RFC 9449 §6.2: the DPoP key a bound access token is bound to. */
      cnf: { type: 'object', required: ['jkt'], properties: { jkt: string } },
      /** RFC 8693 §4.1 (and §4.1's introspection note): who acts for the subject. */
      act: { type: 'object', required: ['sub'], additionalProperties: true, properties: { sub: string } },
    },
  },
  ...errorResponses,
} as const;

export const userinfoResponse = {
  200: {
    type: 'object',
    required: ['sub'],
    properties: {
      sub: string,
      preferred_username: string,
      name: string,
      email: string,
      email_verified: { type: 'boolean' },
      roles: strings,
      permissions: strings,
      sid: string,
    },
    // The deployment's own claims (ServerHooks.extraClaims), whatever their names.
    additionalProperties: true,
  },
  ...errorResponses,
} as const;

/** RFC 7517 §5: the published keys (public members only; every member is a string). */
export const jwksResponse = {
  200: {
    type: 'object',
    required: ['keys'],
    properties: {
      keys: { type: 'array', items: { type: 'object', additionalProperties: string } },
    },
  },
} as const;

/**
 * RFC 8414 §2 and OIDC Discovery 1.0 §3, as far as this server implements them (plus two Tessera
 * endpoints).
 */
export const metadataResponse = {
  200: {
    type: 'object',
    required: ['issuer', 'jwks_uri', 'token_endpoint', 'response_types_supported'],
    properties: {
      issuer: string,
      authorization_endpoint: string,
      token_endpoint: string,
      userinfo_endpoint: string,
      jwks_uri: string,
      revocation_endpoint: string,
      introspection_endpoint: string,
      end_session_endpoint: string,
      grant_types_supported: strings,
      response_types_supported: strings,
      response_modes_supported: strings,
      subject_types_supported: strings,
      id_token_signing_alg_values_supported: strings,
      code_challenge_methods_supported: strings,
      authorization_response_iss_parameter_supported: { type: 'boolean' },
      token_endpoint_auth_methods_supported: strings,
      token_endpoint_auth_signing_alg_values_supported: strings,
      revocation_endpoint_auth_methods_supported: strings,
      introspection_endpoint_auth_methods_supported: strings,
      scopes_supported: strings,
      claims_supported: strings,
      prompt_values_supported: strings,
      claims_parameter_supported: { type: 'boolean' },
      request_parameter_supported: { type: 'boolean' },
      request_uri_parameter_supported: { type: 'boolean' },
      access_token_signing_alg_values_supported: strings,
      dpop_signing_alg_values_supported: strings,
      backchannel_logout_supported: { type: 'boolean' },
      backchannel_logout_session_supported: { type: 'boolean' },
      login_endpoint: string,
      revocation_events_endpoint: string,
    },
  },
} as const;

export const healthResponse = {
  200: { type: 'object', required: ['status'], properties: { status: string } },
  503: { type: 'object', required: ['status'], properties: { status: string, reason: string } },
} as const;

/** 200 or 204 with no body (RFC 7009 §2.2, logout). */
export const emptyResponse = (status: 200 | 204) =>
  ({ [status]: { type: 'null' }, ...errorResponses }) as const;
