import type { ServerResponse } from 'node:http';
import { encodeComment, encodeRevocationEvent, HEARTBEAT, SNAPSHOT_COMPLETE } from '@tessera/protocol';
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import { type FeedEvent, wireEntry } from '../../revocation/feed.js';
import type { Services } from '../../services.js';
import { addressBucket } from '../address.js';
import { authenticateClient } from '../client_auth.js';
import { invalidClient, OAuthError } from '../errors.js';
import { errorResponses } from '../response_schemas.js';

/**
 * A heartbeat goes out this often, and only while the feed is live: a guard that hears nothing for a
 * while knows it may be missing revocations (and fails closed or open, as its operator chose).
 */
const HEARTBEAT_MS = 5_000;
/** Unsent bytes a live stream may hold before its subscriber is dropped (it reconnects and resumes). */
const MAX_BUFFERED_BYTES = 1024 * 1024;
/**
 * The snapshot is written in chunks of about this size, each only once the previous one has left
 * the socket's buffer: a backlog of any length streams at the subscriber's pace in constant memory.
 */
const SNAPSHOT_CHUNK_BYTES = 64 * 1024;
/** Revocations arriving while a snapshot is being written, held back for after it; beyond, the subscriber is dropped. */
const MAX_HELD_EVENTS = 100_000;
/** Longest `Last-Event-ID` worth reading (a stream id is at most 41 characters). */
const MAX_EVENT_ID = 64;

/**
 * One event in `text/event-stream` form (the format is @tessera/protocol's). An event without an id
 * (the shared stream is down) leaves the subscriber's Last-Event-ID as it was, so resuming later
 * still starts from the last event the stream itself delivered.
 */
const encode = (event: FeedEvent): string => encodeRevocationEvent(wireEntry(event), event.eventId);

/** Resolves true once the socket can take more, false if the subscriber left first. */
function drained(res: ServerResponse): Promise<boolean> {
  return new Promise((resolve) => {
    const settle = (ok: boolean) => {
      res.off('drain', onDrain);
      res.off('close', onClose);
      resolve(ok);
    };
    const onDrain = () => settle(true);
    const onClose = () => settle(false);
    res.on('drain', onDrain);
    res.on('close', onClose);
  });
}

/**
 * `GET /revocations` (discovery: `revocation_events_endpoint`): revocation events as Server-Sent
 * Events, for resource servers. On connect the stream sends every live entry (or, with
 * `Last-Event-ID`, only those after it), then each new revocation as it happens. An event's id is
 * its position in the feed (a row id on one machine, a Redis stream id when scaled out, the same on
 * every instance), so a guard that reconnects, to any instance, misses nothing.
 *
 * Subscribers authenticate as confidential clients (HTTP Basic, RFC 6749 §2.3.1) unless the operator
 * opened the stream (`revocationStreamPublic`); open streams are capped in all and per address.
 */
export const revocationEventsRoutes: FastifyPluginAsync<{ services: Services }> = async (
  app,
  { services },
) => {
  const { revocations, config } = services;
  // The streams never end on their own: end them when the server closes, or close() waits forever.
  const open = new Set<ServerResponse>();
  const perAddress = new Map<string, number>();
  app.addHook('preClose', async () => {
    for (const res of open) res.end();
  });

  async function authenticate(request: FastifyRequest): Promise<void> {
    if (config.revocationStreamPublic) return;
    if (!/^basic /i.test(request.headers.authorization ?? ''))
      throw invalidClient(
        'the revocation stream is for resource servers: authenticate as a confidential client',
      );
    const client = await authenticateClient(services, request, {});
    if (client.type !== 'confidential')
      throw invalidClient('only confidential clients may follow revocations');
  }

  // The stream itself is text/event-stream, written by hand; only refusals are JSON.
  app.get('/revocations', { schema: { response: errorResponses } }, async (request, reply) => {
    await authenticate(request);
    const address = addressBucket(request.ip);
    const fromAddress = perAddress.get(address) ?? 0;
    if (open.size >= config.maxRevocationStreams || fromAddress >= config.maxRevocationStreamsPerAddress) {
      throw new OAuthError(429, 'slow_down', 'too many revocation streams are open; retry later', {
        'retry-after': '5',
      });
    }
    // Counted from here on, however the request ends (the cap must hold while backlogs are read).
    open.add(reply.raw);
    perAddress.set(address, fromAddress + 1);
    const header = request.headers['last-event-id'];
    const lastEventId = typeof header === 'string' && header.length <= MAX_EVENT_ID ? header : undefined;
    // Events delivered while the backlog is read and written are held back, then sent if the backlog
    // missed them.
    const held: FeedEvent[] = [];
    let relay: (event: FeedEvent) => void = (event) => {
      if (held.length >= MAX_HELD_EVENTS) reply.raw.destroy();
      else held.push(event);
    };
    const unsubscribe = revocations.subscribe((event) => relay(event));
    let heartbeat: NodeJS.Timeout | undefined;
    // The response closes when the subscriber leaves or the server ends it, even mid-backlog.
    reply.raw.on('close', () => {
      if (open.delete(reply.raw)) {
        const left = (perAddress.get(address) ?? 1) - 1;
        if (left > 0) perAddress.set(address, left);
        else perAddress.delete(address);
      }
      clearInterval(heartbeat);
      unsubscribe();
    });
    const backlog = await revocations.backlog(lastEventId);
    reply.hijack();
    const res = reply.raw;
    if (request.raw.destroyed || res.destroyed) return;
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
      'x-content-type-options': 'nosniff',
    });
    res.write('retry: 1000\n\n');
    // The snapshot, at the subscriber's pace: 100,000 entries are ~12 MB, which must never sit in
    // the socket's buffer at once.
    let chunk = '';
    for (const event of backlog) {
      chunk += encode(event);
      if (chunk.length < SNAPSHOT_CHUNK_BYTES) continue;
      const more = res.write(chunk);
      chunk = '';
      if (!more && !(await drained(res))) return;
    }
    const sent = new Set(backlog.map((event) => event.eventId || `row:${event.id}`));
    for (const event of held) if (!sent.has(event.eventId || `row:${event.id}`)) chunk += encode(event);
    if (res.destroyed) return;
    res.write(`${chunk}${encodeComment(SNAPSHOT_COMPLETE)}`);
    relay = (event) => {
      // A subscriber that stops reading must not make the server buffer without end.
      if (res.writableLength > MAX_BUFFERED_BYTES) res.destroy();
      else res.write(encode(event));
    };
    heartbeat = setInterval(() => {
      if (revocations.live()) res.write(encodeComment(HEARTBEAT));
    }, HEARTBEAT_MS);
    heartbeat.unref();
  });
};
