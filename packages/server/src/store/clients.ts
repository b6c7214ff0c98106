import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { JsonWebKeySet } from '@tessera/jose';
import {
  checkRegistration,
  type RegistrationPolicy,
  type RegistrationToCheck,
} from './client_registration.js';
import { type Db, isUniqueViolation } from './database.js';
import { type ClientsTable, parseJsonText, toJsonText } from './schema.js';

/**
 * `first-party`: the built-in web client; its refresh token travels only in an HttpOnly cookie.
 * `public`: an app that cannot keep a secret (mobile, CLI); it names itself with `client_id`.
 * `confidential`: a server that authenticates with a secret (`client_secret_basic` / `_post`).
 */
export type ClientType = 'first-party' | 'public' | 'confidential';

/**
 * What the client is, which sets its defaults (lifetimes, grant types): `spa` (a browser app, public),
 * `native` (mobile or desktop, public), `web` (a server-side web app, confidential), `service`
 * (machine to machine, confidential, client credentials only).
 */
export type ClientKind = 'spa' | 'native' | 'web' | 'service';
export const CLIENT_KINDS: readonly ClientKind[] = ['spa', 'native', 'web', 'service'];

/** OIDC Registration §2 `token_endpoint_auth_method` values this server implements. */
export type TokenEndpointAuthMethod =
  | 'client_secret_basic'
  | 'client_secret_post'
  | 'private_key_jwt'
  | 'none';
export const TOKEN_ENDPOINT_AUTH_METHODS: readonly TokenEndpointAuthMethod[] = [
  'client_secret_basic',
  'client_secret_post',
  'private_key_jwt',
  'none',
];

/** The grant types a client may be allowed (the token endpoint's handlers). */
export const CLIENT_GRANT_TYPES = ['authorization_code', 'refresh_token', 'client_credentials'] as const;
export type ClientGrantType = (typeof CLIENT_GRANT_TYPES)[number];

export interface Client {
  clientId: string;
  type: ClientType;
  name: string;
  /**
   * The audiences (`aud`) of the access tokens it gets: its own, or, when it has none, the server's
   * `audience` setting as this process has it. Never frozen into the client from whichever process
   * created it: `tessera client add` run with other settings (another port, say) would otherwise
   * give every token an `aud` no API expects.
   */
  audiences: string[];
  /** True when the client has no audiences of its own and follows the server's `audience` setting. */
  defaultAudience: boolean;
  scopes: string[];
  secretHash: string | null;
  /** Null for clients registered before kinds existed (and the built-in web client): server settings. */
  kind: ClientKind | null;
  redirectUris: string[];
  postLogoutRedirectUris: string[];
  grantTypes: ClientGrantType[];
  /** `["code"]` when the client may use the authorization endpoint, else empty. */
  responseTypes: string[];
  tokenEndpointAuthMethod: TokenEndpointAuthMethod;
  jwks: JsonWebKeySet | undefined;
  jwksUri: string | undefined;
  /** Seconds, when set for this client; else its kind's default (tokens/client_lifetimes.ts). */
  accessTokenTtl: number | undefined;
  refreshTokenTtl: number | undefined;
  /** RFC 8707 resource identifiers this client may ask tokens for. */
  resources: string[];
  /** First-party: users are not asked to consent. */
  skipConsent: boolean;
  /**
   * RFC 9449 §5.2 `dpop_bound_access_tokens`: every token request must carry a DPoP proof, so the
   * client only ever gets DPoP-bound access tokens.
   */
  dpopBoundAccessTokens: boolean;
  /**
   * Browser origins allowed to call the server with CORS, exactly as registered (http/cors.ts). A
   * `spa` client's redirect-URI origins count too without being listed (see {@link corsOrigins}).
   */
  webOrigins: string[];
  /** RFC 8693 token exchange: what this client may exchange tokens for (http/grants/token_exchange.ts). */
  tokenExchange: TokenExchangePolicy;
  /**
   * OpenID Connect Back-Channel Logout 1.0 §2.2: where the client's server hears (a logout token, §2.5)
   * that one of its sessions ended at the provider; undefined when it does not want to.
   */
  backchannelLogoutUri: string | undefined;
  /** BCL §2.2 `backchannel_logout_session_required`: it needs `sid` (which logout tokens always carry). */
  backchannelLogoutSessionRequired: boolean;
}

/**
 * A client's RFC 8693 policy. With no targets the client may not exchange at all. A target is an
 * audience, or the identifier of a registered RFC 8707 resource (then its audience, lifetime and
 * token format apply).
 */
