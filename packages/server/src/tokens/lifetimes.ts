import type { Db } from '../store/database.js';
import { KIND_LIFETIMES } from './client_lifetimes.js';

/**
 * How long access tokens already out there may still live, across configuration changes, clients
 * and instances. A revocation entry must outlive every token it could match, and a retired signing
 * key every token it signed; with only this process's `accessTokenTtl` to go by, lowering it (say
 * 1 h → 5 min) would drop entries while tokens issued under the old lifetime still pass, and a
 * revoked token would come back. So every instance notes the longest lifetime it can issue with (its
 * setting, or a client's, a resource's or a client kind's, whichever is longest), and when it last
 * did, in the store; entries live until the latest `exp` any noted lifetime allows.
 */
export interface AccessTokenLifetimes {
  /**
   * Rereads the longest lifetime this instance can issue with (clients and resources may have changed),
   * notes it in the store as issued now, and rereads every instance's notes. Run every
   * {@link NOTE_INTERVAL_MS} (the server's housekeeping).
   */
  refresh(): Promise<void>;
  /**
   * Tells the notes a token was just issued with `ttl` seconds: one longer than any noted counts at
   * once in this instance (before the next refresh() writes it down for the others). Cheap: call it
   * for every access token issued.
   */
  issued(ttl: number): void;
  /** The latest `exp` (ms) any access token issued up to now can have. */
  latestExpiry(now: number): number;
  /** How long a revocation event may need keeping: the longest lifetime noted, plus margins. */
  retentionMs(): number;
  /**
   * Seconds: the longest lifetime an access token issued up to now may have, by this instance or any
   * other that noted one (how long a retired signing key must stay published, before margins).
   */
  longestAccessTtl(): number;
}

/**
 * Instances note their lifetime this often (the server's housekeeping interval), so an instance that
 * stopped issued its last token within this (plus timer slack) of its last note.
 */
export const NOTE_INTERVAL_MS = 60_000;
const STILL_ISSUING_MS = NOTE_INTERVAL_MS + 10_000;

/**
 * Seconds: the longest access-token lifetime this deployment can issue with now. A resource's own
 * lifetime wins over its clients', a client's own over its kind's default, either over the setting
 * (tokens/client_lifetimes.ts); the longest of all of them bounds every token whichever applies.
 */
export async function longestIssuableTtl(db: Db, accessTokenTtl: number): Promise<number> {
  const clients = await db
    .selectFrom('clients')
    .select((eb) => eb.fn.max('access_token_ttl').as('longest'))
    .executeTakeFirst();
  const resources = await db
    .selectFrom('resources')
    .select((eb) => eb.fn.max('access_token_ttl').as('longest'))
    .executeTakeFirst();
  // Only kinds with a client that has no lifetime of its own get their kind's default.
  const defaulted = await db
    .selectFrom('clients')
    .select('kind')
    .distinct()
    .where('access_token_ttl', 'is', null)
    .where('kind', 'is not', null)
    .execute();
  let longest = Math.max(accessTokenTtl, Number(clients?.longest ?? 0), Number(resources?.longest ?? 0));
  for (const { kind } of defaulted)
    if (kind) longest = Math.max(longest, KIND_LIFETIMES[kind]?.accessTokenTtl ?? 0);
  return longest;
}

export function createAccessTokenLifetimes(
  db: Db,
  accessTokenTtl: number,
  clock: () => number = Date.now,
): AccessTokenLifetimes {
  /** The longest lifetime (ms) this instance issues with, as of the last refresh(). */
  let own = accessTokenTtl * 1000;
  /** The longest lifetime (ms) issued here since the last refresh() noted it. */
  let issuedSinceNote = 0;
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
      const issuable = (await longestIssuableTtl(db, accessTokenTtl)) * 1000;
      // A client whose long lifetime was shortened (or removed) since a token was issued with it: that
      // lifetime is still noted once more, and its note then ages out like any other.
      const noted = [...new Set([issuable, issuedSinceNote].filter((ms) => ms > 0))];
      for (const lifetime of noted) {
        const ttl = Math.ceil(lifetime / 1000);
        await db
          .insertInto('access_token_lifetimes')
          .values({ ttl, last_issued_at: now })
          .onConflict((oc) => oc.column('ttl').doUpdateSet({ last_issued_at: now }))
          .execute();
      }
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
      own = issuable;
      issuedSinceNote = 0;
    },
    issued(ttl) {
      const lifetime = ttl * 1000;
      if (lifetime > own) {
        own = lifetime;
        issuedSinceNote = Math.max(issuedSinceNote, lifetime);
      }
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
    longestAccessTtl() {
      let longest = own;
      for (const lifetime of notes.keys()) longest = Math.max(longest, lifetime);
      return Math.ceil(longest / 1000);
    },
  };
}
