import { createBackoff, sleep } from '../backoff.js';
import { describeFailure } from '../logger.js';
import { entryFromJson } from './entry.js';
import { createMalformedReporter, FeedClosed, type FeedContext, type RevocationFeed } from './feed.js';
import { createSseParser, SseLimitExceeded } from './sse_parser.js';

/** The fetch function the guard calls (the global `fetch` by default). */
export type GuardFetch = (url: string, init: RequestInit) => Promise<Response>;

export interface StreamFeedOptions extends FeedContext {
  url: string;
  fetch: GuardFetch;
}

/**
 * A last event ID we can send back: `Last-Event-ID` is a header, so printable ASCII only, and
 * short. Ids are opaque (integers, Redis stream ids); one outside this is dropped, and the next
 * reconnect asks for the full snapshot instead, which is safe because revocations only add up.
 */
const SENDABLE_ID = /^[\x20-\x7E]{1,256}$/;

/**
 * No byte for this long and the connection is presumed dead (a half-open TCP connection never
 * errors): it is dropped and reopened. At least 10 s, so two missed heartbeats (every 5 s) do not
 * churn connections; at least `staleAfter`, since the set is already stale by then.
 */
const MIN_IDLE_TIMEOUT_MS = 10_000;

/**
 * Follows the issuer's revocation event stream (`revocation_events_endpoint`, Server-Sent Events):
 * the snapshot of revocations in force, `: snapshot complete`, then live events and `: heartbeat`
 * comments. On a drop it reconnects with exponential back-off and jitter (honouring `retry:`,
 * reset after a healthy connection) and sends `Last-Event-ID`, so the server sends only what was
 * missed.
 */
export function createStreamFeed(options: StreamFeedOptions): RevocationFeed {
  const { url, set, liveness, clock, logger, staleAfterMs } = options;
  const fetchFn = options.fetch;
  const source = new URL(url).origin;
  const idleTimeout = Math.max(MIN_IDLE_TIMEOUT_MS, staleAfterMs);
  const backoff = createBackoff();
  const closing = new AbortController();
  const malformed = createMalformedReporter(logger, source);
  let lastEventId: string | undefined;
  let lastError: string | undefined;
  let resolveLoaded!: () => void;
  let rejectLoaded!: (err: Error) => void;
  const loaded = new Promise<void>((resolve, reject) => {
    resolveLoaded = resolve;
    rejectLoaded = reject;
  });
  loaded.catch(() => {});
  /** Whether the current outage was logged already (one warning per outage). */
  let outageLogged = false;

  async function run(): Promise<void> {
    while (!closing.signal.aborted) {
      try {
        await connectOnce();
        if (!closing.signal.aborted) reportOutage('the revocation stream ended');
      } catch (err) {
        if (closing.signal.aborted) break;
        reportOutage('the revocation stream failed', err);
      }
      if (closing.signal.aborted) break;
      await sleep(backoff.next(), closing.signal);
    }
  }

  function reportOutage(message: string, err?: unknown): void {
    lastError = err === undefined ? message : `${message} (${describeFailure(err)})`;
    if (outageLogged) return;
    outageLogged = true;
    logger.warn({ source, error: describeFailure(err) }, `${message}; reconnecting`);
  }

  async function connectOnce(): Promise<void> {
    const connection = new AbortController();
    const abort = () => connection.abort();
    closing.signal.addEventListener('abort', abort, { once: true });
    const idle = setTimeout(abort, idleTimeout);
    idle.unref();
    malformed.reset();
    try {
      const headers: Record<string, string> = {
        accept: 'text/event-stream',
        'cache-control': 'no-store',
      };
      if (lastEventId !== undefined && SENDABLE_ID.test(lastEventId)) headers['last-event-id'] = lastEventId;
      const response = await fetchFn(url, {
        method: 'GET',
        headers,
        signal: connection.signal,
        redirect: 'manual',
      });
      const type = response.headers.get('content-type') ?? '';
      if (response.status !== 200 || !/^text\/event-stream\s*(?:;|$)/i.test(type)) {
        response.body?.cancel().catch(() => {});
        throw new Error(`the revocation stream answered HTTP ${response.status} (${type || 'no type'})`);
      }
      if (response.body === null) throw new Error('the revocation stream has no body');
      idle.refresh();
      await read(response.body, idle);
    } finally {
      clearTimeout(idle);
      closing.signal.removeEventListener('abort', abort);
      connection.abort();
    }
  }

  async function read(body: ReadableStream<Uint8Array>, idle: NodeJS.Timeout): Promise<void> {
    /**
     * Whether this connection has sent its whole snapshot (or backlog). Before that, its events
     * prove nothing: the set may still lack revocations the rest of the snapshot carries.
     */
    let current = false;
    const parser = createSseParser({
      event(type, data, id) {
        lastEventId = id;
        if (current) liveness.markLive();
        if (type !== 'revocation') return;
        const entry = entryFromJson(data);
        if (entry === undefined) malformed.report();
        else set.add(entry, clock());
      },
      comment(text) {
        if (text === 'snapshot complete') {
          current = true;
          liveness.markSnapshot();
          // A healthy connection: the next drop starts the back-off from the base again.
          backoff.reset();
          lastError = undefined;
          if (outageLogged) {
            outageLogged = false;
            logger.info({ source }, 'the revocation stream is live again');
          }
          resolveLoaded();
        } else if (text === 'heartbeat' && current) {
          liveness.markLive();
        }
      },
      retry(ms) {
        backoff.setBase(ms);
      },
    });
    const reader = body.getReader();
    const decoder = new TextDecoder();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return;
        idle.refresh();
        parser.push(decoder.decode(value, { stream: true }));
      }
    } catch (err) {
      if (err instanceof SseLimitExceeded)
        logger.warn({ source, error: err.message }, 'dropping the revocation stream');
      throw err;
    } finally {
      reader.cancel().catch(() => {});
    }
  }

  const running = run();

  return {
    mode: 'stream',
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
      await running;
    },
  };
}
