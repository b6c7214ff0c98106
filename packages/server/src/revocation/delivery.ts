import type { Db } from '../store/database.js';
import type { RevocationEntry, RevocationFeed } from './feed.js';
import { entryFromRow } from './store_reader.js';

/** At most this many undelivered rows are sent per round, so a long outage drains in steps. */
const REDELIVERY_BATCH = 500;

/**
 * Getting stored revocations onto the feed, and remembering which made it (`published_at`), so that
 * what a shared feed could not take (Redis down) is sent again later and nothing is sent twice.
 */
export interface Delivery {
  /** Delivers entries in order and records those delivered; true when every one was. */
  deliver(entries: RevocationEntry[]): Promise<boolean>;
  /** Sends a batch of the live rows not delivered yet. */
  redeliver(): Promise<void>;
  /**
   * Sends every live row again, whatever was delivered before: for a shared feed that lost its data
   * (Redis restarted empty). Delivery is idempotent per row. True when all went out.
   */
  republish(): Promise<boolean>;
}

export function createDelivery(db: Db, feed: RevocationFeed, clock: () => number): Delivery {
  async function deliver(entries: RevocationEntry[]): Promise<boolean> {
    const delivered: number[] = [];
    for (const entry of entries) {
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
    return delivered.length === entries.length;
  }

  return {
    deliver,
    async redeliver() {
      const undelivered = await db
        .selectFrom('revocations')
        .selectAll()
        .where('published_at', 'is', null)
        .where('expires_at', '>', clock())
        .orderBy('id')
        .limit(REDELIVERY_BATCH)
        .execute();
      if (undelivered.length > 0) await deliver(undelivered.map(entryFromRow));
    },
    async republish() {
      for (let after = 0; ; ) {
        const rows = await db
          .selectFrom('revocations')
          .selectAll()
          .where('expires_at', '>', clock())
          .where('id', '>', after)
          .orderBy('id')
          .limit(REDELIVERY_BATCH)
          .execute();
        if (!(await deliver(rows.map(entryFromRow)))) return false;
        if (rows.length < REDELIVERY_BATCH) return true;
        after = Number((rows.at(-1) as { id: number }).id);
      }
    },
  };
}
