import { randomUUID } from 'node:crypto';
import { lookup as dnsLookup } from 'node:dns';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import type { Logger } from '../shared/logger.js';
import type { Audit } from '../store/audit.js';
import {
  type DeliveryAddressPolicy,
  DeliveryAddressRefused,
  deliveryAddressProblem,
  guardedLookup,
} from './delivery_address.js';
import type { OutboxKind, OutboxKinds, ResponseOutcome } from './kinds.js';
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
  /** …and one the receiver keeps refusing (401, 403, 404…: ResponseOutcome `refused`), after this. */
  giveUpRefusedAfterMs: number;
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
  giveUpRefusedAfterMs: 3_600_000,
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
  /** Which addresses may be connected to (outbox/delivery_address.ts). */
  addresses: DeliveryAddressPolicy;
  /** How host names are resolved: the system's by default (a test, or a deployment, gives its own). */
  lookup?: LookupFunction;
}): OutboxDelivery {
  const { outbox, kinds, audit, log, clock } = deps;
  const resolve = deps.lookup ?? (dnsLookup as LookupFunction);
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
    // Claimed after its whole window (a multi-day outage, or attempts that kept dying mid-way and
    // never recorded a failure): a logout told days late is not one the receiver can act on.
    if (clock() - row.createdAt >= options.giveUpAfterMs)
      return giveUp(
        row,
        payload,
        row.lastError
          ? `${row.lastError} (failing for ${Math.round(options.giveUpAfterMs / 3_600_000)} h)`
          : `not attempted within ${Math.round(options.giveUpAfterMs / 3_600_000)} h of the logout`,
      ).catch((failure: unknown) =>
        log.warn(
          { outboxId: row.id, reason: (failure as Error).message },
          'outbox: recording an attempt failed',
        ),
      );
    let outcome: Outcome;
    try {
      // Before any connection: the receiver the row was written for may be gone or elsewhere now.
      const reason = await kind.superseded(payload, row.target);
      if (reason !== undefined) outcome = { result: 'give_up', error: reason };
      else if (kind.send) outcome = await sent(kind.send(payload, stopping.signal));
      else {
        const request = await kind.request(payload, row.target);
        outcome = await post(request.url, request.headers, request.body, kind);
      }
    } catch (err) {
      // The request could not be made (the store unreachable, no signing key loaded yet): nothing was sent.
      outcome = { result: 'retry', error: `request not built: ${(err as Error).message}` };
    }
    try {
      if (outcome.result === 'delivered') {
        // Counted only when it was this instance's to record (a lease lost to a stall past its term
        // means another instance has the row, and counts its own attempt).
        if (await outbox.delivered(row)) deps.onOutcome?.(row.kind, 'delivered');
        return;
      }
      if (outcome.result === 'give_up') return await giveUp(row, payload, outcome.error!, outcome.refusal);
      if (stopping.signal.aborted) {
        // Interrupted by shutdown: due again at once, for whichever instance is still up.
        await outbox.retryAt(row, clock(), 'interrupted: the server stopped');
        return;
      }
      const now = clock();
      const window = outcome.result === 'refused' ? options.giveUpRefusedAfterMs : options.giveUpAfterMs;
      if (now - row.createdAt >= window)
        return await giveUp(
          row,
          payload,
          `${outcome.error} (${outcome.result === 'refused' ? 'refused' : 'failing'} for ${Math.round(window / 3_600_000)} h)`,
        );
      const at =
        now + Math.max(backoff(row.attempts), Math.min(outcome.retryAfterMs ?? 0, MAX_RETRY_AFTER_MS));
      if (!(await outbox.retryAt(row, at, outcome.error!))) return;
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

  async function giveUp(
    row: ClaimedDelivery,
    payload: unknown,
    error: string,
    refusal?: Record<string, unknown>,
  ): Promise<void> {
    const about = payload === undefined ? { detail: {} } : kinds.get(row.kind)!.describe(payload);
    const detail = {
      kind: row.kind,
      outboxId: row.id,
      attempts: row.attempts,
      error,
      ...about.detail,
      ...refusal,
    };
    // The give-up and its audit event are one write: an audit failure leaves the row to be claimed again.
    const recorded = await outbox.giveUp(row, error, (trx) =>
      audit.record(
        {
          type: 'delivery_gave_up',
          userId: about.userId ?? null,
          clientId: about.clientId ?? null,
          detail,
        },
        trx,
      ),
    );
    if (!recorded) return;
    deps.onOutcome?.(row.kind, 'gave_up');
    // The request (and the token in it) is never logged; neither is the target, whose query may
    // carry the receiver's own secret.
    log.warn({ ...detail, userId: about.userId, clientId: about.clientId }, 'outbox: delivery given up');
  }

  /** A kind's own attempt (OutboxKind.send), timed out like a POST. */
  async function sent(attempt: Promise<ResponseOutcome>): Promise<Outcome> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`timed out after ${options.timeoutMs} ms`)),
        options.timeoutMs,
      );
    });
    try {
      const result = await Promise.race([attempt, timeout]);
      return result === 'delivered' ? { result } : { result, error: 'refused' };
    } catch (err) {
      return { result: 'retry', error: (err as Error).message };
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * The HTTP exchange: POST, no redirects followed, a timeout; what happened, in a line without
   * secrets. Made with node:http(s) and a `lookup` of its own so the address is checked at connect
   * time (delivery_address.ts): a refused one is given up without a connection.
   */
  async function post(
    target: string,
    headers: Record<string, string>,
    body: string,
    kind: OutboxKind<unknown>,
  ): Promise<Outcome> {
    const url = new URL(target);
    const host = url.hostname;
    // An IP literal is connected to without a lookup: checked here instead.
    const literal = host.replace(/^\[|\]$/g, '');
    if (isIP(literal) !== 0) {
      const problem = deliveryAddressProblem(literal, host, deps.addresses);
      if (problem) return { result: 'give_up', error: `address refused: ${problem}` };
    }
    const timeout = AbortSignal.timeout(options.timeoutMs);
    let response: IncomingMessage;
    try {
      response = await new Promise<IncomingMessage>((resolved, rejected) => {
        const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
        const outgoing = send(
          url,
          {
            method: 'POST',
            headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) },
            lookup: guardedLookup(resolve, host, deps.addresses),
            signal: AbortSignal.any([timeout, stopping.signal]),
          },
          resolved,
        );
        outgoing.on('error', rejected);
        outgoing.end(body);
      });
    } catch (err) {
      const refused = refusal(err);
      if (refused) return { result: 'give_up', error: `address refused: ${refused.message}` };
      if (timeout.aborted) return { result: 'retry', error: `timed out after ${options.timeoutMs} ms` };
      if (stopping.signal.aborted) return { result: 'retry', error: 'interrupted' };
      return { result: 'retry', error: `connection failed (${errorCode(err)})` };
    }
    // BCL §2.5 / RFC 8935: the receiver answers; a redirect is not followed (node:http never does: it
    // would carry the token to wherever the receiver, or whoever took its address, points).
    response.on('error', () => {});
    const status = response.statusCode ?? 0;
    const result = kind.outcome(status);
    // A refusal's body, for a kind whose receivers say why (RFC 8935 §2.3), is read (bounded) for the
    // audit; otherwise the body means nothing, and is drained so the connection can be reused.
    const said =
      result === 'give_up' && kind.refusal
        ? kind.refusal(status, await boundedText(response).catch(() => ''))
        : undefined;
    response.resume();
    if (result === 'delivered') return { result };
    const header = response.headers['retry-after'];
    const retryAfterMs = retryAfter(typeof header === 'string' ? header : null, clock());
    return {
      result,
      error: `HTTP ${status}`,
      ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
      ...(said !== undefined ? { refusal: said } : {}),
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

/** What one attempt came to, in a line without secrets (and what the receiver said when it refused). */
interface Outcome {
  result: ResponseOutcome;
  error?: string;
  retryAfterMs?: number;
  refusal?: Record<string, unknown>;
}

/** A refusal's body is read only this far. */
const MAX_REFUSAL_BODY = 16 * 1024;

/** The response body as text, at most {@link MAX_REFUSAL_BODY} bytes (the rest is not read). */
async function boundedText(response: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of response) {
    chunks.push(chunk as Buffer);
    size += (chunk as Buffer).length;
    // The rest is drained unread (response.resume() by the caller).
    if (size >= MAX_REFUSAL_BODY) break;
  }
  return Buffer.concat(chunks).subarray(0, MAX_REFUSAL_BODY).toString('utf8');
}

/** RFC 9110 §10.2.3: delay-seconds or an HTTP-date; undefined when absent or unreadable. */
export function retryAfter(value: string | null, now: number): number | undefined {
  if (value === null) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const date = Date.parse(trimmed);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/** The address refusal behind a failed request, if that is what it was. */
function refusal(err: unknown): DeliveryAddressRefused | undefined {
  let cause: unknown = err;
  for (let depth = 0; depth < 4 && cause; depth++) {
    if (cause instanceof DeliveryAddressRefused) return cause;
    cause = (cause as { cause?: unknown }).cause;
  }
  return undefined;
}

/** The system error code behind a failed request (ECONNREFUSED, ENOTFOUND…): never its URL. */
function errorCode(err: unknown): string {
  let cause: unknown = err;
  for (let depth = 0; depth < 4 && cause; depth++) {
    const code = (cause as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    cause = (cause as { cause?: unknown }).cause;
  }
  return 'network error';
}
