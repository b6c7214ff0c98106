import {
  isSecurityEventName,
  SECURITY_EVENT_NAMES,
  type SecurityEventName,
} from '../../security_events/event_types.js';
import type { Services } from '../../services.js';
import type { Receiver } from '../../store/receivers.js';
import type { Command, CommandContext } from '../command.js';
import { UsageError } from '../errors.js';
import { bold, dim, green, red } from '../output.js';
import { withStore } from '../store.js';

const USAGE = 'usage: tessera receiver add|list|remove';

/** `tessera receiver`: who is pushed security event tokens (RFC 8417 SETs, RFC 8935 push). */
export const receiverCommand: Command = {
  name: 'receiver',
  summary: 'add, list, remove receivers of security events (SETs pushed per RFC 8935)',
  help: () => `tessera receiver add <name> --endpoint <url> --audience <aud> [--event <event>]… [--bearer-token-stdin]
tessera receiver list [--json]
tessera receiver remove <name>        (its SETs not yet delivered are dropped)
Options of add:
  --endpoint <url>        where SETs are POSTed (application/secevent+jwt): https (http only on a
                          loopback host), no user name or password in it
  --audience <aud>        the aud of the SETs it receives (it checks they are meant for it)
  --event <event>…        the events it wants (default: all): ${SECURITY_EVENT_NAMES.join(', ')}
  --bearer-token-stdin    read a token on standard input, sent as Authorization: Bearer with each
                          push; stored sealed under the master key, never printed
Each SET is signed with the ID-token key (verify it with the JWKS), typ secevent+jwt, one event per
SET. A push answered 202 is delivered; 400 is a refusal (not sent again, audited); 5xx, 429 and
timeouts are retried with back-off.`,
  options: {
    endpoint: { type: 'string' },
    // One table holds every command's options (cli/args.ts): --audience is `client add`'s too, which
    // takes several, so it is declared the same way here and one value is required below.
    audience: { type: 'string', multiple: true },
    event: { type: 'string', multiple: true },
    'bearer-token-stdin': { type: 'boolean' },
  },
  settings: true,
  async run(context) {
    const { sub, args } = context;
    if (sub === 'list') return withStore(context.config(), (services) => list(services, context));
    if (sub !== 'add' && sub !== 'remove') throw new UsageError(USAGE);
    const [name, extra] = args;
    if (!name) throw new UsageError(`a name is required: tessera receiver ${sub} <name>`);
    if (extra !== undefined)
      throw new UsageError(`unexpected ${JSON.stringify(extra)}; try tessera receiver --help`);
    if (sub === 'remove') return withStore(context.config(), (services) => remove(services, context, name));
    // Checked before the store opens (and before reading stdin): a usage error must not wait on them.
    const registration = addOptions(context);
    const bearerToken = context.values['bearer-token-stdin'] === true ? await tokenFromStdin() : undefined;
    return withStore(context.config(), (services) => add(services, context, name, registration, bearerToken));
  },
};

interface AddOptions {
  endpoint: string;
  audience: string;
  events: SecurityEventName[] | undefined;
}

function addOptions({ values }: CommandContext): AddOptions {
  const endpoint = values.endpoint;
  const audienceValue = values.audience as string | string[] | undefined;
  const audiences = typeof audienceValue === 'string' ? [audienceValue] : audienceValue;
  if (typeof endpoint !== 'string' || audiences === undefined)
    throw new UsageError('tessera receiver add needs --endpoint <url> and --audience <aud>');
  if (audiences.length !== 1) throw new UsageError('tessera receiver add takes one --audience');
  const [audience] = audiences as [string];
  const given = values.event as string[] | undefined;
  for (const event of given ?? [])
    if (!isSecurityEventName(event))
      throw new UsageError(
        `--event must be one of ${SECURITY_EVENT_NAMES.join(', ')}, got ${JSON.stringify(event)}`,
      );
  return { endpoint, audience, events: given as SecurityEventName[] | undefined };
}

/** The token piped in, without its line ending. */
async function tokenFromStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  const token = Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
  if (token === '') throw new UsageError('--bearer-token-stdin: nothing was read from standard input');
  return token;
}

function describe(receiver: Receiver): string {
  return [
    `${bold(receiver.name)} ${receiver.endpoint} aud=${receiver.audience}${receiver.hasBearerToken ? dim(' (bearer token)') : ''}`,
    `  events ${receiver.events.join(' ')}`,
  ].join('\n');
}

async function list(services: Services, { out }: CommandContext): Promise<number> {
  const receivers = await services.receivers.list();
  out.print(receivers, receivers.map(describe).join('\n') || dim('no receivers'));
  return 0;
}

async function add(
  services: Services,
  { out }: CommandContext,
  name: string,
  options: AddOptions,
  bearerToken: string | undefined,
): Promise<number> {
  const receiver = await services.receivers
    .add({
      name,
      endpoint: options.endpoint,
      audience: options.audience,
      ...(options.events ? { events: options.events } : {}),
      ...(bearerToken !== undefined ? { bearerToken } : {}),
    })
    .catch((err: unknown) => {
      // The store's TypeError names the rule a value broke: the user's input, exit 2.
      throw err instanceof TypeError ? new UsageError(err.message) : err;
    });
  await services.audit.record({
    type: 'receiver_added',
    detail: {
      receiver: name,
      // Without the query, which may carry the receiver's own secret.
      endpoint: withoutQuery(receiver.endpoint),
      audience: receiver.audience,
      events: receiver.events,
      bearerToken: receiver.hasBearerToken,
    },
  });
  out.print(receiver, `${green('added receiver')} ${describe(receiver)}`);
  return 0;
}

async function remove(services: Services, { out }: CommandContext, name: string): Promise<number> {
  const removed = await services.receivers.remove(name);
  if (!removed) throw new UsageError(`no receiver ${JSON.stringify(name)}`);
  await services.audit.record({
    type: 'receiver_removed',
    detail: { receiver: name, dropped: removed.dropped },
  });
  out.print(
    { name, removed: true, dropped: removed.dropped },
    `${red('removed receiver')} ${bold(name)}${removed.dropped ? `; ${removed.dropped} undelivered SETs dropped` : ''}`,
  );
  return 0;
}

/** The endpoint as the audit keeps it: scheme, host and path. */
function withoutQuery(endpoint: string): string {
  const url = new URL(endpoint);
  return `${url.origin}${url.pathname}`;
}
