import {
  DiscardPolicy,
  type JetStreamClient,
  type JetStreamManager,
  nanos,
  RetentionPolicy,
  StorageType,
} from 'nats';
import type { NatsBroker } from '../revocation/nats_url.js';
import { SECURITY_EVENTS_DESTINATION, type SecurityEventBroker } from './broker.js';

/** SETs stay on the stream this long, for consumers catching up after downtime. */
const RETENTION_MS = 7 * 86_400_000;
/** JetStream drops a message whose `Nats-Msg-Id` (the SET's `jti`) it saw within this: a retried publish. */
const DUPLICATE_WINDOW_MS = 10 * 60_000;
const PUBLISH_TIMEOUT_MS = 2_000;
const STREAM_NOT_FOUND = 10059;
const STREAM_NAME_IN_USE = 10058;

/**
 * Where SETs go on NATS: the subject `tessera.security-events` in the stream
 * `TESSERA_SECURITY_EVENTS` by default; a deployment sharing NATS (`?stream=S&subject=T` on
 * `revocationBroker`) gets `S_SECURITY_EVENTS` and `T.security-events`, its own.
 */
export function natsSecurityEventNames(broker: Pick<NatsBroker, 'stream' | 'subject'>): {
  stream: string;
  subject: string;
} {
  const defaults = broker.stream === 'TESSERA_REVOCATIONS' && broker.subject === 'tessera.revocations';
  return defaults
    ? { stream: 'TESSERA_SECURITY_EVENTS', subject: SECURITY_EVENTS_DESTINATION }
    : {
        stream: `${broker.stream}_SECURITY_EVENTS`.slice(0, 128),
        subject: `${broker.subject}.security-events`,
      };
}

function apiError(err: unknown): number | undefined {
  return (err as { api_error?: { err_code?: number } } | undefined)?.api_error?.err_code;
}

/**
 * Publishes SETs on the revocation feed's NATS connection (revocation/nats_feed.ts): no connection of
 * its own. The stream is created on first use (file storage, a week, old messages dropped first); a
 * publish counts once JetStream acknowledged it, with the `jti` as `Nats-Msg-Id`, so the outbox's
 * retry of an unacknowledged publish is not a second message.
 */
export function createNatsSecurityEventBroker(
  jetstream: () => { js: JetStreamClient; jsm: JetStreamManager } | undefined,
  broker: Pick<NatsBroker, 'stream' | 'subject' | 'server'>,
): SecurityEventBroker {
  const { stream, subject } = natsSecurityEventNames(broker);
  let ensured = false;

  async function ensureStream(jsm: JetStreamManager): Promise<void> {
    try {
      await jsm.streams.info(stream);
      return;
    } catch (err) {
      if (apiError(err) !== STREAM_NOT_FOUND) throw err;
    }
    try {
      await jsm.streams.add({
        name: stream,
        subjects: [subject],
        storage: StorageType.File,
        retention: RetentionPolicy.Limits,
        discard: DiscardPolicy.Old,
        max_age: nanos(RETENTION_MS),
        duplicate_window: nanos(DUPLICATE_WINDOW_MS),
        num_replicas: 1,
      });
    } catch (err) {
      // Another instance created it first.
      if (apiError(err) !== STREAM_NAME_IN_USE) throw err;
    }
  }

  return {
    destination: `nats:${subject}`,
    async publish({ jti, set }) {
      const client = jetstream();
      if (!client) throw new Error(`NATS at ${broker.server} is not reachable`);
      if (!ensured) {
        await ensureStream(client.jsm);
        ensured = true;
      }
      try {
        await client.js.publish(subject, new TextEncoder().encode(set), {
          msgID: jti,
          expect: { streamName: stream },
          timeout: PUBLISH_TIMEOUT_MS,
        });
      } catch (err) {
        // The stream may have been deleted meanwhile: made again at the next attempt.
        ensured = false;
        throw err;
      }
    },
  };
}
