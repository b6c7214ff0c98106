import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJwk, generateKeyPair, type JwtPayload, type Key, signJwtSync } from '@tessera/jose';

export const AUDIENCE = 'https://api.example.com';

/** A clock the guard and the token signer share; tests move it instead of sleeping. */
export interface TestClock {
  now(): number;
  advance(ms: number): void;
}

export function createTestClock(start = Date.now()): TestClock {
  let now = start;
  return {
    now: () => now,
    advance: (ms) => {
      now += ms;
    },
  };
}

export interface TokenOptions {
  /** Header `typ` (default `at+jwt`). */
  typ?: string;
  kid?: string;
  /** Signing key (default the issuer's). */
  key?: Key;
  issuer?: string;
  audience?: string | string[];
  /** Seconds until `exp` (default 300); `null` leaves `exp` out. */
  expiresIn?: number | null;
  /** Seconds from now until `nbf`. */
  notBefore?: number;
  /** Claims to leave out of the defaults. */
  omit?: string[];
}

export interface RevocationData {
  kind: 'jti' | 'sid' | 'sub';
  value: string;
  ver?: number | null;
  /** Seconds since the epoch (default: an hour from the clock's now). */
  expires_at?: number;
}

/** One request to the revocation stream, as the issuer saw it. */
export interface StreamConnection {
  lastEventId: string | undefined;
  /** The Authorization header as sent. */
  authorization: string | undefined;
  /** What the issuer answered: 200 (a stream), or the status it refused with. */
  status: number;
  at: number;
}

/** A confidential client, as the issuer registered it. */
export interface RegisteredClient {
  id: string;
  secret: string;
}

/**
 * A Tessera-like issuer on 127.0.0.1 over real HTTP: RFC 8414 metadata, a JWKS built with
 * @tessera/jose, and a revocation event stream (Server-Sent Events) the test drives: push events
 * and comments, hold back the end of the snapshot, drop or refuse connections, and see each
 * connection's Last-Event-ID.
 */
export interface TestIssuer {
  readonly url: string;
  readonly clock: TestClock;
  readonly privateKey: Key;
  readonly publicKey: Key;
  /** Members merged into the metadata document (set before the guard starts). */
  metadata: Record<string, unknown>;
  /** Signs an access token (RFC 9068) with the issuer's key, as of the clock's now. */
  token(claims?: Record<string, unknown>, options?: TokenOptions): string;
  /** Default claims, for assertions. */
  readonly defaultClaims: Readonly<Record<string, unknown>>;
  /** Appends a revocation to the log and sends it to every open stream; returns its id. */
  push(data: RevocationData, id?: string): string;
  /** Writes raw text to every open stream (malformed events, comments). */
  write(text: string): void;
  comment(text: string): void;
  /** Sends `: snapshot complete` to open streams (after `holdSnapshot`). */
  completeSnapshot(): void;
  /** Destroys every open stream connection. */
  drop(): void;
  /** New streams get the snapshot but no `: snapshot complete`. */
  holdSnapshot: boolean;
  /** New streams are answered with 503. */
  refuseStreams: boolean;
  /**
   * When set, the stream requires this client's credentials, as Tessera's server does: HTTP Basic
   * with each part form-urlencoded (RFC 6749 §2.3.1); 401 with a Basic challenge otherwise.
   */
  streamClient: RegisteredClient | undefined;
  /** Authenticated clients are answered 403 (known, but not allowed to read revocations). */
  forbidStreams: boolean;
  /** New streams are answered 429 (the stream caps are reached), with this Retry-After when not `null`. */
  limitStreams: { retryAfter: string | null } | undefined;
  /** The `retry:` sent at the start of each stream (ms). */
  retry: number;
  /** Answer the JWKS with this status (default 200). */
  jwksStatus: number;
  /** Public keys published in the JWKS after the issuer's own (a rotation, as the test sets it). */
  extraKeys: Key[];
  /** While true, JWKS requests get no answer until `releaseJwks()`. */
  holdJwks: boolean;
  releaseJwks(): void;
  /** Answer the metadata with this status (default 200). */
  metadataStatus: number;
  readonly connections: StreamConnection[];
  readonly openStreams: number;
  readonly jwksRequests: number;
  readonly metadataRequests: number;
  close(): Promise<void>;
}

