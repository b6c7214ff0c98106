import { createHash, randomBytes } from 'node:crypto';
import type { ClientRegistration } from '../src/store/clients.js';
import { ADMIN_PASSWORD, type TestServer } from './helpers.js';
import { request } from './requests.js';

/**
 * The cookies a user agent keeps from the provider, by name, as the server sets and clears them.
 */
export class CookieJar {
  readonly cookies = new Map<string, string>();

  /** The Cookie header for the next request (empty when there is nothing to send). */
  cookieHeader(): Record<string, string> {
    if (this.cookies.size === 0) return {};
    return { cookie: [...this.cookies].map(([name, value]) => `${name}=${value}`).join('; ') };
  }

  keep(response: Response): void {
    for (const line of response.headers.getSetCookie()) {
      const [pair = '', ...attributes] = line.split(';');
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      const expired = attributes.some(
        (a) => /^\s*max-age=0\s*$/i.test(a) || /expires=Thu, 01 Jan 1970/i.test(a),
      );
      if (expired || value === '') this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }
}

/**
 * A browser for the authorization endpoint without a browser: it keeps cookies as a user agent would
 * and follows the login and consent forms by reading their hidden fields. Requests go through
 * `request()` (app.inject for in-process servers).
 */
export class UserAgent extends CookieJar {
  constructor(readonly server: TestServer) {
    super();
  }

  async get(pathAndQuery: string): Promise<Response> {
    const response = await request(`${this.server.url}${pathAndQuery}`, {
      headers: this.cookieHeader(),
      redirect: 'manual',
    });
    this.keep(response);
    return response;
  }

  async post(
    path: string,
    form: Record<string, string>,
    headers: Record<string, string> = {},
  ): Promise<Response> {
    const response = await request(`${this.server.url}${path}`, {
      method: 'POST',
      headers: {
        origin: new URL(this.server.services.config.issuer).origin,
        ...this.cookieHeader(),
        ...headers,
      },
      body: new URLSearchParams(form),
      redirect: 'manual',
    });
    this.keep(response);
    return response;
  }

  /** Opens /authorize with these parameters (GET). */
  authorize(parameters: Record<string, string>): Promise<Response> {
    return this.get(`/authorize?${new URLSearchParams(parameters)}`);
  }

  /** Fills the login page `page` (its HTML) and posts it. */
  async signIn(page: string, username = 'alice', password = ADMIN_PASSWORD): Promise<Response> {
    return this.post('/authorize/login', { ...hiddenFields(page), username, password });
  }

  /** Answers the consent page `page`. */
  async consent(page: string, decision: 'allow' | 'deny' = 'allow'): Promise<Response> {
    return this.post('/authorize/consent', { ...hiddenFields(page), decision });
  }
}

/** The hidden inputs of a page's form. */
export function hiddenFields(page: string): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const match of page.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)"/g))
    fields[match[1]!] = match[2]!.replaceAll('&quot;', '"').replaceAll('&#39;', "'").replaceAll('&amp;', '&');
  return fields;
}

/** The query parameters of a redirect back to the client. */
export function redirectParameters(response: Response): URLSearchParams {
  const location = response.headers.get('location');
  if (location === null) throw new Error(`expected a redirect, got ${response.status}`);
  return new URL(location).searchParams;
}

export function pkce(): { verifier: string; challenge: string } {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

export const REDIRECT_URI = 'https://app.example/callback';

/** A well-formed authorization request of `clientId` (PKCE with a fixed challenge), plus `extra`. */
export function authorizationParameters(
  clientId: string,
  extra: Record<string, string> = {},
): Record<string, string> {
  return {
    client_id: clientId,
    redirect_uri: REDIRECT_URI,
    response_type: 'code',
    scope: 'openid',
    // RFC 7636 Appendix B's challenge; tests that exchange the code use pkce() instead.
    code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
    code_challenge_method: 'S256',
    ...extra,
  };
}

/** Registers an OpenID client: a public SPA by default, or what `registration` says. */
export async function addOidcClient(
  server: TestServer,
  registration: Partial<ClientRegistration> = {},
): Promise<{ clientId: string; secret?: string }> {
  const clientId = registration.clientId ?? `app-${randomBytes(4).toString('hex')}`;
  const { secret } = await server.services.clients.add({
    clientId,
    type: 'public',
    kind: 'spa',
    name: 'Photo Gallery',
    audiences: ['https://api.example'],
    scopes: ['openid', 'profile', 'email', 'offline_access'],
    redirectUris: [REDIRECT_URI],
    ...registration,
  });
  return { clientId, secret };
}

/**
 * Runs the code flow to its code: authorize, sign in (and consent when asked). Returns the code and
 * the PKCE verifier, and the user agent, still signed in.
 */
export async function codeFor(
  server: TestServer,
  clientId: string,
  options: {
    agent?: UserAgent;
    parameters?: Record<string, string>;
    username?: string;
    password?: string;
  } = {},
): Promise<{ code: string; verifier: string; agent: UserAgent; state: string; nonce: string }> {
  const agent = options.agent ?? new UserAgent(server);
  const { verifier, challenge } = pkce();
  const state = randomBytes(8).toString('hex');
  const nonce = randomBytes(8).toString('hex');
  let response = await agent.authorize({
    client_id: clientId,
    redirect_uri: REDIRECT_URI,
    response_type: 'code',
    scope: 'openid profile email offline_access',
    code_challenge: challenge,
    code_challenge_method: 'S256',
    state,
    nonce,
    ...options.parameters,
  });
  for (let step = 0; step < 3 && response.status === 200; step++) {
    const page = await response.text();
    response = page.includes('name="password"')
      ? await agent.signIn(page, options.username, options.password)
      : await agent.consent(page);
  }
  const code = redirectParameters(response).get('code');
  if (!code) throw new Error(`no code: ${response.headers.get('location')}`);
  return { code, verifier, agent, state, nonce };
}

/** Exchanges a code at the token endpoint. */
export async function exchange(
  server: TestServer,
  clientId: string,
  code: string,
  verifier: string,
  extra: Record<string, string> = {},
): Promise<Response> {
  return request(`${server.url}/token`, {
    method: 'POST',
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      client_id: clientId,
      code,
      code_verifier: verifier,
      redirect_uri: REDIRECT_URI,
      ...extra,
    }),
  });
}
