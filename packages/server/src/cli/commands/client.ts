import type { ClientType } from '../../store/clients.js';
import type { Command } from '../command.js';
import { UsageError } from '../errors.js';
import { bold, dim, green } from '../output.js';
import { withStore } from '../store.js';

/** `tessera client`: the OAuth clients that may log users in, and resource servers. */
export const clientCommand: Command = {
  name: 'client',
  summary: 'add and list OAuth clients',
  help: () => `tessera client add <client_id> --type public|confidential [--audience <aud>]… [--scope "a b"] [--name N]
tessera client list [--json]
A confidential client's secret is printed once and stored only as a hash.`,
  options: {
    type: { type: 'string' },
    audience: { type: 'string', multiple: true },
    scope: { type: 'string' },
    name: { type: 'string' },
  },
  settings: true,
  async run({ sub, args, values, out, config }) {
    if (sub !== 'add' && sub !== 'list') throw new UsageError('usage: tessera client add|list');
    if (sub === 'list') {
      return withStore(config(), async (services) => {
        const rows = (await services.clients.list()).map(({ secretHash: _, ...c }) => c);
        out.print(
          rows,
          rows
            .map(
              (c) =>
                `${bold(c.clientId)} ${c.type} aud=${c.audiences.join(',')} scope="${c.scopes.join(' ')}"`,
            )
            .join('\n'),
        );
        return 0;
      });
    }
    const clientId = args[0];
    if (!clientId) throw new UsageError('a client_id is required');
    const type = values.type as ClientType | undefined;
    if (type !== 'public' && type !== 'confidential')
      throw new UsageError('--type must be public or confidential');
    return withStore(config(), async (services) => {
      if (await services.clients.byId(clientId))
        throw new UsageError(`client ${JSON.stringify(clientId)} already exists`);
      const audiences = (values.audience as string[] | undefined) ?? [services.config.audience];
      const scopes =
        typeof values.scope === 'string'
          ? values.scope.split(/ +/).filter(Boolean)
          : ['openid', 'profile', 'offline_access'];
      const { client: added, secret } = await services.clients
        .add({ clientId, type, name: values.name as string | undefined, audiences, scopes })
        .catch((err: unknown) => {
          throw err instanceof TypeError ? new UsageError(err.message) : err;
        });
      out.print(
        { client_id: added.clientId, type, ...(secret ? { client_secret: secret } : {}) },
        `${green('added client')} ${bold(added.clientId)} (${type})${secret ? `\nclient_secret ${bold(secret)} ${dim('(shown once)')}` : ''}`,
      );
      return 0;
    });
  },
};
