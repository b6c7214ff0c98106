import { randomUUID } from 'node:crypto';
import type { Logger } from '../shared/logger.js';
import type { Audit } from '../store/audit.js';
import type { OutboxKinds, ResponseOutcome } from './kinds.js';
import type { ClaimedDelivery, Outbox } from './outbox.js';

/** How an attempt ended, for the metrics: delivered, failed and to be tried again, or given up. */
export type DeliveryOutcome = 'delivered' | 'retried' | 'gave_up';

export interface DeliveryOptions {
  /** Each attempt's request times out after this (BCL §2.5 leaves it to the OP; 5 s). */
  timeoutMs: number;
  /** The first retry waits about this; each next one twice as long… */
  firstRetryMs: number;
  /** …up to this. */
  maxRetryMs: number;
  /** A delivery still failing this long after it was written is given up. */
  giveUpAfterMs: number;
  /** Rows are looked for this often (rows other processes wrote, retries falling due). */
  pollMs: number;
  /** Attempts in flight at once, per instance. */
  concurrency: number;
}

export const DELIVERY_DEFAULTS: DeliveryOptions = {
  timeoutMs: 5_000,
  firstRetryMs: 1_000,
  maxRetryMs: 5 * 60_000,
  giveUpAfterMs: 24 * 3_600_000,
  pollMs: 1_000,
  concurrency: 16,
};

/** A Retry-After beyond this is read as this: a receiver cannot park deliveries for days. */
const MAX_RETRY_AFTER_MS = 3_600_000;

export interface OutboxDelivery {
  /** Starts polling (and listening for this process's enqueues). */
  start(): void;
  /** Stops claiming, aborts the attempts in flight (they are retried at once, by any instance), waits for them. */
  stop(): Promise<void>;
  /** Looks for due rows now. */
  wake(): void;
  /** Attempts in flight in this instance. */
  inFlight(): number;
}

/**
 * The job every server instance runs: claims due outbox rows with a lease (so one instance attempts a
 * row at a time), POSTs each kind's request, and records the outcome. Woken in-process on enqueue
 * and by a poll each second (the CLI, another process, writes rows too; retries fall due).
 */
