import { randomUUID } from 'node:crypto';
import type { NewDelivery, Outbox } from '../outbox/outbox.js';
import type { Db } from '../store/database.js';
import type { Receiver, Receivers } from '../store/receivers.js';
import type { SecurityEventBroker } from './broker.js';
import type { SecurityEvent, SecurityEventClaims, SecurityEventTokens } from './set.js';

/** The outbox kind of a SET pushed to one registered receiver (RFC 8935): security_events/outbox_kind.ts. */
export const SECURITY_EVENT_KIND = 'security_event';
/** The outbox kind of a SET published to the revocation broker: security_events/outbox_kind.ts. */
export const SECURITY_EVENT_BROKER_KIND = 'security_event_broker';

/**
 * A SET on its way: its claims, decided once, so every attempt sends the same `jti` and `iat`; the
 * receiver by name (its bearer token is read at each attempt, never stored here). None for the broker.
 */
export interface SecurityEventPayload {
  receiver?: string;
  claims: SecurityEventClaims;
}

export interface SecurityEvents {
  /**
   * Writes the SETs for `events` to the outbox in the caller's transaction: one per event for each
   * receiver that wants its type (its `aud` that receiver's), and one per event for the broker when
   * the revocation feed runs on one. A row committed is delivered (retried with back-off) by some
   * instance; a transaction rolled back leaves none, so nobody hears of what did not happen. The
   * events of one call are one cause: their SETs share a `txn` (RFC 8417 §2.2).
   */
  record(trx: Db, events: readonly SecurityEvent[]): Promise<void>;
  /** {@link record} in a transaction of its own, for a cause that is not one; delivery starts at once. */
  emit(events: readonly SecurityEvent[]): Promise<void>;
}

export function createSecurityEvents(deps: {
  db: Db;
  receivers: Pick<Receivers, 'wanting'>;
  tokens: SecurityEventTokens;
  outbox: Pick<Outbox, 'enqueue' | 'notify'>;
  /** The revocation broker's SET publisher, when the feed runs on a broker that has one. */
  broker: SecurityEventBroker | undefined;
}): SecurityEvents {
  const { db, receivers, tokens, outbox, broker } = deps;
  async function record(trx: Db, events: readonly SecurityEvent[]): Promise<void> {
    if (events.length === 0) return;
    const txn = randomUUID();
    const deliveries: NewDelivery[] = [];
    // Read once per event type per cause: ending every session of a user is many events of one type.
    const wanting = new Map<SecurityEvent['name'], Promise<Receiver[]>>();
    for (const event of events) {
      if (!wanting.has(event.name)) wanting.set(event.name, receivers.wanting(event.name, trx));
      for (const receiver of await (wanting.get(event.name) as Promise<Receiver[]>)) {
        const claims = tokens.claims(event, { aud: receiver.audience, txn });
        deliveries.push({
          kind: SECURITY_EVENT_KIND,
          payload: { receiver: receiver.name, claims } satisfies SecurityEventPayload,
          target: receiver.endpoint,
        });
      }
      if (broker) {
        // The broker's consumers are many and unnamed: no `aud`. A push receiver, which requires its
        // own, refuses such a SET if it is ever replayed to it.
        const claims = tokens.claims(event, { txn });
        deliveries.push({
          kind: SECURITY_EVENT_BROKER_KIND,
          payload: { claims } satisfies SecurityEventPayload,
          target: broker.destination,
        });
      }
    }
    await outbox.enqueue(trx, deliveries);
  }
  return {
    record,
    async emit(events) {
      if (events.length === 0) return;
      await db.transaction().execute((trx) => record(trx, events));
      outbox.notify();
    },
  };
}