export interface TokenExchangePolicy {
  targets: string[];
  /** May exchange with an `actor_token`: the issued token names the actor in `act` (§4.1). */
  delegation: boolean;
  /** May exchange an admin's token for a token of another user (`requested_subject`). */
  impersonation: boolean;
}

/** What `update` may change. `audiences: []` makes the client follow the server's setting. */
export interface ClientChanges {
  name?: string;
  audiences?: string[];
  scopes?: string[];
  redirectUris?: string[];
  postLogoutRedirectUris?: string[];
  grantTypes?: ClientGrantType[];
  tokenEndpointAuthMethod?: TokenEndpointAuthMethod;
  /** `null` removes it. */
  jwks?: JsonWebKeySet | null;
  jwksUri?: string | null;
  accessTokenTtl?: number | null;
  refreshTokenTtl?: number | null;
  resources?: string[];
  skipConsent?: boolean;
  dpopBoundAccessTokens?: boolean;
  webOrigins?: string[];
  /** The members named change; the others stay. */
  tokenExchange?: Partial<TokenExchangePolicy>;
  /** `null` removes it (and `backchannelLogoutSessionRequired` with it, unless that is given). */
  backchannelLogoutUri?: string | null;
  backchannelLogoutSessionRequired?: boolean;
}

/** What a new client is registered with; everything but the id, type, audiences and scopes has a default. */
export interface ClientRegistration
  extends Omit<
    ClientChanges,
    'jwks' | 'jwksUri' | 'accessTokenTtl' | 'refreshTokenTtl' | 'backchannelLogoutUri'
  > {
  clientId: string;
  type: ClientType;
  /** Default: `native` for public clients, `web` for confidential ones. */
  kind?: ClientKind;
  audiences: string[];
  scopes: string[];
  jwks?: JsonWebKeySet;
  jwksUri?: string;
  accessTokenTtl?: number;
  refreshTokenTtl?: number;
  backchannelLogoutUri?: string;
}

/** The client every fresh installation has: the browser app served next to the auth server. */
export const WEB_CLIENT_ID = 'web';

export interface Clients {
  /** Adds the built-in web client if missing (following the server's audience setting). */
  ensureBuiltIn(): Promise<void>;
  byId(clientId: string): Promise<Client | undefined>;
  list(): Promise<Client[]>;
  /**
   * Registers a client; for confidential clients returns the secret, shown once and stored hashed.
   * With no audiences (`[]`) it follows the server's audience setting. TypeError for a bad value.
   */
  add(input: ClientRegistration): Promise<{ client: Client; secret?: string }>;
  /**
   * Changes what `changes` names; the whole registration is checked again as it would be after the
   * change. Undefined when there is no such client; TypeError for a bad value. Leaving the secret
   * methods drops the secret; switching to one from private_key_jwt leaves the client without a
   * secret (none verifies) until `rotateSecret` makes one.
   */
  update(clientId: string, changes: ClientChanges): Promise<Client | undefined>;
  /**
   * A new secret for a confidential client, returned once; the old one stops working at once.
   * Undefined when there is no such client; TypeError for a client that has no secret.
   */
  rotateSecret(clientId: string): Promise<string | undefined>;
  /** Deletes a client (end its sessions first); false when there was none. TypeError for the web client. */
  remove(clientId: string): Promise<boolean>;
  /** Constant-time check of a confidential client's secret. */
  verifySecret(client: Client, secret: string): boolean;
}

// Client secrets are 256 random bits made here, so a fast hash is enough (no dictionary to resist).
const hashSecret = (secret: string) => createHash('sha256').update(secret).digest('base64url');

/** RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ). */
const SCOPE_TOKEN = /^[\x21\x23-\x5b\x5d-\x7e]+$/;
/** RFC 7519 §4.1.3: each audience a StringOrURI; here at least without spaces or control characters. */
const AUDIENCE = /^[^\s\p{Cc}]{1,512}$/u;

function checkAudiences(audiences: string[]): void {
  for (const audience of audiences)
    if (!AUDIENCE.test(audience))
      throw new TypeError(
        `an audience is 1–512 characters without spaces or control characters, got ${JSON.stringify(audience)}`,
      );
}

/** Why a scope name is not an RFC 6749 §3.3 scope-token, or undefined when it is one. */
export function scopeProblem(scope: string): string | undefined {
  return SCOPE_TOKEN.test(scope)
    ? undefined
    : `a scope is printable ASCII without spaces, " or \\ (RFC 6749 §3.3), got ${JSON.stringify(scope)}`;
}