export function createOutboxDelivery(deps: {
  outbox: Outbox;
  kinds: OutboxKinds;
  audit: Audit;
  log: Logger;
  clock: () => number;
  onOutcome?: (kind: string, outcome: DeliveryOutcome) => void;
  options?: Partial<DeliveryOptions>;
}): OutboxDelivery {
  const { outbox, kinds, audit, log, clock } = deps;
  const options = { ...DELIVERY_DEFAULTS, ...deps.options };
  const kindNames = [...kinds.keys()];
  // Unique per process and start: a lease never outlives the instance that took it by more than its term.
  const owner = `${process.pid}-${randomUUID()}`;
  // An attempt, its write of the outcome included, always ends well inside its lease.
  const leaseMs = options.timeoutMs * 6;
  const stopping = new AbortController();
  const running = new Set<Promise<void>>();
  let poll: NodeJS.Timeout | undefined;
  let unsubscribe: (() => void) | undefined;
  let pumping: Promise<void> | undefined;
  let again = false;
  let storeFailing = false;

  /** Claims as many due rows as there is room for, and starts them; one claimer at a time. */
  function pump(): Promise<void> {
    if (stopping.signal.aborted) return Promise.resolve();
    if (pumping) {
      again = true;
      return pumping;
    }
    pumping = claimAndStart().finally(() => {
      pumping = undefined;
      // Woken after the last look (a notify while the claim was finishing): look again.
      if (again) void pump();
    });
    return pumping;
  }

  /** Claims and starts attempts while there is room and rows keep coming. */
  async function claimAndStart(): Promise<void> {
    try {
      do {
        again = false;
        const room = options.concurrency - running.size;
        if (room <= 0) break;
        const rows = await outbox.claim(owner, kindNames, room, leaseMs);
        for (const row of rows) {
          const attempt = deliver(row).finally(() => {
            running.delete(attempt);
            void pump();
          });
          running.add(attempt);
        }
        if (rows.length === room) again = true;
      } while (again && !stopping.signal.aborted);
      if (storeFailing) log.info('outbox: store reachable again');
      storeFailing = false;
    } catch (err) {
      // One warning per outage, not one per second.
      if (!storeFailing)
        log.warn({ reason: (err as Error).message }, 'outbox: claiming deliveries failed; retrying');
      storeFailing = true;
    }
  }

  /** One attempt of one row, start to finish; never throws. */
  async function deliver(row: ClaimedDelivery): Promise<void> {
    const kind = kinds.get(row.kind)!;
    let payload: unknown;
    try {
      payload = kind.parse(row.payload);
    } catch (err) {
      // Written by a version that made it differently: no attempt can ever succeed.
      return giveUp(row, undefined, `unreadable payload: ${(err as Error).message}`).catch(
        (failure: unknown) =>
          log.warn(
            { outboxId: row.id, reason: (failure as Error).message },
            'outbox: recording an attempt failed',
          ),
      );
    }
    let outcome: { result: ResponseOutcome; error?: string; retryAfterMs?: number };
    try {
      const request = kind.request(payload, row.target);
      outcome = await post(request.url, request.headers, request.body, (status) => kind.outcome(status));
    } catch (err) {
      // The request could not be made (no signing key loaded yet): nothing was sent.
      outcome = { result: 'retry', error: `request not built: ${(err as Error).message}` };
    }
    try {
      if (outcome.result === 'delivered') {
        await outbox.delivered(row);
        deps.onOutcome?.(row.kind, 'delivered');
        return;
      }
      if (outcome.result === 'give_up') return await giveUp(row, payload, outcome.error!);
      if (stopping.signal.aborted) {
        // Interrupted by shutdown: due again at once, for whichever instance is still up.
        await outbox.retryAt(row, clock(), 'interrupted: the server stopped');
        return;
      }
      const now = clock();
      if (now - row.createdAt >= options.giveUpAfterMs)
        return await giveUp(
          row,
          payload,
          `${outcome.error} (failing for ${Math.round(options.giveUpAfterMs / 3_600_000)} h)`,
        );
      const at =
        now + Math.max(backoff(row.attempts), Math.min(outcome.retryAfterMs ?? 0, MAX_RETRY_AFTER_MS));
      await outbox.retryAt(row, at, outcome.error!);
      await outbox.deferTarget(row.target, at);
      deps.onOutcome?.(row.kind, 'retried');
      log.debug(
        { outboxId: row.id, kind: row.kind, attempts: row.attempts, error: outcome.error },
        'outbox: delivery failed; will retry',
      );
    } catch (err) {
      // The outcome could not be written: the lease runs out and the row is attempted again.
      log.warn(
        { outboxId: row.id, kind: row.kind, reason: (err as Error).message },
        'outbox: recording an attempt failed',
      );
    }
  }

  async function giveUp(row: ClaimedDelivery, payload: unknown, error: string): Promise<void> {
    if (!(await outbox.giveUp(row, error))) return;
    deps.onOutcome?.(row.kind, 'gave_up');
    const about = payload === undefined ? { detail: {} } : kinds.get(row.kind)!.describe(payload);
    const detail = { kind: row.kind, outboxId: row.id, attempts: row.attempts, error, ...about.detail };
    // The request (and the token in it) is never logged; neither is the target, whose query may
    // carry the receiver's own secret.
    log.warn({ ...detail, userId: about.userId, clientId: about.clientId }, 'outbox: delivery given up');
    await audit.record({
      type: 'delivery_gave_up',
      userId: about.userId ?? null,
      clientId: about.clientId ?? null,
      detail,
    });
  }

  /** The HTTP exchange: POST, no redirects followed, a timeout; what happened, in a line without secrets. */
  async function post(
    target: string,
    headers: Record<string, string>,
    body: string,
    outcomeOf: (status: number) => ResponseOutcome,
  ): Promise<{ result: ResponseOutcome; error?: string; retryAfterMs?: number }> {
    const timeout = AbortSignal.timeout(options.timeoutMs);
    let response: Response;
    try {
      response = await fetch(target, {
        method: 'POST',
        headers,
        body,
        // BCL §2.5 / RFC 8935: the receiver answers; a redirect is not followed (it would carry the
        // token to wherever the receiver, or whoever took its address, points).
        redirect: 'manual',
        signal: AbortSignal.any([timeout, stopping.signal]),
      });
    } catch (err) {
      if (timeout.aborted) return { result: 'retry', error: `timed out after ${options.timeoutMs} ms` };
      if (stopping.signal.aborted) return { result: 'retry', error: 'interrupted' };
      return { result: 'retry', error: `connection failed (${errorCode(err)})` };
    }
    // The answer's body means nothing to the outcome; reading it frees the connection for reuse.
    await response.body?.cancel().catch(() => {});
    const result = outcomeOf(response.status);
    if (result === 'delivered') return { result };
    const retryAfterMs = retryAfter(response.headers.get('retry-after'), clock());
    return {
      result,
      error: `HTTP ${response.status}`,
      ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
    };
  }

  /** Exponential back-off with equal jitter: half the delay fixed, half random, so retries spread out. */
  function backoff(attempts: number): number {
    const delay = Math.min(options.maxRetryMs, options.firstRetryMs * 2 ** Math.min(attempts - 1, 30));
    return Math.round(delay / 2 + Math.random() * (delay / 2));
  }

  return {
    start() {
      unsubscribe = outbox.onNotify(() => void pump());
      poll = setInterval(() => void pump(), options.pollMs);
      poll.unref();
      void pump();
    },
    async stop() {
      clearInterval(poll);
      unsubscribe?.();
      stopping.abort();
      // A claim in progress may still start attempts (they end at once, interrupted): wait for both.
      await pumping;
      while (running.size > 0) await Promise.allSettled([...running]);
    },
    wake: () => void pump(),
    inFlight: () => running.size,
  };
}

/** RFC 9110 §10.2.3: delay-seconds or an HTTP-date; undefined when absent or unreadable. */
export function retryAfter(value: string | null, now: number): number | undefined {
  if (value === null) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const date = Date.parse(trimmed);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/** The system error code behind a failed fetch (ECONNREFUSED, ENOTFOUND…): never its URL. */
function errorCode(err: unknown): string {
  let cause: unknown = err;
  for (let depth = 0; depth < 4 && cause; depth++) {
    const code = (cause as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    cause = (cause as { cause?: unknown }).cause;
  }
  return 'network error';
}
