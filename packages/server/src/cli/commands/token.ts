import { createVerifier, decodeJwtUnverified, decodeProtectedHeader, isJoseError } from '@tessera/jose';
import type { Services } from '../../services.js';
import type { User } from '../../store/users.js';
import type { Command, CommandContext } from '../command.js';
import { UsageError } from '../errors.js';
import { green, red, yellow } from '../output.js';
import { withStore } from '../store.js';

/** `tessera token`: look inside a JWT, verify it against this server's keys, or mint one. */
export const tokenCommand: Command = {
  name: 'token',
  summary: 'look inside, verify or mint access tokens',
  help: () => `tessera token decode <token> [--json]   (reads a JWT without verifying it)
tessera token verify <token> [--json]   (verifies with this server's published keys and revocations)
tessera token sign --user <username> | --sub <user id> [--scope "a b"] [--aud <aud>] [--json]
    (mints an access token with the current signing key)`,
  options: {
    sub: { type: 'string' },
    user: { type: 'string' },
    scope: { type: 'string' },
    aud: { type: 'string' },
  },
  settings: true,
  async run(context) {
    const { sub, args } = context;
    if (sub === 'sign') {
      if (args.length)
        throw new UsageError(`unexpected ${JSON.stringify(args[0])}; try tessera token --help`);
      return withStore(context.config(), (services) => sign(services, context));
    }
    if (sub !== 'decode' && sub !== 'verify') throw new UsageError('usage: tessera token decode|verify|sign');
    const jwt = args[0];
    if (!jwt) throw new UsageError('a token is required');
    // Decoding needs no key and no store.
    if (sub === 'decode') return decode(jwt, context);
    return withStore(context.config(), async (services) => verify(services, jwt, context));
  },
};

function show(value: unknown, json: boolean): void {
  process.stdout.write(`${JSON.stringify(value, null, json ? 0 : 2)}\n`);
}

function decode(jwt: string, { out }: CommandContext): number {
  out.note(`${yellow('not verified')}: this only shows what the token says`);
  show({ header: decodeProtectedHeader(jwt), payload: decodeJwtUnverified(jwt) }, out.json);
  return 0;
}

function verify(services: Services, jwt: string, { out }: CommandContext): number {
  try {
    const verifier = createVerifier({
      key: services.keys.jwks(),
      algorithms: [services.config.signingAlg],
      issuer: services.config.issuer,
      typ: 'at+jwt',
    });
    const { payload, protectedHeader } = verifier.verify(jwt);
    const revoked = services.revocations.isRevoked(payload);
    out.note(revoked ? red('revoked') : green('valid'));
    show({ valid: !revoked, revoked, header: protectedHeader, payload }, out.json);
    return revoked ? 1 : 0;
  } catch (err) {
    if (!isJoseError(err)) throw err;
    if (out.json) show({ valid: false, code: err.code, message: err.message }, true);
    else process.stderr.write(`${red('invalid')}: ${err.code} ${err.message}\n`);
    return 1;
  }
}

async function sign(services: Services, { values, out }: CommandContext): Promise<number> {
  const user = await subject(services, values.user as string | undefined, values.sub as string | undefined);
  const issued = services.accessTokens.issue(
    user,
    { familyId: 'cli', clientId: 'cli', scope: (values.scope as string | undefined) ?? '' },
    (values.aud as string | undefined) ?? services.config.audience,
  );
  out.print({ access_token: issued.token, expires_in: issued.expiresIn }, issued.token);
  return 0;
}

/** The user a token is minted for: by name (`--user`) or by id (`--sub`), exactly one of them. */
async function subject(
  services: Services,
  username: string | undefined,
  id: string | undefined,
): Promise<User> {
  if ((username === undefined) === (id === undefined))
    throw new UsageError('tessera token sign needs --user <username> or --sub <user id>');
  const found =
    username !== undefined ? await services.users.byUsername(username) : await services.users.byId(id!);
  if (!found)
    throw new UsageError(
      username !== undefined
        ? `no user ${JSON.stringify(username)}`
        : `no user with id ${JSON.stringify(id)}`,
    );
  return found;
}