/** Shown to users on the consent page and in lists: printable, and short enough for a line. */
function checkName(name: string): void {
  if (!/^[^\p{Cc}]{1,128}$/u.test(name))
    throw new TypeError('a client name is 1–128 characters without control characters');
}

function checkScopes(scopes: string[]): void {
  for (const scope of scopes) {
    const problem = scopeProblem(scope);
    if (problem) throw new TypeError(problem);
  }
}

/** Grants a new client gets unless it names them: the code flow when it has somewhere to redirect to. */
function defaultGrantTypes(
  type: ClientType,
  kind: ClientKind | null,
  redirectUris: string[],
): ClientGrantType[] {
  if (kind === 'service') return ['client_credentials'];
  if (type === 'first-party' || redirectUris.length === 0) return ['refresh_token'];
  return ['authorization_code', 'refresh_token'];
}

/** The registration's columns, as stored. */
function registrationColumns(registration: RegistrationToCheck) {
  return {
    kind: registration.kind,
    redirect_uris: toJsonText(registration.redirectUris),
    post_logout_redirect_uris: toJsonText(registration.postLogoutRedirectUris),
    grant_types: toJsonText<string[]>(registration.grantTypes),
    // OIDC Registration §2: response_types follow grant_types (`code` ⇔ authorization_code).
    response_types: toJsonText(registration.grantTypes.includes('authorization_code') ? ['code'] : []),
    token_endpoint_auth_method: registration.tokenEndpointAuthMethod,
    jwks: registration.jwks === undefined ? null : JSON.stringify(registration.jwks),
    jwks_uri: registration.jwksUri ?? null,
    access_token_ttl: registration.accessTokenTtl ?? null,
    refresh_token_ttl: registration.refreshTokenTtl ?? null,
    web_origins: toJsonText(registration.webOrigins),
    token_exchange_targets: toJsonText(registration.tokenExchange.targets),
    token_exchange_delegation: registration.tokenExchange.delegation ? 1 : 0,
    token_exchange_impersonation: registration.tokenExchange.impersonation ? 1 : 0,
    backchannel_logout_uri: registration.backchannelLogoutUri ?? null,
    backchannel_logout_session_required: registration.backchannelLogoutSessionRequired ? 1 : 0,
  };
}

/**
 * The origins a client's browser code may call the server from: its registered web origins and, for
 * a `spa`, the origins of its redirect URIs (the page that receives the code is the page that
 * exchanges it at /token, so registering it twice would only invite the two lists to drift apart).
 */
export function corsOrigins(client: Pick<Client, 'kind' | 'redirectUris' | 'webOrigins'>): string[] {
  const origins = new Set(client.webOrigins);
  if (client.kind === 'spa') for (const uri of client.redirectUris) origins.add(new URL(uri).origin);
  return [...origins];
}

/**
 * @param defaultAudience the server's `audience` setting: the audience of clients without their own.
 */
