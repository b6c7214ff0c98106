import { hostname, userInfo } from 'node:os';
import { createVerifier, decodeJwtUnverified, decodeProtectedHeader, isJoseError } from '@tessera/jose';
import type { Services } from '../../services.js';
import { scopeProblem } from '../../store/clients.js';
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
tessera token sign --user <username> | --sub <user id> [--scope "a b"] [--aud <aud>]… [--json]
    (mints an access token with the current signing key, in a session of its own: /logout with the
    token, or anything that ends the user's sessions, revokes it. Refused for a disabled user.
    Audited: who minted it, for whom, jti, sid, scope, aud; never the token. The default audience is
    the server's audience setting; /userinfo and /logout accept only tokens naming the issuer.)`,
  options: {
    sub: { type: 'string' },
    user: { type: 'string' },
    scope: { type: 'string' },
    aud: { type: 'string', multiple: true },
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

/** The client id of minted tokens' sessions: no registered client, so no refresh can use them. */
export const MINTED_CLIENT_ID = 'tessera-cli';

/**
 * Mints an access token for a user. It gets a real session (a refresh-token family whose refresh
 * token is never shown), so its `sid` is revocable like a login's: /logout with the token, log out
 * everywhere, a password change or disabling the user all end it. Every minted token is audited.
 */
async function sign(services: Services, { values, out }: CommandContext): Promise<number> {
  const scopes = ((values.scope as string | undefined) ?? '').split(/ +/).filter(Boolean);
  for (const scope of scopes) {
    const problem = scopeProblem(scope);
    if (problem) throw new UsageError(problem);
  }
  const user = await subject(services, values.user as string | undefined, values.sub as string | undefined);
  // A disabled account gets no token; the server would refuse it anyway, guards would not know.
  if (user.disabled)
    throw new UsageError(`user ${JSON.stringify(user.username)} is disabled: no token is minted for it`);
  const scope = [...new Set(scopes)].join(' ');
  const audiences = (values.aud as string[] | undefined) ?? [services.config.audience];
  const session = await services.refreshTokens.start(user.id, MINTED_CLIENT_ID, scope);
  const issued = services.accessTokens.issue({
    user,
    clientId: MINTED_CLIENT_ID,
    scope,
    sid: session.familyId,
    audience: audiences.length === 1 ? audiences[0]! : audiences,
    ttl: services.config.accessTokenTtl,
  });
  const { jti, exp } = decodeJwtUnverified(issued.token);
  await services.audit.record({
    type: 'token_minted',
    userId: user.id,
    clientId: MINTED_CLIENT_ID,
    detail: { mintedBy: operator(), jti, sid: session.familyId, scope, aud: audiences, exp },
  });
  out.print({ access_token: issued.token, expires_in: issued.expiresIn }, issued.token);
  return 0;
}

/** Who ran the command, for the audit row: the account (through sudo, the one who ran sudo) and host. */
function operator(): string {
  let account = process.env.SUDO_USER;
  if (!account) {
    try {
      account = userInfo().username;
    } catch {
      account = `uid ${process.getuid?.() ?? '?'}`;
    }
  }
  return `${account}@${hostname()}`;
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
