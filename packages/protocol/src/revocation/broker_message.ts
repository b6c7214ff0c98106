import { checkedEntry, type RevocationEntry } from './entry.js';

/**
 * A message of the revocation feed on a message broker (a RabbitMQ stream queue, a NATS JetStream
 * stream): one JSON object per message, UTF-8. Two types travel on the same stream, in order:
 *
 * - `revocation`: an entry, with the store's row id (`rid`) the server uses to deduplicate;
 * - `heartbeat`: a server instance vouching, at `at` (milliseconds since the epoch), that the stream
 *   holds every revocation in force. A guard calls its set current only while heartbeats arrive, and
 *   its first snapshot complete once it has read a heartbeat sent after it began reading: the
 *   stream is ordered, so every entry before that heartbeat is in the set.
 *
 * The entry fields are those of the Redis stream (`kind`, `value`, `ver`, `exp` in seconds, `rid`),
 * with `ver` a number or null.
 */
export type BrokerMessage =
  | { type: 'revocation'; entry: RevocationEntry; rowId: number }
  | { type: 'heartbeat'; at: number; instance: string };

/** Longest message a reader accepts, in bytes: an entry's value is at most 1,024 characters. */
export const MAX_BROKER_MESSAGE_BYTES = 8192;

/** The message body of a revocation entry. */
export function encodeBrokerRevocation(entry: RevocationEntry, rowId: number): Buffer {
  return Buffer.from(
    JSON.stringify({
      type: 'revocation',
      kind: entry.kind,
      value: entry.value,
      ver: entry.ver,
      exp: entry.expiresAt,
      rid: rowId,
    }),
  );
}

/** The message body of a heartbeat: `instance` names the server instance (for diagnostics only). */
export function encodeBrokerHeartbeat(at: number, instance: string): Buffer {
  return Buffer.from(JSON.stringify({ type: 'heartbeat', at, instance }));
}

/** Parses a message body; `undefined` for anything malformed or of a type this version does not know. */
export function parseBrokerMessage(body: Uint8Array): BrokerMessage | undefined {
  if (body.byteLength === 0 || body.byteLength > MAX_BROKER_MESSAGE_BYTES) return undefined;
  let data: unknown;
  try {
    data = JSON.parse(Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8'));
  } catch {
    return undefined;
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) return undefined;
  const message = data as Record<string, unknown>;
  if (message.type === 'heartbeat') {
    const { at, instance } = message;
    if (typeof at !== 'number' || !Number.isFinite(at) || at < 0) return undefined;
    if (typeof instance !== 'string' || instance.length > 256) return undefined;
    return { type: 'heartbeat', at, instance };
  }
  if (message.type !== 'revocation') return undefined;
  const { kind, value, ver, exp, rid } = message;
  if (ver !== null && (typeof ver !== 'number' || !Number.isSafeInteger(ver))) return undefined;
  if (typeof exp !== 'number' || !Number.isFinite(exp) || exp < 0) return undefined;
  const entry = checkedEntry(kind, value, ver, exp);
  if (!entry) return undefined;
  const rowId = typeof rid === 'number' && Number.isSafeInteger(rid) && rid > 0 ? rid : 0;
  return { type: 'revocation', entry, rowId };
}