export function createClients(
  db: Db,
  defaultAudience: string,
  clock: () => number = Date.now,
  policy: RegistrationPolicy = { allowPrivateNetworks: false },
): Clients {
  const toClient = (row: Omit<ClientsTable, 'created_at'>): Client => {
    const own = parseJsonText(row.audiences);
    return {
      clientId: row.client_id,
      type: row.type,
      name: row.name,
      audiences: own.length ? own : [defaultAudience],
      defaultAudience: own.length === 0,
      scopes: parseJsonText(row.scopes),
      secretHash: row.secret_hash,
      kind: row.kind,
      redirectUris: parseJsonText(row.redirect_uris),
      postLogoutRedirectUris: parseJsonText(row.post_logout_redirect_uris),
      grantTypes: parseJsonText(row.grant_types) as ClientGrantType[],
      responseTypes: parseJsonText(row.response_types),
      tokenEndpointAuthMethod: row.token_endpoint_auth_method,
      jwks: row.jwks === null ? undefined : (JSON.parse(row.jwks) as JsonWebKeySet),
      jwksUri: row.jwks_uri ?? undefined,
      accessTokenTtl: row.access_token_ttl ?? undefined,
      refreshTokenTtl: row.refresh_token_ttl ?? undefined,
      resources: parseJsonText(row.resources),
      skipConsent: row.skip_consent === 1,
      dpopBoundAccessTokens: row.dpop_bound_access_tokens === 1,
      webOrigins: parseJsonText(row.web_origins),
      tokenExchange: {
        targets: parseJsonText(row.token_exchange_targets),
        delegation: row.token_exchange_delegation === 1,
        impersonation: row.token_exchange_impersonation === 1,
      },
      backchannelLogoutUri: row.backchannel_logout_uri ?? undefined,
      backchannelLogoutSessionRequired: row.backchannel_logout_session_required === 1,
    };
  };

  /** Every resource named exists (RFC 8707 identifiers are registered with `tessera resource add`). */
  async function checkResources(resources: string[]): Promise<void> {
    if (resources.length === 0) return;
    const known = await db
      .selectFrom('resources')
      .select('resource')
      .where('resource', 'in', resources)
      .execute();
    const missing = resources.filter((resource) => !known.some((row) => row.resource === resource));
    if (missing.length) throw new TypeError(`no such resource: ${missing.join(', ')} (tessera resource add)`);
  }

  const clients: Clients = {
    async ensureBuiltIn() {
      if (await clients.byId(WEB_CLIENT_ID)) return;
      try {
        await clients.add({
          clientId: WEB_CLIENT_ID,
          type: 'first-party',
          name: 'Web app',
          audiences: [],
          scopes: ['openid', 'profile', 'offline_access'],
        });
      } catch (err) {
        // Another instance starting on the same database added it first.
        if (!isUniqueViolation(err)) throw err;
      }
    },
    async byId(clientId) {
      const row = await db
        .selectFrom('clients')
        .selectAll()
        .where('client_id', '=', clientId)
        .executeTakeFirst();
      return row ? toClient(row) : undefined;
    },
    async list() {
      return (await db.selectFrom('clients').selectAll().orderBy('created_at').execute()).map(toClient);
    },
    async add(input) {
      if (!/^[\w.~-]{1,128}$/.test(input.clientId))
        throw new TypeError('client_id must be 1–128 of A-Z a-z 0-9 . _ ~ -');
      if (input.name !== undefined) checkName(input.name);
      checkAudiences(input.audiences);
      checkScopes(input.scopes);
      const kind =
        input.kind ?? (input.type === 'public' ? 'native' : input.type === 'confidential' ? 'web' : null);
      const redirectUris = input.redirectUris ?? [];
      const hasKeys = input.jwks !== undefined || input.jwksUri !== undefined;
      const registration = {
        type: input.type,
        kind,
        redirectUris,
        postLogoutRedirectUris: input.postLogoutRedirectUris ?? [],
        grantTypes: input.grantTypes ?? defaultGrantTypes(input.type, kind, redirectUris),
        tokenEndpointAuthMethod:
          input.tokenEndpointAuthMethod ??
          (input.type !== 'confidential' ? 'none' : hasKeys ? 'private_key_jwt' : 'client_secret_basic'),
        jwks: input.jwks,
        jwksUri: input.jwksUri,
        accessTokenTtl: input.accessTokenTtl,
        refreshTokenTtl: input.refreshTokenTtl,
        webOrigins: input.webOrigins ?? [],
        tokenExchange: {
          targets: input.tokenExchange?.targets ?? [],
          delegation: input.tokenExchange?.delegation ?? false,
          impersonation: input.tokenExchange?.impersonation ?? false,
        },
        backchannelLogoutUri: input.backchannelLogoutUri,
        backchannelLogoutSessionRequired: input.backchannelLogoutSessionRequired ?? false,
      } satisfies RegistrationToCheck;
      checkRegistration(registration, policy);
      await checkResources(input.resources ?? []);
      const usesSecret = registration.tokenEndpointAuthMethod.startsWith('client_secret_');
      const secret = usesSecret ? randomBytes(32).toString('base64url') : undefined;
      const row = {
        client_id: input.clientId,
        type: input.type,
        secret_hash: secret ? hashSecret(secret) : null,
        name: input.name ?? input.clientId,
        audiences: toJsonText(input.audiences),
        scopes: toJsonText(input.scopes),
        created_at: clock(),
        ...registrationColumns(registration),
        resources: toJsonText(input.resources ?? []),
        skip_consent: (input.skipConsent ?? input.type === 'first-party') ? 1 : 0,
        dpop_bound_access_tokens: input.dpopBoundAccessTokens ? 1 : 0,
      };
      await db.insertInto('clients').values(row).execute();
      return { client: toClient(row), secret };
    },
    async update(clientId, changes) {
      if (changes.audiences) checkAudiences(changes.audiences);
      if (changes.scopes) checkScopes(changes.scopes);
      if (changes.name !== undefined) checkName(changes.name);
      const client = await clients.byId(clientId);
      if (!client) return undefined;
      const pick = <T>(change: T | null | undefined, current: T | undefined): T | undefined =>
        change === null ? undefined : change === undefined ? current : change;
      const registration = {
        type: client.type,
        kind: client.kind,
        redirectUris: changes.redirectUris ?? client.redirectUris,
        postLogoutRedirectUris: changes.postLogoutRedirectUris ?? client.postLogoutRedirectUris,
        grantTypes: changes.grantTypes ?? client.grantTypes,
        tokenEndpointAuthMethod: changes.tokenEndpointAuthMethod ?? client.tokenEndpointAuthMethod,
        jwks: pick(changes.jwks, client.jwks),
        jwksUri: pick(changes.jwksUri, client.jwksUri),
        accessTokenTtl: pick(changes.accessTokenTtl, client.accessTokenTtl),
        refreshTokenTtl: pick(changes.refreshTokenTtl, client.refreshTokenTtl),
        webOrigins: changes.webOrigins ?? client.webOrigins,
        tokenExchange: {
          targets: changes.tokenExchange?.targets ?? client.tokenExchange.targets,
          delegation: changes.tokenExchange?.delegation ?? client.tokenExchange.delegation,
          impersonation: changes.tokenExchange?.impersonation ?? client.tokenExchange.impersonation,
        },
        backchannelLogoutUri: pick(changes.backchannelLogoutUri, client.backchannelLogoutUri),
        // Without a URI the flag means nothing: removing the URI clears it unless it is set again.
        backchannelLogoutSessionRequired:
          changes.backchannelLogoutSessionRequired ??
          (changes.backchannelLogoutUri === null ? false : client.backchannelLogoutSessionRequired),
      } satisfies RegistrationToCheck;
      checkRegistration(registration, policy);
      // Switching to a secret method from one without a secret leaves the client with none: no secret
      // works until rotateSecret makes one (the method must allow it first, so it is done after).
      if (changes.resources) await checkResources(changes.resources);
      const set = {
        ...(changes.name !== undefined ? { name: changes.name } : {}),
        ...(changes.audiences ? { audiences: toJsonText(changes.audiences) } : {}),
        ...(changes.scopes ? { scopes: toJsonText(changes.scopes) } : {}),
        ...(changes.resources ? { resources: toJsonText(changes.resources) } : {}),
        ...(changes.skipConsent !== undefined ? { skip_consent: changes.skipConsent ? 1 : 0 } : {}),
        ...(changes.dpopBoundAccessTokens !== undefined
          ? { dpop_bound_access_tokens: changes.dpopBoundAccessTokens ? 1 : 0 }
          : {}),
        ...registrationColumns(registration),
        // Leaving the secret methods drops the secret: it must not keep working beside the keys.
        ...(registration.tokenEndpointAuthMethod.startsWith('client_secret_') ? {} : { secret_hash: null }),
      };
      await db.updateTable('clients').set(set).where('client_id', '=', clientId).execute();
      return clients.byId(clientId);
    },
    async rotateSecret(clientId) {
      const client = await clients.byId(clientId);
      if (!client) return undefined;
      if (client.type !== 'confidential')
        throw new TypeError(`client ${JSON.stringify(clientId)} is ${client.type}: it has no secret`);
      if (!client.tokenEndpointAuthMethod.startsWith('client_secret_'))
        throw new TypeError(
          `client ${JSON.stringify(clientId)} authenticates with ${client.tokenEndpointAuthMethod}: it has no secret`,
        );
      const secret = randomBytes(32).toString('base64url');
      await db
        .updateTable('clients')
        .set({ secret_hash: hashSecret(secret) })
        .where('client_id', '=', clientId)
        .execute();
      return secret;
    },
    async remove(clientId) {
      if (clientId === WEB_CLIENT_ID)
        throw new TypeError("the built-in web client cannot be removed (its logins are the server's own)");
      // What users allowed it and the codes it has not exchanged go with it: a client registered
      // later under the same id must ask again, and cannot redeem the old one's codes.
      return db.transaction().execute(async (trx) => {
        await trx.deleteFrom('consents').where('client_id', '=', clientId).execute();
        await trx.deleteFrom('authorization_codes').where('client_id', '=', clientId).execute();
        const result = await trx.deleteFrom('clients').where('client_id', '=', clientId).executeTakeFirst();
        return result.numDeletedRows > 0n;
      });
    },
    verifySecret(client, secret) {
      if (client.secretHash === null) return false;
      const expected = Buffer.from(client.secretHash);
      const actual = Buffer.from(hashSecret(secret));
      return expected.length === actual.length && timingSafeEqual(expected, actual);
    },
  };
  return clients;
}
