import { encodeBrokerHeartbeat, encodeBrokerRevocation, parseBrokerMessage } from '@tessera/protocol';
import {
  type ConsumerMessages,
  connect,
  DiscardPolicy,
  headers,
  type JetStreamClient,
  type JetStreamManager,
  type NatsConnection,
  nanos,
  RetentionPolicy,
  StorageType,
  type StreamInfo,
} from 'nats';
import { createNatsSecurityEventBroker } from '../security_events/nats_broker.js';
import type { Logger } from '../shared/logger.js';
import { type FeedEvent, type RevocationFeed, wireEntry } from './feed.js';
import type { NatsBroker } from './nats_url.js';

/** An instance vouching for the stream sends a heartbeat this often (guards' staleAfter is 30 s by default). */
const HEARTBEAT_MS = 3_000;
/** A reader that has read nothing (not even a heartbeat) for this long no longer vouches for the stream. */
const LIVE_WINDOW_MS = 10_000;
/** A publish not acknowledged by JetStream within this is undelivered (the row waits in the store). */
const PUBLISH_TIMEOUT_MS = 2_000;
/** JetStream drops a message whose `Nats-Msg-Id` it saw within this window: a redelivery is a no-op. */
const DUPLICATE_WINDOW_MS = 120_000;
const RECONNECT_MS = 1_000;
/** JetStream API error codes (nats-server's errors.json). */
const STREAM_NOT_FOUND = 10059;
const NO_MESSAGE_FOUND = 10037;
const STREAM_NAME_IN_USE = 10058;

export interface NatsFeedOptions {
  /** Messages are kept this long (`max_age`): the longest access-token lifetime plus a margin. */
  retentionMs: () => number;
  clock?: () => number;
  /** Names this instance in its heartbeats (diagnostics only). */
  instance: string;
  /**
   * Whether a live revocation older than a moment is still not on the stream: no heartbeat while it
   * is (broker_feed.ts undeliveredRevocations, the hold-back every broker feed shares).
   */
  undelivered: () => Promise<boolean>;
}

/**
 * Scaled out over NATS JetStream: every instance publishes to one stream (file storage, `max_age`
 * the revocation retention) and reads all of it with an ordered consumer, applying each entry and
 * relaying it to its `/revocations` subscribers. Revocations go to `<subject>`, with the row as
 * `Nats-Msg-Id`, so a redelivery within the duplicate window is dropped by JetStream; a publish
 * counts only once JetStream acknowledged it, so a row stays undelivered in the store (and is sent
 * again by sync()) while NATS is down. Heartbeats (@tessera/protocol broker_message.ts) go to
 * `<subject>.heartbeat` with `Nats-Rollup: sub`, so the stream keeps only the latest one: a guard
 * reading from the start gets the set in force and one heartbeat, not a day of them.
 *
 * An instance heartbeats only while it vouches for the stream: it was seeded (a heartbeat is on
 * it, which only a seeded stream gets) and the store holds no live revocation the broker missed
 * (the hold-back all broker feeds share, broker_feed.ts). A stream that was lost (NATS restarted without its storage, or deleted) has no
 * heartbeat: every instance republishes every live row, then marks it seeded with a heartbeat.
 */
