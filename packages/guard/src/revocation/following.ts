import { createRevocationSet, type RevocableToken } from '@tessera/protocol';
import { type GuardErrors, RETRY_AFTER } from '../errors.js';
import { isAllowedUrl, type ResolvedOptions } from '../options.js';
import type { RevocationFeed } from './feed.js';
import { createLiveness, type Liveness, type RevocationState } from './liveness.js';
import { createNatsFeed } from './nats.js';
import { createRabbitMqFeed } from './rabbitmq.js';
import { createRedisFeed } from './redis.js';
import { createStreamFeed, type GuardFetch } from './stream.js';

/** Expired revocation entries are dropped this often (they match no live token once expired anyway). */
const PRUNE_INTERVAL_MS = 60_000;

/** What `guard.health().revocations` reports. */
export interface RevocationHealth {
  mode: 'stream' | 'redis' | 'rabbitmq' | 'nats' | 'off';
  state: RevocationState;
  /** Where the feed resumes from (SSE last event ID, Redis stream id, RabbitMQ offset or NATS sequence). */
  lastEventId: string | null;
  /** Last proof of liveness, milliseconds since the epoch. */
  lastLiveAt: number | null;
  /** Revocation entries in force. */
  entries: number;
  /** Why the feed is not live, when it last failed (no tokens or secrets in it); `null` otherwise. */
  lastError: string | null;
}

/**
 * The guard's side of revocations: the set in force, the feed that keeps it current (the issuer's
 * event stream, its Redis stream or its NATS JetStream stream), whether it is current, and what a verified token's claims
 * meet there.
 */
export interface RevocationFollowing {
  readonly mode: 'stream' | 'redis' | 'rabbitmq' | 'nats' | 'off';
  /**
   * Starts the feed (once discovery has named the stream, when it had to) and returns a promise of
   * its first snapshot. Throws at once when the stream's URL is missing or not allowed.
   */
  follow(discoveredUrl: string | undefined, fetch: GuardFetch): Promise<void>;
  /**
   * For a verified token: throws a 401 GuardError when a revocation matches its claims or the `kid`
   * that signed it (a withdrawn key), and, when the set may be missing revocations, a 503
   * (fail-closed) or nothing but a warning once per stale period (fail-open). A few map lookups and
   * a clock read: it runs on every request.
   */
  check(claims: RevocableToken, kid: unknown): void;
  /** The feed, once following. */
  readonly feed: RevocationFeed | undefined;
  health(now: number): RevocationHealth;
  /** Stops the feed and the pruning timer. */
  close(): Promise<void>;
}

export function createRevocationFollowing(config: ResolvedOptions, errors: GuardErrors): RevocationFollowing {
  const { clock, logger, issuer } = config;
  const mode = config.revocations.mode;
  const set = createRevocationSet();
  let liveness: Liveness | undefined;
  let feed: RevocationFeed | undefined;
  /** The stale period last logged (fail-open logs once per period; see Liveness.livePeriods). */
  let staleLogged = -1;

  const pruning = setInterval(() => set.prune(clock()), PRUNE_INTERVAL_MS);
  pruning.unref();

  /** The set may be missing revocations: refuse (fail-closed) or accept and say so once. */
  function staleRevocations(): void {
    const state = liveness!.state(clock());
    if (!config.failOpen)
      throw errors.unavailable(`the revocation set is ${state} (${feed!.source})`, RETRY_AFTER.revocations);
    if (staleLogged !== liveness!.livePeriods) {
      staleLogged = liveness!.livePeriods;
      logger.warn(
        { source: feed!.source, state },
        'the revocation set is not current; accepting tokens on signature and claims alone (onStale: fail-open)',
      );
    }
  }

  return {
    mode,
    follow(discoveredUrl, fetch) {
      const revocations = config.revocations;
      if (revocations.mode === 'off') return Promise.resolve();
      liveness = createLiveness(clock, config.staleAfterMs);
      const context = { set, liveness, clock, logger, staleAfterMs: config.staleAfterMs };
      if (revocations.mode === 'redis') {
        feed = createRedisFeed({ ...context, redis: revocations.redis, key: revocations.key });
      } else if (revocations.mode === 'rabbitmq') {
        feed = createRabbitMqFeed({ ...context, rabbitmq: revocations.rabbitmq, stream: revocations.stream });
      } else if (revocations.mode === 'nats') {
        feed = createNatsFeed({ ...context, nats: revocations.nats, stream: revocations.stream });
      } else {
        const url = revocations.url ?? discoveredUrl;
        if (url === undefined)
          throw new Error(
            `the metadata of ${issuer} has no revocation_events_endpoint; set options.revocations ({ url }, { redis }, { rabbitmq } or 'off')`,
          );
        if (!isAllowedUrl(url, config.allowInsecureHttp))
          throw new Error(
            'the revocation_events_endpoint must use https (or allowInsecureHttp on a trusted network)',
          );
        feed = createStreamFeed({ ...context, url, fetch, client: config.client });
      }
      return feed.loaded;
    },
    check(claims, kid) {
      if (liveness === undefined) return;
      // Only a token whose signature and claims verified gets here, so a forged token learns
      // nothing about the set.
      const handle = set.match(claims, kid);
      if (handle !== undefined) throw errors.invalidToken(`revoked (${handle})`);
      if (!liveness.isLive(clock())) staleRevocations();
    },
    get feed() {
      return feed;
    },
    health(now) {
      const state: RevocationState =
        liveness === undefined ? (mode === 'off' ? 'off' : 'connecting') : liveness.state(now);
      return {
        mode,
        state,
        lastEventId: feed?.lastEventId ?? null,
        lastLiveAt: liveness?.lastLiveAt ?? null,
        entries: set.size,
        lastError: feed?.lastError ?? null,
      };
    },
    async close() {
      clearInterval(pruning);
      await feed?.close();
    },
  };
}
