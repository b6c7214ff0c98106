import { randomUUID } from 'node:crypto';
import { encodeBrokerHeartbeat, encodeBrokerRevocation, type RevocationKind } from '@tessera/protocol';
import { connect, DiscardPolicy, headers, type NatsConnection, RetentionPolicy, StorageType } from 'nats';

export const NATS_URL = process.env.TESSERA_TEST_NATS_URL ?? 'nats://127.0.0.1:4222';

/** Why NATS with JetStream cannot be used here, or undefined when it can. */
export async function natsUnreachable(url = NATS_URL): Promise<string | undefined> {
  let nc: NatsConnection | undefined;
  try {
    nc = await connect({ servers: new URL(url).host, timeout: 1000, reconnect: false });
    await (await nc.jetstreamManager()).getAccountInfo();
    return undefined;
  } catch (err) {
    return `NATS with JetStream at ${new URL(url).host} is not reachable (${(err as Error).message})`;
  } finally {
    await nc?.close();
  }
}

/**
 * A stream of the test's own, made the way the server makes it (file storage, rollups for the
 * heartbeat subject), and the server's side of it: publishing revocations and heartbeats.
 */
export class TestStream {
  readonly name = `TESSERA_GUARD_TEST_${randomUUID().replaceAll('-', '').slice(0, 16)}`;
  readonly subject = `tessera.guardtest.${this.name.toLowerCase()}`;
  private rowId = 0;
  private constructor(readonly nc: NatsConnection) {}

  static async create(): Promise<TestStream> {
    const stream = new TestStream(await connect({ servers: new URL(NATS_URL).host }));
    await stream.recreate();
    return stream;
  }

  /** Deletes the stream if it is there and creates it again, empty (NATS lost its storage). */
  async recreate(): Promise<void> {
    const jsm = await this.nc.jetstreamManager();
    await jsm.streams.delete(this.name).catch(() => false);
    await jsm.streams.add({
      name: this.name,
      subjects: [this.subject, `${this.subject}.heartbeat`],
      storage: StorageType.File,
      retention: RetentionPolicy.Limits,
      discard: DiscardPolicy.Old,
      allow_rollup_hdrs: true,
    });
  }

  /** A revocation as the server publishes it; resolves with its stream sequence. */
  async revoke(kind: RevocationKind, value: string, ver: number | null, exp: number): Promise<number> {
    const rowId = ++this.rowId;
    const ack = await this.nc
      .jetstream()
      .publish(this.subject, encodeBrokerRevocation({ kind, value, ver, expiresAt: exp }, rowId), {
        msgID: `${rowId}:1`,
      });
    return ack.seq;
  }

  /** A heartbeat sent at `at` (ms), keeping only the latest, as the server does. */
  async heartbeat(at: number): Promise<number> {
    const rollup = headers();
    rollup.set('Nats-Rollup', 'sub');
    const ack = await this.nc
      .jetstream()
      .publish(`${this.subject}.heartbeat`, encodeBrokerHeartbeat(at, 'test'), { headers: rollup });
    return ack.seq;
  }

  /** Any bytes, on the revocation subject. */
  async raw(body: string): Promise<number> {
    return (await this.nc.jetstream().publish(this.subject, new TextEncoder().encode(body))).seq;
  }

  async delete(): Promise<void> {
    await (await this.nc.jetstreamManager()).streams.delete(this.name).catch(() => false);
    await this.nc.close();
  }
}