export function createNatsFeed(broker: NatsBroker, log: Logger, options: NatsFeedOptions): RevocationFeed {
  const clock = options.clock ?? Date.now;
  const { stream, subject } = broker;
  const heartbeatSubject = `${subject}.heartbeat`;
  const { instance, undelivered } = options;
  /** What messages name: never the credentials. */
  const where = { broker: broker.server, stream };
  const listeners = new Set<(event: FeedEvent) => void>();
  let nc: NatsConnection | undefined;
  let js: JetStreamClient | undefined;
  let jsm: JetStreamManager | undefined;
  let connected = false;
  let outage = false;
  let closed = false;
  /** The stream being read, by its creation time: a recreated stream starts its sequence again. */
  let readingStream: string | undefined;
  /** Its revocations by sequence (those a subscriber connecting now must get), for backlog(). */
  const events = new Map<number, FeedEvent>();
  let lastSeq = 0;
  /** The reader has read every message the stream held when it began reading. */
  let caughtUp = false;
  /** Real time of the last message read (liveness is about the connection, not token time). */
  let liveAt = 0;
  /** The stream (by creation time) known to hold every live row: a heartbeat is on it. */
  let seededStream: string | undefined;
  /** The stream seeded() last looked at: markSeeded() marks it, and only it. */
  let checkedStream: string | undefined;
  let lastHeartbeat = 0;
  let messages: ConsumerMessages | undefined;

  function down(err: unknown): void {
    connected = false;
    if (outage) return;
    outage = true;
    log.warn(
      { ...where, reason: describe(err) },
      'NATS unreachable: revocations wait in the store and go out when it is back',
    );
  }

  function up(): void {
    connected = true;
    if (!outage) return;
    outage = false;
    log.info(where, 'NATS reachable again');
  }

  let firstAttempt!: () => void;
  /** Settles once the first connection attempt did, whatever its outcome (start-up waits for it). */
  const attempted = new Promise<void>((resolve) => {
    firstAttempt = resolve;
  });

  async function open(): Promise<void> {
    while (!closed) {
      try {
        const connection = await connect({
          servers: broker.server,
          ...(broker.user !== undefined ? { user: broker.user, pass: broker.pass } : {}),
          ...(broker.token !== undefined ? { token: broker.token } : {}),
          ...(broker.tls ? { tls: {} } : {}),
          name: `tessera ${instance}`,
          maxReconnectAttempts: -1,
          reconnectTimeWait: 250,
          pingInterval: 5_000,
          maxPingOut: 2,
        });
        if (closed) {
          await connection.close();
          firstAttempt();
          return;
        }
        nc = connection;
        js = connection.jetstream();
        jsm = await connection.jetstreamManager();
        up();
        firstAttempt();
        void watch(connection);
        return;
      } catch (err) {
        down(err);
        firstAttempt();
        await sleep(RECONNECT_MS);
      }
    }
  }

  /** The client reconnects on its own (for ever); this only tracks whether it is connected. */
  async function watch(connection: NatsConnection): Promise<void> {
    for await (const status of connection.status()) {
      if (status.type === 'disconnect') down(new Error(`disconnected from ${broker.server}`));
      else if (status.type === 'reconnect') {
        // What was published meanwhile is not read yet: no complete backlog until it is. The
        // consumer is made again from the last sequence read, rather than left to notice the lost
        // pull on its own idle heartbeat (seconds later, while this instance would call itself live).
        caughtUp = false;
        void messages?.stop();
        up();
      }
    }
  }

  function toEvent(seq: number, data: Uint8Array): FeedEvent | undefined {
    const message = parseBrokerMessage(data);
    if (message?.type !== 'revocation') return;
    const { entry, rowId } = message;
    return {
      eventId: eventId(readingStream as string, seq),
      id: rowId,
      ...entry,
      expiresAt: entry.expiresAt * 1000,
      createdAt: 0,
    };
  }

  /** Reads the stream from where it left off; starts again from the beginning on a new stream. */
  async function read(): Promise<void> {
    await opened;
    while (!closed) {
      try {
        const info = await (jsm as JetStreamManager).streams.info(stream);
        if (info.created !== readingStream) {
          readingStream = info.created;
          events.clear();
          lastSeq = 0;
          caughtUp = false;
        }
        if (info.state.messages === 0 || lastSeq >= info.state.last_seq) caughtUp = true;
        const consumer = await (js as JetStreamClient).consumers.get(stream, { opt_start_seq: lastSeq + 1 });
        messages = await consumer.consume({ max_messages: 1_000 });
        if (closed) {
          await messages.close().catch(() => {});
          return;
        }
        for await (const message of messages) {
          liveAt = Date.now();
          lastSeq = message.seq;
          const event = toEvent(message.seq, message.data);
          if (event) {
            events.set(message.seq, event);
            for (const listener of listeners) listener(event);
          }
          if (message.info.pending === 0) caughtUp = true;
        }
      } catch (err) {
        if (closed) return;
        if (apiError(err) !== STREAM_NOT_FOUND)
          log.debug({ ...where, reason: describe(err) }, 'reading failed');
        await sleep(RECONNECT_MS / 4);
      }
    }
  }

  /** The stream, created when missing, its `max_age` raised when the retention grew. */
  async function ensureStream(manager: JetStreamManager): Promise<StreamInfo> {
    const maxAge = nanos(options.retentionMs());
    try {
      const info = await manager.streams.info(stream);
      const { config } = info;
      const subjects = config.subjects ?? [];
      // Only ever widened: a stream made by an older or shorter-lived configuration, or by hand.
      if (config.max_age >= maxAge && config.allow_rollup_hdrs && subjects.includes(heartbeatSubject))
        return info;
      return await manager.streams.update(stream, {
        ...config,
        max_age: Math.max(config.max_age, maxAge),
        allow_rollup_hdrs: true,
        subjects: [...new Set([...subjects, subject, heartbeatSubject])],
      });
    } catch (err) {
      if (apiError(err) !== STREAM_NOT_FOUND) throw err;
    }
    try {
      return await manager.streams.add({
        name: stream,
        subjects: [subject, heartbeatSubject],
        storage: StorageType.File,
        retention: RetentionPolicy.Limits,
        discard: DiscardPolicy.Old,
        max_age: maxAge,
        duplicate_window: nanos(Math.min(DUPLICATE_WINDOW_MS, options.retentionMs())),
        allow_rollup_hdrs: true,
        num_replicas: 1,
      });
    } catch (err) {
      // Another instance created it first.
      if (apiError(err) === STREAM_NAME_IN_USE) return await manager.streams.info(stream);
      throw err;
    }
  }

  /** Vouches for the stream, unless the shared hold-back says it lacks a live revocation. */
  async function heartbeat(): Promise<void> {
    try {
      if (await undelivered()) return;
    } catch {
      return; // the store is out of reach: nothing to vouch with
    }
    const rollup = headers();
    // Only the latest heartbeat stays in the stream (allow_rollup_hdrs).
    rollup.set('Nats-Rollup', 'sub');
    await (js as JetStreamClient).publish(heartbeatSubject, encodeBrokerHeartbeat(Date.now(), instance), {
      headers: rollup,
      expect: { streamName: stream },
      timeout: PUBLISH_TIMEOUT_MS,
    });
    lastHeartbeat = Date.now();
  }

  /** Every few seconds: notice a recreated or lost stream, and heartbeat while vouching for it. */
  async function tick(): Promise<void> {
    if (!connected || jsm === undefined) return;
    try {
      const info = await jsm.streams.info(stream);
      // The reader's consumer is on a stream that is gone: read the new one from the start.
      if (readingStream !== undefined && info.created !== readingStream) void messages?.stop();
      else if (info.created === readingStream && lastSeq >= info.state.last_seq) caughtUp = true;
      const now = clock();
      for (const [seq, event] of events) if (event.expiresAt <= now) events.delete(seq);
      if (seededStream === info.created && Date.now() - lastHeartbeat >= HEARTBEAT_MS - 100)
        await heartbeat();
    } catch (err) {
      if (apiError(err) === STREAM_NOT_FOUND) {
        seededStream = undefined;
        void messages?.stop();
      } else log.debug({ ...where, reason: describe(err) }, 'heartbeat failed');
    }
  }

  const opened = open();
  void read();
  let ticking = false;
  // One tick at a time: a slow NATS must not pile them up.
  const ticker = setInterval(() => {
    if (ticking) return;
    ticking = true;
    void tick().finally(() => {
      ticking = false;
    });
  }, HEARTBEAT_MS / 3);
  ticker.unref();

  /** Whether this instance's copy of the stream is whole: seeded, and read up to where it stood. */
  const current = () => seededStream !== undefined && seededStream === readingStream && caughtUp;

  return {
    shared: true,
    // SETs travel on this connection too, in a stream of their own.
    securityEvents: createNatsSecurityEventBroker(
      () => (connected && js !== undefined && jsm !== undefined ? { js, jsm } : undefined),
      broker,
    ),
    async publish(entry) {
      if (entry.expiresAt <= clock()) return true;
      if (!connected || js === undefined) return false;
      try {
        await js.publish(subject, encodeBrokerRevocation(wireEntry(entry), entry.id), {
          // The row, by id and creation time (a store started afresh reuses ids): JetStream keeps
          // one message per row within the duplicate window, so a redelivery is not a second entry.
          msgID: `${entry.id}:${entry.createdAt}`,
          expect: { streamName: stream },
          timeout: PUBLISH_TIMEOUT_MS,
        });
        return true;
      } catch {
        // Not acknowledged: the row stays undelivered in the store and goes out with sync().
        return false;
      }
    },
    async backlog(lastEventId) {
      if (!current()) throw new Error('the revocation stream is not seeded or not read yet');
      // An id of another stream (or none, or malformed) gets the whole stream: a repeat is harmless,
      // a gap is not.
      const position = lastEventId === undefined ? undefined : parseEventId(lastEventId);
      const after =
        position !== undefined && position.stream === streamEpoch(readingStream) ? position.seq : 0;
      const now = clock();
      const out: FeedEvent[] = [];
      for (const [seq, event] of events) {
        if (event.expiresAt <= now) events.delete(seq);
        else if (seq > after) out.push(event);
      }
      return out;
    },
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    live: () => connected && current() && Date.now() - liveAt < LIVE_WINDOW_MS,
    async seeded() {
      await attempted;
      if (!connected || jsm === undefined) throw new Error(`NATS at ${broker.server} is not reachable`);
      const info = await ensureStream(jsm);
      checkedStream = info.created;
      if (seededStream === info.created) return true;
      try {
        await jsm.streams.getMessage(stream, { last_by_subj: heartbeatSubject });
        seededStream = info.created;
        return true;
      } catch (err) {
        if (apiError(err) !== NO_MESSAGE_FOUND) throw err;
        seededStream = undefined;
        return false;
      }
    },
    async markSeeded() {
      if (jsm === undefined || checkedStream === undefined) return;
      // Republished into the stream seeded() looked at; if that was replaced meanwhile, the next
      // sync seeds the new one.
      const info = await jsm.streams.info(stream);
      if (info.created !== checkedStream) return;
      await heartbeat();
      seededStream = info.created;
    },
    async close() {
      closed = true;
      clearInterval(ticker);
      listeners.clear();
      await opened;
      await messages?.close().catch(() => {});
      await nc?.close();
    },
  };
}

/** An event id: the stream (its creation time, ms) and the sequence in it, `<ms>-<seq>`. */
function eventId(created: string, seq: number): string {
  return `${streamEpoch(created)}-${seq}`;
}

function streamEpoch(created: string | undefined): number {
  return created === undefined ? -1 : Date.parse(created);
}

function parseEventId(id: string): { stream: number; seq: number } | undefined {
  const match = /^(\d{1,15})-(\d{1,15})$/.exec(id);
  if (!match) return;
  return { stream: Number(match[1]), seq: Number(match[2]) };
}

function apiError(err: unknown): number | undefined {
  return (err as { api_error?: { err_code?: number } } | undefined)?.api_error?.err_code;
}

/** The failure's message: nats.js errors name the server and the code, never the credentials. */
function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
