import { authenticatedFetch } from './authenticated_fetch.js';
import { type DpopKey, loadDpopKey } from './dpop/key.js';
import { DpopNonces } from './dpop/nonces.js';
import { jwkThumbprint } from './dpop/thumbprint.js';
import { AuthError } from './errors.js';
import { type AuthEventName, type AuthListener, Emitter, type LogoutReason } from './events.js';
import { read, writeIf } from './lib/idb.js';
import { type AuthClientOptions, type Settings, settingsFrom } from './options.js';
import { authorizationUrl, type RedirectLoginOptions, readCallback } from './redirect.js';
import { withRefreshLock } from './refresh_lock.js';
import { send, type Transport } from './send.js';
import { type AuthState, stateOf, type TokenSet } from './session.js';
import { type TabMessage, Tabs } from './tabs.js';
import { requestTokens } from './token_request.js';

export interface LoginCredentials {
  username: string;
  password: string;
  /** Space-separated scopes (default: the client's `scope` option, else all it is registered for). */
  scope?: string;
}

export interface LogoutOptions {
  /** End every session of the user, on every device (`/logout/all`), not only this one. */
  everywhere?: boolean;
}

/** A signed-in user's session in this browser (or runtime). Create it with {@link createAuthClient}. */
export interface AuthClient {
  /** The session as the app may see it: claims and expiry, never the tokens. */
  readonly state: AuthState;
  /**
   * Loads the DPoP key and restores the session: from another open tab, else (first-party) with one
   * silent refresh by the cookie. Every other method waits for it; call it on start to render the
   * right page. Resolves with the state; never rejects (failures go to the `error` event).
   */
  ready(): Promise<AuthState>;
  /** First-party mode: signs in with `/login`. Rejects with `ERR_LOGIN_FAILED` on wrong credentials. */
  login(credentials: LoginCredentials): Promise<AuthState>;
  /** Redirect mode: sends the browser to the provider's sign-in page (code + PKCE). */
  loginWithRedirect(options?: RedirectLoginOptions): Promise<void>;
  /** Redirect mode: the URL `loginWithRedirect` would navigate to, for runtimes without `location`. */
  authorizationUrl(options?: RedirectLoginOptions): Promise<URL>;
  /** Redirect mode: completes the sign-in on the redirect URI (default: the current URL, then cleaned). */
  handleRedirectCallback(url?: string | URL): Promise<AuthState>;
  /** Ends the session at the server and in every tab of this origin. */
  logout(options?: LogoutOptions): Promise<void>;
  /** `fetch` that authenticates requests to the issuer, this page's origin and `apiOrigins`. */
  fetch(input: RequestInfo | URL, init?: RequestInit): Promise<Response>;
  /** Listens to `login`, `refresh`, `logout` or `error`; returns the function that stops listening. */
  on<E extends AuthEventName>(event: E, listener: AuthListener<E>): () => void;
  /** Stops timers and leaves the other tabs (tests, hot reload). The session goes on in other tabs. */
  close(): void;
}

/**
 * Creates the client. Nothing is fetched until `ready()` (or any other call).
 *
 * @example
 * ```ts
 * const auth = createAuthClient({ issuer: 'https://auth.example.com', apiOrigins: ['https://api.example.com'] });
 * const { loggedIn } = await auth.ready();
 * if (!loggedIn) await auth.login({ username, password });
 * const orders = await auth.fetch('https://api.example.com/orders');
 * ```
 */
export function createAuthClient(options: AuthClientOptions): AuthClient {
  return new TesseraAuthClient(settingsFrom(options));
}

/** How long a tab waits for a token set another tab announced before refreshing itself. */
const SHARED_TOKENS_WAIT = 3000;
/** After a refresh that failed for a reason other than the session ending, try again this soon. */
const RETRY_AFTER_FAILURE = 5000;

class TesseraAuthClient implements AuthClient {
  #tokens: TokenSet | undefined;
  #started: Promise<AuthState> | undefined;
  #refreshing: Promise<TokenSet | undefined> | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #tabs: Tabs | undefined;
  /** When this tab started: a token set a tab received after it is newer than anything here. */
  readonly #startedAt = Date.now();
  readonly #events = new Emitter();
  readonly #transport: Transport;
  #waiters = new Set<(tokens: TokenSet | undefined) => void>();
  #closed = false;

  readonly #settings: Settings;

  constructor(settings: Settings) {
    this.#settings = settings;
    this.#transport = { fetch: settings.fetch, dpop: undefined, nonces: new DpopNonces() };
  }

