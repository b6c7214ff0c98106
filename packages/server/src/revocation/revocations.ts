import { createRevocationSet, type RevocableToken } from '@tessera/protocol';
import type { Db } from '../store/database.js';
import type { AccessTokenLifetimes } from '../tokens/lifetimes.js';
import { createDelivery } from './delivery.js';
import { type FeedEvent, type RevocationEntry, type RevocationFeed, wireEntry } from './feed.js';
import { createStoreReader } from './store_reader.js';

export type { RevocationEntry } from './feed.js';

/** What of an access token the revocation list can match (its claims). */
export type AccessTokenHandles = RevocableToken;

export interface Revocations {
  /** Reads the live entries from the store (on start). */
  load(): Promise<void>;
  /** Writes the entry to the store (the truth), applies it here, then hands it to the feed. */
  revoke(kind: RevocationEntry['kind'], value: string, ver?: number): Promise<RevocationEntry>;
  /**
   * `revoke` in two steps, for a revocation that must commit with other writes: `record` writes the
   * row with `executor` (the caller's transaction); `publish`, once that committed, applies it here
   * and hands it to the feed. A row committed but never published (a crash in between) reaches the
   * other instances through their store sync, this one at its next start, and the shared feed
   * through redelivery.
   */
  record(executor: Db, kind: RevocationEntry['kind'], value: string, ver?: number): Promise<RevocationEntry>;
  publish(entry: RevocationEntry): Promise<void>;
  isRevoked(token: AccessTokenHandles): boolean;
  /** How many entries are live here (a metric). */
  size(): number;
  /** The feed the entries travel on between instances. */
  readonly feed: RevocationFeed;
  /**
   * What `GET /revocations` sends a new subscriber: the feed's events after `lastEventId` (or all
   * live ones); when the shared feed is out of reach, every entry this instance holds, without ids.
   */
  backlog(lastEventId: string | undefined): Promise<FeedEvent[]>;
  /**
   * Every event for subscribers: the feed's, and, while the shared feed is down, entries this
   * instance learnt from the store, without an id (`eventId: ''`), so subscribers hear them at
   * once and still resume by the feed's ids later.
   */
  subscribe(listener: (event: FeedEvent) => void): () => void;
  /**
   * Whether subscribers may trust silence: the feed is live, or the store sync (at most a second
   * behind) is working.
   */
  live(): boolean;
  /** Drops entries whose tokens have all expired. */
  prune(): Promise<void>;
  /**
   * Picks up revocations other processes wrote to the store (another instance, `tessera user
   * disable`), and sends the feed whatever it has not delivered yet.
   */
  sync(): Promise<void>;
}

/** A store sync newer than this still vouches for the revocation list (syncs run every second). */
const SYNC_LIVE_WINDOW_MS = 3_000;

/**
 * The revocation list: durable in the store, mirrored in memory so the server's own checks never
 * wait on the database, and delivered through a feed to every subscriber. Entries expire with the
 * tokens they could match, so the set stays as small as the number of revocations in one
 * access-token lifetime. Reading the store as commits arrive is store_reader.ts's; getting rows onto
 * the feed and redelivering what it missed is delivery.ts's.
 */
