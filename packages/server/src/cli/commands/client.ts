import type { JsonWebKeySet } from '@tessera/jose';
import { endSession } from '../../revocation/sessions.js';
import type { Services } from '../../services.js';
import {
  CLIENT_GRANT_TYPES,
  CLIENT_KINDS,
  type Client,
  type ClientChanges,
  type ClientGrantType,
  type ClientKind,
  type ClientType,
  TOKEN_ENDPOINT_AUTH_METHODS,
  type TokenEndpointAuthMethod,
} from '../../store/clients.js';
import type { Command, CommandContext } from '../command.js';
import { UsageError } from '../errors.js';
import { describeSpan, jsonObjectFile, spanOption } from '../option_values.js';
import { bold, dim, green, red } from '../output.js';
import { withStore } from '../store.js';

const USAGE = 'usage: tessera client add|list|update|remove|rotate-secret';

/** The type each kind is: apps on the user's device cannot keep a secret, servers can. */
const TYPE_OF_KIND: Record<ClientKind, ClientType> = {
  spa: 'public',
  native: 'public',
  web: 'confidential',
  service: 'confidential',
};

/** `tessera client`: the OAuth clients that log users in, and the resource servers. */
export const clientCommand: Command = {
  name: 'client',
  summary: 'add, list, update, remove OAuth clients; rotate a secret',
  help: () => `tessera client add <client_id> --kind spa|native|web|service | --type public|confidential [options]
tessera client list [--json]
tessera client update <client_id> [options]
tessera client remove <client_id>           (ends the client's sessions; not the built-in web client)
tessera client rotate-secret <client_id>    (a client with a secret: the new one is printed once,
                                             the old one stops working at once)
Options of add and update:
  --kind spa|native|web|service      add only: spa and native are public, web and service confidential
                                     (--type may then be left out; without --kind, a public client
                                     is native and a confidential one web)
  --name N                           shown to users when they consent
  --audience <aud>…                  the aud of its access tokens (default: the server's setting)
  --default-audience                 update only: follow the server's audience setting again
  --scope "a b"                      the scopes it may ask for (default "openid profile offline_access";
                                     a service: none)
  --redirect-uri <uri>…              exact https URIs (http on a loopback host; a native app's
                                     private-use scheme like com.example.app:/cb)
  --post-logout-redirect-uri <uri>…  where RP-initiated logout may send the browser back to
  --grant-type <grant>…              authorization_code, refresh_token, client_credentials (default by
                                     kind: authorization_code and refresh_token with redirect URIs,
                                     else refresh_token; client_credentials for a service)
  --auth-method <method>             client_secret_basic, client_secret_post, private_key_jwt, none
                                     (default: none for public clients; private_key_jwt with keys,
                                     else client_secret_basic, for confidential ones)
  --jwks-file <path>                 private_key_jwt: a JSON file {"keys":[…]} of the client's
                                     public keys
  --jwks-uri <url>                   private_key_jwt: where the client publishes them (https)
  --access-token-ttl <span>          30s to 1d, like 15m ("default": back to the kind's default)
  --refresh-token-ttl <span>         the session's lifetime, 1m to 3y, like 30d ("default" likewise)
  --resource <uri>…                  RFC 8707 resources it may ask tokens for (tessera resource add)
  --web-origin <origin>…             browser origins its pages call the server from (CORS), exact as
                                     browsers send them: https://app.example.com (http on a loopback
                                     host); a spa's redirect-URI origins count without it; the web
                                     client's origins also get credentials (its refresh cookie)
  --skip-consent | --no-skip-consent whether users are asked to consent (skip it for your own apps)
  --dpop-bound-access-tokens | --no-dpop-bound-access-tokens
                                     whether every token request must carry a DPoP proof (RFC 9449
                                     §5.2), so the client only gets DPoP-bound tokens (default no)
  --exchange-target <aud-or-resource>…
                                     RFC 8693 token exchange (confidential clients): the audiences,
                                     or RFC 8707 resource identifiers, it may exchange users' tokens
                                     for; none (the default) means it may not exchange at all
  --exchange-delegation | --no-exchange-delegation
                                     whether it may exchange with an actor token: the issued token
                                     names the actor in act (default no)
  --exchange-impersonation | --no-exchange-impersonation
                                     whether it may exchange an admin's token for another user's
                                     (requested_subject; at most 15 minutes, audited; default no)
  --backchannel-logout-uri <uri>     OpenID Connect Back-Channel Logout: where the client's server is
                                     sent a logout token when one of its sessions ends (https; http
                                     on a loopback host; a query is kept, a fragment refused; '' on
                                     update removes it)
  --backchannel-logout-session-required | --no-backchannel-logout-session-required
                                     the client needs sid in logout tokens (they always carry it)
On update a list option replaces the whole list, and one empty value (--redirect-uri '') clears it;
grant types are not derived again. A secret method's secret is printed once and stored only as a
hash; switching to private_key_jwt drops it, switching back prints a new one. The keys of
private_key_jwt are public keys only: a file with a private key is refused.
Without --audience a client has no audiences of its own: its access tokens carry the server's
audience setting (--audience / TESSERA_AUDIENCE of tessera serve, default the issuer) as the server
has it when it issues them.`,
  options: {
    type: { type: 'string' },
    kind: { type: 'string' },
    audience: { type: 'string', multiple: true },
    'default-audience': { type: 'boolean' },
    scope: { type: 'string' },
    name: { type: 'string' },
    'redirect-uri': { type: 'string', multiple: true },
    'post-logout-redirect-uri': { type: 'string', multiple: true },
    'grant-type': { type: 'string', multiple: true },
    'auth-method': { type: 'string' },
    'jwks-file': { type: 'string' },
    'jwks-uri': { type: 'string' },
    'access-token-ttl': { type: 'string' },
    'refresh-token-ttl': { type: 'string' },
    resource: { type: 'string', multiple: true },
    'web-origin': { type: 'string', multiple: true },
    'skip-consent': { type: 'boolean' },
    'no-skip-consent': { type: 'boolean' },
    'dpop-bound-access-tokens': { type: 'boolean' },
    'no-dpop-bound-access-tokens': { type: 'boolean' },
    'exchange-target': { type: 'string', multiple: true },
    'exchange-delegation': { type: 'boolean' },
    'no-exchange-delegation': { type: 'boolean' },
    'exchange-impersonation': { type: 'boolean' },
    'no-exchange-impersonation': { type: 'boolean' },
    'backchannel-logout-uri': { type: 'string' },
    'backchannel-logout-session-required': { type: 'boolean' },
    'no-backchannel-logout-session-required': { type: 'boolean' },
  },
  settings: true,
  async run(context) {
    const { sub, args } = context;
    if (sub === 'list') return withStore(context.config(), (services) => list(services, context));
    if (sub !== 'add' && sub !== 'update' && sub !== 'remove' && sub !== 'rotate-secret')
      throw new UsageError(USAGE);
    const [clientId, extra] = args;
    if (!clientId) throw new UsageError(`a client_id is required: tessera client ${sub} <client_id>`);
    if (extra !== undefined)
      throw new UsageError(`unexpected ${JSON.stringify(extra)}; try tessera client --help`);
    // Checked before the store opens: a usage error must not wait on it.
    const changes = sub === 'add' || sub === 'update' ? clientChanges(context) : {};
    const identity = sub === 'add' ? typeAndKind(context) : undefined;
    return withStore(context.config(), async (services) => {
      if (identity) return add(services, context, clientId, identity, changes);
      const existing = await services.clients.byId(clientId);
      if (!existing) throw new UsageError(`no client ${JSON.stringify(clientId)}`);
      if (sub === 'update') return update(services, context, existing, changes);
      if (sub === 'remove') return remove(services, context, existing);
      return rotateSecret(services, context, existing);
    });
  },
};

