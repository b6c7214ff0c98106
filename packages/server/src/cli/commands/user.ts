import { randomBytes } from 'node:crypto';
import { endEverySession } from '../../revocation/sessions.js';
import type { Services } from '../../services.js';
import type { User, UserProfile } from '../../store/users.js';
import type { Command, CommandContext } from '../command.js';
import { UsageError } from '../errors.js';
import { bold, dim, green, red } from '../output.js';
import { withStore } from '../store.js';

const USAGE =
  'usage: tessera user add|list|update|enable|disable|delete|set-password|set-roles|set-permissions';

/** `tessera user`: accounts, their profiles, passwords, roles and permissions. */
export const userCommand: Command = {
  name: 'user',
  summary: 'add, list, update, enable, disable, delete users; set passwords, roles, permissions',
  help: () => `tessera user add <username> [--password-stdin] [--role r]… [--permission p]… [profile]
    (without --password-stdin a password is generated and printed once)
tessera user list [--json]
tessera user update <username> [profile]
    profile (OIDC claims, in ID tokens and /userinfo for the profile and email scopes):
    --name N                                 the full name (name claim); --name '' removes it
    --email E                                the email address; --email '' removes it; another
                                             address is unverified unless --email-verified is given
    --email-verified | --no-email-verified   whether the address was checked as the user's
tessera user enable <username>
tessera user disable <username>        (ends every session of the user)
tessera user delete <username>         (ends every session, then deletes the account)
tessera user set-password <username> --password-stdin | --generate   (ends every session)
tessera user set-roles <username> [role…]              (the whole list; none clears it)
tessera user set-permissions <username> [permission…]
    Removing a role or permission ends every session of the user, so no token keeps it;
    added ones appear in the next token (refresh or login).
Passwords: 12 to 1024 characters; with --password-stdin, one line on standard input.`,
  options: {
    'password-stdin': { type: 'boolean' },
    generate: { type: 'boolean' },
    role: { type: 'string', multiple: true },
    permission: { type: 'string', multiple: true },
    name: { type: 'string' },
    email: { type: 'string' },
    'email-verified': { type: 'boolean' },
    'no-email-verified': { type: 'boolean' },
  },
  settings: true,
  async run(context) {
    const { sub } = context;
    if (sub === 'list') return withStore(context.config(), (services) => list(services, context));
    if (
      sub !== 'add' &&
      sub !== 'update' &&
      sub !== 'enable' &&
      sub !== 'disable' &&
      sub !== 'delete' &&
      sub !== 'set-password' &&
      sub !== 'set-roles' &&
      sub !== 'set-permissions'
    )
      throw new UsageError(USAGE);
    const [username, ...rest] = context.args;
    if (!username) throw new UsageError(`a username is required: tessera user ${sub} <username>`);
    if (sub !== 'set-roles' && sub !== 'set-permissions' && rest.length)
      throw new UsageError(`unexpected ${JSON.stringify(rest[0])}; try tessera user --help`);
    // Checked before the store opens: a usage error must not wait on it.
    const profile = sub === 'add' || sub === 'update' ? profileChanges(context) : {};
    if (sub === 'add') return add(context, username, profile);
    // Read before the store opens: a usage error must not wait on it.
    const password = sub === 'set-password' ? await newPassword(context) : undefined;
    const grants = sub === 'set-roles' || sub === 'set-permissions' ? names(rest, sub.slice(4, -1)) : [];
    return withStore(context.config(), async (services) => {
      const found = await services.users.byUsername(username);
      if (!found) throw new UsageError(`no user ${JSON.stringify(username)}`);
      if (sub === 'update') return update(services, context, found, profile);
      if (sub === 'enable') return enable(services, context, found);
      if (sub === 'disable') return disable(services, context, found);
      if (sub === 'delete') return remove(services, context, found);
      if (sub === 'set-password') return setPassword(services, context, found, password!);
      return setGrants(services, context, found, sub === 'set-roles' ? 'roles' : 'permissions', grants);
    });
  },
};

async function list(services: Services, { out }: CommandContext): Promise<number> {
  const rows = (await services.users.list()).map((u) => ({
    id: u.id,
    username: u.username,
    disabled: u.disabled,
    roles: u.roles,
    permissions: u.permissions,
    profile: u.profile,
    tokenVersion: u.tokenVersion,
  }));
  out.print(
    rows,
    rows
      .map(
        (u) =>
          `${u.disabled ? red('disabled') : green('active  ')} ${bold(u.username)} ${dim(u.id)} ${u.roles.join(',')}${describeProfile(u.profile)}`,
      )
      .join('\n') || dim('no users'),
  );
  return 0;
}

