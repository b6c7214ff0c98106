import type { Jwk } from '@tessera/jose';
import type { Services } from '../../services.js';
import { ACCESS_TOKEN_FORMATS, type AccessTokenFormat, type Resource } from '../../store/resources.js';
import type { Command, CommandContext } from '../command.js';
import { UsageError } from '../errors.js';
import { describeSpan, jsonObjectFile, spanOption } from '../option_values.js';
import { bold, dim, green, red } from '../output.js';
import { withStore } from '../store.js';

const USAGE = 'usage: tessera resource add|list|remove';

/** `tessera resource`: the APIs (RFC 8707 resources) clients may ask access tokens for by name. */
export const resourceCommand: Command = {
  name: 'resource',
  summary: 'add, list, remove the APIs (RFC 8707 resources) clients ask tokens for',
  help: () => `tessera resource add <resource-uri> [--name N] [--audience A] [--access-token-ttl <span>]
                      [--format jwt|jwe] [--encryption-key-file <path>]
tessera resource list [--json]
tessera resource remove <resource-uri>
A resource is an absolute URI without a fragment (RFC 8707 §2), like https://api.example.com.
Clients name the resources they may ask for (tessera client add|update --resource <uri>), and ask
with the resource parameter; their access tokens for it then carry:
  --audience A                 as aud (default: the resource URI)
  --access-token-ttl <span>    30s to 1d, like 5m: the resource's lifetime wins over the client's
  --format jwt|jwe             jwt (default): a signed JWT (RFC 9068); jwe: that JWT encrypted to
                               the resource's public key, so only the API reads its claims
  --encryption-key-file <path> jwe: a JSON file with the API's public JWK, RSA (RSA-OAEP-256) or
                               EC (ECDH-ES+A256KW); a private key is refused. Implies --format jwe.
A resource cannot be changed in place: remove it and add it again. Clients that name a removed
resource keep the name, and asking for it fails until it is added again.`,
  options: {
    name: { type: 'string' },
    // Repeatable as tessera client's --audience is (options are parsed once for every command).
    audience: { type: 'string', multiple: true },
    'access-token-ttl': { type: 'string' },
    format: { type: 'string' },
    'encryption-key-file': { type: 'string' },
  },
  settings: true,
  async run(context) {
    const { sub, args } = context;
    if (sub === 'list') {
      if (args.length)
        throw new UsageError(`unexpected ${JSON.stringify(args[0])}; try tessera resource --help`);
      return withStore(context.config(), (services) => list(services, context));
    }
    if (sub !== 'add' && sub !== 'remove') throw new UsageError(USAGE);
    const [resource, extra] = args;
    if (!resource) throw new UsageError(`a resource URI is required: tessera resource ${sub} <resource-uri>`);
    if (extra !== undefined)
      throw new UsageError(`unexpected ${JSON.stringify(extra)}; try tessera resource --help`);
    if (sub === 'remove') {
      const given = ['name', 'audience', 'access-token-ttl', 'format', 'encryption-key-file'].find(
        (option) => context.values[option] !== undefined,
      );
      if (given) throw new UsageError(`--${given} is for tessera resource add`);
      return withStore(context.config(), (services) => remove(services, context, resource));
    }
    // Checked before the store opens: a usage error must not wait on it.
    const registration = resourceOptions(context);
    return withStore(context.config(), (services) => add(services, context, resource, registration));
  },
};

interface ResourceOptions {
  name?: string;
  audience?: string;
  accessTokenTtl?: number;
  accessTokenFormat: AccessTokenFormat;
  encryptionJwk?: Jwk;
}

function resourceOptions({ values }: CommandContext): ResourceOptions {
  const audiences = values.audience as string[] | undefined;
  if (audiences && audiences.length > 1)
    throw new UsageError('a resource has one --audience: its tokens are for that API alone');
  const ttl = values['access-token-ttl'];
  const format = values.format as string | undefined;
  if (format !== undefined && !(ACCESS_TOKEN_FORMATS as readonly string[]).includes(format))
    throw new UsageError(
      `--format must be ${ACCESS_TOKEN_FORMATS.join(' or ')}, got ${JSON.stringify(format)}`,
    );
  const keyPath = values['encryption-key-file'] as string | undefined;
  const encryptionJwk = keyPath === undefined ? undefined : encryptionKeyFile(keyPath);
  return {
    ...(typeof values.name === 'string' ? { name: values.name } : {}),
    ...(audiences?.[0] !== undefined ? { audience: audiences[0] } : {}),
    ...(typeof ttl === 'string' ? { accessTokenTtl: spanOption('access-token-ttl', ttl) } : {}),
    accessTokenFormat: (format ?? (encryptionJwk ? 'jwe' : 'jwt')) as AccessTokenFormat,
    ...(encryptionJwk ? { encryptionJwk } : {}),
  };
}

/** The API's public JWK (the store refuses private key material and keys it cannot encrypt to). */
function encryptionKeyFile(path: string): Jwk {
  const jwk = jsonObjectFile('encryption-key-file', path);
  if ('keys' in jwk)
    throw new UsageError(`--encryption-key-file: ${path} is a JWKS; give the one public JWK to encrypt to`);
  return jwk as unknown as Jwk;
}

/** The store's TypeError (a bad URI, audience, lifetime, key…) is the user's input: exit 2. */
function asUsage(err: unknown): never {
  throw err instanceof TypeError ? new UsageError(err.message) : err;
}

function describe(resource: Resource): string {
  const key = resource.encryptionJwk
    ? ` key=${resource.encryptionJwk.kty}${resource.encryptionJwk.kid ? `:${resource.encryptionJwk.kid}` : ''}`
    : '';
  const ttl = resource.accessTokenTtl === undefined ? '' : ` access=${describeSpan(resource.accessTokenTtl)}`;
  const name = resource.name === resource.resource ? '' : ` ${dim(JSON.stringify(resource.name))}`;
  return `${bold(resource.resource)} aud=${resource.audience} format=${resource.accessTokenFormat}${key}${ttl}${name}`;
}

async function list(services: Services, { out }: CommandContext): Promise<number> {
  const resources = await services.resources.list();
  out.print(resources, resources.map(describe).join('\n') || dim('no resources'));
  return 0;
}

async function add(
  services: Services,
  { out }: CommandContext,
  resource: string,
  registration: ResourceOptions,
): Promise<number> {
  const added = await services.resources.add({ resource, ...registration }).catch(asUsage);
  // Its lifetime counts at once for revocation entries and key retention on every instance.
  await services.lifetimes.refresh();
  await services.audit.record({
    type: 'resource_added',
    detail: { resource, audience: added.audience, format: added.accessTokenFormat },
  });
  out.print(added, `${green('added resource')} ${describe(added)}`);
  return 0;
}

async function remove(services: Services, { out }: CommandContext, resource: string): Promise<number> {
  if (!(await services.resources.remove(resource)))
    throw new UsageError(`no resource ${JSON.stringify(resource)}`);
  // Their registrations keep the name (and asking for it fails): say which, so they can be updated.
  const naming = (await services.clients.list())
    .filter((client) => client.resources.includes(resource))
    .map((client) => client.clientId);
  await services.audit.record({ type: 'resource_removed', detail: { resource, clients: naming } });
  out.print({ resource, removed: true, clients: naming }, `${red('removed resource')} ${bold(resource)}`);
  if (naming.length)
    out.note(
      `${naming.join(', ')} still name${naming.length === 1 ? 's' : ''} it: their requests for it fail (tessera client update <id> --resource …)`,
    );
  return 0;
}
