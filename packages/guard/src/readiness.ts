import { type GuardError, type GuardErrors, RETRY_AFTER } from './errors.js';
import { describeFailure } from './logger.js';
import type { ResolvedOptions } from './options.js';
import type { RevocationFollowing } from './revocation/following.js';
import type { Startup } from './startup.js';

export interface Readiness {
  /** Resolves once started; rejects after `readyTimeout`, or at once on a configuration error or close. */
  ready(): Promise<void>;
  /** The 503 for a request the guard cannot answer yet (starting), or ever (closed, cannot start). */
  notReady(): GuardError;
}

/** What `ready()` and a request before start-up are told: what start-up is waiting for, and why. */
export function createReadiness(
  startup: Startup,
  revocations: RevocationFollowing,
  config: ResolvedOptions,
  errors: GuardErrors,
): Readiness {
  return {
    ready() {
      if (startup.started) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          const lastError =
            startup.lastError === undefined
              ? revocations.feed?.lastError
              : describeFailure(startup.lastError);
          const cause = lastError === undefined ? '' : ` (last error: ${lastError})`;
          reject(
            new Error(
              `@tessera/guard was not ready after ${config.readyTimeoutMs / 1000} s: waiting for ${startup.waitingFor}${cause}`,
              { cause: startup.lastError },
            ),
          );
        }, config.readyTimeoutMs);
        startup.settled.then(
          () => {
            clearTimeout(timer);
            resolve();
          },
          (err: unknown) => {
            clearTimeout(timer);
            reject(
              startup.closed
                ? new Error('the guard was closed before it was ready')
                : new Error(`@tessera/guard cannot start: ${(err as Error).message}`, { cause: err }),
            );
          },
        );
      });
    },
    notReady() {
      if (startup.closed) return errors.unavailable('the guard is closed', RETRY_AFTER.startup);
      if (startup.fatal !== undefined)
        return errors.unavailable(`the guard cannot start: ${startup.fatal.message}`, RETRY_AFTER.startup);
      return errors.unavailable(
        `the guard is not ready: waiting for ${startup.waitingFor}`,
        RETRY_AFTER.startup,
      );
    },
  };
}
