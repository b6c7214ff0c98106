/**
 * The `revocationBroker` setting for NATS, taken apart once: where to connect, with which
 * credentials, and the JetStream stream and subject. `nats://[user:pass@|token@]host[:port]` or
 * `tls://…` (TLS), with `?stream=NAME&subject=SUBJECT` to share one NATS between deployments.
 */
export interface NatsBroker {
  /** `host:port`, for the client; also what messages name (never the credentials). */
  server: string;
  tls: boolean;
  user: string | undefined;
  pass: string | undefined;
  /** A token given as the URL's user alone (`nats://s3cr3t@host`). */
  token: string | undefined;
  stream: string;
  /** Revocations go to `subject`, heartbeats to `subject.heartbeat`. */
  subject: string;
}

export const DEFAULT_NATS_STREAM = 'TESSERA_REVOCATIONS';
export const DEFAULT_NATS_SUBJECT = 'tessera.revocations';

/** JetStream stream names: no whitespace, `.`, `*`, `>` or path separators (kept to a safe set). */
const STREAM_NAME = /^[A-Za-z0-9_-]{1,128}$/;
/** A literal subject: dot-separated tokens, no wildcards. */
const SUBJECT = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;

/** Parses a nats:// or tls:// URL; throws an Error whose message never contains the credentials. */
export function parseNatsBroker(value: string): NatsBroker {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new Error('expected a URL like nats://host:4222');
  }
  if (url.protocol !== 'nats:' && url.protocol !== 'tls:')
    throw new Error('a NATS broker URL must be nats:// or tls://');
  if (url.hostname === '') throw new Error('the NATS broker URL has no host');
  if (url.pathname !== '' && url.pathname !== '/') throw new Error('the NATS broker URL takes no path');
  if (url.hash !== '') throw new Error('the NATS broker URL takes no fragment');
  for (const key of url.searchParams.keys())
    if (key !== 'stream' && key !== 'subject')
      throw new Error(`unknown parameter ${JSON.stringify(key)} (stream and subject are known)`);
  const stream = url.searchParams.get('stream') ?? DEFAULT_NATS_STREAM;
  if (!STREAM_NAME.test(stream)) throw new Error('stream must be 1 to 128 letters, digits, _ or -');
  const subject = url.searchParams.get('subject') ?? DEFAULT_NATS_SUBJECT;
  if (subject.length > 200 || !SUBJECT.test(subject))
    throw new Error('subject must be dot-separated letters, digits, _ or - (no wildcards)');
  const user = url.username === '' ? undefined : decodeURIComponent(url.username);
  const pass = url.password === '' ? undefined : decodeURIComponent(url.password);
  return {
    server: `${url.hostname}:${url.port || '4222'}`,
    tls: url.protocol === 'tls:',
    user: pass === undefined ? undefined : user,
    pass,
    token: pass === undefined ? user : undefined,
    stream,
    subject,
  };
}
