/**
 * What the outbox knows about one kind of delivery. The delivery job (outbox/delivery.ts) does the
 * rest the same way for every kind: claiming rows with a lease, the HTTP exchange (POST, no redirects
 * followed, a timeout), retries with back-off and Retry-After, giving up, audit, logs and metrics.
 *
 * Adding a kind (a `security_event` pushing RFC 8417 SETs by RFC 8935, say):
 * 1. a module exporting `kind: OutboxKind<YourPayload>` (e.g. `src/events/security_events.ts`);
 * 2. an enqueue function that writes `{ kind: 'security_event', payload, target }` rows with
 *    `services.outbox.enqueue(trx, rows)` inside the transaction that decided them, and calls
 *    `services.outbox.notify()` once committed;
 * 3. one entry in `deliveryKinds()` (server.ts) so every instance can deliver it;
 * 4. its counter in http/metrics.ts `DELIVERY_COUNTERS` (`tessera_<kind>_deliveries_total{outcome}`).
 */
export interface OutboxKind<Payload = unknown> {
  /** The `kind` column of its rows. */
  readonly name: string;
  /**
   * The payload read back from the store, checked (it was written by this or an older version):
   * throws when it is not one, and the row is given up.
   */
  parse(payload: unknown): Payload;
  /**
   * The request of one attempt, made afresh each time (a token in it is newly signed with a fresh
   * `jti` and the current key). Throws when it cannot be made right now (keys not loaded): the attempt
   * is retried. The body and headers are never logged or stored.
   */
  request(payload: Payload, target: string): OutboundRequest;
  /** What a response status means: got through, try again later, or never (§ of the kind's spec). */
  outcome(status: number): ResponseOutcome;
  /** Who and what it concerns, for the audit event and log lines of a give-up: no secrets. */
  describe(payload: Payload): { userId?: string; clientId?: string; detail: Record<string, unknown> };
}

/** One attempt's request. Always a POST: back-channel logout (BCL §2.5) and SET push (RFC 8935 §2) are. */
export interface OutboundRequest {
  /** Where to POST: normally the row's `target` as it was written. */
  url: string;
  headers: Record<string, string>;
  body: string;
}

export type ResponseOutcome = 'delivered' | 'retry' | 'give_up';

/**
 * The shared rule for failures: the receiver is overloaded or down (429, 5xx; 408 is a timeout the
 * receiver reported) → later; any other answer is a refusal that repeating will not change.
 */
export function failureOutcome(status: number): ResponseOutcome {
  return status === 408 || status === 429 || status >= 500 ? 'retry' : 'give_up';
}

/** The kinds one instance can deliver, by name. */
export type OutboxKinds = ReadonlyMap<string, OutboxKind<unknown>>;

export function outboxKinds(...kinds: OutboxKind<unknown>[]): OutboxKinds {
  return new Map(kinds.map((kind) => [kind.name, kind]));
}
