/**
 * Where the guard reports trouble: a pino or bunyan logger fits, and so does `console`-like glue.
 * The guard never passes it a token, an Authorization header or a revocation's value.
 */
export interface GuardLogger {
  warn(fields: object, message: string): void;
  info?(fields: object, message: string): void;
}

/** The default: one line on stderr per warning; informational messages are dropped. */
export const consoleLogger: GuardLogger = {
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