export function createRevocations(
  db: Db,
  lifetimes: Pick<AccessTokenLifetimes, 'latestExpiry'>,
  makeFeed: (entries: () => Iterable<RevocationEntry>) => RevocationFeed,
  clock: () => number = Date.now,
): Revocations {
  /** By store row id: an entry heard from the feed, the store and ourselves is one entry. */
  const entries = new Map<number, RevocationEntry>();
  /** The matching rule every guard applies too (@tessera/protocol). */
  let matcher = createRevocationSet();
  /** Real time of the last successful store sync (liveness is about connections, not token time). */
  let syncedAt = 0;
  const feed = makeFeed(() => entries.values());
  const store = createStoreReader(db, clock);
  const delivery = createDelivery(db, feed, clock);
  const listeners = new Set<(event: FeedEvent) => void>();
  const relay = (event: FeedEvent) => {
    for (const listener of listeners) listener(event);
  };
  /** An entry subscribers must hear now although the shared feed did not carry it (yet). */
  const relayWithoutId = (entry: RevocationEntry) => relay(Object.assign({ eventId: '' }, entry));

  function add(entry: RevocationEntry): boolean {
    if (entries.has(entry.id)) return false;
    entries.set(entry.id, entry);
    matcher.add(wireEntry(entry), clock());
    return true;
  }

  // Entries revoked on other instances arrive through a shared feed within milliseconds; the store
  // sync below is the slower path that holds even while the feed is down.
  feed.subscribe((event) => {
    if (feed.shared && event.id > 0 && event.expiresAt > clock())
      add({
        id: event.id,
        kind: event.kind,
        value: event.value,
        ver: event.ver,
        expiresAt: event.expiresAt,
        createdAt: event.createdAt,
      });
    relay(event);
  });

  async function record(
    executor: Db,
    kind: RevocationEntry['kind'],
    value: string,
    ver?: number,
  ): Promise<RevocationEntry> {
    const now = clock();
    // An entry outlives every access token it could match: those issued up to now, under any
    // lifetime still in force (a lowered accessTokenTtl does not shorten tokens already out there).
    const expiresAt = lifetimes.latestExpiry(now) + 60_000;
    const { id } = await executor
      .insertInto('revocations')
      .values({
        kind,
        value,
        ver: ver ?? null,
        created_at: now,
        expires_at: expiresAt,
        // One process: delivery is in memory and cannot fail, so there is nothing to redeliver.
        published_at: feed.shared ? null : now,
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    return { id: Number(id), kind, value, ver: ver ?? null, expiresAt, createdAt: now };
  }

  async function publish(entry: RevocationEntry): Promise<void> {
    // One process: a row the store sync read first was published by it already. (A shared feed
    // delivers each row at most once anyway, and records the delivery.)
    if (!add(entry) && !feed.shared) return;
    // Not delivered (Redis is down): this instance's subscribers hear it now, the others through
    // their store sync, and the shared stream once Redis is back.
    if (!(await delivery.deliver([entry]))) relayWithoutId(entry);
  }

  return {
    feed,
    async backlog(lastEventId) {
      try {
        return await feed.backlog(lastEventId);
      } catch {
        const now = clock();
        return [...entries.values()]
          .filter((entry) => entry.expiresAt > now)
          .map((entry) => Object.assign({ eventId: '' }, entry));
      }
    },
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    live: () => feed.live() || Date.now() - syncedAt < SYNC_LIVE_WINDOW_MS,
    async load() {
      for (const entry of await store.load()) add(entry);
    },
    async revoke(kind, value, ver) {
      const entry = await record(db, kind, value, ver);
      await publish(entry);
      return entry;
    },
    record,
    publish,
    isRevoked: (token) => matcher.match(token) !== undefined,
    size: () => entries.size,
    async sync() {
      const now = clock();
      const fresh = (await store.readNew()).filter((entry) => entry.expiresAt > now && add(entry));
      syncedAt = Date.now();
      // One process: rows another process wrote (the CLI) are news to our subscribers.
      if (!feed.shared) {
        for (const entry of fresh) await feed.publish(entry);
        return;
      }
      // Scaled out, the feed normally brought these first; if it did not (Redis down), the
      // subscribers of this instance hear them from here, within a second of the revocation.
      for (const entry of fresh) relayWithoutId(entry);
      // Redis restarted empty: everything live goes out again (each row at most once per stream).
      if (!(await feed.seeded())) {
        if (await delivery.republish()) await feed.markSeeded();
        return;
      }
      await delivery.redeliver();
    },
    async prune() {
      const now = clock();
      await db.deleteFrom('revocations').where('expires_at', '<=', now).execute();
      for (const [id, entry] of entries) if (entry.expiresAt <= now) entries.delete(id);
      matcher = createRevocationSet();
      for (const entry of entries.values()) matcher.add(wireEntry(entry), now);
    },
  };
}
