import type { Db } from '../store/database.js';
import type { RevocationsTable } from '../store/schema.js';
import type { RevocationEntry } from './feed.js';

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

type Row = Pick<RevocationsTable, 'kind' | 'value' | 'ver' | 'expires_at' | 'created_at'> & { id: number };

export const entryFromRow = (row: Row): RevocationEntry => ({
  id: Number(row.id),
  kind: row.kind,
  value: row.value,
  ver: row.ver,
  expiresAt: row.expires_at,
  createdAt: row.created_at,
});

/**
 * Reads the revocations table the way commits arrive: everything once, then only what is new. "New"
 * is every row above the highest id read so far, and any lower id still missing (a gap) that fills
 * within a minute: another process may have taken an id between two of ours, and on PostgreSQL a
 * lower id can commit after a higher one.
 */
export interface StoreReader {
  /** Every live row; the highest id is read first, so a row committing meanwhile is not lost. */
  load(): Promise<RevocationEntry[]>;
  /** The rows committed since the last read, expired ones included (the caller filters). */
  readNew(): Promise<RevocationEntry[]>;
}

export function createStoreReader(db: Db, clock: () => number): StoreReader {
  /** The highest row id read; every id up to it is known except `gaps`. */
  let highest = 0;
  /** Ids below `highest` not read yet (an insert not committed yet, or rolled back) → when noticed. */
  const gaps = new Map<number, number>();

  /** Watches a missing id; when too many are watched, the oldest goes (the newest may still fill). */
  function watch(id: number, now: number): void {
    gaps.set(id, now);
    if (gaps.size > MAX_GAPS) gaps.delete(gaps.keys().next().value as number);
  }

  return {
    async load() {
      // The highest id first: a row committing between the two reads is then either above it (the
      // next readNew gets it) or among the rows read now.
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
      highest = Math.max(0, Number(max?.max ?? 0));
      const seen = new Set(rows.map((row) => Number(row.id)));
      // A revocation committing while we read may hold a lower id than one we saw.
      const now = clock();
      for (let id = Math.max(1, highest - LOAD_GAP_WINDOW); id <= highest; id++)
        if (!seen.has(id)) watch(id, now);
      return rows.map(entryFromRow);
    },
    async readNew() {
      const watched = [...gaps.keys()];
      const rows = await db
        .selectFrom('revocations')
        .selectAll()
        .where((eb) =>
          watched.length === 0
            ? eb('id', '>', highest)
            : eb.or([eb('id', '>', highest), eb('id', 'in', watched)]),
        )
        .orderBy('id')
        .execute();
      const now = clock();
      for (const row of rows) {
        const id = Number(row.id);
        if (id > highest) {
          // The ids skipped on the way up may still commit.
          for (let missing = Math.max(highest + 1, id - MAX_GAPS); missing < id; missing++)
            watch(missing, now);
          highest = id;
        } else gaps.delete(id);
      }
      for (const [id, noticedAt] of gaps) if (now - noticedAt > GAP_WATCH_MS) gaps.delete(id);
      return rows.map(entryFromRow);
    },
  };
}
