import { parseBrokerMessage } from '@tessera/protocol';
import { createBackoff, sleep } from '../backoff.js';
import { describeFailure } from '../logger.js';
import { createMalformedReporter, FeedClosed, type FeedContext, type RevocationFeed } from './feed.js';

/** A delivery, as amqplib hands it over: the body and, on a stream, its offset in the headers. */
export interface AmqpMessageLike {
  content: Uint8Array;
  properties: { headers?: Record<string, unknown> | undefined };
}

/** The little of an amqplib channel the guard uses. */
export interface AmqpChannelLike {
  prefetch(count: number): Promise<unknown>;
  consume(
    queue: string,
    onMessage: (message: AmqpMessageLike | null) => void,
    options?: { noAck?: boolean; arguments?: Record<string, unknown> },
  ): Promise<unknown>;
  ack(message: AmqpMessageLike): void;
  close(): Promise<void>;
  on(event: 'close' | 'error', listener: (err?: Error) => void): unknown;
}

/**
 * An amqplib connection of yours (`await amqplib.connect(…)`). The guard opens a channel of its own
 * on it, never closes the connection, and opens another channel when its own closes.
 */
export interface AmqpConnectionLike {
  createChannel(): Promise<AmqpChannelLike>;
}

/** Checks a `rabbitmq` option: an amqp:// or amqps:// URL, or an amqplib connection. */
export function checkRabbitMqOption(
  rabbitmq: unknown,
  name: string,
): asserts rabbitmq is string | AmqpConnectionLike {
  const isUrl = typeof rabbitmq === 'string' && /^amqps?:\/\/[^\s]+$/i.test(rabbitmq);
  const isConnection =
    typeof rabbitmq === 'object' &&
    rabbitmq !== null &&
    typeof (rabbitmq as AmqpConnectionLike).createChannel === 'function';
  if (!isUrl && !isConnection)
    throw new TypeError(`${name} must be an amqp:// or amqps:// URL or an amqplib connection`);
}

/** The server's `?stream=` default for RabbitMQ (its `revocationBroker: amqp://…`). */
export const DEFAULT_RABBITMQ_STREAM = 'tessera.revocations';
/** The server's own rule for RabbitMQ stream names (its revocationBroker's `?stream=`). */
const STREAM_NAME = /^[A-Za-z0-9._:-]{1,200}$/;

export function checkRabbitMqStream(stream: unknown, name: string): asserts stream is string {
  if (typeof stream !== 'string' || !STREAM_NAME.test(stream))
    throw new TypeError(`${name} must be 1 to 200 letters, digits or . _ : -`);
}

export interface RabbitMqFeedOptions extends FeedContext {
  rabbitmq: string | AmqpConnectionLike;
  stream: string;
}

/** Deliveries in flight: a stream consumer must set one (RabbitMQ refuses it otherwise). */
const PREFETCH = 1000;
/** AMQP heartbeats (seconds) on the guard's own connection: a dead one is noticed within two. */
const AMQP_HEARTBEAT_S = 5;

/**
 * Follows the server's revocation stream on RabbitMQ directly (a stream queue the server instances
 * publish @tessera/protocol broker messages to, with `revocationBroker: amqp://…`). The stream is
 * read from its first offset: that is the snapshot. Every instance heartbeats on it only while the
 * stream holds every revocation in force, and the stream is ordered, so once a heartbeat whose `at`
 * is within staleAfter of our clock has been read, every entry before it is in the set: the first
 * such heartbeat completes the snapshot, later ones prove liveness. After a disconnect the feed
 * resumes from the offset after the last one read.
 */
