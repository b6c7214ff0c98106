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
   * Why the delivery is no longer wanted, read afresh before each attempt, or undefined while it is:
   * a row waits for hours, and the receiver it names may be removed or moved meanwhile. A reason gives
   * the row up (audited) without a request. Throws when it cannot be told now (the store is down):
   * the attempt is retried.
   */
  superseded(payload: Payload, target: string): Promise<string | undefined>;
  /**
   * The request of one attempt, made afresh each time (a token in it is newly signed with a fresh
   * `jti` and the current key). Throws when it cannot be made right now (keys not loaded): the attempt
   * is retried. The body and headers are never logged or stored.
   */
  request(payload: Payload, target: string): OutboundRequest | Promise<OutboundRequest>;
  /** What a response status means: got through, try again later, or never (§ of the kind's spec). */
  outcome(status: number): ResponseOutcome;
  /**
   * For a kind whose receivers say why they refuse (RFC 8935 §2.3 `{err, description}`): what of a
   * refusal's body (read only for a give-up, at most 16 KiB) goes into the audit event. Undefined:
   * the body is not read.
   */
  refusal?(status: number, body: string): Record<string, unknown> | undefined;
  /**
   * A kind that is not an HTTP POST (a message broker): makes the attempt itself, in place of the
   * request above. Resolves to what happened; throws for a failure worth retrying.
   */
  send?(payload: Payload, signal: AbortSignal): Promise<ResponseOutcome>;
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

/**
 * `retry`: not received, try again (for up to a day). `refused`: the receiver answered no, but the
 * reason may pass (a redeploy answering 404, credentials being rotated: 401, 403), so it is tried
 * again over a shorter window. `give_up`: no attempt can succeed.
 */
export type ResponseOutcome = 'delivered' | 'retry' | 'refused' | 'give_up';

/**
 * The shared rule for failures: the receiver is overloaded or down (429, 5xx; 408 is a timeout the
 * receiver reported) → later. 400 is the receiver rejecting what was sent (BCL §2.8: the token) and a
 * redirect is not followed (the request is made to the registered URI only): both final. Any other
 * 4xx (401, 403, 404, 410…) says the endpoint is not taking it right now → refused, retried briefly.
 */
export function failureOutcome(status: number): ResponseOutcome {
  if (status === 408 || status === 429 || status >= 500) return 'retry';
  if (status >= 400 && status !== 400) return 'refused';
  return 'give_up';
}

/** The kinds one instance can deliver, by name. */
export type OutboxKinds = ReadonlyMap<string, OutboxKind<unknown>>;

export function outboxKinds(...kinds: OutboxKind<unknown>[]): OutboxKinds {
  return new Map(kinds.map((kind) => [kind.name, kind]));
}
