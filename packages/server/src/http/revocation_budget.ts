import type { Services } from '../services.js';
import { OAuthError } from './errors.js';
import { createMemoryRateLimiter, createRedisRateLimiter, type RateLimiter } from './rate_limit.js';

/**
 * How many revocations one user and one client may cause per minute (`revocationRateUser`,
 * `revocationRateClient`). Every revocation is an entry every guard holds until the tokens it could
 * match have expired, and every new guard receives in its snapshot: unbounded, a refresh → revoke
 * loop would let any user grow that list without end. Spent only when a revocation is about to be
 * written, never by a request that revokes nothing (so nobody can spend another client's budget
 * with made-up tokens). Refresh-token reuse is never refused: detecting theft comes first.
 */
export interface RevocationBudget {
  /** Throws 429 `slow_down` with Retry-After when the user's or the client's budget is spent. */
  spend(userId: string, clientId: string): Promise<void>;
}

export function createRevocationBudget(
  services: Pick<Services, 'config' | 'redis' | 'log' | 'clock'>,
): RevocationBudget {
  const { config, redis, log, clock } = services;
  const limiter = (name: string, limit: number): RateLimiter =>
    redis ? createRedisRateLimiter(redis, name, limit, log, clock) : createMemoryRateLimiter(limit, clock);
  const perUser = limiter('revocations:user', config.revocationRateUser);
  const perClient = limiter('revocations:client', config.revocationRateClient);
  return {
    async spend(userId, clientId) {
      const [user, client] = await Promise.all([perUser.hit(userId), perClient.hit(clientId)]);
      if (user.allowed && client.allowed) return;
      throw new OAuthError(429, 'slow_down', 'too many revocations; try again later', {
        'retry-after': String(Math.max(user.retryAfter, client.retryAfter)),
      });
    },
  };
}
