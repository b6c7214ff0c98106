import { EventEmitter } from 'node:events';
import type { Db } from '../store/database.js';
import type { Dialect } from '../store/migrations.js';
import { type JsonText, type OutboxTable, parseJsonText, toJsonText } from '../store/schema.js';

/** A delivery to write, inside the transaction that decided it. */
export interface NewDelivery {
  /** Its kind (outbox/kinds.ts): decides how `payload` becomes a request. */
  kind: string;
  /** What the kind needs to build each attempt's request: plain data, never a token or a secret. */
  payload: unknown;
  /** Where it goes (a URL). */
  target: string;
}

/** A delivery claimed for an attempt (its lease is this instance's until `leaseUntil`). */
export interface ClaimedDelivery {
  id: number;
  kind: string;
  payload: unknown;
  target: string;
  /** Attempts begun, this one included. */
  attempts: number;
  /** What went wrong the last time, if an attempt failed before. */
  lastError: string | null;
  createdAt: number;
  leaseOwner: string;
  leaseUntil: number;
}

/**
 * The transactional outbox: deliveries are rows written in the same transaction as the change they
 * tell of (a session ended), so a rolled-back change promises nothing and a committed one is told
 * even if the process dies right after. Any instance (and the CLI, from another process) writes rows;
 * every server instance claims due rows with a lease and delivers them (outbox/delivery.ts).
 */
export interface Outbox {
  /** Writes deliveries with `executor`, the caller's transaction. Call {@link notify} once committed. */
  enqueue(executor: Db, deliveries: readonly NewDelivery[]): Promise<void>;
  /** Tells this process's delivery job that rows were committed (others find them by polling). */
  notify(): void;
  /** Called on each {@link notify}; returns the unsubscribe function. */
  onNotify(listener: () => void): () => void;
  /**
   * Claims up to `limit` due rows of `kinds` for `owner` until now + `leaseMs`, counting the attempt:
   * one conditional UPDATE, so two instances never hold the same row (PostgreSQL: the rows are picked
   * `FOR UPDATE SKIP LOCKED`; SQLite has a single writer). A row whose lease ran out (its instance
   * died mid-attempt) is due again.
   */
  claim(owner: string, kinds: readonly string[], limit: number, leaseMs: number): Promise<ClaimedDelivery[]>;
  /** The attempt got through. False when the lease was no longer `owner`'s. */
  delivered(row: ClaimedDelivery): Promise<boolean>;
  /** The attempt failed; the next one not before `at`. */
  retryAt(row: ClaimedDelivery, at: number, error: string): Promise<boolean>;
  /**
   * After an attempt to `target` failed and will be retried at `at`: its other waiting rows wait
   * until then too (not counted as attempts). A receiver that is down or hanging then costs one wave
   * of attempts per back-off step instead of one per row, and cannot fill every delivery slot while
   * other receivers wait.
   */
  deferTarget(target: string, at: number): Promise<void>;
  /**
   * No more attempts: refused, or failing for too long. `record` (the audit event) is written in the
   * same transaction, and only when the lease was still `owner`'s: a give-up is never left unrecorded,
   * and a failed record leaves the row to be claimed again.
   */
  giveUp(row: ClaimedDelivery, error: string, record?: (executor: Db) => Promise<void>): Promise<boolean>;
  /** Rows still to deliver, per kind, with the creation time of the oldest (for the metrics). */
  pending(): Promise<{ kind: string; count: number; oldestCreatedAt: number }[]>;
  /**
   * Deletes finished rows (delivered or given up) created before `before`, `batch` at a time (a
   * week's rows after a mass logout, deleted in one statement, would hold the table for long);
   * returns how many.
   */
  prune(before: number, batch?: number): Promise<number>;
}

