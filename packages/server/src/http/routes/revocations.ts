import type { ServerResponse } from 'node:http';
import type { FastifyPluginAsync } from 'fastify';
import type { RevocationEvent } from '../../revocation/revocations.js';
import type { Services } from '../../services.js';

const HEARTBEAT_MS = 15_000;
/** Unsent bytes a stream may hold before its subscriber is dropped (it reconnects and resumes). */
const MAX_BUFFERED_BYTES = 1024 * 1024;

/**
 * `GET /revocations`: revocation events as Server-Sent Events. On connect the stream sends every live
 * entry (or, with `Last-Event-ID`, only those after it), then each new revocation as it happens. An
 * event's id is its position in the revocation log, so a guard that reconnects misses nothing.
 */
export const revocationStreamRoutes: FastifyPluginAsync<{ services: Services }> = async (
  app,
  { services },
) => {
  // The streams never end on their own: end them when the server closes, or close() waits forever.
  const open = new Set<ServerResponse>();
  app.addHook('preClose', async () => {
    for (const res of open) res.end();
  });
  app.get('/revocations', (request, reply) => {
    const lastEventId = Number(request.headers['last-event-id']);
    const backlog =
      Number.isInteger(lastEventId) && lastEventId >= 0
        ? services.revocations.since(lastEventId)
        : services.revocations.snapshot();
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
      'x-content-type-options': 'nosniff',
    });
    const send = (event: RevocationEvent) => {
      // A subscriber that stops reading must not make the server buffer without end.
      if (res.writableLength > MAX_BUFFERED_BYTES) {
        res.destroy();
        return;
      }
      const data = {
        kind: event.kind,
        value: event.value,
        ver: event.ver,
        expires_at: Math.floor(event.expiresAt / 1000),
      };
      res.write(`id: ${event.id}\nevent: revocation\ndata: ${JSON.stringify(data)}\n\n`);
    };
    res.write('retry: 1000\n\n');
    for (const event of backlog) send(event);
    res.write(': snapshot complete\n\n');
    const unsubscribe = services.revocations.onRevoked(send);
    const heartbeat = setInterval(() => res.write(': heartbeat\n\n'), HEARTBEAT_MS);
    heartbeat.unref();
    open.add(res);
    request.raw.on('close', () => {
      open.delete(res);
      clearInterval(heartbeat);
      unsubscribe();
    });
  });
};
