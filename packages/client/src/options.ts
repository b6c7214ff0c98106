/** How a client is created; see the README for each mode. */
export interface AuthClientOptions {
  /** The Tessera server's issuer URL, such as `https://auth.example.com`. */
  issuer: string;
  /**
   * `first-party` (default): the app signs users in with `login()` against `/login`; the refresh
   * token is the server's HttpOnly cookie. `redirect`: code + PKCE through the server's pages, for
   * apps the server does not trust with passwords; the refresh token is kept in memory.
   */
  mode?: 'first-party' | 'redirect';
  /** The registered client: `web` by default in first-party mode; required in redirect mode. */
  clientId?: string;
  /** Redirect mode: where the provider sends the browser back (default: this page, without query). */
  redirectUri?: string;
  /** Space-separated scopes to ask for (default: what the client is registered for). */
  scope?: string;
  /** Bind tokens to a non-extractable key (RFC 9449). Default: on wherever WebCrypto is. */
  dpop?: boolean;
  /**
   * Seconds before expiry to refresh (default 30; never more than a quarter of the token's
   * lifetime, so short-lived tokens are not refreshed as soon as they arrive).
   */
  refreshLeeway?: number;
  /**
   * Origins besides the issuer's and this page's that `fetch` sends the token to (your APIs). A
   * request to any other origin goes out without it.
   */
  apiOrigins?: readonly string[];
  /** The fetch to use (default: the global one). */
  fetch?: (input: Request) => Promise<Response>;
}

export interface Settings {
  issuer: string;
  mode: 'first-party' | 'redirect';
  clientId: string;
  redirectUri: string | undefined;
  scope: string | undefined;
  dpop: boolean;
  refreshLeeway: number;
  apiOrigins: ReadonlySet<string>;
  fetch: (input: Request) => Promise<Response>;
  /** Names of the lock, channel and stored items: one per issuer and client. */
  name: string;
}

/** Options checked and defaulted once, at creation. */
export function settingsFrom(options: AuthClientOptions): Settings {
  let issuerUrl: URL;
  try {
    issuerUrl = new URL(options.issuer);
  } catch {
    throw new TypeError('options.issuer must be an absolute URL');
  }
  const issuer = issuerUrl.href.replace(/\/$/, '');
  const mode = options.mode ?? 'first-party';
  if (mode !== 'first-party' && mode !== 'redirect')
    throw new TypeError("options.mode must be 'first-party' or 'redirect'");
  const clientId = options.clientId ?? (mode === 'first-party' ? 'web' : undefined);
  if (!clientId) throw new TypeError('options.clientId is required in redirect mode');
  const here = typeof location === 'undefined' ? undefined : location;
  const redirectUri =
    options.redirectUri ?? (mode === 'redirect' && here ? `${here.origin}${here.pathname}` : undefined);
  if (mode === 'redirect' && !redirectUri) throw new TypeError('options.redirectUri is required here');
  const refreshLeeway = options.refreshLeeway ?? 30;
  if (!(refreshLeeway >= 0))
    throw new TypeError('options.refreshLeeway must be a non-negative number of seconds');
  const apiOrigins = new Set([
    issuerUrl.origin,
    ...(options.apiOrigins ?? []).map((origin) => new URL(origin).origin),
  ]);
  if (here) apiOrigins.add(here.origin);
  const fetcher = options.fetch ?? ((request: Request) => globalThis.fetch(request));
  return {
    issuer,
    mode,
    clientId,
    redirectUri,
    scope: options.scope,
    // crypto.subtle exists only in secure contexts (https, localhost).
    dpop: options.dpop ?? (typeof crypto !== 'undefined' && crypto.subtle !== undefined),
    refreshLeeway,
    apiOrigins,
    fetch: fetcher,
    name: `tessera:${issuer}:${clientId}`,
  };
}
