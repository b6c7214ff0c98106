import { encodeBrokerHeartbeat, encodeBrokerRevocation, parseBrokerMessage } from '@tessera/protocol';
import amqp, { type Channel, type ChannelModel, type ConfirmChannel, type ConsumeMessage } from 'amqplib';
import { createRabbitMqSecurityEventBroker } from '../security_events/rabbitmq_broker.js';
import type { Logger } from '../shared/logger.js';
import { type FeedEvent, type RevocationEntry, type RevocationFeed, wireEntry } from './feed.js';

/** The stream's name when the URL does not give one (`?stream=`). */
export const DEFAULT_STREAM = 'tessera.revocations';

/**
 * How long the stream keeps messages (`x-max-age`). RabbitMQ cannot change a queue's arguments once
 * it is declared, so the age is not the current longest lifetime (which moves with the settings) but
 * the longest any setting allows: access tokens live at most 24 h (config.ts, client and resource
 * limits), and an entry 24 h plus the margins of tokens/lifetimes.ts retentionMs(), under 25 h.
 */
export const STREAM_MAX_AGE = '25h';
/**
 * Segments are what retention deletes, whole and only once every message in them is older than
 * the age; RabbitMQ's default of 500 MB would keep a small feed's messages for ever.
 */
const SEGMENT_BYTES = 4 * 1024 * 1024;
/** Every instance says the stream is whole this often (a guard calls its set stale after 30 s by default). */
const HEARTBEAT_MS = 3_000;
/** An instance that has not read from the stream for this long no longer vouches for it. */
const LIVE_WINDOW_MS = 10_000;
/** Unacknowledged deliveries at a time: a stream consumer must set one (RabbitMQ refuses it otherwise). */
const PREFETCH = 1_000;
/** A publish not confirmed within this is counted undelivered (and sent again later: duplicates are harmless). */
const CONFIRM_TIMEOUT_MS = 5_000;
/** AMQP heartbeats (seconds). */
const AMQP_HEARTBEAT_S = 5;
/** Expired events are dropped from the relay log at most this often. */
const PRUNE_MS = 60_000;

export interface RabbitMqFeedOptions {
  /** `amqp://` or `amqps://`, with `?stream=<name>` optionally; it may carry a password, never logged. */
  url: string;
  /** Names this instance in its heartbeats (diagnostics only). */
  instance: string;
  /**
   * Whether a live revocation older than a moment is still not on the stream (the broker was
   * down when it was made): until the store sync has delivered it, heartbeats would vouch for a
   * stream that lacks it, so none are sent.
   */
  undelivered: () => Promise<boolean>;
  clock?: () => number;
}

/** The URL as amqplib gets it (without our `stream` parameter) and the stream's name. */
export function parseBrokerUrl(url: string): { connectUrl: string; stream: string; where: string } {
  const parsed = new URL(url);
  const stream = parsed.searchParams.get('stream') ?? DEFAULT_STREAM;
  parsed.searchParams.delete('stream');
  // A dead connection is noticed within two AMQP heartbeats, unless the URL asks otherwise.
  if (!parsed.searchParams.has('heartbeat')) parsed.searchParams.set('heartbeat', String(AMQP_HEARTBEAT_S));
  // What messages may name: never the user name or password.
  const where = `${parsed.protocol}//${parsed.host}${parsed.pathname === '/' ? '' : parsed.pathname}`;
  return { connectUrl: parsed.toString(), stream, where };
}

/** The AMQP error code of a failure (406 PRECONDITION_FAILED, 404 NOT_FOUND), if it has one. */
const codeOf = (err: unknown): number | undefined => (err as { code?: number }).code;

/**
 * Scaled out on RabbitMQ: a stream queue (RabbitMQ ≥ 3.9) carries every instance's revocations
 * and heartbeats (@tessera/protocol broker_message.ts). Each instance publishes with publisher
 * confirms, so publish() is true only once the broker has the message, and reads the whole stream
 * with an AMQP 0.9.1 consumer, relaying it to its own `/revocations` subscribers with the stream
 * offset as event id. Guards may read the same stream directly (@tessera/guard's `{ rabbitmq }`).
 *
 * Whether the stream holds every revocation in force ("seeded") is this instance's own belief for
 * the connection it has: false on every (new) connection until it reads a heartbeat on the stream
 * (an instance that vouched for it) or has itself published every live row again (sync() →
 * republish → markSeeded()). So a stream that was lost (a broker reset, a deleted queue) is
 * republished before anyone heartbeats on it, and only a seeded instance heartbeats.
 */