  get state(): AuthState {
    return stateOf(this.#tokens);
  }

  on<E extends AuthEventName>(event: E, listener: AuthListener<E>): () => void {
    return this.#events.on(event, listener);
  }

  ready(): Promise<AuthState> {
    // Never rejects: a platform that refuses locks or storage (an opaque origin) leaves the app
    // logged out, told why by the `error` event.
    this.#started ??= this.#start().catch((cause: unknown) => {
      this.#events.emit('error', new AuthError('ERR_NOT_SUPPORTED', 'the client could not start', { cause }));
      return this.state;
    });
    return this.#started;
  }

  async #start(): Promise<AuthState> {
    const settings = this.#settings;
    if (settings.dpop) this.#transport.dpop = await this.#loadKey();
    this.#tabs = new Tabs(settings.name, (message) => this.#onTabMessage(message));
    const shared = await this.#tabs.askOthers();
    if (shared) this.#adopt(shared);
    // First-party: the HttpOnly cookie outlives the page, so a reload signs in again silently.
    if (!this.#tokens && settings.mode === 'first-party') await this.#refresh(undefined);
    else if (this.#tokens && this.#due(this.#tokens)) await this.#refresh(this.#tokens);
    return this.state;
  }

  async #loadKey(): Promise<DpopKey | undefined> {
    try {
      return await loadDpopKey(`${this.#settings.name}:dpop`);
    } catch (cause) {
      this.#events.emit(
        'error',
        new AuthError('ERR_NOT_SUPPORTED', 'no DPoP key: tokens will be Bearer', { cause }),
      );
      return undefined;
    }
  }

  async login(credentials: LoginCredentials): Promise<AuthState> {
    const settings = this.#settings;
    if (settings.mode !== 'first-party')
      throw new AuthError('ERR_NOT_SUPPORTED', 'login() is for first-party mode; use loginWithRedirect()');
    await this.ready();
    const scope = credentials.scope ?? settings.scope;
    const request = new Request(`${settings.issuer}/login`, {
      method: 'POST',
      credentials: 'include',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        username: credentials.username,
        password: credentials.password,
        client_id: settings.clientId,
        ...(scope !== undefined ? { scope } : {}),
      }),
    });
    let tokens: TokenSet;
    try {
      tokens = await requestTokens(this.#transport, request);
    } catch (err) {
      if (err instanceof AuthError && err.error === 'invalid_grant')
        throw new AuthError('ERR_LOGIN_FAILED', 'the username or password is wrong', {
          error: err.error,
          status: 400,
        });
      throw err;
    }
    await this.#received(tokens, 'login');
    return this.state;
  }

  async authorizationUrl(options: RedirectLoginOptions = {}): Promise<URL> {
    const settings = this.#settings;
    if (settings.mode !== 'redirect')
      throw new AuthError('ERR_NOT_SUPPORTED', 'redirects are for redirect mode; use login()');
    await this.ready();
    const jkt = this.#transport.dpop ? await jwkThumbprint(this.#transport.dpop) : undefined;
    return authorizationUrl(
      {
        issuer: settings.issuer,
        clientId: settings.clientId,
        redirectUri: settings.redirectUri!,
        storageKey: settings.name,
        ...(settings.scope !== undefined ? { scope: settings.scope } : {}),
      },
      options,
      jkt,
    );
  }

  async loginWithRedirect(options: RedirectLoginOptions = {}): Promise<void> {
    if (typeof location === 'undefined')
      throw new AuthError('ERR_NOT_SUPPORTED', 'no location to navigate: use authorizationUrl()');
    location.assign(await this.authorizationUrl(options));
  }

  async handleRedirectCallback(url?: string | URL): Promise<AuthState> {
    const settings = this.#settings;
    await this.ready();
    const here = typeof location === 'undefined' ? undefined : location.href;
    const address = url ?? here;
    if (address === undefined) throw new AuthError('ERR_NOT_SUPPORTED', 'no callback URL given');
    const callbackUrl = new URL(address);
    if (url === undefined && typeof history !== 'undefined') {
      // The code and state have done their job; they should not stay in the address bar or history.
      const clean = new URL(callbackUrl);
      for (const name of ['code', 'state', 'iss', 'error', 'error_description', 'error_uri'])
        clean.searchParams.delete(name);
      history.replaceState(history.state, '', clean);
    }
    const { code, verifier, redirectUri } = readCallback(callbackUrl, {
      issuer: settings.issuer,
      storageKey: settings.name,
    });
    const request = new Request(`${settings.issuer}/token`, {
      method: 'POST',
      body: new URLSearchParams({
        grant_type: 'authorization_code',
        code,
        redirect_uri: redirectUri,
        client_id: settings.clientId,
        code_verifier: verifier,
      }),
    });
    await this.#received(await requestTokens(this.#transport, request), 'login');
    return this.state;
  }

  async logout(options: LogoutOptions = {}): Promise<void> {
    const settings = this.#settings;
    await this.ready();
    // /logout/all with an expired token would end nothing: renew it first (redirect mode).
    const tokens =
      this.#tokens && settings.mode === 'redirect' && this.#due(this.#tokens)
        ? await this.#refresh(this.#tokens)
        : this.#tokens;
    let failure: unknown;
    try {
      const response = await this.#endAtServer(tokens, options.everywhere === true);
      // 401: the session had already ended at the server; either way it has now.
      if (response && !response.ok && response.status !== 401) {
        failure = new AuthError('ERR_OAUTH', `logout answered ${response.status}`, {
          status: response.status,
        });
      }
    } catch (cause) {
      failure = new AuthError('ERR_NETWORK', `${settings.issuer} could not be reached to log out`, { cause });
    }
    // Whatever the server said, this browser is logged out, in every tab.
    this.#end('logout', true);
    if (failure) throw failure;
  }

  /**
   * First-party: `/logout` or `/logout/all` with the cookie and the CSRF header (the cookie speaks
   * for the session even when the access token has expired). Redirect: the refresh token revoked
   * (RFC 7009, which ends its family and the family's access tokens), or `/logout/all` with the token.
   */
  async #endAtServer(tokens: TokenSet | undefined, everywhere: boolean): Promise<Response | undefined> {
    const settings = this.#settings;
    const transport = this.#transport;
    if (settings.mode === 'first-party') {
      return settings.fetch(
        new Request(`${settings.issuer}/logout${everywhere ? '/all' : ''}`, {
          method: 'POST',
          credentials: 'include',
          headers: { 'x-tessera-csrf': '1' },
        }),
      );
    }
    if (!tokens) return undefined;
    if (everywhere)
      return send(transport, new Request(`${settings.issuer}/logout/all`, { method: 'POST' }), tokens);
    if (tokens.refreshToken === undefined) return undefined;
    return settings.fetch(
      new Request(`${settings.issuer}/revoke`, {
        method: 'POST',
        body: new URLSearchParams({
          token: tokens.refreshToken,
          token_type_hint: 'refresh_token',
          client_id: settings.clientId,
        }),
      }),
    );
  }

  async fetch(input: RequestInfo | URL, init?: RequestInit): Promise<Response> {
    await this.ready();
    return authenticatedFetch(
      {
        transport: this.#transport,
        allowed: (url) => this.#settings.apiOrigins.has(new URL(url).origin),
        tokens: async () =>
          this.#tokens && this.#due(this.#tokens) ? this.#refresh(this.#tokens) : this.#tokens,
        refresh: (stale) => this.#refresh(stale),
        unauthorized: () => this.#end('unauthorized', true),
      },
      input,
      init,
    );
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#tabs?.close();
  }

  /** True once the tokens are within the leeway of their expiry. */
  #due(tokens: TokenSet): boolean {
    return Date.now() >= this.#refreshAt(tokens);
  }

  #refreshAt(tokens: TokenSet): number {
    const lifetime = tokens.expiresAt - tokens.issuedAt;
    return tokens.expiresAt - Math.min(this.#settings.refreshLeeway * 1000, lifetime / 4);
  }

  /**
   * One refresh in flight per tab, and across tabs one at a time (Web Locks). Inside the lock the
   * tab checks again whether another tab refreshed meanwhile — its tokens already arrived, or the
   * stored time of the newest set says they are on their way — and then takes those instead of
   * rotating the refresh token once more. Resolves with the tokens, or undefined when logged out.
   */
  #refresh(stale: TokenSet | undefined): Promise<TokenSet | undefined> {
    this.#refreshing ??= withRefreshLock(`${this.#settings.name}:refresh`, () =>
      this.#refreshHoldingLock(stale),
    ).finally(() => {
      this.#refreshing = undefined;
    });
    return this.#refreshing;
  }

  async #refreshHoldingLock(stale: TokenSet | undefined): Promise<TokenSet | undefined> {
    const current = this.#tokens;
    if (current && current !== stale && !this.#due(current)) return current;
    // The marker only saves a rotation: when storage fails, refresh.
    const newest = await read<number>(`${this.#settings.name}:newest`).catch(() => undefined);
    const mine = current?.issuedAt ?? this.#startedAt;
    if (newest !== undefined && newest > mine) {
      const shared = await this.#sharedTokens(newest);
      if (shared === 'logged-out') return undefined;
      if (shared && !this.#due(shared)) return shared;
    }
    // Only a tab that had a session tells the others it ended (a new tab without one has nothing to end).
    if (this.#settings.mode === 'redirect' && current?.refreshToken === undefined) {
      this.#end('session_ended', current !== undefined);
      return undefined;
    }
    let tokens: TokenSet;
    try {
      tokens = await requestTokens(this.#transport, this.#refreshRequest(current), current);
    } catch (err) {
      const error =
        err instanceof AuthError ? err : new AuthError('ERR_NETWORK', 'refresh failed', { cause: err });
      // invalid_grant: the refresh token is spent, revoked or expired; 400 invalid_request: no
      // cookie. (A 403 is the server refusing this origin: a setup problem, reported as an error.)
      if (error.error === 'invalid_grant' || (error.error === 'invalid_request' && error.status === 400)) {
        this.#end('session_ended', current !== undefined);
        return undefined;
      }
      this.#events.emit('error', error);
      if (current && Date.now() < current.expiresAt)
        this.#schedule(Math.min(RETRY_AFTER_FAILURE, current.expiresAt - Date.now()));
      return current && Date.now() < current.expiresAt ? current : undefined;
    }
    await this.#received(tokens, current ? 'refresh' : 'login');
    return tokens;
  }

  #refreshRequest(current: TokenSet | undefined): Request {
    const settings = this.#settings;
    if (settings.mode === 'first-party') {
      // The cookie is the refresh token; the header is the server's CSRF check (no body at all).
      return new Request(`${settings.issuer}/token/refresh`, {
        method: 'POST',
        credentials: 'include',
        headers: { 'x-tessera-csrf': '1' },
      });
    }
    return new Request(`${settings.issuer}/token`, {
      method: 'POST',
      body: new URLSearchParams({
        grant_type: 'refresh_token',
        refresh_token: current!.refreshToken!,
        client_id: settings.clientId,
      }),
    });
  }

  /** Tokens another tab announced (issued at `newest` or later), once they arrive. */
  #sharedTokens(newest: number): Promise<TokenSet | undefined | 'logged-out'> {
    if (this.#tokens && this.#tokens.issuedAt >= newest) return Promise.resolve(this.#tokens);
    return new Promise((resolve) => {
      const timer = setTimeout(() => settle(undefined), SHARED_TOKENS_WAIT);
      const settle = (tokens: TokenSet | undefined | 'logged-out') => {
        clearTimeout(timer);
        this.#waiters.delete(waiter);
        resolve(tokens);
      };
      const waiter = (tokens: TokenSet | undefined) =>
        tokens === undefined ? settle('logged-out') : tokens.issuedAt >= newest && settle(tokens);
      this.#waiters.add(waiter);
    });
  }

  /** New tokens from the server: kept, shared with the other tabs, and noted as the newest. */
  async #received(tokens: TokenSet, event: 'login' | 'refresh'): Promise<void> {
    this.#adopt(tokens, event);
    this.#tabs?.post({ type: 'tokens', tokens });
    // After the message: a tab that reads this time knows the tokens are already on their way.
    await writeIf(
      `${this.#settings.name}:newest`,
      tokens.issuedAt,
      (stored) => stored === undefined || stored < tokens.issuedAt,
    ).catch(() => {});
  }

  #adopt(tokens: TokenSet, event: 'login' | 'refresh' = this.#tokens ? 'refresh' : 'login'): void {
    this.#tokens = tokens;
    this.#schedule(this.#refreshAt(tokens) - Date.now());
    for (const waiter of [...this.#waiters]) waiter(tokens);
    this.#events.emit(event, this.state);
  }

  #schedule(delay: number): void {
    clearTimeout(this.#timer);
    if (this.#closed) return;
    this.#timer = setTimeout(
      () => {
        if (this.#tokens) void this.#refresh(this.#tokens);
      },
      Math.max(0, delay),
    );
    // Node: a pending refresh must not keep the process alive.
    (this.#timer as { unref?: () => void }).unref?.();
  }

  /** Logged out here; `broadcast` tells the other tabs too. */
  #end(reason: LogoutReason, broadcast: boolean): void {
    const wasLoggedIn = this.#tokens !== undefined;
    this.#tokens = undefined;
    clearTimeout(this.#timer);
    for (const waiter of [...this.#waiters]) waiter(undefined);
    if (broadcast) this.#tabs?.post({ type: 'logout' });
    if (wasLoggedIn) this.#events.emit('logout', { reason });
  }

  #onTabMessage(message: TabMessage): void {
    switch (message.type) {
      case 'tokens':
        if (!this.#tokens || message.tokens.issuedAt > this.#tokens.issuedAt) this.#adopt(message.tokens);
        break;
      case 'logout':
        this.#end('other_tab', false);
        break;
      case 'hello':
        this.#tabs?.post(this.#tokens ? { type: 'tokens', tokens: this.#tokens } : { type: 'none' });
        break;
    }
  }
}
