import { parseBrokerMessage } from '@tessera/protocol';
import type { ConsumerMessages, JetStreamClient, JetStreamManager, NatsConnection } from 'nats';
import { createBackoff, sleep } from '../backoff.js';
import { describeFailure } from '../logger.js';
import { createMalformedReporter, FeedClosed, type FeedContext, type RevocationFeed } from './feed.js';

/**
 * The little of a NATS connection (the `nats` package, v2) the guard uses. A connection of yours is
 * never closed by the guard: it reads on an ordered consumer of its own, which it stops itself.
 */
export interface NatsConnectionLike {
  jetstream(): unknown;
  jetstreamManager(): Promise<unknown>;
  status(): AsyncIterable<{ type: string }>;
  close(): Promise<void>;
}

/** The stream the server publishes to unless told otherwise (its `revocationBroker` `?stream=`). */
export const DEFAULT_NATS_STREAM = 'TESSERA_REVOCATIONS';
const STREAM_NAME = /^[A-Za-z0-9_-]{1,128}$/;

/** Checks a `nats` option: a nats:// or tls:// URL, or a connection of the `nats` package. */
export function checkNatsOption(nats: unknown, name: string): asserts nats is string | NatsConnectionLike {
  if (typeof nats === 'string') {
    let url: URL | undefined;
    try {
      url = new URL(nats);
    } catch {}
    if (url && (url.protocol === 'nats:' || url.protocol === 'tls:') && url.hostname !== '') return;
  } else if (
    typeof nats === 'object' &&
    nats !== null &&
    typeof (nats as NatsConnectionLike).jetstream === 'function' &&
    typeof (nats as NatsConnectionLike).jetstreamManager === 'function'
  )
    return;
  throw new TypeError(`${name} must be a nats:// or tls:// URL or a NatsConnection (the nats package)`);
}

/** Checks a JetStream stream name (no whitespace, `.`, `*`, `>` or path separators). */
export function checkNatsStream(stream: unknown, name: string): asserts stream is string {
  if (typeof stream !== 'string' || !STREAM_NAME.test(stream))
    throw new TypeError(`${name} must be a stream name: 1 to 128 letters, digits, _ or -`);
}

export interface NatsFeedOptions extends FeedContext {
  nats: string | NatsConnectionLike;
  stream: string;
}

/** JetStream API error: the stream does not exist (nats-server's errors.json). */
const STREAM_NOT_FOUND = 10059;
/** How often the stream's identity is checked, at most (a stream recreated empty is read anew). */
const MAX_CHECK_MS = 5_000;

/**
 * Follows the server's JetStream stream directly (@tessera/protocol broker_message.ts): read from
 * its first message with an ordered consumer — the snapshot — then as messages arrive. The set is
 * loaded once the guard has read every message the stream held when it began (`num_pending` 0) and
 * a heartbeat whose `at` is within staleAfter of the guard's clock: the stream is ordered, and a
 * server heartbeats only while the stream holds every revocation in force. After that each fresh
 * heartbeat proves liveness; silence (the servers stopped vouching, or NATS is gone) turns the set
 * stale. The ordered consumer resumes after a reconnection from the last sequence + 1; a stream
 * recreated (NATS lost its storage: new creation time) is read again from its start.
 */
