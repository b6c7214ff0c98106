import type { RevocationKind } from '@tessera/protocol';
import type { Generated } from 'kysely';
import type { KeyState } from '../keys/signing_keys.js';
import type { AuditEventType } from './audit.js';
import type { ClientType } from './clients.js';

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
