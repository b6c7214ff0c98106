import { GuardError } from './errors.js';
import type { ResolvedOptions } from './options.js';

/** A 503 of one cause is logged at the `unavailable` level at most this often. */
const UNAVAILABLE_LOG_INTERVAL_MS = 60_000;
/** Causes remembered for that; past this many (a cause naming changing details), all start again. */
const MAX_CAUSES = 64;

/**
 * Logs a refused request, never its token: status, error code and `reason` (which names the check
 * that failed, never the token or the Authorization header).
 *
 * A refusal that is the client's doing (400, 401, 403) is routine for an API (expired tokens arrive
 * all day), so it goes at `logLevels.refusal` (`debug`). A 503 means the guard cannot check tokens
 * at all (revocation set stale, keys unavailable, not started): an operator must act, so it goes at
 * `logLevels.unavailable` (`warn`), but once a minute per cause, not once per request, so that an
 * outage under load does not flood the logs; the repeats go at the refusal level.
 */
export function createRefusalLog(config: ResolvedOptions): (err: unknown) => void {
  const { logger, logLevels, clock } = config;
  const refusal = logLevels.refusal === 'silent' ? undefined : logger[logLevels.refusal];
  const unavailable = logLevels.unavailable === 'silent' ? undefined : logger[logLevels.unavailable];
  /** When each 503 cause was last logged at the unavailable level (ms). */
  const unavailableLoggedAt = new Map<string, number>();

  return (err) => {
    if (!(err instanceof GuardError)) return;
    const fields = { status: err.status, error: err.error, reason: err.reason };
    if (err.status === 503 && unavailable !== undefined) {
      const now = clock();
      const last = unavailableLoggedAt.get(err.reason);
      if (last === undefined || now - last >= UNAVAILABLE_LOG_INTERVAL_MS) {
        if (unavailableLoggedAt.size >= MAX_CAUSES) unavailableLoggedAt.clear();
        unavailableLoggedAt.set(err.reason, now);
        unavailable(fields, 'tokens cannot be checked: answering 503');
        return;
      }
    }
    refusal?.(fields, 'refused a request');
  };
}
