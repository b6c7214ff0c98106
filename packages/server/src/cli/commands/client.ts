import { endSession } from '../../revocation/sessions.js';
import type { Services } from '../../services.js';
import type { Client, ClientChanges, ClientType } from '../../store/clients.js';
import type { Command, CommandContext } from '../command.js';
import { UsageError } from '../errors.js';
import { bold, dim, green, red } from '../output.js';
import { withStore } from '../store.js';

const USAGE = 'usage: tessera client add|list|update|remove|rotate-secret';

/** `tessera client`: the OAuth clients that log users in, and the resource servers. */
export const clientCommand: Command = {
  name: 'client',
  summary: 'add, list, update, remove OAuth clients; rotate a secret',
  help: () => `tessera client add <client_id> --type public|confidential [--audience <aud>]… [--scope "a b"] [--name N]
tessera client list [--json]
tessera client update <client_id> [--audience <aud>]… | [--default-audience] [--scope "a b"] [--name N]
tessera client remove <client_id>           (ends the client's sessions; not the built-in web client)
tessera client rotate-secret <client_id>    (a confidential client: the new secret is printed once,
                                             the old one stops working at once)
Without --audience a client has no audiences of its own: its access tokens carry the server's
audience setting (--audience / TESSERA_AUDIENCE of tessera serve, default the issuer) as the server
has it when it issues them. --default-audience makes a client with its own audiences follow it again.
A confidential client's secret is printed once and stored only as a hash.`,
  options: {
    type: { type: 'string' },
    audience: { type: 'string', multiple: true },
    'default-audience': { type: 'boolean' },
    scope: { type: 'string' },
    name: { type: 'string' },
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
    return withStore(context.config(), async (services) => {
      if (sub === 'add') return add(services, context, clientId, changes);
      const existing = await services.clients.byId(clientId);
      if (!existing) throw new UsageError(`no client ${JSON.stringify(clientId)}`);
      if (sub === 'update') return update(services, context, existing, changes);
      if (sub === 'remove') return remove(services, context, existing);
      return rotateSecret(services, context, existing);
    });
  },
};

function describe(client: Client): string {
  const audiences = `${client.audiences.join(',')}${client.defaultAudience ? dim(' (the server setting)') : ''}`;
  return `${bold(client.clientId)} ${client.type} aud=${audiences} scope="${client.scopes.join(' ')}"`;
}

function shown({ secretHash: _, ...client }: Client) {
  return client;
}

async function list(services: Services, { out }: CommandContext): Promise<number> {
  const clients = await services.clients.list();
  out.print(clients.map(shown), clients.map(describe).join('\n'));
  return 0;
}

/** --audience, --default-audience, --scope and --name as the store's changes. */
function clientChanges({ sub, values }: CommandContext): ClientChanges {
  const audiences = values.audience as string[] | undefined;
  if (audiences && values['default-audience'] === true)
    throw new UsageError('give --audience or --default-audience, not both');
  if (sub === 'add' && values['default-audience'] === true)
    throw new UsageError(
      '--default-audience is for update: a new client without --audience follows the server setting',
    );
  return {
    ...(audiences ? { audiences } : values['default-audience'] === true ? { audiences: [] } : {}),
    ...(typeof values.scope === 'string' ? { scopes: values.scope.split(/ +/).filter(Boolean) } : {}),
    ...(typeof values.name === 'string' ? { name: values.name } : {}),
  };
}

/** The store's TypeError (a bad client_id, audience, scope or name) is the user's input: exit 2. */
function asUsage(err: unknown): never {
  throw err instanceof TypeError ? new UsageError(err.message) : err;
}

async function add(
  services: Services,
  { values, out }: CommandContext,
  clientId: string,
  changes: ClientChanges,
): Promise<number> {
  const type = values.type as ClientType | undefined;
  if (type !== 'public' && type !== 'confidential')
    throw new UsageError('--type must be public or confidential');
  if (await services.clients.byId(clientId))
    throw new UsageError(`client ${JSON.stringify(clientId)} already exists`);
  const { client, secret } = await services.clients
    .add({
      clientId,
      type,
      name: changes.name,
      audiences: changes.audiences ?? [],
      scopes: changes.scopes ?? ['openid', 'profile', 'offline_access'],
    })
    .catch(asUsage);
  await services.audit.record({ type: 'client_added', clientId, detail: { type } });
  out.print(
    { client_id: client.clientId, type, ...(secret ? { client_secret: secret } : {}) },
    `${green('added client')} ${bold(client.clientId)} (${type})${secret ? `\nclient_secret ${bold(secret)} ${dim('(shown once)')}` : ''}`,
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
    throw new UsageError('nothing to change: give --audience, --default-audience, --scope or --name');
  const updated = (await services.clients.update(client.clientId, changes).catch(asUsage))!;
  // Tokens already issued keep what they say until they expire; the next one carries the change.
  await services.audit.record({
    type: 'client_updated',
    clientId: client.clientId,
    detail: { changed: Object.keys(changes) },
  });
  out.print(shown(updated), `${green('updated')} ${describe(updated)}`);
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
