/**
 * A command used wrongly, or a setting or input it cannot accept: one line on stderr, exit 2. The
 * message says what was expected; it never repeats a secret it was given.
 */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/**
 * The command was understood but could not be done (a rotation too soon, a busy port): one line on
 * stderr, exit 1, no stack trace. The message says what to do instead.
 */
export class CommandFailed extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CommandFailed';
  }
}

/** `serve` cannot take its address (busy port, no permission, no such address). */
export class ListenError extends CommandFailed {
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
