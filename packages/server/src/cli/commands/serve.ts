import { randomBytes } from 'node:crypto';
import { createServer as createNetServer } from 'node:net';
import { type Config, describeConfig } from '../../config.js';
import type { Command } from '../command.js';
import { ListenError, UsageError } from '../errors.js';
import { settingsHelp } from '../help.js';
import { bold, dim, green, yellow } from '../output.js';

/** `tessera serve`: runs the server; the first start of a data directory sets it up. */
export const serveCommand: Command = {
  name: 'serve',
  summary: 'run the server (default 127.0.0.1:4000, data in ./.tessera)',
  help: () => `tessera serve [settings…] [--print-config [--json]]
Runs the server. The first start of a data directory creates it (the SQLite database, a development
master key unless TESSERA_MASTER_KEY is set, signing keys) and an "admin" user, whose password is
printed once (or taken from TESSERA_ADMIN_PASSWORD). A busy port fails before any of that.
--print-config prints the effective configuration (secrets redacted) and exits.

${settingsHelp()}`,
  options: { 'print-config': { type: 'boolean' } },
  settings: true,
  async run({ sub, values, out, config: load }) {
    if (sub !== undefined)
      throw new UsageError(`tessera serve takes no ${JSON.stringify(sub)}; try tessera serve --help`);
    const config = load();
    if (values['print-config'] === true) {
      const described = describeConfig(config);
      out.print(
        described,
        Object.entries(described)
          .map(([key, value]) => `${key} ${value}`)
          .join('\n'),
      );
      return 0;
    }
    return serve(config);
  },
};

async function serve(config: Config): Promise<number> {
  await assertCanListen(config.host, config.port);
  await assertCanListen(config.metricsHost, config.metricsPort);
  // Loaded only to serve: --help and the other commands start without the HTTP server.
  const { createServer } = await import('../../server.js');
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
    const { UserExists } = await import('../../store/users.js');
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
