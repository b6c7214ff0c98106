/**
 * Longest `Retry-After` honoured. A server at its stream cap may ask for a long wait, but a guard
 * that is not connected is stale, and a wrong header must not park it for good.
 */
export const MAX_RETRY_AFTER_MS = 300_000;

/** First reconnection delay when the server named none (`retry:`). */
export const INITIAL_DELAY_MS = 250;
/** Longest wait between two attempts. */
export const MAX_DELAY_MS = 30_000;
/** Shortest base delay a server may ask for with `retry:`, so a hostile stream cannot make us spin. */
const MIN_BASE_MS = 100;

export interface Backoff {
  /** The delay before the next attempt, then doubles the ceiling for the one after. */
  next(): number;
  /** After a healthy connection: the next delay starts again from the base. */
  reset(): void;
  /** The server's reconnection time (SSE `retry:`), clamped to [100 ms, 30 s]. */
  setBase(ms: number): void;
}

/**
 * Exponential back-off with "equal jitter": the n-th delay is uniform in [d/2, d] with
 * d = min(cap, base·2ⁿ). The lower half keeps attempts spaced; the random half keeps a fleet of
 * guards that lost the same server from reconnecting in lockstep.
 */
export function createBackoff(random: () => number = Math.random): Backoff {
  let base = INITIAL_DELAY_MS;
  let attempt = 0;
  return {
    next() {
      const ceiling = Math.min(MAX_DELAY_MS, base * 2 ** attempt);
      if (ceiling < MAX_DELAY_MS) attempt++;
      return ceiling / 2 + (random() * ceiling) / 2;
    },
    reset() {
      attempt = 0;
    },
    setBase(ms) {
      base = Math.min(MAX_DELAY_MS, Math.max(MIN_BASE_MS, ms));
    },
  };
}

/** Waits `ms`, or less if `signal` aborts first (then resolves at once). */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

/** RFC 9110 §5.6.7: IMF-fixdate, the form of HTTP-date every sender must generate. */
const IMF_FIXDATE = /^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$/;

/**
 * RFC 9110 §10.2.3: `Retry-After` is delay-seconds or an HTTP-date (read in its IMF-fixdate form;
 * the obsolete forms count as unreadable). The wait it asks for in milliseconds, at most
 * {@link MAX_RETRY_AFTER_MS}; `undefined` when absent or unreadable, and the back-off decides.
 */
export function retryAfterMs(value: string | null, now: number = Date.now()): number | undefined {
  if (value === null) return undefined;
  const text = value.trim();
  let ms: number;
  if (/^\d{1,10}$/.test(text)) ms = Number(text) * 1000;
  else if (IMF_FIXDATE.test(text)) ms = Date.parse(text) - now;
  else return undefined;
  if (Number.isNaN(ms)) return undefined;
  return Math.min(MAX_RETRY_AFTER_MS, Math.max(0, ms));
}