/** The first line: who it is and what its tokens say; then what it is registered with. */
function describe(client: Client): string {
  const audiences = `${client.audiences.join(',')}${client.defaultAudience ? dim(' (the server setting)') : ''}`;
  const lines = [
    `${bold(client.clientId)} ${client.type} aud=${audiences} scope="${client.scopes.join(' ')}"`,
    `  kind=${client.kind ?? '-'} auth=${client.tokenEndpointAuthMethod} grants=${client.grantTypes.join(',') || '-'}${client.skipConsent ? ' skip-consent' : ''}${client.dpopBoundAccessTokens ? ' dpop-bound-access-tokens' : ''}`,
  ];
  const more: [string, string[]][] = [
    ['redirect_uris', client.redirectUris],
    ['post_logout_redirect_uris', client.postLogoutRedirectUris],
    ['resources', client.resources],
    ['web_origins', client.webOrigins],
  ];
  for (const [label, values] of more) if (values.length) lines.push(`  ${label} ${values.join(' ')}`);
  const exchange = client.tokenExchange;
  if (exchange.targets.length)
    lines.push(
      `  token_exchange ${exchange.targets.join(' ')}${exchange.delegation ? ' +delegation' : ''}${exchange.impersonation ? ' +impersonation' : ''}`,
    );
  if (client.jwks)
    lines.push(`  jwks ${client.jwks.keys.length} public key${client.jwks.keys.length === 1 ? '' : 's'}`);
  if (client.jwksUri) lines.push(`  jwks_uri ${client.jwksUri}`);
  if (client.backchannelLogoutUri)
    lines.push(
      `  backchannel_logout_uri ${client.backchannelLogoutUri}${client.backchannelLogoutSessionRequired ? ' (session required)' : ''}`,
    );
  const lifetimes = [
    client.accessTokenTtl === undefined ? '' : `access ${describeSpan(client.accessTokenTtl)}`,
    client.refreshTokenTtl === undefined ? '' : `refresh ${describeSpan(client.refreshTokenTtl)}`,
  ].filter(Boolean);
  if (lifetimes.length) lines.push(`  lifetimes ${lifetimes.join(', ')}`);
  return lines.join('\n');
}