/** The name and email as a list line shows them: `"Bob Smith" <bob@example.com> (verified)`. */
function describeProfile(profile: UserProfile): string {
  const parts = [
    profile.name === undefined ? '' : JSON.stringify(profile.name),
    profile.email === undefined ? '' : `<${profile.email}>${profile.emailVerified ? ' (verified)' : ''}`,
  ].filter(Boolean);
  return parts.length ? ` ${parts.join(' ')}` : '';
}

/** What the store's setProfile takes: `null` removes a claim. */
interface ProfileChanges {
  name?: string | null;
  email?: string | null;
  emailVerified?: boolean;
}

/** --name, --email (an empty value removes it) and --email-verified / --no-email-verified. */
function profileChanges({ sub, values }: CommandContext): ProfileChanges {
  if (values['email-verified'] === true && values['no-email-verified'] === true)
    throw new UsageError('give --email-verified or --no-email-verified, not both');
  const cleared = (value: unknown) => (typeof value !== 'string' ? undefined : value === '' ? null : value);
  const name = cleared(values.name);
  const email = cleared(values.email);
  if (sub === 'add' && values['email-verified'] === true && typeof email !== 'string')
    throw new UsageError('--email-verified needs --email: only an address the user has can be verified');
  return {
    ...(name !== undefined ? { name } : {}),
    ...(email !== undefined ? { email } : {}),
    ...(values['email-verified'] === true
      ? { emailVerified: true }
      : values['no-email-verified'] === true
        ? { emailVerified: false }
        : {}),
  };
}

async function update(
  services: Services,
  { out }: CommandContext,
  user: User,
  changes: ProfileChanges,
): Promise<number> {
  if (Object.keys(changes).length === 0)
    throw new UsageError('nothing to change: give --name, --email, --email-verified or --no-email-verified');
  await services.users.setProfile(user.id, changes).catch((err: unknown) => {
    throw err instanceof TypeError ? new UsageError(err.message) : err;
  });
  const { profile } = (await services.users.byId(user.id))!;
  // Which claims changed, not their values: the audit log keeps no more personal data than it needs.
  await services.audit.record({
    type: 'profile_changed',
    userId: user.id,
    detail: { changed: Object.keys(changes) },
  });
  out.print(
    { id: user.id, username: user.username, profile },
    `${green('updated')} ${bold(user.username)}${describeProfile(profile) || dim(' (no name or email)')}`,
  );
  return 0;
}

async function add(context: CommandContext, username: string, profile: ProfileChanges): Promise<number> {
  const { values, out } = context;
  const roles = names((values.role as string[] | undefined) ?? [], 'role');
  const permissions = names((values.permission as string[] | undefined) ?? [], 'permission');
  const generated = values['password-stdin'] !== true;
  const password = generated ? generatePassword() : await passwordFromStdin();
  return withStore(context.config(), async (services) => {
    const { UserExists } = await import('../../store/users.js');
    const created = await services.users
      .create(username, password, {
        roles,
        permissions,
        ...(typeof profile.name === 'string' ? { name: profile.name } : {}),
        ...(typeof profile.email === 'string' ? { email: profile.email } : {}),
        ...(profile.emailVerified !== undefined ? { emailVerified: profile.emailVerified } : {}),
      })
      .catch((err: unknown) => {
        // TypeError: a username or password the store refuses (the message says which rule).
        if (err instanceof UserExists || err instanceof TypeError) throw new UsageError(err.message);
        throw err;
      });
    await services.audit.record({ type: 'user_created', userId: created.id, detail: { username } });
    out.print(
      { id: created.id, username, ...(generated ? { password } : {}) },
      `${green('created')} ${bold(username)} ${dim(created.id)}${generated ? `\npassword ${bold(password)} ${dim('(shown once)')}` : ''}`,
    );
    return 0;
  });
}

async function enable(services: Services, { out }: CommandContext, user: User): Promise<number> {
  // Tokens from before the account was disabled stay invalid: disabling raised the token version.
  await services.users.enable(user.id);
  await services.audit.record({ type: 'user_enabled', userId: user.id });
  out.print({ id: user.id, disabled: false }, `${green('enabled')} ${bold(user.username)}`);
  return 0;
}

