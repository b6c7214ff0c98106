import { parseRevocationData } from '@tessera/protocol';
import { createBackoff, retryAfterMs, sleep } from '../backoff.js';
import type { ClientCredentials } from '../client_credentials.js';
import { describeFailure } from '../logger.js';
import { createMalformedReporter, FeedClosed, type FeedContext, type RevocationFeed } from './feed.js';
import { createSseParser, SseLimitExceeded } from './sse_parser.js';

/** The fetch function the guard calls (the global `fetch` by default). */
export type GuardFetch = (url: string, init: RequestInit) => Promise<Response>;

export interface StreamFeedOptions extends FeedContext {
  url: string;
  fetch: GuardFetch;
  /** The guard's client: its Basic credentials go with every connection. */
  client: ClientCredentials | undefined;
}

/**
 * The issuer answered the stream request with something other than a stream. 401 and 403 say the
 * guard's client is not accepted; 429 (RFC 6585 §4) may say when to come back.
 */
class StreamRefused extends Error {
  constructor(
    message: string,
    readonly status: number,
    /** A 429's Retry-After (RFC 9110 §10.2.3), when it had a readable one. */
    readonly retryAfterMs: number | undefined,
  ) {
    super(message);
    this.name = 'StreamRefused';
  }

  /** A configuration error, not an outage: the issuer does not accept the guard's client. */
  get clientRefused(): boolean {
    return this.status === 401 || this.status === 403;
  }

  /** The issuer's stream caps are reached (RFC 6585 §4): transient, like an outage. */
  get rateLimited(): boolean {
    return this.status === 429;
  }
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
  const { url, set, liveness, clock, logger, staleAfterMs, client } = options;
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
  /**
   * The kind of trouble last logged in the current outage: one line per kind, so a long outage logs
   * once, and a change (the network back, but the issuer now refusing the client) logs again.
   */
  let loggedProblem: string | undefined;

  async function run(): Promise<void> {
    while (!closing.signal.aborted) {
      let delay: number;
      try {
        await connectOnce();
        if (closing.signal.aborted) break;
        delay = reportOutage('the revocation stream ended');
      } catch (err) {
        if (closing.signal.aborted) break;
        delay = reportOutage('the revocation stream failed', err);
      }
      await sleep(delay, closing.signal);
    }
  }

  /** Records and logs why the stream is down; returns how long to wait before reconnecting. */
  function reportOutage(message: string, err?: unknown): number {
    let delay = backoff.next();
    if (err instanceof StreamRefused && (err.clientRefused || err.rateLimited)) {
      if (err.retryAfterMs !== undefined) {
        // RFC 9110 §10.2.3: not before the server said; up to 10% later, so that a fleet of guards
        // turned away together does not come back together.
        delay = Math.max(delay, err.retryAfterMs * (1 + Math.random() / 10));
      }
      lastError = err.message;
      if (err.rateLimited) lastError += `; retrying in ${Math.ceil(delay / 1000)} s`;
      const fields = { source, status: err.status, client: client?.id };
      // A refused client is a configuration error: nothing works until someone fixes it. A stream
      // cap is the issuer's load, the guard's outage like any other.
      if (err.clientRefused)
        log(`HTTP ${err.status}`, () => logger.error(fields, `${err.message}; retrying`));
      else log(`HTTP ${err.status}`, () => logger.warn(fields, lastError!));
      return delay;
    }
    lastError = err === undefined ? message : `${message} (${describeFailure(err)})`;
    log('unreachable', () =>
      logger.warn({ source, error: describeFailure(err) }, `${message}; reconnecting`),
    );
    return delay;
  }

  /** Logs a kind of trouble once until it changes or the stream is live again. */
  function log(problem: string, write: () => void): void {
    if (loggedProblem === problem) return;
    loggedProblem = problem;
    write();
  }

  /** Why the issuer would not open the stream, from its answer. */
  function refusalOf(response: Response, type: string): StreamRefused {
    const { status } = response;
    let retryAfter: number | undefined;
    let message = `the revocation stream answered HTTP ${status} (${type || 'no type'})`;
    // RFC 9110 §15.5.2, RFC 6749 §2.3.1: missing or wrong client credentials. Retrying cannot help
    // until the configuration changes on one side, but that may be the issuer's (the client gets
    // registered, its secret rotated), so the guard keeps trying, with back-off.
    if (status === 401)
      message =
        client === undefined
          ? "the issuer's revocation stream requires client authentication (HTTP 401): set options.client to the guard's client at the issuer"
          : `the issuer refused the client credentials of ${JSON.stringify(client.id)} on the revocation stream (HTTP 401): check options.client`;
    // RFC 9110 §15.5.4: the client is known but may not read revocations.
    else if (status === 403)
      message = `the issuer does not allow ${client === undefined ? 'the guard' : `the client ${JSON.stringify(client.id)}`} to read its revocation stream (HTTP 403)`;
    // RFC 6585 §4: the issuer's stream caps are reached; transient, like an outage.
    else if (status === 429) {
      message = "the issuer's revocation stream is at its connection limit (HTTP 429)";
      retryAfter = retryAfterMs(response.headers.get('retry-after'));
    }
    return new StreamRefused(message, status, retryAfter);
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
      // On every connection, reconnections included. The URL passed the same https rule as the
      // issuer's (plain http only to the loopback or with allowInsecureHttp), and redirects are not
      // followed, so the credentials go nowhere else.
      if (client !== undefined) headers.authorization = client.authorization;
      const response = await fetchFn(url, {
        method: 'GET',
        headers,
        signal: connection.signal,
        redirect: 'manual',
      });
      const type = response.headers.get('content-type') ?? '';
      if (response.status !== 200 || !/^text\/event-stream\s*(?:;|$)/i.test(type)) {
        response.body?.cancel().catch(() => {});
        throw refusalOf(response, type);
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
        const entry = parseRevocationData(data);
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
          if (loggedProblem !== undefined) {
            loggedProblem = undefined;
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