export function createRabbitMqFeed(log: Logger, options: RabbitMqFeedOptions): RevocationFeed {
  const clock = options.clock ?? Date.now;
  const { connectUrl, stream, where } = parseBrokerUrl(options.url);
  const listeners = new Set<(event: FeedEvent) => void>();
  /** Events read, by row id (first offset kept): what backlog() serves, pruned of expired ones. */
  const events = new Map<number, FeedEvent>();
  let connection: ChannelModel | undefined;
  let publisher: ConfirmChannel | undefined;
  /** The next offset to read; `first` until something was read. */
  let nextOffset: number | 'first' = 'first';
  let seeded = false;
  /** Real time of the last delivery (our own heartbeats included): the consumer is reading. */
  let readAt = 0;
  let prunedAt = 0;
  let closed = false;
  /** The connection is closed on purpose, to read the stream again from the start. */
  let restarting = false;
  let down = false;
  let attempt = 0;
  let retry: NodeJS.Timeout | undefined;
  let heartbeats: NodeJS.Timeout | undefined;

  function outage(err: unknown): void {
    if (down || closed) return;
    down = true;
    // amqplib's messages name the host and the AMQP reason, never the URL's credentials.
    log.warn(
      { broker: where, stream, reason: (err as Error).message },
      'rabbitmq unreachable: revocations between instances go through the store until it is back',
    );
  }

  function deliver(message: ConsumeMessage, channel: Channel): void {
    channel.ack(message);
    readAt = Date.now();
    const offset = message.properties.headers?.['x-stream-offset'];
    if (typeof offset !== 'number') return;
    nextOffset = offset + 1;
    const parsed = parseBrokerMessage(message.content);
    if (parsed === undefined) {
      log.debug({ stream, offset }, 'ignored a malformed message on the revocation stream');
      return;
    }
    if (parsed.type === 'heartbeat') {
      // Another instance (or we) vouched that the stream holds every revocation in force, and we
      // have read everything before it. Only a recent one counts: reading from the first offset,
      // an old heartbeat would call the list complete while the hours after it are still unread.
      if (Math.abs(Date.now() - parsed.at) <= LIVE_WINDOW_MS) seeded = true;
      return;
    }
    const { entry, rowId } = parsed;
    const event: FeedEvent = {
      eventId: String(offset),
      id: rowId,
      ...entry,
      expiresAt: entry.expiresAt * 1000,
      createdAt: 0,
    };
    if (rowId > 0 && !events.has(rowId)) events.set(rowId, event);
    prune();
    for (const listener of listeners) listener(event);
  }

  function prune(): void {
    const now = clock();
    if (Date.now() - prunedAt < PRUNE_MS) return;
    prunedAt = Date.now();
    for (const [id, event] of events) if (event.expiresAt <= now) events.delete(id);
  }

  /** Declares the stream unless it exists; true when it had to be made (it holds nothing yet). */
  async function ensureStream(model: ChannelModel): Promise<boolean> {
    // A failed check or declaration closes its channel: each gets one of its own.
    const probe = await model.createChannel();
    probe.on('error', () => {});
    try {
      await probe.checkQueue(stream);
      await probe.close();
      return false;
    } catch (err) {
      if (codeOf(err) !== 404) throw err;
    }
    const declare = await model.createChannel();
    declare.on('error', () => {});
    try {
      await declare.assertQueue(stream, {
        durable: true,
        arguments: {
          'x-queue-type': 'stream',
          'x-max-age': STREAM_MAX_AGE,
          'x-stream-max-segment-size-bytes': SEGMENT_BYTES,
        },
      });
      await declare.close();
      return true;
    } catch (err) {
      // Another instance declared it between our check and this, with other arguments (an older
      // version, or an operator's own declaration): use it as it is, and say so.
      if (codeOf(err) !== 406) throw err;
      log.warn(
        { stream, reason: (err as Error).message },
        `the revocation stream exists with other arguments than x-max-age ${STREAM_MAX_AGE}: using it as it is; it must keep messages at least 25 h`,
      );
      return false;
    }
  }

  async function connect(): Promise<void> {
    const model = await amqp.connect(connectUrl, {
      timeout: 5_000,
      // Without it a publish waits behind an unacknowledged consumer ack on the same socket until
      // the broker's delayed TCP ACK (Nagle's algorithm, RFC 896; up to 40 ms on Linux).
      noDelay: true,
      clientProperties: { connection_name: `tessera ${options.instance}` },
    });
    model.on('error', () => {}); // 'close' follows, and reconnects
    try {
      if (await ensureStream(model)) {
        // A new stream: what this instance read from an earlier one has other offsets.
        events.clear();
        nextOffset = 'first';
      }
      const confirm = await model.createConfirmChannel();
      confirm.on('error', () => {});
      const consumer = await model.createChannel();
      consumer.on('error', () => {});
      await consumer.prefetch(PREFETCH);
      // Every (re)connection starts unseeded: the stream may have been lost and declared again
      // meanwhile; a heartbeat read on it, or our own republish, says it is whole.
      seeded = false;
      const resumeAt = nextOffset;
      const readBefore = readAt;
      await consumer.consume(
        stream,
        (message) => {
          // null: the broker cancelled the consumer (the queue was deleted). Start over.
          if (message === null) void model.close().catch(() => {});
          else deliver(message, consumer);
        },
        { noAck: false, arguments: { 'x-stream-offset': resumeAt } },
      );
      if (closed) throw new Error('the feed was closed while connecting');
      connection = model;
      publisher = confirm;
      if (resumeAt !== 'first') {
        // Resuming past the end of a stream that was declared again (offsets restarted) reads
        // nothing until it gets that far. Instances heartbeat every few seconds, so silence means
        // that (or no instance is seeded): read it again from the start, which is right either way.
        const silent = setTimeout(() => {
          if (readAt !== readBefore || connection !== model) return;
          nextOffset = 'first';
          restarting = true;
          void model.close().catch(() => {});
        }, LIVE_WINDOW_MS);
        silent.unref();
      }
    } catch (err) {
      await model.close().catch(() => {});
      throw err;
    }
    model.on('close', () => {
      if (connection === model) {
        connection = undefined;
        publisher = undefined;
        seeded = false;
      }
      if (!closed) {
        if (!restarting) outage(new Error('connection closed'));
        restarting = false;
        schedule();
      }
    });
    attempt = 0;
    if (down) log.info({ broker: where, stream }, 'rabbitmq reachable again');
    down = false;
  }

  function schedule(): void {
    if (closed || retry) return;
    // Soon after a blip, then every two seconds at most (as shared/redis.ts).
    const delay = Math.min(100 * ++attempt, 2_000);
    retry = setTimeout(() => {
      retry = undefined;
      connect().catch((err: unknown) => {
        outage(err);
        schedule();
      });
    }, delay);
    retry.unref();
  }

  /** Publishes one message and resolves once the broker confirmed it (false: not delivered). */
  function send(body: Buffer): Promise<boolean> {
    const channel = publisher;
    if (!channel) return Promise.resolve(false);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), CONFIRM_TIMEOUT_MS);
      try {
        channel.sendToQueue(stream, body, { persistent: true, contentType: 'application/json' }, (err) => {
          clearTimeout(timer);
          resolve(!err);
        });
      } catch {
        clearTimeout(timer);
        resolve(false);
      }
    });
  }

  async function heartbeat(): Promise<void> {
    if (!seeded || !publisher) return;
    try {
      if (await options.undelivered()) return;
    } catch {
      return; // the store is out of reach: nothing to vouch with
    }
    await send(encodeBrokerHeartbeat(Date.now(), options.instance));
  }

  connect().catch((err: unknown) => {
    outage(err);
    schedule();
  });
  heartbeats = setInterval(() => void heartbeat(), HEARTBEAT_MS);
  heartbeats.unref();

  return {
    shared: true,
    securityEvents: createRabbitMqSecurityEventBroker(
      () => (connection && publisher ? { model: connection, confirm: publisher } : undefined),
      stream,
    ),
    async publish(entry: RevocationEntry) {
      if (entry.expiresAt <= clock()) return true;
      return send(encodeBrokerRevocation(wireEntry(entry), entry.id));
    },
    async backlog(lastEventId) {
      if (!seeded) throw new Error('the revocation stream is not known to be whole');
      // An unknown or malformed id gets the whole live stream: a repeat is harmless, a gap is not.
      const after = lastEventId !== undefined && /^\d{1,19}$/.test(lastEventId) ? Number(lastEventId) : -1;
      const now = clock();
      const out: FeedEvent[] = [];
      for (const event of events.values())
        if (Number(event.eventId) > after && event.expiresAt > now) out.push(event);
      return out.sort((a, b) => Number(a.eventId) - Number(b.eventId));
    },
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    live: () => seeded && connection !== undefined && Date.now() - readAt < LIVE_WINDOW_MS,
    // Disconnected, false: the republish that follows fails at once (nothing to publish on) and is
    // tried again at the next sync, without failing the rest of that sync.
    seeded: async () => seeded,
    async markSeeded() {
      seeded = true;
      // Vouch at once: a guard waiting for its first snapshot need not wait for the timer.
      await heartbeat();
    },
    async close() {
      closed = true;
      clearTimeout(retry);
      clearInterval(heartbeats);
      listeners.clear();
      await connection?.close().catch(() => {});
      connection = undefined;
      publisher = undefined;
    },
  };
}
