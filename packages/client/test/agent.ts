import { CookieJar } from '../../server/test/oidc.js';

/** One request as it left the client. */
export interface SentRequest {
  method: string;
  path: string;
  /** The Authorization scheme (`Bearer`, `DPoP`), or undefined. */
  scheme: string | undefined;
  /** The DPoP proof header, when there was one. */
  proof: string | undefined;
  /** The response's status. */
  status?: number;
  /** A token response's body (tests read tokens the client keeps private, to replay them). */
  tokens?: { access_token: string; refresh_token?: string };
}

/**
 * What a browser adds to the client's requests, for tests in Node: the cookies of the page's site
 * on `credentials: 'include'` requests (kept from Set-Cookie), and an `Origin` on every POST. It
 * records what was sent, so tests can count refreshes and retries.
 */
export class NodeAgent extends CookieJar {
  readonly sent: SentRequest[] = [];

  constructor(readonly origin: string) {
    super();
  }

  readonly fetch = async (request: Request): Promise<Response> => {
    const headers = new Headers(request.headers);
    if (request.method === 'POST') headers.set('origin', this.origin);
    const withCookies = request.credentials === 'include';
    if (withCookies)
      for (const [name, value] of Object.entries(this.cookieHeader())) headers.set(name, value);
    const url = new URL(request.url);
    const sent: SentRequest = {
      method: request.method,
      path: url.pathname,
      scheme: request.headers.get('authorization')?.split(' ')[0],
      proof: request.headers.get('dpop') ?? undefined,
    };
    this.sent.push(sent);
    const response = await fetch(new Request(request, { headers }));
    sent.status = response.status;
    if (response.ok && /^\/(login|token)/.test(url.pathname)) sent.tokens = await response.clone().json();
    if (withCookies) this.keep(response);
    return response;
  };

  /** How many requests went to `path` (and were answered with `status`, when given). */
  count(path: string, status?: number): number {
    return this.sent.filter(
      (request) => request.path === path && (status === undefined || request.status === status),
    ).length;
  }
}