/** A client as printed: never its secret's hash (the secret itself is never stored). */
function shown({ secretHash: _, ...client }: Client) {
  return client;
}

async function list(services: Services, { out }: CommandContext): Promise<number> {
  const clients = await services.clients.list();
  out.print(clients.map(shown), clients.map(describe).join('\n'));
  return 0;
}

/** --type and --kind of `add`: either may be left out when the other says it. */
function typeAndKind({ values }: CommandContext): { type: ClientType; kind: ClientKind | undefined } {
  const kind = values.kind as string | undefined;
  if (kind !== undefined && !(CLIENT_KINDS as readonly string[]).includes(kind))
    throw new UsageError(`--kind must be ${CLIENT_KINDS.join(', ')}, got ${JSON.stringify(kind)}`);
  const type = values.type as string | undefined;
  if (type !== undefined && type !== 'public' && type !== 'confidential')
    throw new UsageError('--type must be public or confidential');
  const implied = kind === undefined ? undefined : TYPE_OF_KIND[kind as ClientKind];
  if (type === undefined && implied === undefined)
    throw new UsageError('give --kind spa|native|web|service, or --type public|confidential');
  if (type !== undefined && implied !== undefined && type !== implied)
    throw new UsageError(`a ${kind} client is ${implied}, not ${type}`);
  return { type: (type ?? implied)!, kind: kind as ClientKind | undefined };
}

/** A repeatable option's values; one empty value is the empty list (clearing it on update). */
function listOption(values: CommandContext['values'], flag: string): string[] | undefined {
  const given = values[flag] as string[] | undefined;
  if (given === undefined) return undefined;
  if (given.length === 1 && given[0] === '') return [];
  if (given.includes(''))
    throw new UsageError(`an empty --${flag} clears the list: give it alone, not with other values`);
  return [...new Set(given)];
}