export function createRabbitMqFeed(options: RabbitMqFeedOptions): RevocationFeed {
  const { set, liveness, clock, logger, stream, staleAfterMs } = options;
  const source = `rabbitmq stream ${stream}`;
  const backoff = createBackoff();
  const closing = new AbortController();
  const malformed = createMalformedReporter(logger, source);
  /** Our own connection (a URL was given); the user's is never closed by us. */
  let own: OwnConnection | undefined;
  let channel: AmqpChannelLike | undefined;
  /** The offset to resume from; `first` until something was read (or after the stream was lost). */
  let nextOffset: number | 'first' = 'first';
  let lastEventId: string | undefined;
  let lastError: string | undefined;
  let outageLogged = false;
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
    logger.warn({ source, error: lastError }, 'reading revocations from RabbitMQ failed; retrying');
  }

  function recovered(): void {
    backoff.reset();
    lastError = undefined;
    if (outageLogged) {
      outageLogged = false;
      logger.info({ source }, 'reading revocations from RabbitMQ works again');
    }
  }

  /** One delivery: an entry for the set, or a heartbeat that may prove it whole and current. */
  function deliver(message: AmqpMessageLike): void {
    const offset = message.properties.headers?.['x-stream-offset'];
    if (typeof offset !== 'number' || !Number.isSafeInteger(offset)) {
      malformed.report();
      return;
    }
    nextOffset = offset + 1;
    lastEventId = String(offset);
    const parsed = parseBrokerMessage(message.content);
    if (parsed === undefined) {
      malformed.report();
      return;
    }
    const now = clock();
    if (parsed.type === 'revocation') {
      set.add(parsed.entry, now);
      return;
    }
    // A heartbeat vouches for the stream up to here; an old one (read in the backlog) only says
    // the stream was whole then, which proves nothing about now.
    if (Math.abs(now - parsed.at) > staleAfterMs) return;
    if (liveness.loaded) liveness.markLive();
    else {
      liveness.markSnapshot();
      resolveLoaded();
    }
    recovered();
  }

  /** Consumes on a fresh channel until it closes (an outage, a cancelled consumer, close()). */
  async function consumeOnce(): Promise<void> {
    const connection = await connectionFor();
    const current = await connection.createChannel();
    channel = current;
    let done!: (err?: Error) => void;
    const ended = new Promise<Error | undefined>((resolve) => {
      done = resolve;
    });
    current.on('error', (err) => done(err ?? new Error('channel error')));
    current.on('close', () => done(new Error('channel closed')));
    own?.onClose(() => done(new Error('connection closed')));
    closing.signal.addEventListener('abort', () => done(), { once: true });
    malformed.reset();
    const requested = nextOffset;
    // Resuming at an offset past the end of the stream waits until the stream gets there: a stream
    // deleted and declared again (its offsets restarted) would leave us reading nothing for long.
    // Servers heartbeat every few seconds, so nothing at all for staleAfter after resuming means
    // that, or a cluster that is down; reading again from the start is right either way (entries
    // are added to the set once).
    let silent: ReturnType<typeof setTimeout> | undefined;
    if (requested !== 'first') {
      silent = setTimeout(() => {
        nextOffset = 'first';
        done(new Error('nothing to read after resuming; reading the stream again from its start'));
      }, staleAfterMs);
      silent.unref?.();
    }
    await current.prefetch(PREFETCH);
    await current.consume(
      stream,
      (message) => {
        if (message === null) {
          // The broker cancelled us: the stream was deleted. The next one is read from its start.
          nextOffset = 'first';
          done(new Error('the stream was deleted'));
          return;
        }
        clearTimeout(silent);
        current.ack(message);
        deliver(message);
      },
      { noAck: false, arguments: { 'x-stream-offset': requested } },
    );
    const err = await ended;
    clearTimeout(silent);
    channel = undefined;
    await current.close().catch(() => {});
    if (err && !closing.signal.aborted) throw err;
  }

  async function connectionFor(): Promise<AmqpConnectionLike> {
    if (typeof options.rabbitmq !== 'string') return options.rabbitmq;
    if (own && !own.closed) return own.connection;
    own = await openConnection(options.rabbitmq);
    if (closing.signal.aborted) await own.close();
    return own.connection;
  }

  async function run(): Promise<void> {
    while (!closing.signal.aborted) {
      try {
        await consumeOnce();
      } catch (err) {
        if (closing.signal.aborted) break;
        if (err instanceof MissingModule) {
          lastError = err.message;
          logger.warn({ source, error: lastError }, 'cannot follow revocations in RabbitMQ');
          rejectLoaded(err);
          return;
        }
        reportOutage(err);
        await sleep(backoff.next(), closing.signal);
      }
    }
  }

  const running = run();

  return {
    mode: 'rabbitmq',
    loaded,
    source,
    get lastEventId() {
      return lastEventId;
    },
    get lastError() {
      return lastError;
    },
    async close() {
      closing.abort();
      rejectLoaded(new FeedClosed());
      await channel?.close().catch(() => {});
      await own?.close();
      await running;
    },
  };
}

class MissingModule extends Error {}

interface OwnConnection {
  connection: AmqpConnectionLike;
  readonly closed: boolean;
  onClose(listener: () => void): void;
  close(): Promise<void>;
}

interface AmqplibModule {
  connect(url: string, options?: object): Promise<AmqpConnectionLike & AmqpEvents>;
}
interface AmqpEvents {
  on(event: 'close' | 'error', listener: (err?: Error) => void): unknown;
  close(): Promise<void>;
}

/** A connection of the guard's own for a URL (amqplib, an optional peer dependency, loaded only now). */
async function openConnection(url: string): Promise<OwnConnection> {
  let module: AmqplibModule;
  try {
    const imported = (await import('amqplib')) as unknown as AmqplibModule & { default?: AmqplibModule };
    module = typeof imported.connect === 'function' ? imported : (imported.default as AmqplibModule);
  } catch {
    throw new MissingModule(
      '{ rabbitmq } with a URL needs the amqplib package (an optional peer dependency): npm install amqplib',
    );
  }
  const withHeartbeat = new URL(url);
  if (!withHeartbeat.searchParams.has('heartbeat'))
    withHeartbeat.searchParams.set('heartbeat', String(AMQP_HEARTBEAT_S));
  // noDelay: our acks must not wait for the broker's delayed TCP ACK (Nagle's algorithm, RFC 896).
  const connection = await module.connect(withHeartbeat.href, { timeout: 5_000, noDelay: true });
  let closed = false;
  const listeners = new Set<() => void>();
  connection.on('error', () => {}); // 'close' follows
  connection.on('close', () => {
    closed = true;
    for (const listener of listeners) listener();
  });
  return {
    connection,
    get closed() {
      return closed;
    },
    onClose(listener) {
      if (closed) listener();
      else listeners.add(listener);
    },
    async close() {
      if (closed) return;
      closed = true;
      await connection.close().catch(() => {});
    },
  };
}