export async function startIssuer(
  options: { clock?: TestClock; kid?: string; alg?: 'ES256' | 'ES384' | 'EdDSA' | 'RS256' } = {},
): Promise<TestIssuer> {
  const clock = options.clock ?? createTestClock();
  const alg = options.alg ?? 'ES256';
  const { publicKey, privateKey } = await generateKeyPair(alg, { kid: options.kid ?? 'key-1' });
  const log: { id: string; text: string }[] = [];
  const open = new Set<ServerResponse>();
  const connections: StreamConnection[] = [];
  let counter = 0;
  let jwksRequests = 0;
  let metadataRequests = 0;
  const heldJwks: (() => void)[] = [];

  function answerJwks(res: ServerResponse): void {
    if (issuer.jwksStatus !== 200) {
      res.writeHead(issuer.jwksStatus);
      res.end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/jwk-set+json' });
    res.end(
      JSON.stringify({
        keys: [publicKey, ...issuer.extraKeys].map((key) => exportJwk(key, { public: true })),
      }),
    );
  }

  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (path === '/.well-known/oauth-authorization-server') {
      metadataRequests++;
      if (issuer.metadataStatus !== 200) {
        res.writeHead(issuer.metadataStatus);
        res.end();
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          issuer: issuer.url,
          jwks_uri: `${issuer.url}/jwks`,
          access_token_signing_alg_values_supported: [alg],
          revocation_events_endpoint: `${issuer.url}/revocations`,
          ...issuer.metadata,
        }),
      );
      return;
    }
    if (path === '/jwks') {
      jwksRequests++;
      // A held request gets the answer it would have had, once released.
      if (issuer.holdJwks) heldJwks.push(() => answerJwks(res));
      else answerJwks(res);
      return;
    }
    if (path === '/revocations') {
      const header = req.headers['last-event-id'];
      const lastEventId = typeof header === 'string' ? header : undefined;
      const { authorization } = req.headers;
      const refusal = streamRefusal(authorization);
      connections.push({ lastEventId, authorization, status: refusal?.status ?? 200, at: Date.now() });
      if (refusal !== undefined) {
        res.writeHead(refusal.status, refusal.headers);
        res.end();
        return;
      }
      res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store' });
      res.write(`retry: ${issuer.retry}\n\n`);
      const after = lastEventId === undefined ? -1 : log.findIndex((event) => event.id === lastEventId);
      for (const event of log.slice(after + 1)) res.write(event.text);
      if (!issuer.holdSnapshot) res.write(': snapshot complete\n\n');
      open.add(res);
      req.on('close', () => open.delete(res));
      return;
    }
    res.writeHead(404);
    res.end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const defaultClaims = Object.freeze({
    sub: 'user-1',
    client_id: 'web-app',
    scope: 'orders:read orders:write',
    sid: 'session-1',
    ver: 3,
    roles: ['customer'],
    permissions: ['orders.read'],
  });

  /** Why a stream request is refused, in the order the server checks: client, caps, availability. */
  function streamRefusal(
    authorization: string | undefined,
  ): { status: number; headers: Record<string, string> } | undefined {
    if (issuer.streamClient !== undefined) {
      const presented = basicCredentials(authorization);
      const { id, secret } = issuer.streamClient;
      if (presented?.id !== id || presented.secret !== secret)
        return { status: 401, headers: { 'www-authenticate': 'Basic realm="tessera"' } };
      if (issuer.forbidStreams) return { status: 403, headers: {} };
    }
    if (issuer.limitStreams !== undefined) {
      const { retryAfter } = issuer.limitStreams;
      return { status: 429, headers: retryAfter === null ? {} : { 'retry-after': retryAfter } };
    }
    if (issuer.refuseStreams) return { status: 503, headers: {} };
    return undefined;
  }

  const broadcast = (text: string) => {
    for (const res of open) res.write(text);
  };

  const issuer: TestIssuer = {
    url,
    clock,
    privateKey,
    publicKey,
    metadata: {},
    defaultClaims,
    holdSnapshot: false,
    refuseStreams: false,
    streamClient: undefined,
    forbidStreams: false,
    limitStreams: undefined,
    retry: 100,
    jwksStatus: 200,
    extraKeys: [],
    holdJwks: false,
    releaseJwks() {
      issuer.holdJwks = false;
      for (const answer of heldJwks.splice(0)) answer();
    },
    metadataStatus: 200,
    connections,
    get openStreams() {
      return open.size;
    },
    get jwksRequests() {
      return jwksRequests;
    },
    get metadataRequests() {
      return metadataRequests;
    },
    token(claims = {}, tokenOptions = {}) {
      const payload: JwtPayload = { ...defaultClaims, jti: `jti-${++counter}`, ...claims };
      for (const name of tokenOptions.omit ?? []) delete payload[name];
      const now = Math.floor(clock.now() / 1000);
      const expiresIn = tokenOptions.expiresIn === undefined ? 300 : tokenOptions.expiresIn;
      return signJwtSync(payload, tokenOptions.key ?? privateKey, {
        typ: tokenOptions.typ ?? 'at+jwt',
        kid: tokenOptions.kid,
        issuer: tokenOptions.issuer ?? url,
        audience: tokenOptions.audience ?? AUDIENCE,
        iat: tokenOptions.omit?.includes('iat') ? false : now,
        ...(expiresIn === null ? {} : { expiresIn }),
        ...(tokenOptions.notBefore === undefined ? {} : { notBefore: tokenOptions.notBefore }),
        currentDate: new Date(clock.now()),
      });
    },
    push(data, id = String(++counter)) {
      const body = {
        kind: data.kind,
        value: data.value,
        ver: data.ver ?? null,
        expires_at: data.expires_at ?? Math.floor(clock.now() / 1000) + 3600,
      };
      const text = `id: ${id}\nevent: revocation\ndata: ${JSON.stringify(body)}\n\n`;
      log.push({ id, text });
      broadcast(text);
      return id;
    },
    write: broadcast,
    comment(text) {
      broadcast(`: ${text}\n\n`);
    },
    completeSnapshot() {
      broadcast(': snapshot complete\n\n');
    },
    drop() {
      for (const res of open) res.destroy();
      open.clear();
    },
    async close() {
      issuer.drop();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return issuer;
}

/**
 * The client credentials of an `Authorization: Basic` header, decoded as RFC 6749 §2.3.1 says: base64,
 * split at the first ":", then each part application/x-www-form-urlencoded-decoded (`+` is a space).
 */
export function basicCredentials(header: string | undefined): RegisteredClient | undefined {
  const match = /^Basic ([A-Za-z0-9+/]+=*)$/.exec(header ?? '');
  if (!match) return undefined;
  const pair = Buffer.from(match[1]!, 'base64').toString('utf8');
  const colon = pair.indexOf(':');
  if (colon === -1) return undefined;
  const decode = (part: string) => decodeURIComponent(part.replaceAll('+', ' '));
  try {
    return { id: decode(pair.slice(0, colon)), secret: decode(pair.slice(colon + 1)) };
  } catch {
    return undefined;
  }
}

/** Polls until `condition` holds (every 5 ms, for at most `timeoutMs`). */
export async function waitFor(
  condition: () => boolean,
  timeoutMs = 5000,
  what = 'a condition',
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** A logger that keeps what it is told, by level, for assertions (and to keep test output quiet). */
export function createTestLogger() {
  const errors: { fields: object; message: string }[] = [];
  const warnings: { fields: object; message: string }[] = [];
  const infos: { fields: object; message: string }[] = [];
  const debugs: { fields: object; message: string }[] = [];
  return {
    errors,
    warnings,
    infos,
    debugs,
    error(fields: object, message: string) {
      errors.push({ fields, message });
    },
    warn(fields: object, message: string) {
      warnings.push({ fields, message });
    },
    info(fields: object, message: string) {
      infos.push({ fields, message });
    },
    debug(fields: object, message: string) {
      debugs.push({ fields, message });
    },
  };
}

/** Request shapes for `authenticate`: a bare header record. */
export function bearer(token: string): { headers: Record<string, string> } {
  return { headers: { authorization: `Bearer ${token}` } };
}
