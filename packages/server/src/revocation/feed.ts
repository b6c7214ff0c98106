import { EventEmitter } from 'node:events';
import type { RevocationKind, RevocationEntry as WireEntry } from '@tessera/protocol';
import type { SecurityEventBroker } from '../security_events/broker.js';

/**
 * A revocation, by one of the three handles every verifier can check without a database: one access
 * token (`jti`), every access token of a session (`sid`), or every token of a user issued below a
 * token version (`sub` + `ver`: log out everywhere, password change, disable).
 */
export interface RevocationEntry {
  /** The row id in the store (the truth). */
  id: number;
  /** `kid`: every token signed by a withdrawn signing key (see keys/revoke_key.ts). */
  kind: RevocationKind;
  value: string;
  /** For `sub`: tokens with `ver` below this are revoked. */
  ver: number | null;
  /** When the longest access token this entry could match has expired; then the entry is dropped. */
  expiresAt: number;
  createdAt: number;
}

/**
 * The entry as it travels to guards (@tessera/protocol): no store bookkeeping, and the expiry in
 * seconds, rounded up (an entry may outlive its last match by a moment, never the other way round).
 */
export function wireEntry(entry: RevocationEntry): WireEntry {
  return {
    kind: entry.kind,
    value: entry.value,
    ver: entry.ver,
    expiresAt: Math.ceil(entry.expiresAt / 1000),
  };
}

/** An entry as the event stream carries it: `eventId` is its position, for resuming (Last-Event-ID). */
export interface FeedEvent extends RevocationEntry {
  eventId: string;
}

/**
 * How revocations reach every instance's `GET /revocations` subscribers. On one machine that is an
 * in-process emitter; scaled out, a Redis stream every instance reads and relays.
 */
export interface RevocationFeed {
  /** Whether entries must be marked once delivered (and sent again from the store if they were not). */
  readonly shared: boolean;
  /** A broker feed's publisher of security event tokens, on the same connection (security_events/broker.ts). */
  readonly securityEvents?: SecurityEventBroker;
  /** Delivers an entry already written to the store. False when it could not be delivered now. */
  publish(entry: RevocationEntry): Promise<boolean>;
  /** What a subscriber gets on connect: every live event, or only those after `lastEventId`. */
  backlog(lastEventId: string | undefined): Promise<FeedEvent[]>;
  /** Each event as it is delivered, from any instance. */
  subscribe(listener: (event: FeedEvent) => void): () => void;
  /** Events are flowing: subscribers may trust that silence means no revocations. */
  live(): boolean;
  /**
   * False when a shared feed has lost what it held (Redis restarted empty): then every live entry
   * must be published again before `markSeeded()`.
   */
  seeded(): Promise<boolean>;
  markSeeded(): Promise<void>;
  close(): Promise<void>;
}

/**
 * One process: events are emitted as they are published; their id is the store's row id, which
 * only grows, so `Last-Event-ID` resumes exactly.
 */
export function createLocalFeed(
  entries: () => Iterable<RevocationEntry>,
  clock: () => number = Date.now,
): RevocationFeed {
  const events = new EventEmitter();
  events.setMaxListeners(0);
  const asEvent = (entry: RevocationEntry): FeedEvent => Object.assign({ eventId: String(entry.id) }, entry);
  return {
    shared: false,
    async publish(entry) {
      events.emit('event', asEvent(entry));
      return true;
    },
    async backlog(lastEventId) {
      const after = lastEventId !== undefined && /^\d{1,15}$/.test(lastEventId) ? Number(lastEventId) : -1;
      const now = clock();
      const out: FeedEvent[] = [];
      for (const entry of entries()) if (entry.id > after && entry.expiresAt > now) out.push(asEvent(entry));
      return out.sort((a, b) => a.id - b.id);
    },
    subscribe(listener) {
      events.on('event', listener);
      return () => events.off('event', listener);
    },
    live: () => true,
    seeded: async () => true,
    async markSeeded() {},
    async close() {
      events.removeAllListeners();
    },
  };
}
