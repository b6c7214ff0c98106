import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRemoteJWKSet, decodeJwt, type JWTPayload, jwtVerify } from 'jose';

/** A SET the receiver accepted, verified the way RFC 8417 §3 and RFC 8935 §2 ask of a receiver. */
export interface ReceivedSet {
  token: string;
  claims: JWTPayload & {
    jti: string;
    iat: number;
    txn: string;
    sub_id: Record<string, unknown>;
    events: Record<string, Record<string, unknown>>;
  };
  header: { alg?: string; kid?: string; typ?: string };
  contentType: string | undefined;
  accept: string | undefined;
  authorization: string | undefined;
}

/** What the receiver answers the n-th request (1-based). */
export type Answer = { status: number; body?: unknown; headers?: Record<string, string> } | 'hang';

/**
 * An RFC 8935 push endpoint on a real socket: each SET is verified with panva's `jose` against the
 * issuer's JWKS over HTTP (`typ: secevent+jwt`, `iss`, `aud`), must have exactly one event, and a
 * `jti` never accepted before (a repeat is answered 202 again, as RFC 8935 §2.2 allows, and not
 * counted twice). A SET failing a check is answered 400 `{err, description}` (§2.3).
 */
export class SetReceiver {
  readonly received: ReceivedSet[] = [];
  readonly rejected: string[] = [];
  /** The `jti` of every request, in order, read without verifying (a retry shows twice). */
  readonly attemptJtis: string[] = [];
  /** Requests that were answered with anything, counted from 1. */
  requests = 0;
  answer: (request: number) => Answer = () => ({ status: 202 });
  private readonly seen = new Set<string>();
  private readonly jwks: ReturnType<typeof createRemoteJWKSet>;
  private server: Server | undefined;
  private readonly hanging = new Set<ServerResponse>();
  private port = 0;

  private constructor(
    readonly issuer: string,
    jwksUrl: string,
    readonly audience: string,
  ) {
    this.jwks = createRemoteJWKSet(new URL(jwksUrl));
  }

  /** `server`: where the issuer serves its JWKS (in the tests, not the issuer URL itself). */
  static async start(options: { issuer: string; server: string; audience: string }): Promise<SetReceiver> {
    const receiver = new SetReceiver(
      options.issuer,
      `${options.server}/.well-known/jwks.json`,
      options.audience,
    );
    const server = createServer((request, response) => void receiver.handle(request, response));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    receiver.port = (server.address() as AddressInfo).port;
    receiver.server = server;
    return receiver;
  }

  get endpoint(): string {
    return `http://127.0.0.1:${this.port}/events`;
  }

  async stop(): Promise<void> {
    for (const response of this.hanging) response.destroy();
    this.hanging.clear();
    const server = this.server;
    this.server = undefined;
    if (server) {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  }

  /** The accepted SETs of one event type. */
  of(type: string): ReceivedSet[] {
    return this.received.filter((set) => Object.keys(set.claims.events)[0] === type);
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const token = Buffer.concat(chunks).toString('utf8');
    try {
      this.attemptJtis.push(String(decodeJwt(token).jti));
    } catch {
      this.attemptJtis.push('(undecodable)');
    }
    const n = ++this.requests;
    const answer = this.answer(n);
    if (answer === 'hang') {
      this.hanging.add(response);
      return;
    }
    if (answer.status !== 202) {
      response.writeHead(answer.status, { 'content-type': 'application/json', ...answer.headers });
      response.end(answer.body === undefined ? '' : JSON.stringify(answer.body));
      return;
    }
    const refuse = (err: string, description: string) => {
      this.rejected.push(`${err}: ${description}`);
      response.writeHead(400, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ err, description }));
    };
    if (request.method !== 'POST' || request.headers['content-type'] !== 'application/secevent+jwt')
      return refuse('invalid_request', 'a SET is POSTed as application/secevent+jwt');
    let verified: Awaited<ReturnType<typeof jwtVerify>>;
    try {
      verified = await jwtVerify(token, this.jwks, {
        issuer: this.issuer,
        audience: this.audience,
        typ: 'secevent+jwt',
        requiredClaims: ['iat', 'jti'],
      });
    } catch (err) {
      return refuse('invalid_key', (err as Error).message);
    }
    const claims = verified.payload as ReceivedSet['claims'];
    if (typeof claims.events !== 'object' || Object.keys(claims.events).length !== 1)
      return refuse('invalid_request', 'one event per SET');
    if (!this.seen.has(claims.jti)) {
      this.seen.add(claims.jti);
      this.received.push({
        token,
        claims,
        header: verified.protectedHeader,
        contentType: request.headers['content-type'],
        accept: request.headers.accept,
        authorization: request.headers.authorization,
      });
    }
    response.writeHead(202);
    response.end();
  }
}
