import { type Logger as PinoLogger, pino } from 'pino';
import type { Config } from '../config.js';

/** What the services log through: the same pino instance Fastify uses for requests. */
export type Logger = Pick<PinoLogger, 'info' | 'warn' | 'error' | 'debug'>;

/**
 * Paths pino must never print. A token, cookie or password reaching a log is a credential leak.
 * Request bodies are not logged at all; these cover the headers Fastify's serializers include.
 */
export const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-tessera-csrf"]',
  'res.headers["set-cookie"]',
];

/** The server's logger: the configured level, redaction always on; `false` is silence (tests). */
export function createLogger(
  config: Pick<Config, 'logLevel'>,
  options: boolean | Record<string, unknown> = true,
): PinoLogger {
  if (options === false) return pino({ level: 'silent' });
  const { stream, ...rest } = (typeof options === 'object' ? options : {}) as {
    stream?: NodeJS.WritableStream;
  } & Record<string, unknown>;
  const settings = Object.assign(
    { level: config.logLevel, redact: { paths: REDACTED_PATHS, censor: '[redacted]' } },
    rest,
  );
  return stream ? pino(settings, stream as never) : pino(settings);
}
