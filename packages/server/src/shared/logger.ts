import { type LoggerOptions, type Logger as PinoLogger, pino, type SerializerFn } from 'pino';
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
  // RFC 9449 §4.1: a DPoP proof is logged as the request arrives, before it is used up.
  'req.headers.dpop',
  'res.headers["set-cookie"]',
];

/**
 * A URL as it may be logged: without its query. Clients put tokens in queries (`?refresh_token=`,
 * `?access_token=`, `?code=`) even where the server never reads them, and whatever reaches a log is
 * copied to every place logs go.
 */
export function withoutQuery(url: string): string {
  const query = url.indexOf('?');
  return query === -1 ? url : url.slice(0, query);
}

/** A path followed by a query, inside free text (a message, a stack): the query goes. */
const QUERY_IN_TEXT = /(\/[^\s?"'`]*)\?[^\s"'`]*/g;
const scrubText = (text: string) => (text.includes('?') ? text.replace(QUERY_IN_TEXT, '$1') : text);

type Serializer = SerializerFn;

/** Fastify's own request serializer, less the query and the unused `accept-version`. */
function describeRequest(req: {
  method: string;
  url: string;
  host?: string;
  ip?: string;
  socket?: { remotePort?: number };
}) {
  return {
    method: req.method,
    url: req.url,
    host: req.host,
    remoteAddress: req.ip,
    remotePort: req.socket?.remotePort,
  };
}

/** Whatever a request serializer returns, with the query cut from its URL and its Referer. */
function withoutQueries(serialize: Serializer): Serializer {
  return (req) => {
    const out = serialize(req) as Record<string, unknown> | undefined;
    if (out === null || typeof out !== 'object') return out;
    const scrubbed: Record<string, unknown> = { ...out };
    if (typeof out.url === 'string') scrubbed.url = withoutQuery(out.url);
    const headers = out.headers as Record<string, unknown> | undefined;
    // A copy: a serializer may hand back the live request's headers.
    if (headers && typeof headers.referer === 'string')
      scrubbed.headers = { ...headers, referer: withoutQuery(headers.referer) };
    return scrubbed;
  };
}

/** Errors whose message names the URL (Fastify's "reply already sent", say) lose its query too. */
function scrubbingErrors(serialize: Serializer): Serializer {
  return (err) => {
    const out = serialize(err) as Record<string, unknown> | undefined;
    if (out === null || typeof out !== 'object') return out;
    const scrubbed: Record<string, unknown> = { ...out };
    for (const field of ['message', 'stack'])
      if (typeof out[field] === 'string') scrubbed[field] = scrubText(out[field]);
    return scrubbed;
  };
}

/**
 * pino options for the server's logs (Fastify's request log and the services' own): the configured
 * level, redaction of credential headers, and no query string in any logged URL, whatever
 * serializers the caller adds (theirs run first, then the query is cut).
 */
export function loggerOptions(
  config: Pick<Config, 'logLevel'>,
  options: Record<string, unknown> = {},
): LoggerOptions & Record<string, unknown> {
  const {
    serializers = {},
    hooks = {},
    ...rest
  } = options as {
    serializers?: Record<string, Serializer>;
    hooks?: LoggerOptions['hooks'];
  };
  const logMethod = hooks.logMethod;
  return {
    level: config.logLevel,
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    ...rest,
    serializers: {
      ...serializers,
      req: withoutQueries(serializers.req ?? describeRequest),
      err: scrubbingErrors(serializers.err ?? pino.stdSerializers.err),
    },
    hooks: {
      ...hooks,
      // Messages built from a URL ("Route GET:/x?code=… not found").
      logMethod(args, method, level) {
        const scrubbed = args.map((arg) => (typeof arg === 'string' ? scrubText(arg) : arg)) as typeof args;
        if (logMethod) return logMethod.call(this, scrubbed, method, level);
        return method.apply(this, scrubbed);
      },
    },
  };
}

/** The server's logger: the configured level, redaction always on; `false` is silence (tests). */
export function createLogger(
  config: Pick<Config, 'logLevel'>,
  options: boolean | Record<string, unknown> = true,
): PinoLogger {
  if (options === false) return pino({ level: 'silent' });
  const { stream, ...rest } = (typeof options === 'object' ? options : {}) as {
    stream?: NodeJS.WritableStream;
  } & Record<string, unknown>;
  const settings = loggerOptions(config, rest);
  return stream ? pino(settings, stream as never) : pino(settings);
}