export function createNatsFeed(options: NatsFeedOptions): RevocationFeed {
  const { set, liveness, clock, logger, stream, staleAfterMs } = options;
  const source = `nats stream ${stream}`;
  const checkMs = Math.max(50, Math.min(MAX_CHECK_MS, Math.floor(staleAfterMs / 3)));
  const backoff = createBackoff();
  const closing = new AbortController();
  const malformed = createMalformedReporter(logger, source);
  let connection: NatsConnection | undefined;
  let messages: ConsumerMessages | undefined;
  /** The stream being read, by its creation time. */
  let readingStream: string | undefined;
  let lastSeq = 0;
  let lastError: string | undefined;
  let outageLogged = false;
  /** Read up to where the stream stood when reading began. */
  let readUp = false;
  /** A heartbeat within staleAfter of our clock was read. */
  let heartbeatSeen = false;
  let resolveLoaded!: () => void;
  let rejectLoaded!: (err: Error) => void;
  const loaded = new Promise<void>((resolve, reject) => {
    resolveLoaded = resolve;
    rejectLoaded = reject;
  });
  loaded.catch(() => {});

  function reportOutage(err: unknown): void {
    lastError = describeFailure(err);
    if (outageLogged) return;
    outageLogged = true;
    logger.warn({ source, error: lastError }, 'reading revocations from NATS failed; retrying');
  }

  function recovered(): void {
    backoff.reset();
    lastError = undefined;
    if (outageLogged) {
      outageLogged = false;
      logger.info({ source }, 'reading revocations from NATS works again');
    }
  }

  function loadedIfWhole(): void {
    if (liveness.loaded || !readUp || !heartbeatSeen) return;
    liveness.markSnapshot();
    resolveLoaded();
  }

  function apply(data: Uint8Array): void {
    const message = parseBrokerMessage(data);
    if (message === undefined) {
      malformed.report();
      return;
    }
    const now = clock();
    if (message.type === 'revocation') set.add(message.entry, now);
    // A heartbeat from another clock's far past or future proves nothing about now.
    else if (Math.abs(now - message.at) <= staleAfterMs) {
      heartbeatSeen = true;
      if (liveness.loaded) liveness.markLive();
      else loadedIfWhole();
    }
  }

  /** Notices a stream that was deleted or recreated, and a connection that is down. */
  async function check(manager: JetStreamManager, round: AbortSignal): Promise<void> {
    for (;;) {
      await sleep(checkMs, round);
      if (round.aborted) return;
      try {
        const info = await manager.streams.info(stream);
        if (info.created !== readingStream) void messages?.stop();
        else if (lastSeq >= info.state.last_seq && !readUp) {
          readUp = true;
          loadedIfWhole();
        }
      } catch (err) {
        if (round.aborted) return;
        if (apiError(err) === STREAM_NOT_FOUND) void messages?.stop();
        reportOutage(err);
      }
    }
  }

  async function watch(nats: NatsConnection): Promise<void> {
    for await (const status of nats.status()) {
      if (status.type === 'disconnect') reportOutage(new Error('disconnected from NATS'));
      else if (status.type === 'reconnect') recovered();
    }
  }

  async function run(): Promise<void> {
    let module: NatsModule | undefined;
    while (connection === undefined && !closing.signal.aborted) {
      try {
        if (typeof options.nats === 'string') {
          module ??= await loadNats();
          connection = await module.connect(connectOptions(options.nats));
        } else connection = options.nats as unknown as NatsConnection;
      } catch (err) {
        if (err instanceof MissingNats) {
          lastError = err.message;
          logger.warn({ source, error: lastError }, 'cannot follow revocations in NATS');
          rejectLoaded(err);
          return;
        }
        reportOutage(err);
        await sleep(backoff.next(), closing.signal);
      }
    }
    if (connection === undefined) return;
    if (closing.signal.aborted) {
      if (typeof options.nats === 'string') await connection.close();
      return;
    }
    void watch(connection).catch(() => {});
    let manager: JetStreamManager | undefined;
    while (!closing.signal.aborted) {
      try {
        manager ??= await connection.jetstreamManager();
        const js: JetStreamClient = connection.jetstream();
        const info = await manager.streams.info(stream);
        if (info.created !== readingStream) {
          // A new stream (or the first): read from its start. The set keeps what it holds: a
          // revocation is never withdrawn, and the servers republish every one in force.
          readingStream = info.created;
          lastSeq = 0;
        }
        if (info.state.messages === 0 || lastSeq >= info.state.last_seq) readUp = true;
        loadedIfWhole();
        const consumer = await js.consumers.get(stream, { opt_start_seq: lastSeq + 1 });
        messages = await consumer.consume({ max_messages: 1_000 });
        if (closing.signal.aborted) {
          await messages.close().catch(() => {});
          break;
        }
        recovered();
        // The checks of this consumer's stream end with it (and with close()).
        const round = new AbortController();
        const endRound = () => round.abort();
        closing.signal.addEventListener('abort', endRound, { once: true });
        const checking = check(manager, round.signal);
        try {
          for await (const message of messages) {
            lastSeq = message.seq;
            apply(message.data);
            if (message.info.pending === 0 && !readUp) {
              readUp = true;
              loadedIfWhole();
            }
          }
        } finally {
          endRound();
          closing.signal.removeEventListener('abort', endRound);
          await checking;
        }
      } catch (err) {
        if (closing.signal.aborted) break;
        reportOutage(err);
        await sleep(backoff.next(), closing.signal);
      }
    }
  }

  const running = run();

  return {
    mode: 'nats',
    loaded,
    source,
    get lastEventId() {
      return lastSeq > 0 ? String(lastSeq) : undefined;
    },
    get lastError() {
      return lastError;
    },
    async close() {
      closing.abort();
      rejectLoaded(new FeedClosed());
      await messages?.close().catch(() => {});
      await running.catch(() => {});
      // The user's own connection is never closed.
      if (typeof options.nats === 'string') await connection?.close();
    },
  };
}

function apiError(err: unknown): number | undefined {
  return (err as { api_error?: { err_code?: number } } | undefined)?.api_error?.err_code;
}

/**
 * The connection options for a nats:// or tls:// URL: the credentials (`user:pass@` or a token as
 * the user alone) go to the client as options, never into a message. The client reconnects for
 * ever: staleness, not errors, tells the guard the feed is down.
 */
function connectOptions(value: string): Record<string, unknown> {
  const url = new URL(value);
  const user = url.username === '' ? undefined : decodeURIComponent(url.username);
  const pass = url.password === '' ? undefined : decodeURIComponent(url.password);
  return {
    servers: `${url.hostname}:${url.port || '4222'}`,
    ...(pass !== undefined ? { user, pass } : user !== undefined ? { token: user } : {}),
    ...(url.protocol === 'tls:' ? { tls: {} } : {}),
    name: 'tessera guard',
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
    pingInterval: 5_000,
    maxPingOut: 2,
  };
}

class MissingNats extends Error {}

interface NatsModule {
  connect(options: Record<string, unknown>): Promise<NatsConnection>;
}

/** The `nats` package: an optional peer dependency, loaded only for a URL. */
async function loadNats(): Promise<NatsModule> {
  try {
    const module = (await import('nats')) as unknown as NatsModule & { default?: NatsModule };
    const found = typeof module.connect === 'function' ? module : module.default;
    if (typeof found?.connect !== 'function') throw new Error();
    return found;
  } catch {
    throw new MissingNats(
      '{ nats } with a URL needs the nats package (an optional peer dependency): npm install nats',
    );
  }
}
