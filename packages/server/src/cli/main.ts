#!/usr/bin/env node
import { randomBytes } from 'node:crypto';
import { realpathSync } from 'node:fs';
import { createServer as createNetServer } from 'node:net';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import {
  createVerifier,
  decodeJwtUnverified,
  decodeProtectedHeader,
  exportJwk,
  exportPem,
  generateKeyPair,
  isJoseError,
} from '@tessera/jose';
import { type Config, ConfigError, describeConfig, loadConfig } from '../config.js';
// The HTTP server and the store load on demand: `--help` and `keygen` start without them.
import { endEverySession } from '../revocation/sessions.js';
import type { Services } from '../services.js';
import type { ClientType } from '../store/clients.js';

const HELP: Record<string, string> = {
  '': `tessera — the Tessera auth server

Usage: tessera <command> [options]

Commands:
  serve                       run the server (default 127.0.0.1:4000, data in ./.tessera)
  user add|list|disable|set-password   manage users
  client add|list             manage OAuth clients
  keys list|rotate            inspect and rotate signing keys
  token decode|verify|sign    look inside, check or mint access tokens
  keygen                      generate a key (--alg ES256) or a master key (--master)

Every command takes --help. Settings come from flags or TESSERA_* variables; see the README.`,
  serve: `tessera serve [--host 127.0.0.1] [--port 4000] [--data-dir .tessera] [--issuer URL]
                  [--database-url postgres://…] [--signing-alg ES256] [--access-token-ttl 15m]
                  [--refresh-idle-ttl 14d] [--refresh-absolute-ttl 30d] [--refresh-grace 5s]
                  [--key-rotation-interval 30d] [--log-level info]
Runs the server. The first start creates an "admin" user and prints its password once
(or uses TESSERA_ADMIN_PASSWORD).`,
  user: `tessera user add <username> [--password-stdin] [--role r]…   (prints a generated password unless --password-stdin)
tessera user list [--json]
tessera user disable <username>        (ends every session of the user)
tessera user set-password <username> [--password-stdin]   (ends every session of the user)`,
  client: `tessera client add <client_id> --type public|confidential --audience <aud>… [--scope "a b"] [--name N]
tessera client list [--json]
A confidential client's secret is printed once and stored only as a hash.`,
  keys: `tessera keys list [--json]
tessera keys rotate     (next → current, current → retired, a new next key is published)`,
  token: `tessera token decode <token> [--json]     (reads a JWT without verifying it)
tessera token verify <token> [--json]     (verifies with this server's published keys)
tessera token sign --sub <user id> [--scope s] [--aud a] [--json]   (mints an access token with the current key)`,
  keygen: `tessera keygen --alg ES256 [--json]   (prints a private JWK and its PEM)
tessera keygen --master                (prints a TESSERA_MASTER_KEY value)`,
};

const color = process.stdout.isTTY && !process.env.NO_COLOR;
const paint = (code: number) => (text: string) => (color ? `\u001b[${code}m${text}\u001b[0m` : text);
const bold = paint(1);
const dim = paint(2);
const green = paint(32);
const red = paint(31);
const yellow = paint(33);

class UsageError extends Error {}

/** The server cannot take its address: a one-line message, exit 1. */
class ListenError extends Error {
  constructor(host: string, port: number, cause: NodeJS.ErrnoException) {
    const where = `${host.includes(':') ? `[${host}]` : host}:${port}`;
    const why =
      cause.code === 'EADDRINUSE'
        ? 'the port is in use (another server running? choose one with --port or TESSERA_PORT)'
        : cause.code === 'EACCES'
          ? 'permission denied (ports below 1024 need privileges)'
          : cause.code === 'EADDRNOTAVAIL'
            ? 'no such address on this machine (check --host or TESSERA_HOST)'
            : (cause.code ?? cause.message);
    super(`cannot listen on ${where}: ${why}`);
    this.name = 'ListenError';
  }
}