/** A lifetime option: seconds, or `null` for "default" (the kind's, else the server's). */
function lifetimeOption(values: CommandContext['values'], flag: string): number | null | undefined {
  const value = values[flag];
  if (typeof value !== 'string') return undefined;
  return value === 'default' ? null : spanOption(flag, value);
}

/** A JWKS file: the client's public keys (the store refuses private key material in it). */
function jwksFile(path: string): JsonWebKeySet {
  const jwks = jsonObjectFile('jwks-file', path);
  if (!Array.isArray(jwks.keys))
    throw new UsageError(
      `--jwks-file: ${path} is not a JWKS: it holds {"keys": [...]}${'kty' in jwks ? ' (this is one JWK; put it in a keys array)' : ''}`,
    );
  return jwks as unknown as JsonWebKeySet;
}

/** Every option of add and update as the store's changes (`null`: back to the default). */
function clientChanges(context: CommandContext): ClientChanges {
  const { sub, values } = context;
  const audiences = values.audience as string[] | undefined;
  if (audiences && values['default-audience'] === true)
    throw new UsageError('give --audience or --default-audience, not both');
  if (sub === 'add' && values['default-audience'] === true)
    throw new UsageError(
      '--default-audience is for update: a new client without --audience follows the server setting',
    );
  if (sub === 'update' && (values.kind !== undefined || values.type !== undefined))
    throw new UsageError(
      `--${values.kind !== undefined ? 'kind' : 'type'} is chosen when a client is added; add a new client instead`,
    );
  const grantTypes = listOption(values, 'grant-type');
  for (const grant of grantTypes ?? [])
    if (!(CLIENT_GRANT_TYPES as readonly string[]).includes(grant))
      throw new UsageError(
        `--grant-type must be ${CLIENT_GRANT_TYPES.join(', ')}, got ${JSON.stringify(grant)}`,
      );
  const method = values['auth-method'] as string | undefined;
  if (method !== undefined && !(TOKEN_ENDPOINT_AUTH_METHODS as readonly string[]).includes(method))
    throw new UsageError(
      `--auth-method must be ${TOKEN_ENDPOINT_AUTH_METHODS.join(', ')}, got ${JSON.stringify(method)}`,
    );
  const jwksPath = values['jwks-file'] as string | undefined;
  const jwksUri = values['jwks-uri'] as string | undefined;
  if (jwksPath !== undefined && jwksUri !== undefined)
    throw new UsageError('give --jwks-file or --jwks-uri, not both: private_key_jwt takes one of them');
  if (values['skip-consent'] === true && values['no-skip-consent'] === true)
    throw new UsageError('give --skip-consent or --no-skip-consent, not both');
  if (values['dpop-bound-access-tokens'] === true && values['no-dpop-bound-access-tokens'] === true)
    throw new UsageError('give --dpop-bound-access-tokens or --no-dpop-bound-access-tokens, not both');
  for (const flag of ['exchange-delegation', 'exchange-impersonation'])
    if (values[flag] === true && values[`no-${flag}`] === true)
      throw new UsageError(`give --${flag} or --no-${flag}, not both`);
  const exchangeTargets = listOption(values, 'exchange-target');
  const onOff = (flag: string) =>
    values[flag] === true ? true : values[`no-${flag}`] === true ? false : undefined;
  const tokenExchange = {
    ...(exchangeTargets ? { targets: exchangeTargets } : {}),
    ...(onOff('exchange-delegation') !== undefined ? { delegation: onOff('exchange-delegation') } : {}),
    ...(onOff('exchange-impersonation') !== undefined
      ? { impersonation: onOff('exchange-impersonation') }
      : {}),
  };
  if (
    values['backchannel-logout-session-required'] === true &&
    values['no-backchannel-logout-session-required'] === true
  )
    throw new UsageError(
      'give --backchannel-logout-session-required or --no-backchannel-logout-session-required, not both',
    );
  const backchannelLogoutUri = values['backchannel-logout-uri'] as string | undefined;
  if (sub === 'add' && backchannelLogoutUri === '')
    throw new UsageError('--backchannel-logout-uri needs a URI (an empty one removes it, on update)');
  const redirectUris = listOption(values, 'redirect-uri');
  const postLogoutRedirectUris = listOption(values, 'post-logout-redirect-uri');
  const resources = listOption(values, 'resource');
  const webOrigins = listOption(values, 'web-origin');
  const accessTokenTtl = lifetimeOption(values, 'access-token-ttl');
  const refreshTokenTtl = lifetimeOption(values, 'refresh-token-ttl');
  // On update the keys replace each other, and leaving private_key_jwt drops them.
  const keys: Pick<ClientChanges, 'jwks' | 'jwksUri'> =
    jwksPath !== undefined
      ? { jwks: jwksFile(jwksPath), ...(sub === 'update' ? { jwksUri: null } : {}) }
      : jwksUri !== undefined
        ? { jwksUri, ...(sub === 'update' ? { jwks: null } : {}) }
        : sub === 'update' && method !== undefined && method !== 'private_key_jwt'
          ? { jwks: null, jwksUri: null }
          : {};
  return {
    ...(audiences ? { audiences } : values['default-audience'] === true ? { audiences: [] } : {}),
    ...(typeof values.scope === 'string' ? { scopes: values.scope.split(/ +/).filter(Boolean) } : {}),
    ...(typeof values.name === 'string' ? { name: values.name } : {}),
    ...(redirectUris ? { redirectUris } : {}),
    ...(postLogoutRedirectUris ? { postLogoutRedirectUris } : {}),
    ...(grantTypes ? { grantTypes: grantTypes as ClientGrantType[] } : {}),
    ...(method !== undefined ? { tokenEndpointAuthMethod: method as TokenEndpointAuthMethod } : {}),
    ...keys,
    ...(accessTokenTtl !== undefined ? { accessTokenTtl } : {}),
    ...(refreshTokenTtl !== undefined ? { refreshTokenTtl } : {}),
    ...(resources ? { resources } : {}),
    ...(webOrigins ? { webOrigins } : {}),
    ...(values['skip-consent'] === true
      ? { skipConsent: true }
      : values['no-skip-consent'] === true
        ? { skipConsent: false }
        : {}),
    ...(values['dpop-bound-access-tokens'] === true
      ? { dpopBoundAccessTokens: true }
      : values['no-dpop-bound-access-tokens'] === true
        ? { dpopBoundAccessTokens: false }
        : {}),
    ...(Object.keys(tokenExchange).length ? { tokenExchange } : {}),
    ...(backchannelLogoutUri !== undefined
      ? { backchannelLogoutUri: backchannelLogoutUri === '' ? null : backchannelLogoutUri }
      : {}),
    ...(values['backchannel-logout-session-required'] === true
      ? { backchannelLogoutSessionRequired: true }
      : values['no-backchannel-logout-session-required'] === true
        ? { backchannelLogoutSessionRequired: false }
        : {}),
  };
}