export function createOutbox(db: Db, dialect: Dialect, clock: () => number = Date.now): Outbox {
  const events = new EventEmitter();
  events.setMaxListeners(0);

  /** Finishes an attempt: only the lease holder may, and the lease ends with it. */
  async function finish(
    row: ClaimedDelivery,
    set: Partial<Pick<OutboxTable, 'delivered_at' | 'gave_up_at' | 'next_attempt_at' | 'last_error'>>,
    executor: Db = db,
  ): Promise<boolean> {
    const result = await executor
      .updateTable('outbox')
      .set({ ...set, lease_owner: null, lease_until: null })
      .where('id', '=', row.id)
      .where('lease_owner', '=', row.leaseOwner)
      .where('lease_until', '=', row.leaseUntil)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  return {
    async enqueue(executor, deliveries) {
      if (deliveries.length === 0) return;
      const now = clock();
      await executor
        .insertInto('outbox')
        .values(
          deliveries.map((delivery) => ({
            kind: delivery.kind,
            payload: toJsonText(delivery.payload),
            target: delivery.target,
            attempts: 0,
            next_attempt_at: now,
            created_at: now,
          })),
        )
        .execute();
    },
    notify() {
      events.emit('enqueued');
    },
    onNotify(listener) {
      events.on('enqueued', listener);
      return () => events.off('enqueued', listener);
    },
    async claim(owner, kinds, limit, leaseMs) {
      if (kinds.length === 0 || limit <= 0) return [];
      const now = clock();
      const leaseUntil = now + leaseMs;
      // Only kinds this instance knows: during a rolling upgrade an older instance leaves a newer
      // kind's rows to the instances that can build them.
      let due = db
        .selectFrom('outbox')
        .select('id')
        .where('delivered_at', 'is', null)
        .where('gave_up_at', 'is', null)
        .where('next_attempt_at', '<=', now)
        .where((eb) => eb.or([eb('lease_until', 'is', null), eb('lease_until', '<=', now)]))
        .where('kind', 'in', kinds)
        .orderBy('next_attempt_at')
        .limit(limit);
      // Concurrent claimers skip the rows another is claiming instead of waiting for it and then
      // finding them leased.
      if (dialect === 'postgres') due = due.forUpdate().skipLocked();
      const rows = await db
        .updateTable('outbox')
        .set((eb) => ({ lease_owner: owner, lease_until: leaseUntil, attempts: eb('attempts', '+', 1) }))
        .where('id', 'in', due)
        .returning(['id', 'kind', 'payload', 'target', 'attempts', 'last_error', 'created_at'])
        .execute();
      return rows.map((row) => ({
        id: row.id,
        kind: row.kind,
        payload: parseJsonText(row.payload as JsonText<unknown>),
        target: row.target,
        attempts: row.attempts,
        lastError: row.last_error,
        createdAt: row.created_at,
        leaseOwner: owner,
        leaseUntil,
      }));
    },
    delivered: (row) => finish(row, { delivered_at: clock(), last_error: null }),
    retryAt: (row, at, error) => finish(row, { next_attempt_at: at, last_error: error }),
    giveUp: (row, error, record) =>
      db.transaction().execute(async (trx) => {
        const finished = await finish(row, { gave_up_at: clock(), last_error: error }, trx);
        if (finished) await record?.(trx);
        return finished;
      }),
    async deferTarget(target, at) {
      const now = clock();
      await db
        .updateTable('outbox')
        .set({ next_attempt_at: at })
        .where('target', '=', target)
        .where('delivered_at', 'is', null)
        .where('gave_up_at', 'is', null)
        .where('next_attempt_at', '<', at)
        .where((eb) => eb.or([eb('lease_until', 'is', null), eb('lease_until', '<=', now)]))
        .execute();
    },
    async pending() {
      const rows = await db
        .selectFrom('outbox')
        .select((eb) => ['kind', eb.fn.countAll().as('count'), eb.fn.min('created_at').as('oldest')])
        .where('delivered_at', 'is', null)
        .where('gave_up_at', 'is', null)
        .groupBy('kind')
        .execute();
      return rows.map((row) => ({
        kind: row.kind,
        count: Number(row.count),
        oldestCreatedAt: Number(row.oldest),
      }));
    },
    async prune(before, batch = 1_000) {
      let deleted = 0;
      for (;;) {
        const ids = db
          .selectFrom('outbox')
          .select('id')
          .where('created_at', '<', before)
          .where((eb) => eb.or([eb('delivered_at', 'is not', null), eb('gave_up_at', 'is not', null)]))
          .orderBy('id')
          .limit(batch);
        const result = await db.deleteFrom('outbox').where('id', 'in', ids).executeTakeFirst();
        const count = Number(result.numDeletedRows);
        deleted += count;
        if (count < batch) return deleted;
      }
    },
  };
}
