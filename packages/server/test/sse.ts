import { createGuard, type Guard } from '@tessera/guard';
import { expect } from 'vitest';
import type { Services } from '../src/services.js';
import type { TestServer } from './helpers.js';

/** A subscriber to `GET /revocations` for the tests: the stream parsed as it arrives. */

/** One Server-Sent Events message: the fields of RFC/WHATWG `text/event-stream`, comments kept. */
export interface SseMessage {
  id?: string;
  event?: string;
  data?: string;
  retry?: string;
  comments: string[];
}

export interface Revocation {
  /** The event id as a number (one machine: the row id). */
  id: number;
  /** The event id as sent (scaled out: a Redis stream id). */
  eventId: string;
  kind: 'jti' | 'sid' | 'sub';
  value: string;
  ver: number | null;
  expires_at: number;
}

/** The confidential client tests follow the stream as (a guard authenticates the same way). */
export const RESOURCE_SERVER_ID = 'resource-server';
const secrets = new Map<string, string>();

/** `Authorization` for `GET /revocations`, as the resource server's client. */
export async function streamAuth(
  services: Pick<Services, 'clients' | 'config'>,
): Promise<Record<string, string>> {
  const { id, secret } = await resourceServer(services);
  return { authorization: `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}` };
}

/**
 * The resource server's confidential client, registered in the server's store on first use (per
 * data directory or database, so a restarted server or another instance on the same store accepts
 * it too).
 */
async function resourceServer(
  services: Pick<Services, 'clients' | 'config'>,
): Promise<{ id: string; secret: string }> {
  const store = services.config.databaseUrl ?? services.config.dataDir;
  let secret = secrets.get(store);
  if (secret === undefined) {
    const added = await services.clients.add({
      clientId: RESOURCE_SERVER_ID,
      type: 'confidential',
      audiences: [services.config.audience],
      scopes: [],
    });
    secret = added.secret as string;
    secrets.set(store, secret);
  }
  return { id: RESOURCE_SERVER_ID, secret };
}

/**
 * A real @tessera/guard following the server's revocation stream as the resource server's client
 * (discovery included, so the server must listen where its issuer URL says). Close it after use.
 */
export async function followingGuard(server: TestServer): Promise<Guard> {
  return createGuard({
    issuer: server.services.config.issuer,
    audience: server.services.config.audience,
    client: await resourceServer(server.services),
    clock: server.now,
    logger: { warn() {}, error() {} },
  });
}

/** Generous: events arrive in milliseconds; this only bounds a hang. Never asserted on. */
const WAIT_MS = 10_000;

/** A subscriber to `GET /revocations` over real HTTP, parsing the stream as it arrives. */
export class SseStream {
  readonly messages: SseMessage[] = [];
  /** Everything received, as text. */
  raw = '';
  private buffer = '';
  private readonly waiters = new Set<() => void>();
  ended = false;

  private constructor(
    readonly response: Response,
    private readonly controller: AbortController,
  ) {
    void this.pump(response.body!.getReader());
  }

  static async open(url: string, headers: Record<string, string> = {}): Promise<SseStream> {
    const controller = new AbortController();
    const response = await fetch(`${url}/revocations`, {
      headers: { accept: 'text/event-stream', ...headers },
      signal: controller.signal,
    });
    return new SseStream(response, controller);
  }

  private async pump(reader: ReadableStreamDefaultReader<Uint8Array>): Promise<void> {
    const decoder = new TextDecoder();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        const text = decoder.decode(value, { stream: true });
        this.raw += text;
        this.buffer += text;
        let end = this.buffer.indexOf('\n\n');
        while (end >= 0) {
          this.messages.push(parse(this.buffer.slice(0, end)));
          this.buffer = this.buffer.slice(end + 2);
          end = this.buffer.indexOf('\n\n');
        }
        for (const wake of this.waiters) wake();
      }
    } catch {
      // Aborted by close().
    } finally {
      this.ended = true;
      for (const wake of this.waiters) wake();
    }
  }

  /** The revocation events received so far. */
  get revocations(): Revocation[] {
    return revocationsOf(this.messages);
  }

  /** Whether the initial snapshot (or the resumed backlog) has been sent completely. */
  get snapshotComplete(): boolean {
    return this.messages.some((m) => m.comments.includes('snapshot complete'));
  }

  /** The revocation events sent before the end-of-snapshot marker. */
  get snapshot(): Revocation[] {
    const end = this.messages.findIndex((m) => m.comments.includes('snapshot complete'));
    expect(end).toBeGreaterThanOrEqual(0);
    return revocationsOf(this.messages.slice(0, end));
  }

  /** Waits until `ready()` holds for this stream (or fails after a generous timeout). */
  async until(ready: (stream: SseStream) => boolean, what: string): Promise<void> {
    if (ready(this)) return;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(new Error(`no ${what} on the stream; received ${JSON.stringify(this.messages)}`));
      }, WAIT_MS);
      const check = () => {
        if (ready(this)) {
          clearTimeout(timer);
          this.waiters.delete(check);
          resolve();
        } else if (this.ended) {
          clearTimeout(timer);
          this.waiters.delete(check);
          reject(new Error(`the stream ended before ${what}; received ${JSON.stringify(this.messages)}`));
        }
      };
      this.waiters.add(check);
    });
  }

  /** Waits for the `count`-th revocation event (1-based) and returns all received so far. */
  async revocationCount(count: number): Promise<Revocation[]> {
    await this.until((s) => s.revocations.length >= count, `revocation event #${count}`);
    return this.revocations;
  }

  close(): void {
    this.controller.abort();
  }
}

function revocationsOf(messages: SseMessage[]): Revocation[] {
  return messages
    .filter((m) => m.event === 'revocation')
    .map((m) => ({
      id: Number(m.id),
      eventId: m.id!,
      ...(JSON.parse(m.data!) as Omit<Revocation, 'id' | 'eventId'>),
    }));
}

function parse(block: string): SseMessage {
  const message: SseMessage = { comments: [] };
  for (const line of block.split('\n')) {
    if (line.startsWith(':')) {
      message.comments.push(line.slice(1).trim());
      continue;
    }
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
    if (field === 'id' || field === 'event' || field === 'retry') message[field] = value;
    else if (field === 'data')
      message.data = message.data === undefined ? value : `${message.data}\n${value}`;
  }
  return message;
}