/** The store's TypeError (a bad client_id, audience, scope, URI, key…) is the user's input: exit 2. */
function asUsage(err: unknown): never {
  throw err instanceof TypeError ? new UsageError(err.message) : err;
}

async function add(
  services: Services,
  { out }: CommandContext,
  clientId: string,
  { type, kind }: { type: ClientType; kind: ClientKind | undefined },
  changes: ClientChanges,
): Promise<number> {
  if (await services.clients.byId(clientId))
    throw new UsageError(`client ${JSON.stringify(clientId)} already exists`);
  const { jwks, jwksUri, accessTokenTtl, refreshTokenTtl, backchannelLogoutUri, ...rest } = changes;
  const { client, secret } = await services.clients
    .add({
      ...rest,
      clientId,
      type,
      ...(kind ? { kind } : {}),
      audiences: changes.audiences ?? [],
      // A service acts for no user: the user-facing scopes mean nothing to it.
      scopes: changes.scopes ?? (kind === 'service' ? [] : ['openid', 'profile', 'offline_access']),
      ...(jwks ? { jwks } : {}),
      ...(jwksUri ? { jwksUri } : {}),
      ...(typeof accessTokenTtl === 'number' ? { accessTokenTtl } : {}),
      ...(typeof refreshTokenTtl === 'number' ? { refreshTokenTtl } : {}),
      ...(backchannelLogoutUri ? { backchannelLogoutUri } : {}),
    })
    .catch(asUsage);
  await services.lifetimes.refresh();
  await services.audit.record({
    type: 'client_added',
    clientId,
    detail: { type, kind: client.kind, tokenEndpointAuthMethod: client.tokenEndpointAuthMethod },
  });
  out.print(
    {
      client_id: client.clientId,
      type,
      kind: client.kind,
      token_endpoint_auth_method: client.tokenEndpointAuthMethod,
      grant_types: client.grantTypes,
      ...(secret ? { client_secret: secret } : {}),
    },
    `${green('added client')} ${bold(client.clientId)} (${type}, ${client.kind}; ${client.tokenEndpointAuthMethod}; ${client.grantTypes.join(', ')})${secret ? `\nclient_secret ${bold(secret)} ${dim('(shown once)')}` : ''}`,
  );
  return 0;
}

