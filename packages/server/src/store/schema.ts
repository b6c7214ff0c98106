import type { RevocationKind } from '@tessera/protocol';
import type { Generated } from 'kysely';
import type { KeyState } from '../keys/signing_keys.js';
import type { AuditEventType } from './audit.js';
import type { ClientKind, ClientType, TokenEndpointAuthMethod } from './clients.js';
import type { AccessTokenFormat } from './resources.js';

/**
 * A JSON document stored as text, typed by what it holds: only {@link toJsonText} makes one and only
 * {@link parseJsonText} reads one, so a column can never receive, or be read as, the wrong shape.
 */
export type JsonText<T> = string & { readonly __json: T };

export function toJsonText<T>(value: T): JsonText<T> {
  return JSON.stringify(value) as JsonText<T>;
}

export function parseJsonText<T>(text: JsonText<T>): T {
  return JSON.parse(text) as T;
}

/** The tables, as Kysely sees them. Times are milliseconds since the epoch (numbers in both dialects). */
export interface Database {
  users: UsersTable;
  clients: ClientsTable;
  refresh_token_families: RefreshTokenFamiliesTable;
  refresh_tokens: RefreshTokensTable;
  signing_keys: SigningKeysTable;
  revocations: RevocationsTable;
  audit_events: AuditEventsTable;
  access_token_lifetimes: AccessTokenLifetimesTable;
  resources: ResourcesTable;
  sso_sessions: SsoSessionsTable;
  consents: ConsentsTable;
  authorization_codes: AuthorizationCodesTable;
  impersonations: ImpersonationsTable;
  outbox: OutboxTable;
  security_event_receivers: SecurityEventReceiversTable;
}

export interface AccessTokenLifetimesTable {
  /** An access-token lifetime, in seconds, some instance issues (or issued) with. */
  ttl: number;
  last_issued_at: number;
}

export interface UsersTable {
  id: string;
  username: string;
  password_hash: string;
  /** Bumped by "log out everywhere", password changes and disabling: tokens carry it as `ver`. */
  token_version: number;
  disabled: number;
  roles: JsonText<string[]>;
  permissions: JsonText<string[]>;
  /** OIDC Core §5.1 profile claims: `name`, `email`, `email_verified`. */
  name: string | null;
  email: string | null;
  email_verified: number;
  created_at: number;
  updated_at: number;
}

export interface ClientsTable {
  client_id: string;
  /** `public`, `confidential`, or `first-party` (the built-in web client, cookie delivery). */
  type: ClientType;
  secret_hash: string | null;
  name: string;
  audiences: JsonText<string[]>;
  scopes: JsonText<string[]>;
  created_at: number;
  /** What the client is (SPA, native, web, service): picks its default lifetimes; null before 0009. */
  kind: ClientKind | null;
  /** Exact redirect URIs (OIDC Core §3.1.2.1, RFC 9700 §2.1: compared as strings, no wildcards). */
  redirect_uris: JsonText<string[]>;
  post_logout_redirect_uris: JsonText<string[]>;
  grant_types: JsonText<string[]>;
  response_types: JsonText<string[]>;
  token_endpoint_auth_method: TokenEndpointAuthMethod;
  /** For `private_key_jwt`: the client's public keys inline (a JWKS document), or where to fetch them. */
  jwks: string | null;
  jwks_uri: string | null;
  /** Seconds; null for the default of the client's kind. */
  access_token_ttl: number | null;
  refresh_token_ttl: number | null;
  /** The RFC 8707 resources (by identifier) this client may ask tokens for. */
  resources: JsonText<string[]>;
  /** A first-party app: its users are never asked for consent. */
  skip_consent: number;
  /** Exact browser origins allowed to call the server with CORS (`https://app.example`); since 0010. */
  web_origins: JsonText<string[]>;
  /** RFC 9449 §5.2: 1 when every token request of the client must carry a DPoP proof. */
  dpop_bound_access_tokens: number;
  /** RFC 8693 policy (since 0014): audiences or resource identifiers exchanged tokens may be for. */
  token_exchange_targets: JsonText<string[]>;
  /** 1 when the client may exchange with an actor token (delegation, RFC 8693 §1.1). */
  token_exchange_delegation: number;
  /** 1 when the client may exchange an admin's token for a user's (impersonation). */
  token_exchange_impersonation: number;
  /** OpenID Connect Back-Channel Logout 1.0 §2.2: where logout tokens are POSTed; since 0013. */
  backchannel_logout_uri: string | null;
  /** BCL §2.2: 1 when the client needs `sid` in its logout tokens (they always carry it here). */
  backchannel_logout_session_required: number;
}

/** One impersonation (an admin acting as a user through token exchange), open until it ends. */
export interface ImpersonationsTable {
  /** The `jti` of the token issued. */
  jti: string;
  admin_id: string;
  user_id: string;
  client_id: string;
  /** The admin's session: the token carries it, so the admin's logout ends it. */
  sid: string;
  /** The user's token version the token carries. */
  ver: number;
  started_at: number;
  expires_at: number;
  ended_at: number | null;
  /** `expired` or `revoked`. */
  end_reason: string | null;
}

/** An API tokens may be asked for by name (RFC 8707 `resource`), with its audience and token format. */
export interface ResourcesTable {
  /** The resource indicator: an absolute URI without a fragment (RFC 8707 §2). */
  resource: string;
  name: string;
  /** The `aud` its access tokens carry. */
  audience: string;
  access_token_ttl: number | null;
  access_token_format: AccessTokenFormat;
  /** For `jwe`: the resource's public encryption key (a JWK); tokens are signed, then encrypted to it. */
  encryption_jwk: string | null;
  created_at: number;
}