async function disable(services: Services, { out }: CommandContext, user: User): Promise<number> {
  await endEverySession(services, user.id, (trx) => services.users.disable(user.id, trx), 'disabled', [
    { name: 'account-disabled', userId: user.id },
  ]);
  await services.audit.record({ type: 'user_disabled', userId: user.id });
  out.print(
    { id: user.id, disabled: true },
    `${red('disabled')} ${bold(user.username)}; every session ended`,
  );
  return 0;
}

async function remove(services: Services, { out }: CommandContext, user: User): Promise<number> {
  // First disabled, every session ended and every token revoked (guards included, through the `sub`
  // entry), in one transaction; then the account and its sessions' rows go. Should the second step
  // fail, the account is left disabled and logged out, and running the command again finishes it.
  // Receivers hear it as disabled (RISC account-disabled): it is, from this step on.
  await endEverySession(services, user.id, (trx) => services.users.disable(user.id, trx), 'deleted', [
    { name: 'account-disabled', userId: user.id },
  ]);
  await services.users.delete(user.id);
  await services.audit.record({ type: 'user_deleted', userId: user.id, detail: { username: user.username } });
  out.print({ id: user.id, deleted: true }, `${red('deleted')} ${bold(user.username)}; every session ended`);
  return 0;
}

async function setPassword(
  services: Services,
  { out, values }: CommandContext,
  user: User,
  password: string,
): Promise<number> {
  // Loaded already, by the services. Validated and hashed before the transaction: argon2 takes a while.
  const { validatePassword } = await import('../../store/users.js');
  const { hashPassword } = await import('../../passwords.js');
  const problem = validatePassword(password);
  if (problem) throw new UsageError(problem);
  const passwordHash = await hashPassword(password);
  await endEverySession(
    services,
    user.id,
    (trx) => services.users.setPasswordHash(user.id, passwordHash, trx),
    'password_changed',
    [{ name: 'credential-change', userId: user.id, initiatingEntity: 'admin' }],
  );
  await services.audit.record({ type: 'password_changed', userId: user.id });
  const generated = values.generate === true;
  out.print(
    { id: user.id, ...(generated ? { password } : {}) },
    `${green('password changed')} for ${bold(user.username)}; every session ended${generated ? `\npassword ${bold(password)} ${dim('(shown once)')}` : ''}`,
  );
  return 0;
}

async function setGrants(
  services: Services,
  { out }: CommandContext,
  user: User,
  kind: 'roles' | 'permissions',
  granted: string[],
): Promise<number> {
  const set = (executor?: Parameters<typeof services.users.setRoles>[2]) =>
    kind === 'roles'
      ? services.users.setRoles(user.id, granted, executor)
      : services.users.setPermissions(user.id, granted, executor);
  const removed = user[kind].filter((name) => !granted.includes(name));
  if (removed.length) {
    // Access tokens carry roles and permissions (RFC 9068 §2.2.3.1 style claims) until they expire;
    // a removed one must stop working now, so every token of the user below the new version goes.
    await endEverySession(
      services,
      user.id,
      async (trx) => {
        await set(trx);
        return services.users.bumpTokenVersion(user.id, trx);
      },
      `${kind}_changed`,
    );
  } else {
    await set();
  }
  await services.audit.record({
    type: kind === 'roles' ? 'roles_changed' : 'permissions_changed',
    userId: user.id,
    detail: { [kind]: granted, removed },
  });
  out.print(
    { id: user.id, [kind]: granted, sessionsEnded: removed.length > 0 },
    `${green(`${kind} set`)} for ${bold(user.username)}: ${granted.join(' ') || dim('none')}${removed.length ? `; removed ${removed.join(' ')}, every session ended` : ''}`,
  );
  return 0;
}

/** Role and permission names: claims in every access token, so short and without spaces or controls. */
function names(list: string[], what: string): string[] {
  for (const name of list) {
    if (!/^[\x21-\x7e]{1,128}$/.test(name))
      throw new UsageError(
        `${what} names are 1–128 printable ASCII characters without spaces, got ${JSON.stringify(name)}`,
      );
  }
  return [...new Set(list)];
}

/** set-password needs the password on stdin, or --generate: never a silent random password. */
async function newPassword({ values }: CommandContext): Promise<string> {
  const stdin = values['password-stdin'] === true;
  const generate = values.generate === true;
  if (stdin === generate)
    throw new UsageError(
      'tessera user set-password needs --password-stdin (the new password on standard input) or --generate (a random one, printed once)',
    );
  return generate ? generatePassword() : passwordFromStdin();
}

function generatePassword(): string {
  return randomBytes(18).toString('base64url');
}

/** The password piped in, without its line ending. */
async function passwordFromStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
}
