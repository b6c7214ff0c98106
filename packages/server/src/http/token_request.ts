/**
 * A `client_id` as the registry allows it (`tessera client add`). Anything else, control characters
 * included (PostgreSQL refuses NUL in text), is a malformed request, never a database error.
 */
export const CLIENT_ID_SCHEMA = {
  type: 'string',
  minLength: 1,
  maxLength: 128,
  pattern: '^[\\w.~-]+$',
} as const;

/** The body of the RFC 7009 revocation and RFC 7662 introspection requests, which share their shape. */
export interface TokenRequestParameters {
  token?: string;
  token_type_hint?: string;
  client_id?: string;
  client_secret?: string;
}

export const tokenRequestSchema = {
  body: {
    type: 'object',
    required: ['token'],
    properties: {
      token: { type: 'string', minLength: 1, maxLength: 16384 },
      token_type_hint: { type: 'string', maxLength: 64 },
      client_id: CLIENT_ID_SCHEMA,
      client_secret: { type: 'string', maxLength: 512 },
    },
  },
} as const;