/** A browser's single sign-on session at the provider: the `__Host-` cookie holds its secret. */
export interface SsoSessionsTable {
  /** SHA-256 of the cookie's value, base64url. */
  id: string;
  user_id: string;
  /** The user's token version at login: a later bump (log out everywhere) ends this session too. */
  token_version: number;
  /** When the user authenticated (OIDC Core §2 `auth_time`), ms. */
  auth_time: number;
  amr: JsonText<string[]>;
  created_at: number;
  expires_at: number;
  revoked_at: number | null;
}

/** The scopes a user allowed a client, so a second authorization does not ask again. */
export interface ConsentsTable {
  user_id: string;
  client_id: string;
  scopes: JsonText<string[]>;
  created_at: number;
}

/** RFC 6749 §4.1.2: single use, short-lived; stored only as a hash. */
export interface AuthorizationCodesTable {
  code_hash: string;
  client_id: string;
  user_id: string;
  redirect_uri: string;
  scope: string;
  nonce: string | null;
  /** RFC 7636 S256 challenge (`plain` is never accepted). */
  code_challenge: string | null;
  resource: string | null;
  sso_session_id: string;
  auth_time: number;
  amr: JsonText<string[]>;
  /** `1`: the user authenticated in this request; `0`: through the SSO session only (as Keycloak). */
  acr: string;
  created_at: number;
  expires_at: number;
  /** Set by the first exchange; a second one finds it set (RFC 6749 §4.1.2: revoke what the first got). */
  used_at: number | null;
  /** The session (refresh-token family, `sid`) the first exchange started. */
  family_id: string | null;
  /** RFC 9449 §10: the JWK SHA-256 thumbprint the exchange's DPoP proof must be signed with. */
  dpop_jkt: string | null;
}

export interface RefreshTokenFamiliesTable {
  /** The session id: access tokens carry it as `sid`. */
  id: string;
  user_id: string;
  client_id: string;
  scope: string;
  created_at: number;
  /** Absolute lifetime end. */
  expires_at: number;
  revoked_at: number | null;
  revoked_reason: string | null;
  /** The browser (SSO) session that started it, for the authorization code flow. */
  sso_session_id: string | null;
  /** When the user authenticated, ms (ID tokens issued on refresh repeat it). */
  auth_time: number | null;
  amr: JsonText<string[]> | null;
  acr: string | null;
  /** The RFC 8707 resource its access tokens are for, if one was asked. */
  resource: string | null;
  /** RFC 9449 §5: the thumbprint of the DPoP key its refresh tokens are bound to (public clients). */
  dpop_jkt: string | null;
}

export interface RefreshTokensTable {
  /** SHA-256 of the token, base64url: the token itself is never stored. */
  token_hash: string;
  family_id: string;
  /** The hash of the token this one replaced (null for the first of a family). */
  parent_hash: string | null;
  issued_at: number;
  /** Idle lifetime end. */
  expires_at: number;
  /** Set when this token was exchanged for its successor. */
  rotated_at: number | null;
  successor_hash: string | null;
  /** The successor's plaintext, encrypted under the master key, kept only for the grace window. */
  successor_sealed: string | null;
}

export interface SigningKeysTable {
  kid: string;
  alg: string;
  /** `next` (published, not signing), `current` (signing), `retired` (published until its tokens expire). */
  state: KeyState;
  public_jwk: string;
  /** The private JWK, sealed with AES-256-GCM under the master key. */
  private_jwk_sealed: string;
  created_at: number;
  activated_at: number | null;
  retired_at: number | null;
  /** When a retired key may be deleted: its last token has expired. */
  expires_at: number | null;
}

export interface RevocationsTable {
  id: Generated<number>;
  /** `jti`, `sid`, or `sub` (with `ver`: every token of the user below that version). */
  kind: RevocationKind;
  value: string;
  ver: number | null;
  created_at: number;
  /** When the longest access token this entry could match has expired. */
  expires_at: number;
  /** When the entry reached the shared stream (Redis); null until then, so it is sent again. */
  published_at: number | null;
}

export interface AuditEventsTable {
  id: Generated<number>;
  type: AuditEventType;
  user_id: string | null;
  client_id: string | null;
  ip: string | null;
  detail: JsonText<Record<string, unknown>>;
  created_at: number;
}

/**
 * Something that must reach another server (a logout token's POST), written in the transaction that
 * decided it, and delivered until delivered or given up (outbox/outbox.ts). Never a secret: the
 * request, and any token in it, is made afresh for each attempt from `payload`.
 */
export interface OutboxTable {
  id: Generated<number>;
  /** Which kind of delivery (outbox/kinds.ts): how `payload` becomes a request. */
  kind: string;
  payload: JsonText<unknown>;
  /** Where it goes (a URL), as registered when the row was written. */
  target: string;
  /** Attempts begun (counted when claimed, so one that dies mid-way counts too). */
  attempts: number;
  /** Not before this (ms): now for a new row, later after a failure (back-off, Retry-After). */
  next_attempt_at: number;
  /** The instance attempting it, until `lease_until`; then any instance may claim it again. */
  lease_owner: string | null;
  lease_until: number | null;
  created_at: number;
  delivered_at: number | null;
  gave_up_at: number | null;
  /** Why the last attempt failed: a status or an error code, never the request or the target's query. */
  last_error: string | null;
}

/** RFC 8935 push receivers of security event tokens (security_events/). */
export interface SecurityEventReceiversTable {
  name: string;
  endpoint: string;
  /** The `aud` of the SETs it receives. */
  audience: string;
  /** The event type URIs it wants. */
  event_types: JsonText<string[]>;
  /** `Authorization: Bearer` for its pushes, sealed under the master key; null: none. */
  bearer_token_sealed: string | null;
  created_at: number;
}
