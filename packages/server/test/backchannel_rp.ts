import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRemoteJWKSet, decodeJwt, decodeProtectedHeader, type JWTPayload, jwtVerify } from 'jose';

const BACKCHANNEL_LOGOUT_EVENT = 'http://schemas.openid.net/event/backchannel-logout';

/** A logout token the RP accepted, as BCL 1.0 §2.6 validates it. */
export interface ReceivedLogout {
  token: string;
  claims: JWTPayload & { sid: string; sub: string; jti: string; events: Record<string, unknown> };
  header: { alg?: string; kid?: string; typ?: string };
  contentType: string | undefined;
}

/** What the RP answers the n-th request (1-based): a status and headers, or no answer at all. */
export type Answer = { status: number; headers?: Record<string, string> } | 'hang';

/**
 * A relying party's back-channel logout endpoint on a real socket, written the way an RP following
 * OpenID Connect Back-Channel Logout 1.0 §2.6 must be: each logout token is verified with panva's
 * `jose` against the provider's published JWKS (over HTTP), `typ: logout+jwt`, `iss`, `aud` = its
 * client id, `iat` and `exp`, the `events` member, `sid` and `sub`, no `nonce`, and a `jti` it has
 * never seen. A token failing any check is answered 400 and recorded in `rejected` (with why).
 */
export class BackchannelRp {
  readonly received: ReceivedLogout[] = [];
  readonly rejected: string[] = [];
  /** Requests seen, valid or not (a retry shows here as a second one). */
  requests = 0;
  /** The `jti` of every attempt's token, in order (read without verifying). */
  readonly attemptJtis: string[] = [];
  private readonly seenJtis = new Set<string>();
  private readonly jwks: ReturnType<typeof createRemoteJWKSet>;
  private server: Server | undefined;
  private readonly hanging = new Set<ServerResponse>();
  /** Answers by request number; default 200 once the token checks out. */
  answer: (request: number) => Answer = () => ({ status: 200 });

  private constructor(
    readonly issuer: string,
    jwksUrl: string,
    readonly clientId: string,
    private port: number,
  ) {
    this.jwks = createRemoteJWKSet(new URL(jwksUrl));
  }

  static async start(options: {
    issuer: string;
    jwksUrl: string;
    clientId: string;
    port?: number;
  }): Promise<BackchannelRp> {
    const rp = new BackchannelRp(options.issuer, options.jwksUrl, options.clientId, options.port ?? 0);
    await rp.listen();
    return rp;
  }

  /** The back-channel logout URI to register (with a query, which BCL §2.2 allows). */
  get uri(): string {
    return `http://127.0.0.1:${this.port}/backchannel-logout?rp=test`;
  }

  async listen(): Promise<void> {
    const server = createServer((request, response) => void this.handle(request, response));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
  }

  /** Closes the socket server and every connection: the RP is down (connections refused). */
  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    for (const response of this.hanging) response.destroy();
    this.hanging.clear();
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
    await closed;
  }

  /** Waits until `count` logout tokens were accepted (fails after `ms`). */
  async waitFor(count: number, ms = 30_000): Promise<ReceivedLogout[]> {
    const until = Date.now() + ms;
    while (this.received.length < count) {
      if (this.rejected.length)
        throw new Error(`the RP rejected a logout token: ${this.rejected.join('; ')}`);
      if (Date.now() > until)
        throw new Error(`timed out waiting for ${count} logout tokens (got ${this.received.length})`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    return this.received;
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const n = ++this.requests;
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const answer = this.answer(n);
    if (answer === 'hang') {
      this.hanging.add(response);
      return;
    }
    const body = Buffer.concat(chunks).toString('utf8');
    // Every attempt's token, unverified: each attempt must bring a token of its own (a fresh jti).
    const attempted = new URLSearchParams(body).get('logout_token');
    if (attempted) this.attemptJtis.push(String(decodeJwt(attempted).jti));
    // An RP that is failing (5xx, 429) does not get as far as checking the token.
    if (answer.status !== 200 && answer.status !== 204) {
      response.writeHead(answer.status, { 'cache-control': 'no-store', ...answer.headers });
      response.end();
      return;
    }
    const problem = await this.check(request, body);
    if (problem) {
      this.rejected.push(problem);
      response.writeHead(400, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      response.end(JSON.stringify({ error: 'invalid_request', error_description: problem }));
      return;
    }
    response.writeHead(answer.status, { 'cache-control': 'no-store', ...answer.headers });
    response.end();
  }

  /** BCL 1.0 §2.6, step by step; the reason it fails, or undefined (and the token recorded). */
  private async check(request: IncomingMessage, body: string): Promise<string | undefined> {
    if (request.method !== 'POST') return `method ${request.method}`;
    const contentType = request.headers['content-type'];
    if (!contentType?.startsWith('application/x-www-form-urlencoded')) return `content type ${contentType}`;
    const form = new URLSearchParams(body);
    const token = form.get('logout_token');
    if (!token || [...form.keys()].length !== 1) return 'the body is logout_token alone';
    try {
      const { payload } = await jwtVerify(token, this.jwks, {
        issuer: this.issuer,
        audience: this.clientId,
        typ: 'logout+jwt',
        requiredClaims: ['iat', 'exp', 'jti', 'events'],
        maxTokenAge: '2m',
      });
      const events = payload.events as Record<string, unknown> | undefined;
      const event = events?.[BACKCHANNEL_LOGOUT_EVENT];
      if (typeof event !== 'object' || event === null || Array.isArray(event))
        return 'no back-channel logout event';
      if (typeof payload.sid !== 'string' || typeof payload.sub !== 'string')
        return 'sid and sub are required';
      if ('nonce' in payload) return 'a logout token has no nonce';
      if (typeof payload.exp !== 'number' || payload.exp - (payload.iat as number) > 120)
        return 'exp too far';
      if (this.seenJtis.has(payload.jti!)) return `jti ${payload.jti} replayed`;
      this.seenJtis.add(payload.jti!);
      this.received.push({
        token,
        claims: payload as ReceivedLogout['claims'],
        header: decodeProtectedHeader(token),
        contentType,
      });
      return undefined;
    } catch (err) {
      return `invalid: ${(err as Error).message}`;
    }
  }
}
