/**
 * Where the guard reports what happens: a pino or bunyan logger fits, and so does `console`-like
 * glue. Only `warn` is required; without `error` errors go to `warn`, without `info` or `debug`
 * those lines are dropped. The guard never passes it a token, an Authorization header, a client
 * secret or a revocation's value.
 */
export interface GuardLogger {
  /** Configuration errors an operator must fix (the issuer refuses the guard's client, start-up failed). */
  error?(fields: object, message: string): void;
  /** Trouble an operator should look at (revocation feed down, 503 answers, fail-open acceptance). */
  warn(fields: object, message: string): void;
  /** Recoveries (a feed live again). */
  info?(fields: object, message: string): void;
  /** Every refused request, by default (a bad, expired or revoked token is routine for an API). */
  debug?(fields: object, message: string): void;
}

export type LogLevel = 'error' | 'warn' | 'info' | 'debug';
export const LOG_LEVELS: readonly LogLevel[] = ['error', 'warn', 'info', 'debug'];

/** The logger as the guard calls it: every level a function, decided once at createGuard. */
export type GuardLog = Record<LogLevel, (fields: object, message: string) => void>;

const ignore = () => {};

/**
 * The logger's methods, called on the logger itself (pino's methods need their `this`); a missing
 * `error` falls back to `warn`, a missing `info` or `debug` is dropped.
 */
export function guardLogOf(logger: GuardLogger): GuardLog {
  const method = (level: LogLevel) => {
    const fn = logger[level];
    return fn === undefined
      ? undefined
      : (fields: object, message: string) => fn.call(logger, fields, message);
  };
  const warn = method('warn')!;
  return {
    error: method('error') ?? warn,
    warn,
    info: method('info') ?? ignore,
    debug: method('debug') ?? ignore,
  };
}

/** The default: errors and warnings, one line each on stderr; informational and debug lines are dropped. */
export const consoleLogger: GuardLogger = {
  error(fields, message) {
    console.error(`@tessera/guard: ${message}`, fields);
  },
  warn(fields, message) {
    console.warn(`@tessera/guard: ${message}`, fields);
  },
};

/** A short, secret-free description of a failure for a log line: a transport code, or the message. */
export function describeFailure(err: unknown): string | undefined {
  if (err === undefined) return undefined;
  const cause = (err as { cause?: { code?: unknown } } | null)?.cause;
  if (cause && typeof cause.code === 'string') return cause.code;
  if (err instanceof Error) return err.message;
  return String(err);
}
