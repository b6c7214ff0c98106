import type { Db } from '../store/database.js';

/**
 * How long access tokens already out there may still live, across configuration changes and
 * instances. A revocation entry must outlive every token it could match; with only this process's
 * `accessTokenTtl` to go by, lowering it (say 1 h → 5 min) would drop entries while tokens issued
 * under the old lifetime still pass, and a revoked token would come back. So every instance notes the
 * lifetime it issues with, and when it last did, in the store; entries live until the latest `exp`
 * any noted lifetime allows.
 */
export interface AccessTokenLifetimes {
  /** Notes that this instance issues tokens with its lifetime now, and rereads every instance's notes. */
  refresh(): Promise<void>;
  /** The latest `exp` (ms) any access token issued up to now can have. */
  latestExpiry(now: number): number;
  /** How long a revocation event may need keeping: the longest lifetime noted, plus margins. */
  retentionMs(): number;
}

/**
 * Instances note their lifetime this often (the server's housekeeping interval), so an instance that
 * stopped issued its last token within this (plus timer slack) of its last note.
 */
export const NOTE_INTERVAL_MS = 60_000;
const STILL_ISSUING_MS = NOTE_INTERVAL_MS + 10_000;

export function createAccessTokenLifetimes(
  db: Db,
  accessTokenTtl: number,
  clock: () => number = Date.now,
): AccessTokenLifetimes {
  const own = accessTokenTtl * 1000;
  /** Lifetime (ms) → when an instance last noted issuing with it. */
  let notes = new Map<number, number>();

  /**
   * The latest `exp` of tokens issued with one noted lifetime: an instance still running may be
   * issuing now; one that stopped did so within a note interval of its last note. (This instance's own
   * lifetime needs no note: it issues with it up to now, and so did any other instance using it.)
   */
  const latestWith = (lifetime: number, notedAt: number, now: number) =>
    Math.max(now, notedAt + STILL_ISSUING_MS) + lifetime;

  return {
    async refresh() {
      const now = clock();
      await db
        .insertInto('access_token_lifetimes')
        .values({ ttl: accessTokenTtl, last_issued_at: now })
        .onConflict((oc) => oc.column('ttl').doUpdateSet({ last_issued_at: now }))
        .execute();
      // A note matters until every token it allows has expired (plus the margin entries get).
      await db
        .deleteFrom('access_token_lifetimes')
        .where((eb) =>
          eb(
            eb(eb('last_issued_at', '+', STILL_ISSUING_MS), '+', eb('ttl', '*', 1000)),
            '<',
            now - NOTE_INTERVAL_MS,
          ),
        )
        .execute();
      const rows = await db.selectFrom('access_token_lifetimes').selectAll().execute();
      notes = new Map(rows.map((row) => [Number(row.ttl) * 1000, Number(row.last_issued_at)]));
    },
    latestExpiry(now) {
      let latest = now + own;
      for (const [lifetime, notedAt] of notes)
        if (lifetime > own) latest = Math.max(latest, latestWith(lifetime, notedAt, now));
      return latest;
    },
    retentionMs() {
      let longest = own;
      for (const lifetime of notes.keys()) longest = Math.max(longest, lifetime);
      // An entry lives at most that lifetime + the still-issuing window + a minute (see revocations),
      // counted from when it was made.
      return longest + STILL_ISSUING_MS + NOTE_INTERVAL_MS;
    },
  };
}
