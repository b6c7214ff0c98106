import { base64urlDecode } from './lib/base64url.js';

/**
 * The tokens of a session, held in memory only (and shared with this origin's other tabs over
 * BroadcastChannel). Never written to localStorage, sessionStorage, IndexedDB or a readable cookie.
 */
export interface TokenSet {
  accessToken: string;
  /** `DPoP` when the server bound the token to this browser's key (RFC 9449 §5), else `Bearer`. */
  tokenType: 'DPoP' | 'Bearer';
  /** Milliseconds since the epoch, by this machine's clock (from `expires_in`, so skew does not matter). */
  expiresAt: number;
  /** When this machine received the tokens: tabs keep the newest set. */
  issuedAt: number;
  scope: string | undefined;
  /** Redirect mode only: the first-party web client's refresh token is an HttpOnly cookie instead. */
  refreshToken?: string | undefined;
}

/** The access token's claims, decoded without verification (the client has no keys; APIs verify). */
export interface UserClaims {
  sub?: string;
  scope?: string;
  roles?: string[];
  [claim: string]: unknown;
}

/** What the app may read about the session: never the tokens themselves. */
export interface AuthState {
  loggedIn: boolean;
  /** The access token's claims (`sub`, `scope`, `roles`, …), or undefined for an encrypted token. */
  user: UserClaims | undefined;
  /** When the access token expires, in milliseconds since the epoch. */
  expiresAt: number | undefined;
  scope: string | undefined;
}

export const LOGGED_OUT: AuthState = Object.freeze({
  loggedIn: false,
  user: undefined,
  expiresAt: undefined,
  scope: undefined,
});

export function stateOf(tokens: TokenSet | undefined): AuthState {
  if (!tokens) return LOGGED_OUT;
  return Object.freeze({
    loggedIn: true,
    user: decodeClaims(tokens.accessToken),
    expiresAt: tokens.expiresAt,
    scope: tokens.scope,
  });
}

/** The payload of a JWS compact token; undefined for a JWE (five parts) or anything unreadable. */
function decodeClaims(token: string): UserClaims | undefined {
  const parts = token.split('.');
  if (parts.length !== 3) return undefined;
  try {
    const claims: unknown = JSON.parse(base64urlDecode(parts[1]!));
    return claims !== null && typeof claims === 'object' && !Array.isArray(claims)
      ? (claims as UserClaims)
      : undefined;
  } catch {
    return undefined;
  }
}

/** RFC 6749 §5.1 token response → a TokenSet, checked for the members we rely on. */
export function tokenSetFrom(body: unknown, now: number, previous?: TokenSet): TokenSet | undefined {
  if (body === null || typeof body !== 'object') return undefined;
  const { access_token, token_type, expires_in, scope, refresh_token } = body as Record<string, unknown>;
  if (typeof access_token !== 'string' || access_token === '') return undefined;
  // RFC 9449 §5: the client learns from token_type whether the token is bound; scheme names are
  // case-insensitive (RFC 9110 §11.1).
  const type = typeof token_type === 'string' ? token_type.toLowerCase() : '';
  if (type !== 'dpop' && type !== 'bearer') return undefined;
  const lifetime = typeof expires_in === 'number' && expires_in > 0 ? expires_in : 300;
  return {
    accessToken: access_token,
    tokenType: type === 'dpop' ? 'DPoP' : 'Bearer',
    expiresAt: now + lifetime * 1000,
    issuedAt: now,
    scope: typeof scope === 'string' ? scope : previous?.scope,
    // RFC 6749 §6: a refresh response may omit refresh_token, keeping the one in use.
    refreshToken: typeof refresh_token === 'string' ? refresh_token : previous?.refreshToken,
  };
}