async function update(
  services: Services,
  { out }: CommandContext,
  client: Client,
  changes: ClientChanges,
): Promise<number> {
  if (Object.keys(changes).length === 0)
    throw new UsageError('nothing to change: give an option to change (tessera client --help)');
  const updated = (await services.clients.update(client.clientId, changes).catch(asUsage))!;
  // A new lifetime counts at once for revocation entries and key retention on every instance.
  await services.lifetimes.refresh();
  // Tokens already issued keep what they say until they expire; the next one carries the change.
  await services.audit.record({
    type: 'client_updated',
    clientId: client.clientId,
    detail: { changed: Object.keys(changes) },
  });
  // Back to a secret method from private_key_jwt: the client has no secret yet, so it gets one now.
  let secret: string | undefined;
  if (updated.tokenEndpointAuthMethod.startsWith('client_secret_') && updated.secretHash === null) {
    secret = (await services.clients.rotateSecret(client.clientId))!;
    await services.audit.record({ type: 'client_secret_rotated', clientId: client.clientId });
  }
  out.print(
    { ...shown(updated), ...(secret ? { client_secret: secret } : {}) },
    `${green('updated')} ${describe(updated)}${secret ? `\nclient_secret ${bold(secret)} ${dim('(shown once)')}` : ''}`,
  );
  return 0;
}

async function remove(services: Services, { out }: CommandContext, client: Client): Promise<number> {
  // Refused before any session is touched.
  if (client.type === 'first-party') asUsage(new TypeError('the built-in web client cannot be removed'));
  // Its sessions end first, each with its `sid` revocation, so no token of the client outlives it.
  const sessions = await services.refreshTokens.liveFamiliesOfClient(client.clientId);
  for (const sid of sessions) await endSession(services, sid, 'client_removed');
  await services.clients.remove(client.clientId).catch(asUsage);
  await services.audit.record({
    type: 'client_removed',
    clientId: client.clientId,
    detail: { sessions: sessions.length },
  });
  out.print(
    { client_id: client.clientId, removed: true, sessionsEnded: sessions.length },
    `${red('removed client')} ${bold(client.clientId)}; ${sessions.length} session${sessions.length === 1 ? '' : 's'} ended`,
  );
  return 0;
}

async function rotateSecret(services: Services, { out }: CommandContext, client: Client): Promise<number> {
  const secret = (await services.clients.rotateSecret(client.clientId).catch(asUsage))!;
  await services.audit.record({ type: 'client_secret_rotated', clientId: client.clientId });
  out.print(
    { client_id: client.clientId, client_secret: secret },
    `${green('new secret')} for ${bold(client.clientId)}; the old one no longer works\nclient_secret ${bold(secret)} ${dim('(shown once)')}`,
  );
  return 0;
}
