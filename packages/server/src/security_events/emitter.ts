import { randomUUID } from 'node:crypto';
import type { Db } from '../store/database.js';
import type { Receivers } from '../store/receivers.js';
import type { SecurityEventBroker } from './broker.js';
import type { SecurityEvent, SecurityEventClaims, SecurityEventTokens } from './set.js';

/** The outbox kind of a SET pushed to one registered receiver (RFC 8935). */
export const SECURITY_EVENT_KIND = 'security_event';

/** A SET on its way to a receiver: its claims, decided once, so every retry sends the same `jti`. */
export interface SecurityEventPayload {
  receiver: string;
  claims: SecurityEventClaims;
}

/** Where deliveries are written inside the caller's transaction: the durable outbox (outbox/outbox.ts). */
export interface SecurityEventOutbox {
  enqueue(
    executor: Db,
    deliveries: readonly { kind: string; payload: SecurityEventPayload; target: string }[],
  ): Promise<void>;
  notify(): void;
}

export interface SecurityEvents {
  /**
   * Writes the SETs for `events` in the caller's transaction: one per event for each receiver that
   * wants its type, its `aud` that receiver's. A row committed is delivered (retried with back-off)
   * by some instance; a transaction rolled back leaves none, so no receiver hears of what did not
   * happen. The events of one call are one cause: their SETs share a `txn` (RFC 8417 §2.2).
   */
  record(trx: Db, events: readonly SecurityEvent[]): Promise<void>;
  /** After the transaction that recorded events committed: delivery starts now, not at the next poll. */
  committed(): void;
  /** {@link record} in a transaction of its own, then {@link committed}: for a cause that is no transaction. */
  emit(events: readonly SecurityEvent[]): Promise<void>;
}

export function createSecurityEvents(deps: {
  db: Db;
  receivers: Pick<Receivers, 'wanting'>;
  tokens: SecurityEventTokens;
  outbox: SecurityEventOutbox;
  /** Publishes each SET once committed, when the revocation feed runs over a broker. */
  broker: SecurityEventBroker | undefined;
}): SecurityEvents {
  const { db, receivers, tokens, outbox } = deps;
  async function record(trx: Db, events: readonly SecurityEvent[]): Promise<void> {
    if (events.length === 0) return;
    const txn = randomUUID();
    const deliveries: { kind: string; payload: SecurityEventPayload; target: string }[] = [];
    for (const event of events) {
      for (const receiver of await receivers.wanting(event.name, trx)) {
        const claims = tokens.claims(event, { aud: receiver.audience, txn });
        deliveries.push({
          kind: SECURITY_EVENT_KIND,
          payload: { receiver: receiver.name, claims },
          target: receiver.endpoint,
        });
      }
    }
    await outbox.enqueue(trx, deliveries);
  }
  return {
    record,
    committed: () => outbox.notify(),
    async emit(events) {
      if (events.length === 0) return;
      await db.transaction().execute((trx) => record(trx, events));
      outbox.notify();
    },
  };
}