/**
 * Binds and releases the address before anything else happens, so a busy port fails at once instead
 * of after the first-start setup (data directory, admin user, keys). The real listen still decides:
 * another process may take the port in between, and that failure gets the same message.
 */
async function assertCanListen(host: string, port: number | undefined): Promise<void> {
  if (port === undefined || port === 0) return;
  await new Promise<void>((resolve, reject) => {
    const probe = createNetServer();
    probe.once('error', (err: NodeJS.ErrnoException) => reject(new ListenError(host, port, err)));
    probe.listen({ host, port, exclusive: true }, () => probe.close(() => resolve()));
  });
}

export async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      help: { type: 'boolean', short: 'h' },
      json: { type: 'boolean' },
      host: { type: 'string' },
      port: { type: 'string' },
      'data-dir': { type: 'string' },
      issuer: { type: 'string' },
      'database-url': { type: 'string' },
      audience: { type: 'string', multiple: true },
      'signing-alg': { type: 'string' },
      'access-token-ttl': { type: 'string' },
      'refresh-idle-ttl': { type: 'string' },
      'refresh-absolute-ttl': { type: 'string' },
      'refresh-grace': { type: 'string' },
      'key-rotation-interval': { type: 'string' },
      'log-level': { type: 'string' },
      'password-stdin': { type: 'boolean' },
      role: { type: 'string', multiple: true },
      type: { type: 'string' },
      scope: { type: 'string' },
      name: { type: 'string' },
      sub: { type: 'string' },
      aud: { type: 'string' },
      alg: { type: 'string' },
      master: { type: 'boolean' },
    },
  });
  const [command = '', sub, ...rest] = positionals;
  if (values.help || command === '' || command === 'help') {
    const topic = command === 'help' ? (sub ?? '') : command;
    if (!Object.hasOwn(HELP, topic))
      throw new UsageError(`unknown command ${JSON.stringify(topic)}; try tessera --help`);
    process.stdout.write(`${HELP[topic]}\n`);
    return command === '' && !values.help ? 1 : 0;
  }
  const flags: Record<string, string | undefined> = {};
  for (const name of [
    'host',
    'port',
    'data-dir',
    'issuer',
    'database-url',
    'signing-alg',
    'access-token-ttl',
    'refresh-idle-ttl',
    'refresh-absolute-ttl',
    'refresh-grace',
    'key-rotation-interval',
    'log-level',
  ] as const) {
    flags[name] = values[name];
  }
  flags.audience = command === 'serve' ? values.audience?.[0] : undefined;
  const config = loadConfig(process.env, flags);
  const json = values.json === true;
  switch (command) {
    case 'serve':
      return serve(config);
    case 'keygen':
      return keygen(values.alg, values.master === true, json);
    case 'user':
    case 'client':
    case 'keys':
    case 'token': {
      const { createServices } = await import('../services.js');
      const services = await createServices(config);
      try {
        if (command === 'user') return await user(services, sub, rest, values, json);
        if (command === 'client') return await client(services, sub, rest, values, json);
        if (command === 'keys') return await keys(services, sub, json);
        return await token(services, sub, rest, values, json);
      } finally {
        await services.close();
      }
    }
    default:
      throw new UsageError(`unknown command ${JSON.stringify(command)}; try tessera --help`);
  }
}

