import { AuthError } from './errors.js';
import { randomString, sha256 } from './lib/base64url.js';

/** What one authorization request needs back at its callback: never a token. */
interface RoundTrip {
  verifier: string;
  redirectUri: string;
}

export interface RedirectLoginOptions {
  /** Space-separated scopes (default: the client's `scope` option, else the server's default). */
  scope?: string;
  /** OIDC Core §3.1.2.1: `none` signs in silently through the provider's session, or fails with `login_required`. */
  prompt?: 'none' | 'login' | 'consent';
}

const memory = new Map<string, string>();

/**
 * Where the PKCE verifier waits for the round trip to the provider: sessionStorage (this tab only,
 * gone with it), keyed by `state`, removed when the callback reads it. Without sessionStorage, memory.
 */
const roundTrips = {
  set(key: string, value: RoundTrip): void {
    const text = JSON.stringify(value);
    if (typeof sessionStorage === 'undefined') memory.set(key, text);
    else sessionStorage.setItem(key, text);
  },
  take(key: string): RoundTrip | undefined {
    const storage = typeof sessionStorage === 'undefined' ? undefined : sessionStorage;
    const text = storage ? storage.getItem(key) : memory.get(key);
    if (storage) storage.removeItem(key);
    else memory.delete(key);
    return text ? (JSON.parse(text) as RoundTrip) : undefined;
  },
};

/**
 * An authorization request (RFC 6749 §4.1.1) with PKCE S256 (RFC 7636 §4.2, RFC 9700 §2.1.1), a
 * fresh `state` (CSRF, RFC 6749 §10.12) and, with DPoP, `dpop_jkt` (RFC 9449 §10: the code can only
 * be redeemed with this browser's key).
 */
export async function authorizationUrl(
  settings: { issuer: string; clientId: string; redirectUri: string; storageKey: string; scope?: string },
  options: RedirectLoginOptions,
  dpopJkt: string | undefined,
): Promise<URL> {
  const verifier = randomString(32);
  const state = randomString(16);
  const url = new URL(`${settings.issuer}/authorize`);
  const scope = options.scope ?? settings.scope;
  const parameters: Record<string, string | undefined> = {
    response_type: 'code',
    client_id: settings.clientId,
    redirect_uri: settings.redirectUri,
    scope,
    state,
    code_challenge: await sha256(verifier),
    code_challenge_method: 'S256',
    prompt: options.prompt,
    dpop_jkt: dpopJkt,
  };
  for (const [name, value] of Object.entries(parameters)) {
    if (value !== undefined) url.searchParams.set(name, value);
  }
  roundTrips.set(`${settings.storageKey}:${state}`, { verifier, redirectUri: settings.redirectUri });
  return url;
}

/**
 * Checks an authorization response (RFC 6749 §4.1.2) and returns what the code exchange needs: the
 * `state` must be one this tab sent and not used yet, `iss` must be our issuer (RFC 9207 §2.4: a
 * response from another provider is a mix-up attack; Tessera always sends `iss`), and an `error`
 * becomes an AuthError carrying it (`login_required` after `prompt: 'none'`).
 */
export function readCallback(
  url: URL,
  settings: { issuer: string; storageKey: string },
): { code: string; verifier: string; redirectUri: string } {
  const parameters = url.searchParams;
  const state = parameters.get('state');
  const roundTrip = state === null ? undefined : roundTrips.take(`${settings.storageKey}:${state}`);
  if (!roundTrip)
    throw new AuthError(
      'ERR_CALLBACK_INVALID',
      'no authorization request of this tab is waiting for this state',
    );
  if (parameters.get('iss') !== settings.issuer)
    throw new AuthError('ERR_CALLBACK_INVALID', 'the authorization response is not from this issuer');
  const error = parameters.get('error');
  if (error !== null) {
    const description = parameters.get('error_description');
    throw new AuthError(
      'ERR_OAUTH',
      `the authorization request failed: ${error}${description ? `: ${description}` : ''}`,
      {
        error,
      },
    );
  }
  const code = parameters.get('code');
  if (!code) throw new AuthError('ERR_CALLBACK_INVALID', 'the authorization response has no code');
  return { code, verifier: roundTrip.verifier, redirectUri: roundTrip.redirectUri };
}
