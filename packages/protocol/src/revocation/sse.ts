import { checkedEntry, type RevocationEntry } from './entry.js';

/**
 * The revocation event stream (`GET /revocations`, discovery `revocation_events_endpoint`), in
 * Server-Sent Events (WHATWG HTML §9.2):
 *
 *     retry: 1000
 *
 *     id: 42
 *     event: revocation
 *     data: {"kind":"sid","value":"sid_…","ver":null,"expires_at":1767225600}
 *
 *     : snapshot complete
 *
 *     : heartbeat
 *
 * On connect the server sends every live entry (or, with `Last-Event-ID`, those after it), then the
 * `snapshot complete` comment, then each new revocation as it happens and a `heartbeat` comment every
 * few seconds while it can vouch that silence means no revocations. An event without an `id` (the
 * shared feed is down) leaves the subscriber's last id as it was.
 */
export const REVOCATION_EVENT = 'revocation';
export const SNAPSHOT_COMPLETE = 'snapshot complete';
export const HEARTBEAT = 'heartbeat';

/** One revocation as an SSE event; `eventId` is its position in the feed, or empty for none. */
export function encodeRevocationEvent(entry: RevocationEntry, eventId: string): string {
  const data = `{"kind":"${entry.kind}","value":${JSON.stringify(entry.value)},"ver":${entry.ver ?? null},"expires_at":${entry.expiresAt}}`;
  return `${eventId ? `id: ${eventId}\n` : ''}event: ${REVOCATION_EVENT}\ndata: ${data}\n\n`;
}

/** A comment line (`: snapshot complete`, `: heartbeat`). */
export function encodeComment(comment: string): string {
  return `: ${comment}\n\n`;
}

/** Parses the `data` of a `revocation` event; `undefined` when malformed. */
export function parseRevocationData(data: string): RevocationEntry | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(data);
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return undefined;
  const { kind, value, ver, expires_at: expiresAt } = parsed as Record<string, unknown>;
  if (ver !== null && typeof ver !== 'number') return undefined;
  if (typeof expiresAt !== 'number') return undefined;
  return checkedEntry(kind, value, ver, expiresAt);
}
