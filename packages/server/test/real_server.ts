import type { Config } from '../src/config.js';
import { ADMIN_PASSWORD, startServer, type TestServer } from './helpers.js';
import { CookieJar, hiddenFields } from './oidc.js';
import { freePort } from './redis.js';

/**
 * A server on a real socket whose issuer is the very origin clients reach it at, as OpenID libraries
 * and browsers require (OIDC Discovery §4.3: the issuer in the metadata equals the URL discovery was
 * run against; RFC 9207: the `iss` of an authorization response equals it too). It listens on
 * 127.0.0.1 and is named `localhost`, which /etc/hosts and Chromium both resolve to loopback and
 * which Chromium counts as a secure context (so its `__Host-` cookies work over plain http).
 *
 * Requests to `localhost` are not routed through `app.inject()` (requests.ts knows the server by its
 * bound 127.0.0.1 URL only): everything below goes over HTTP.
 */
export async function startRealServer(
  overrides: Partial<Config> = {},
): Promise<{ server: TestServer; issuer: string }> {
  const port = await freePort();
  const issuer = `http://localhost:${port}`;
  const server = await startServer({ host: '127.0.0.1', port, issuer, ...overrides });
  return { server, issuer };
}

/**
 * A user agent over real HTTP without a browser: it keeps the provider's cookies (by name, as the
 * server sets and clears them), sends `Origin` on form posts as browsers do, and follows the login
 * and consent pages by reading their hidden fields.
 */
export class HttpUserAgent extends CookieJar {
  /** The pages shown on the way, by kind, for tests that check which pages a flow went through. */
  readonly pagesSeen: ('login' | 'consent')[] = [];

  constructor(readonly issuer: string) {
    super();
  }

  async get(url: string | URL): Promise<Response> {
    const response = await fetch(url, { headers: this.cookieHeader(), redirect: 'manual' });
    this.keep(response);
    return response;
  }

  async post(path: string, form: Record<string, string>): Promise<Response> {
    const response = await fetch(`${this.issuer}${path}`, {
      method: 'POST',
      headers: { origin: new URL(this.issuer).origin, ...this.cookieHeader() },
      body: new URLSearchParams(form),
      redirect: 'manual',
    });
    this.keep(response);
    return response;
  }

  /**
   * Opens an authorization URL and answers its pages (signs in as `username`, allows on the consent
   * page) until the provider redirects back to the client; returns that redirect's Location.
   */
  async authorize(
    authorizationUrl: URL,
    { username = 'alice', password = ADMIN_PASSWORD } = {},
  ): Promise<string> {
    let response = await this.get(authorizationUrl);
    for (let step = 0; step < 3 && response.status === 200; step++) {
      const page = await response.text();
      if (page.includes('name="password"')) {
        this.pagesSeen.push('login');
        response = await this.post('/authorize/login', { ...hiddenFields(page), username, password });
      } else {
        this.pagesSeen.push('consent');
        response = await this.post('/authorize/consent', { ...hiddenFields(page), decision: 'allow' });
      }
    }
    const location = response.headers.get('location');
    if (response.status !== 303 || location === null)
      throw new Error(
        `expected a redirect back to the client, got ${response.status}: ${await response.text()}`,
      );
    return location;
  }
}