async function serve(config: Config): Promise<number> {
  await assertCanListen(config.host, config.port);
  await assertCanListen(config.metricsHost, config.metricsPort);
  const { createServer } = await import('../server.js');
  const server = await createServer(config);
  const { services } = server;
  if (services.masterKey.origin !== 'env') {
    process.stderr.write(
      `${yellow(bold('WARNING'))} ${yellow('no TESSERA_MASTER_KEY: signing keys are sealed with the development key file')} ${config.dataDir}/master.key\n` +
        `${yellow('         do not use this in production; set TESSERA_MASTER_KEY (tessera keygen --master).')}\n`,
    );
  }
  if ((await services.users.list()).length === 0) {
    const password = config.adminPassword ?? randomBytes(18).toString('base64url');
    const { UserExists } = await import('../store/users.js');
    // Several instances starting on one new database: only the one that creates it says so.
    const created = await services.users.create('admin', password, { roles: ['admin'] }).then(
      () => true,
      (err: unknown) => {
        if (err instanceof UserExists) return false;
        throw err;
      },
    );
    if (created) {
      await services.audit.record({ type: 'user_created', detail: { username: 'admin' } });
      process.stdout.write(
        config.adminPassword
          ? `${green('created user')} admin (password from TESSERA_ADMIN_PASSWORD)\n`
          : `${green('created user')} admin with password ${bold(password)}  ${dim('(shown once)')}\n`,
      );
    }
  }
  process.stdout.write(`${dim('configuration')} ${JSON.stringify(describeConfig(config))}\n`);
  const url = await server
    .listen()
    .catch(async (err: NodeJS.ErrnoException & { address?: string; port?: number }) => {
      await server.close();
      // The main listener or the metrics one: the error names the address it could not take.
      throw err.syscall === 'listen'
        ? new ListenError(err.address ?? config.host, err.port ?? config.port, err)
        : err;
    });
  process.stdout.write(
    `${green('Tessera is running')}\n  issuer  ${config.issuer}\n  jwks    ${config.issuer}/.well-known/jwks.json\n  listen  ${url}\n` +
      `  log in  curl -s ${config.issuer}/login -H 'content-type: application/json' -d '{"username":"admin","password":"…"}'\n`,
  );
  const stop = async () => {
    await server.close();
    process.exit(0);
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  return new Promise<number>(() => {});
}

async function readPassword(fromStdin: boolean): Promise<{ password: string; generated: boolean }> {
  if (!fromStdin) return { password: randomBytes(18).toString('base64url'), generated: true };
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return {
    password: Buffer.concat(chunks)
      .toString('utf8')
      .replace(/\r?\n$/, ''),
    generated: false,
  };
}

type Values = Record<string, string | boolean | string[] | undefined>;

async function user(
  services: Services,
  sub: string | undefined,
  args: string[],
  values: Values,
  json: boolean,
): Promise<number> {
  if (sub !== 'add' && sub !== 'list' && sub !== 'disable' && sub !== 'set-password')
    throw new UsageError('usage: tessera user add|list|disable|set-password');
  const print = (value: unknown, text: string) =>
    process.stdout.write(json ? `${JSON.stringify(value)}\n` : `${text}\n`);
  if (sub === 'list') {
    const users = await services.users.list();
    const rows = users.map((u) => ({
      id: u.id,
      username: u.username,
      disabled: u.disabled,
      roles: u.roles,
      tokenVersion: u.tokenVersion,
    }));
    print(
      rows,
      rows
        .map(
          (u) =>
            `${u.disabled ? red('disabled') : green('active  ')} ${bold(u.username)} ${dim(u.id)} ${u.roles.join(',')}`,
        )
        .join('\n') || dim('no users'),
    );
    return 0;
  }
  const username = args[0];
  if (!username) throw new UsageError('a username is required');
  if (sub === 'add') {
    const { password, generated } = await readPassword(values['password-stdin'] === true);
    try {
      const created = await services.users.create(username, password, {
        roles: (values.role as string[] | undefined) ?? [],
      });
      await services.audit.record({ type: 'user_created', userId: created.id, detail: { username } });
      print(
        { id: created.id, username, ...(generated ? { password } : {}) },
        `${green('created')} ${bold(username)} ${dim(created.id)}${generated ? `\npassword ${bold(password)} ${dim('(shown once)')}` : ''}`,
      );
      return 0;
    } catch (err) {
      const { UserExists } = await import('../store/users.js'); // loaded already, by the services
      if (err instanceof UserExists || err instanceof TypeError) throw new UsageError(err.message);
      throw err;
    }
  }
  const found = await services.users.byUsername(username);
  if (!found) throw new UsageError(`no user ${JSON.stringify(username)}`);
  if (sub === 'disable') {
    await endEverySession(services, found.id, (trx) => services.users.disable(found.id, trx), 'disabled');
    await services.audit.record({ type: 'user_disabled', userId: found.id });
    print({ id: found.id, disabled: true }, `${red('disabled')} ${bold(username)}; every session ended`);
    return 0;
  }
  if (sub === 'set-password') {
    const { password, generated } = await readPassword(values['password-stdin'] === true);
    // Loaded already, by the services. Validated and hashed before the transaction: argon2 takes a while.
    const { validatePassword } = await import('../store/users.js');
    const { hashPassword } = await import('../passwords.js');
    const problem = validatePassword(password);
    if (problem) throw new UsageError(problem);
    const passwordHash = await hashPassword(password);
    await endEverySession(
      services,
      found.id,
      (trx) => services.users.setPasswordHash(found.id, passwordHash, trx),
      'password_changed',
    );
    await services.audit.record({ type: 'password_changed', userId: found.id });
    print(
      { id: found.id, ...(generated ? { password } : {}) },
      `${green('password changed')} for ${bold(username)}; every session ended${generated ? `\npassword ${bold(password)} ${dim('(shown once)')}` : ''}`,
    );
    return 0;
  }
  throw new UsageError('usage: tessera user add|list|disable|set-password');
}

async function client(
  services: Services,
  sub: string | undefined,
  args: string[],
  values: Values,
  json: boolean,
): Promise<number> {
  if (sub === 'list') {
    const clients = await services.clients.list();
    const rows = clients.map(({ secretHash: _, ...c }) => c);
    process.stdout.write(
      json
        ? `${JSON.stringify(rows)}\n`
        : `${rows.map((c) => `${bold(c.clientId)} ${c.type} aud=${c.audiences.join(',')} scope="${c.scopes.join(' ')}"`).join('\n')}\n`,
    );
    return 0;
  }
  if (sub !== 'add') throw new UsageError('usage: tessera client add|list');
  const clientId = args[0];
  if (!clientId) throw new UsageError('a client_id is required');
  const type = values.type as ClientType | undefined;
  if (type !== 'public' && type !== 'confidential')
    throw new UsageError('--type must be public or confidential');
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
  process.stdout.write(
    json
      ? `${JSON.stringify({ client_id: added.clientId, type, ...(secret ? { client_secret: secret } : {}) })}\n`
      : `${green('added client')} ${bold(added.clientId)} (${type})${secret ? `\nclient_secret ${bold(secret)} ${dim('(shown once)')}` : ''}\n`,
  );
  return 0;
}

async function keys(services: Services, sub: string | undefined, json: boolean): Promise<number> {
  if (sub === 'rotate') {
    await services.keys.rotate();
    await services.audit.record({ type: 'key_rotated' });
  } else if (sub !== 'list') {
    throw new UsageError('usage: tessera keys list|rotate');
  }
  const list = await services.keys.list();
  const when = (ms: number | null) => (ms === null ? '-' : new Date(ms).toISOString());
  process.stdout.write(
    json
      ? `${JSON.stringify(list)}\n`
      : `${list.map((k) => `${(k.state === 'current' ? green : k.state === 'next' ? yellow : dim)(k.state.padEnd(8))} ${bold(k.kid)} ${k.alg} created ${when(k.createdAt)}${k.expiresAt ? ` published until ${when(k.expiresAt)}` : ''}`).join('\n')}\n`,
  );
  return 0;
}

async function token(
  services: Services,
  sub: string | undefined,
  args: string[],
  values: Values,
  json: boolean,
): Promise<number> {
  const show = (value: unknown) => process.stdout.write(`${JSON.stringify(value, null, json ? 0 : 2)}\n`);
  if (sub === 'sign') {
    const subject = values.sub as string | undefined;
    if (!subject) throw new UsageError('--sub <user id> is required');
    const found = await services.users.byId(subject);
    if (!found) throw new UsageError(`no user with id ${JSON.stringify(subject)}`);
    const issued = services.accessTokens.issue(
      found,
      { familyId: 'cli', clientId: 'cli', scope: (values.scope as string | undefined) ?? '' },
      (values.aud as string | undefined) ?? services.config.audience,
    );
    process.stdout.write(
      json
        ? `${JSON.stringify({ access_token: issued.token, expires_in: issued.expiresIn })}\n`
        : `${issued.token}\n`,
    );
    return 0;
  }
  const jwt = args[0];
  if (!jwt) throw new UsageError('a token is required');
  if (sub === 'decode') {
    process.stderr.write(json ? '' : `${yellow('not verified')}: this only shows what the token says\n`);
    show({ header: decodeProtectedHeader(jwt), payload: decodeJwtUnverified(jwt) });
    return 0;
  }
  if (sub === 'verify') {
    try {
      const verifier = createVerifier({
        key: services.keys.jwks(),
        algorithms: [services.config.signingAlg],
        issuer: services.config.issuer,
        typ: 'at+jwt',
      });
      const { payload, protectedHeader } = verifier.verify(jwt);
      const revoked = services.revocations.isRevoked(payload);
      if (!json) process.stderr.write(revoked ? `${red('revoked')}\n` : `${green('valid')}\n`);
      show({ valid: !revoked, revoked, header: protectedHeader, payload });
      return revoked ? 1 : 0;
    } catch (err) {
      if (!isJoseError(err)) throw err;
      if (!json) process.stderr.write(`${red('invalid')}: ${err.code} ${err.message}\n`);
      else show({ valid: false, code: err.code, message: err.message });
      return 1;
    }
  }
  throw new UsageError('usage: tessera token decode|verify|sign');
}

async function keygen(alg: unknown, master: boolean, json: boolean): Promise<number> {
  if (master) {
    const key = randomBytes(32).toString('base64url');
    process.stdout.write(
      json ? `${JSON.stringify({ TESSERA_MASTER_KEY: key })}\n` : `TESSERA_MASTER_KEY=${key}\n`,
    );
    return 0;
  }
  if (typeof alg !== 'string') throw new UsageError('--alg is required, e.g. --alg ES256');
  const { privateKey } = await generateKeyPair(alg);
  const jwk = exportJwk(privateKey);
  process.stdout.write(
    json
      ? `${JSON.stringify({ jwk, pem: exportPem(privateKey) })}\n`
      : `${JSON.stringify(jwk, null, 2)}\n${exportPem(privateKey)}`,
  );
  return 0;
}

// Run when executed as the `tessera` binary.
if (process.argv[1] && import.meta.url === pathToFileURL(realpathSync(process.argv[1])).href) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      if (
        err instanceof UsageError ||
        err instanceof ConfigError ||
        // Unknown option, missing or unexpected option value, unexpected positional.
        String((err as { code?: unknown }).code).startsWith('ERR_PARSE_ARGS_')
      ) {
        process.stderr.write(`${red('error')}: ${(err as Error).message}\n`);
        process.exit(2);
      }
      if (err instanceof ListenError) {
        process.stderr.write(`${red('error')}: ${err.message}\n`);
        process.exit(1);
      }
      if (isJoseError(err)) {
        process.stderr.write(`${red('error')}: ${err.code}: ${err.message}\n`);
        process.exit(1);
      }
      process.stderr.write(`${red('error')}: ${(err as Error).stack ?? String(err)}\n`);
      process.exit(1);
    },
  );
}
