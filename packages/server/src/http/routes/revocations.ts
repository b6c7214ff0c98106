import type { ServerResponse } from 'node:http';
import type { FastifyPluginAsync } from 'fastify';
import type { FeedEvent } from '../../revocation/feed.js';
import type { Services } from '../../services.js';

/**
 * A heartbeat goes out this often, and only while the feed is live: a guard that hears nothing for a
 * while knows it may be missing revocations (and fails closed or open, as its operator chose).
 */
const HEARTBEAT_MS = 5_000;
/** Unsent bytes a stream may hold before its subscriber is dropped (it reconnects and resumes). */
const MAX_BUFFERED_BYTES = 1024 * 1024;
/** Longest `Last-Event-ID` worth reading (a stream id is at most 41 characters). */
const MAX_EVENT_ID = 64;

/**
 * `GET /revocations`: revocation events as Server-Sent Events. On connect the stream sends every live
 * entry (or, with `Last-Event-ID`, only those after it), then each new revocation as it happens. An
 * event's id is its position in the feed (a row id on one machine, a Redis stream id when scaled
 * out, the same on every instance), so a guard that reconnects, to any instance, misses nothing.
 */
export const revocationStreamRoutes: FastifyPluginAsync<{ services: Services }> = async (
  app,
  { services },
) => {
  const { revocations } = services;
  // The streams never end on their own: end them when the server closes, or close() waits forever.
  const open = new Set<ServerResponse>();
  app.addHook('preClose', async () => {
    for (const res of open) res.end();
  });
  app.get('/revocations', async (request, reply) => {
    const header = request.headers['last-event-id'];
    const lastEventId = typeof header === 'string' && header.length <= MAX_EVENT_ID ? header : undefined;
    // Events delivered while the backlog is read are held back, then sent if the backlog missed them.
    const early: FeedEvent[] = [];
    let relay: (event: FeedEvent) => void = (event) => void early.push(event);
    const unsubscribe = revocations.subscribe((event) => relay(event));
    // Released however the request ends, even while the backlog is being read.
    let heartbeat: NodeJS.Timeout | undefined;
    request.raw.on('close', () => {
      open.delete(reply.raw);
      clearInterval(heartbeat);
      unsubscribe();
    });
    const backlog = await revocations.backlog(lastEventId);
    if (request.raw.destroyed || reply.raw.destroyed) return reply.hijack();
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
      'x-content-type-options': 'nosniff',
    });
    const send = (event: FeedEvent) => {
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
      // An event without an id (the shared stream is down) leaves the subscriber's Last-Event-ID as
      // it was, so resuming later still starts from the last event the stream itself delivered.
      const id = event.eventId ? `id: ${event.eventId}\n` : '';
      res.write(`${id}event: revocation\ndata: ${JSON.stringify(data)}\n\n`);
    };
    res.write('retry: 1000\n\n');
    for (const event of backlog) send(event);
    const sent = new Set(backlog.map((event) => event.eventId || `row:${event.id}`));
    for (const event of early) if (!sent.has(event.eventId || `row:${event.id}`)) send(event);
    relay = send;
    res.write(': snapshot complete\n\n');
    heartbeat = setInterval(() => {
      if (revocations.live()) res.write(': heartbeat\n\n');
    }, HEARTBEAT_MS);
    heartbeat.unref();
    open.add(res);
  });
};
