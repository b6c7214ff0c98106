import Fastify, { type FastifyBaseLogger } from 'fastify';

/**
 * A pino logger that writes its JSON lines into `lines`: the logger an API behind the guard most
 * likely has. It is Fastify's own pino, so the tests need no dependency of their own on pino.
 */
export function createPinoLogger(level: 'debug' | 'info' = 'debug'): {
  log: FastifyBaseLogger;
  lines: string[];
} {
  const lines: string[] = [];
  const app = Fastify({ logger: { level, stream: { write: (line: string) => lines.push(line) } } });
  return { log: app.log, lines };
}
