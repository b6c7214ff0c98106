/**
 * NATS JetStream for the broker tests: the shared server at `TESSERA_TEST_NATS_URL` (default the
 * local one), a stream and subject of each test's own (deleted after), what a stream holds, and the
 * machine's own nats-server, which a cluster test stops and starts again exactly as it was (its
 * JetStream data stays on disk). To take NATS away from one instance, test/tcp_proxy.ts.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { type BrokerMessage, parseBrokerMessage } from '@tessera/protocol';
import { connect, type NatsConnection } from 'nats';

export const NATS_URL = process.env.TESSERA_TEST_NATS_URL || 'nats://127.0.0.1:4222';

/** Why NATS (with JetStream) cannot be used for the tests, or undefined when it can. */
export async function natsUnreachable(url = NATS_URL): Promise<string | undefined> {
  let nc: NatsConnection | undefined;
  try {
    nc = await connect({ servers: new URL(url).host, timeout: 2_000, reconnect: false });
    await (await nc.jetstreamManager()).getAccountInfo();
    return undefined;
  } catch (err) {
    return `NATS with JetStream at ${new URL(url).host} is not reachable (${(err as Error).message})`;
  } finally {
    await nc?.close();
  }
}

/** Skips a file's broker tests with a printed reason, or fails under CI=true where NATS must be there. */
export async function natsSkip(what: string): Promise<string | undefined> {
  const reason = await natsUnreachable();
  if (reason && process.env.CI === 'true') throw new Error(`${reason} (required on CI)`);
  if (reason) console.warn(`skipping ${what}: ${reason}`);
  return reason;
}

export interface TestStream {
  stream: string;
  subject: string;
  /** The server's `revocationBroker` for this stream, through `base` (default the shared NATS). */
  url(base?: string): string;
}

/** A stream name and subject no other test or run uses. */
export function uniqueStream(): TestStream {
  const suffix = `${process.pid}_${randomBytes(4).toString('hex')}`;
  const stream = `TESSERA_TEST_${suffix}`;
  const subject = `tessera.test.${suffix}`;
  return {
    stream,
    subject,
    url: (base = NATS_URL) => `${base}?stream=${stream}&subject=${subject}`,
  };
}

/** A connection of the test's own (close it after use). */
export function natsConnection(url = NATS_URL): Promise<NatsConnection> {
  return connect({ servers: new URL(url).host });
}

/** Deletes a test's stream (the end of a test); a stream that is not there is fine. */
export async function deleteStream(stream: string): Promise<void> {
  const nc = await natsConnection();
  try {
    const jsm = await nc.jetstreamManager();
    await jsm.streams.delete(stream).catch(() => false);
    // The security events' stream a server on it may have created beside it (security_events/nats_broker.ts).
    await jsm.streams.delete(`${stream}_SECURITY_EVENTS`.slice(0, 128)).catch(() => false);
  } finally {
    await nc.close();
  }
}

export interface StoredMessage {
  seq: number;
  subject: string;
  msgId: string | undefined;
  message: BrokerMessage | undefined;
}

/** Every message the stream holds now, in order. */
export async function storedMessages(stream: string): Promise<StoredMessage[]> {
  const nc = await natsConnection();
  try {
    const jsm = await nc.jetstreamManager();
    const { state } = await jsm.streams.info(stream);
    const out: StoredMessage[] = [];
    for (let seq = state.first_seq; seq <= state.last_seq && state.messages > 0; seq++) {
      const stored = await jsm.streams.getMessage(stream, { seq }).catch(() => undefined);
      if (!stored) continue;
      out.push({
        seq,
        subject: stored.subject,
        msgId: stored.header?.get('Nats-Msg-Id') || undefined,
        message: parseBrokerMessage(stored.data),
      });
    }
    return out;
  } finally {
    await nc.close();
  }
}

/** The machine's nats-server: its process id and exact command line. */
export interface SystemNats {
  pid: number;
  argv: string[];
}

/** The running nats-server process, read from /proc; undefined when there is none. */
export function findSystemNats(): SystemNats | undefined {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/comm`, 'utf8').trim() !== 'nats-server') continue;
      const argv = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').filter(Boolean);
      if (argv.length > 0) return { pid: Number(entry), argv };
    } catch {
      // The process ended while we looked.
    }
  }
  return undefined;
}

/** SIGTERM to the nats-server (it shuts down cleanly, JetStream flushed), and waits for it to exit. */
export async function stopSystemNats(nats: SystemNats, ms = 30_000): Promise<void> {
  process.kill(nats.pid, 'SIGTERM');
  const until = Date.now() + ms;
  while (existsSync(`/proc/${nats.pid}`) && !isZombie(nats.pid)) {
    if (Date.now() > until) throw new Error(`nats-server ${nats.pid} did not exit`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function isZombie(pid: number): boolean {
  try {
    return /^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return true;
  }
}

/**
 * Starts nats-server again with the same command line, detached (it outlives the test, as the
 * machine's service), unless one is running already; resolves once it answers with JetStream.
 */
export async function startSystemNats(nats: SystemNats, ms = 30_000): Promise<void> {
  if (findSystemNats() === undefined) {
    const child = spawn(nats.argv[0]!, nats.argv.slice(1), { detached: true, stdio: 'ignore' });
    child.unref();
  }
  const until = Date.now() + ms;
  while ((await natsUnreachable()) !== undefined) {
    if (Date.now() > until) throw new Error('nats-server did not come back');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
