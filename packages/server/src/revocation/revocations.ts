import { createRevocationSet, type RevocableToken } from '@tessera/protocol';
import type { Db } from '../store/database.js';
import type { RevocationsTable } from '../store/schema.js';
import type { AccessTokenLifetimes } from '../tokens/lifetimes.js';
import { type FeedEvent, type RevocationEntry, type RevocationFeed, wireEntry } from './feed.js';

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
/** At most this many undelivered rows are sent per sync, so a long outage drains in steps. */
const REDELIVERY_BATCH = 500;
/**
 * How long a missing id below the highest one read is looked for again. On PostgreSQL an id is taken
 * when a row is inserted but the row appears when its transaction commits, so a revocation can become
 * visible after one with a higher id; a rolled-back insert leaves a gap that never fills, hence the
 * limit (far beyond the commit delay of the short transactions that write revocations).
 */
const GAP_WATCH_MS = 60_000;
/** Gaps watched at once (a sequence that jumps far, after a crash say, is not worth more). */
const MAX_GAPS = 1_000;
/** At load, gaps are looked for among this many ids below the highest (older rows were committed long ago). */
const LOAD_GAP_WINDOW = 200;

/**
 * The revocation list: durable in the store, mirrored in memory so the server's own checks never
 * wait on the database, and delivered through a feed to every subscriber. Entries expire with the
 * tokens they could match, so the set stays as small as the number of revocations in one
 * access-token lifetime.
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
  /** The highest revocation row id read by load or sync; every id up to it is known except `gaps`. */
  let synced = 0;
  /** Ids below `synced` not read yet (an insert not committed yet, or rolled back) → when noticed. */
  const gaps = new Map<number, number>();
  /** Real time of the last successful store sync (liveness is about connections, not token time). */
  let syncedAt = 0;
  const feed = makeFeed(() => entries.values());
  const listeners = new Set<(event: FeedEvent) => void>();
  const relay = (event: FeedEvent) => {
    for (const listener of listeners) listener(event);
  };
  /** An entry subscribers must hear now although the shared feed did not carry it (yet). */
  const relayWithoutId = (entry: RevocationEntry) => relay(Object.assign({ eventId: '' }, entry));

  function add(entry: RevocationEntry): boolean {
    if (entries.has(entry.id)) return false;
    entries.set(entry.id, entry);
    index(entry);
    return true;
  }

  function index(entry: RevocationEntry): void {
    matcher.add(wireEntry(entry), clock());
  }

  type Row = Pick<RevocationsTable, 'kind' | 'value' | 'ver' | 'expires_at' | 'created_at'> & { id: number };
  const fromRow = (row: Row): RevocationEntry => ({
    id: Number(row.id),
    kind: row.kind,
    value: row.value,
    ver: row.ver,
    expiresAt: row.expires_at,
    createdAt: row.created_at,
  });

  /** Notes the ids between `from` (exclusive) and `to` (exclusive) as gaps to look for again. */
  function noteGaps(from: number, to: number, now: number): void {
    for (let id = Math.max(from + 1, to - MAX_GAPS); id < to; id++) watch(id, now);
  }

  /** Watches a missing id; when too many are watched, the oldest goes (the newest may still fill). */
  function watch(id: number, now: number): void {
    gaps.set(id, now);
    if (gaps.size > MAX_GAPS) gaps.delete(gaps.keys().next().value as number);
  }

  /**
   * Delivers rows and records which ones made it; the rest are tried again at the next sync.
   * True when every row was delivered.
   */
  async function deliver(rows: RevocationEntry[]): Promise<boolean> {
    const delivered: number[] = [];
    for (const entry of rows) {
      if (!(await feed.publish(entry))) break;
      delivered.push(entry.id);
    }
    if (delivered.length > 0 && feed.shared) {
      await db
        .updateTable('revocations')
        .set({ published_at: clock() })
        .where('id', 'in', delivered)
        .execute();
    }
    return delivered.length === rows.length;
  }

  /**
   * Sends every live entry to the feed again, whatever was delivered before: for a shared feed that
   * lost its data (Redis restarted empty). Delivery is idempotent per row.
   */
  async function republish(): Promise<boolean> {
    for (let after = 0; ; ) {
      const rows = await db
        .selectFrom('revocations')
        .selectAll()
        .where('expires_at', '>', clock())
        .where('id', '>', after)
        .orderBy('id')
        .limit(REDELIVERY_BATCH)
        .execute();
      if (!(await deliver(rows.map(fromRow)))) return false;
      if (rows.length < REDELIVERY_BATCH) return true;
      after = Number((rows.at(-1) as { id: number }).id);
    }
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
    if (!(await deliver([entry]))) relayWithoutId(entry);
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
      // The highest id first: a row committing between the two reads is then either above it (sync
      // reads it) or among the rows read now.
      const max = await db
        .selectFrom('revocations')
        .select(({ fn }) => fn.max('id').as('max'))
        .executeTakeFirst();
      const rows = await db
        .selectFrom('revocations')
        .selectAll()
        .where('expires_at', '>', clock())
        .orderBy('id')
        .execute();
      synced = Math.max(0, Number(max?.max ?? 0));
      const seen = new Set<number>();
      for (const row of rows) {
        seen.add(Number(row.id));
        add(fromRow(row));
      }
      // A revocation committing while we read may hold a lower id than one we saw.
      const now = clock();
      for (let id = Math.max(1, synced - LOAD_GAP_WINDOW); id <= synced; id++)
        if (!seen.has(id)) watch(id, now);
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
      // Every row above `synced` is read, ours included (known by id): another process may have
      // taken an id between two of ours. So is every gap below it that may still fill.
      const watched = [...gaps.keys()];
      const rows = await db
        .selectFrom('revocations')
        .selectAll()
        .where((eb) =>
          watched.length === 0
            ? eb('id', '>', synced)
            : eb.or([eb('id', '>', synced), eb('id', 'in', watched)]),
        )
        .orderBy('id')
        .execute();
      const now = clock();
      const fresh: RevocationEntry[] = [];
      for (const row of rows) {
        const id = Number(row.id);
        if (id > synced) {
          noteGaps(synced, id, now);
          synced = id;
        } else gaps.delete(id);
        const entry = fromRow(row);
        if (entry.expiresAt > now && add(entry)) fresh.push(entry);
      }
      for (const [id, noticedAt] of gaps) if (now - noticedAt > GAP_WATCH_MS) gaps.delete(id);
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
        if (await republish()) await feed.markSeeded();
        return;
      }
      const undelivered = await db
        .selectFrom('revocations')
        .selectAll()
        .where('published_at', 'is', null)
        .where('expires_at', '>', now)
        .orderBy('id')
        .limit(REDELIVERY_BATCH)
        .execute();
      if (undelivered.length > 0) await deliver(undelivered.map(fromRow));
    },
    async prune() {
      const now = clock();
      await db.deleteFrom('revocations').where('expires_at', '<=', now).execute();
      for (const [id, entry] of entries) if (entry.expiresAt <= now) entries.delete(id);
      matcher = createRevocationSet();
      for (const entry of entries.values()) index(entry);
    },
  };
}
