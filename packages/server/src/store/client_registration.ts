import { isIP } from 'node:net';
import { importJwk, isLoopbackHost, type JsonWebKeySet, type Jwk } from '@tessera/jose';
import { deliveryAddressProblem } from '../outbox/delivery_address.js';
import type {
  ClientGrantType,
  ClientKind,
  ClientType,
  TokenEndpointAuthMethod,
  TokenExchangePolicy,
} from './clients.js';
import { holdsKeyMaterial } from './public_jwk.js';
import { webOriginProblem } from './web_origin.js';

/** A client's registration as it will be stored: checked as a whole on every add and update. */
export interface RegistrationToCheck {
  type: ClientType;
  kind: ClientKind | null;
  redirectUris: string[];
  postLogoutRedirectUris: string[];
  grantTypes: ClientGrantType[];
  tokenEndpointAuthMethod: TokenEndpointAuthMethod;
  jwks: JsonWebKeySet | undefined;
  jwksUri: string | undefined;
  accessTokenTtl: number | undefined;
  refreshTokenTtl: number | undefined;
  /** Browser origins allowed to call the server with CORS (exact, as the `Origin` header says them). */
  webOrigins: string[];
  tokenExchange: TokenExchangePolicy;
  /** OpenID Connect Back-Channel Logout 1.0 §2.2. */
  backchannelLogoutUri: string | undefined;
  backchannelLogoutSessionRequired: boolean;
}

/** The kinds a client type may have: public clients run on the user's device, confidential ones on a server. */
const KINDS_OF: Record<ClientType, readonly (ClientKind | null)[]> = {
  'first-party': [null],
  public: ['spa', 'native', null],
  confidential: ['web', 'service', null],
};

/** Access tokens live 30 s to a day; sessions a minute to three years (as the server settings). */
const ACCESS_TTL = { min: 30, max: 86_400 };
const REFRESH_TTL = { min: 60, max: 3 * 365 * 86_400 };

/**
 * Why a redirect URI may not be registered, or undefined. OAuth 2.0 Security BCP (RFC 9700 §2.1) and
 * OIDC Core §3.1.2.1: absolute, no fragment (RFC 6749 §3.1.2), compared as exact strings so no
 * wildcards; `https`, except `http` on a loopback host (RFC 8252 §7.3, development and native apps),
 * and a native app's private-use scheme with a dot in it (RFC 8252 §7.1, `com.example.app:/cb`).
 */
function redirectUriProblem(uri: string, kind: ClientKind | null): string | undefined {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    return `a redirect URI is an absolute URI, got ${JSON.stringify(uri)}`;
  }
  if (uri.length > 2048) return 'a redirect URI is at most 2048 characters';
  if (url.hash !== '' || uri.includes('#'))
    return `a redirect URI has no fragment (RFC 6749 §3.1.2), got ${JSON.stringify(uri)}`;
  if (uri.includes('*')) return `redirect URIs are matched exactly: no wildcards, got ${JSON.stringify(uri)}`;
  if (/[\s\p{Cc}]/u.test(uri)) return 'a redirect URI has no spaces or control characters';
  if (url.protocol === 'https:') return undefined;
  if (url.protocol === 'http:') {
    return isLoopbackHost(url.hostname)
      ? undefined
      : `a redirect URI uses https (http only on a loopback host), got ${JSON.stringify(uri)}`;
  }
  if (kind === 'native' && /^[a-z][a-z0-9+.-]*\.[a-z0-9+.-]+:$/i.test(url.protocol)) return undefined;
  return `a redirect URI uses https, http on a loopback host, or (native apps) a private-use scheme like com.example.app:, got ${JSON.stringify(uri)}`;
}

/**
 * Why a URI may not be registered as a `backchannel_logout_uri`, or undefined. BCL 1.0 §2.2: absolute,
 * no fragment, and it MAY carry a port, path and query. The provider's server POSTs logout tokens to
 * it, so `https` (http only on a loopback host, as for redirect URIs: RFC 8252 §7.3), and no
 * credentials in it (they would sit in the store and in every operator's `client list`).
 */
export function backchannelLogoutUriProblem(
  uri: string,
  policy: RegistrationPolicy = { allowPrivateNetworks: false },
): string | undefined {
  const quoted = JSON.stringify(uri);
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    return `a back-channel logout URI is an absolute URI, got ${quoted}`;
  }
  if (uri.length > 2048) return 'a back-channel logout URI is at most 2048 characters';
  if (/[\s\p{Cc}]/u.test(uri)) return 'a back-channel logout URI has no spaces or control characters';
  if (url.hash !== '' || uri.includes('#'))
    return `a back-channel logout URI has no fragment (BCL 1.0 §2.2), got ${quoted}`;
  if (url.username !== '' || url.password !== '')
    return 'a back-channel logout URI carries no credentials (user:password@)';
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && isLoopbackHost(url.hostname)))
    return `a back-channel logout URI uses https (http only on a loopback host), got ${quoted}`;
  // An address literal delivery would refuse (link-local, private…) is refused now, with why; a name
  // is checked where it resolves, at each connection (outbox/delivery_address.ts).
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (isIP(host) !== 0) {
    const problem = deliveryAddressProblem(host, url.hostname, policy);
    if (problem) return `a back-channel logout URI may not point to ${problem}`;
  }
  return undefined;
}

function checkTtl(name: string, value: number | undefined, range: { min: number; max: number }): void {
  if (value === undefined) return;
  if (!Number.isInteger(value) || value < range.min || value > range.max)
    throw new TypeError(`${name} is ${range.min}–${range.max} seconds, got ${value}`);
}

function checkJwks(jwks: JsonWebKeySet): void {
  if (!Array.isArray(jwks.keys) || jwks.keys.length === 0)
    throw new TypeError('a client JWKS is an object with a non-empty "keys" array');
  for (const key of jwks.keys as unknown[]) {
    if (typeof key !== 'object' || key === null || Array.isArray(key))
      throw new TypeError('each key of a client JWKS is a JSON object (a JWK)');
    if (holdsKeyMaterial(key))
      throw new TypeError(
        'a client JWKS holds public keys only (this one has private or symmetric key material)',
      );
    const { kty } = key as { kty?: unknown };
    if (kty !== 'RSA' && kty !== 'EC' && kty !== 'OKP')
      throw new TypeError(`a client JWKS key is RSA, EC or OKP, got kty ${JSON.stringify(kty)}`);
    // Checked now, not at the client's first assertion: a truncated modulus or a weak RSA key is the
    // registration's mistake, and is reported to whoever made it.
    try {
      importJwk(key as Jwk);
    } catch (err) {
      throw new TypeError(`a client JWKS key is not usable: ${(err as Error).message}`);
    }
  }
}

/** RFC 7519 §4.1.3 StringOrURI, here without spaces or control characters (as client audiences). */
const EXCHANGE_TARGET = /^[^\s\p{Cc}]{1,512}$/u;

/**
 * RFC 8693 §2.1 leaves who may exchange what to the server's policy. Here: confidential clients only
 * (an exchange turns one party's token into another's: the client must prove who it is), and
 * delegation or impersonation only beside targets to exchange for.
 */
function checkTokenExchange(type: ClientType, policy: TokenExchangePolicy): void {
  const { targets, delegation, impersonation } = policy;
  if (!Array.isArray(targets) || targets.length > 64)
    throw new TypeError('token-exchange targets are a list of at most 64 audiences or resources');
  for (const target of targets)
    if (typeof target !== 'string' || !EXCHANGE_TARGET.test(target))
      throw new TypeError(
        `a token-exchange target is an audience or resource of 1–512 characters without spaces, got ${JSON.stringify(target)}`,
      );
  if (targets.length > 0 && type !== 'confidential')
    throw new TypeError('only confidential clients may exchange tokens (RFC 8693): they authenticate');
  if ((delegation || impersonation) && targets.length === 0)
    throw new TypeError(
      'delegation and impersonation need token-exchange targets (the audiences to ask for)',
    );
}

/** Throws a TypeError naming the first rule the registration breaks. */
/** What the deployment allows a registration (config.ts `deliveryAllowPrivateNetworks`). */
export interface RegistrationPolicy {
  allowPrivateNetworks: boolean;
}

export function checkRegistration(
  registration: RegistrationToCheck,
  policy: RegistrationPolicy = { allowPrivateNetworks: false },
): void {
  const { type, kind, grantTypes } = registration;
  if (!KINDS_OF[type].includes(kind))
    throw new TypeError(`a ${type} client cannot be of kind ${kind ?? '(none)'}`);
  for (const uri of registration.redirectUris) {
    const problem = redirectUriProblem(uri, kind);
    if (problem) throw new TypeError(problem);
  }
  for (const uri of registration.postLogoutRedirectUris) {
    const problem = redirectUriProblem(uri, kind);
    if (problem) throw new TypeError(problem.replace('a redirect URI', 'a post-logout redirect URI'));
  }
  for (const origin of registration.webOrigins) {
    const problem = webOriginProblem(origin);
    if (problem) throw new TypeError(problem);
  }
  if (kind === 'service' && registration.webOrigins.length > 0)
    throw new TypeError('a service client has no browser: it has no web origins');
  if (grantTypes.includes('authorization_code') && registration.redirectUris.length === 0)
    throw new TypeError('the authorization_code grant needs at least one redirect URI');
  if (grantTypes.includes('client_credentials') && type !== 'confidential')
    throw new TypeError('only confidential clients may use client_credentials (RFC 6749 §4.4)');
  if (kind === 'service' && grantTypes.some((grant) => grant !== 'client_credentials'))
    throw new TypeError('a service client uses client_credentials only: it has no users');
  const method = registration.tokenEndpointAuthMethod;
  if (type === 'confidential' && method === 'none')
    throw new TypeError(
      'a confidential client authenticates (client_secret_basic, client_secret_post or private_key_jwt)',
    );
  if (type !== 'confidential' && method !== 'none')
    throw new TypeError(`a ${type} client cannot keep a secret or a key: its auth method is none`);
  if (method === 'private_key_jwt') {
    if ((registration.jwks === undefined) === (registration.jwksUri === undefined))
      throw new TypeError('private_key_jwt needs the client keys: a JWKS or a JWKS URI (one of them)');
  } else if (registration.jwks !== undefined || registration.jwksUri !== undefined) {
    throw new TypeError('client keys (JWKS) are for private_key_jwt only');
  }
  if (registration.jwks) checkJwks(registration.jwks);
  if (registration.jwksUri !== undefined) {
    let url: URL | undefined;
    try {
      url = new URL(registration.jwksUri);
    } catch {}
    if (!url || !(url.protocol === 'https:' || (url.protocol === 'http:' && isLoopbackHost(url.hostname))))
      throw new TypeError(
        `a JWKS URI is https (http only on a loopback host), got ${JSON.stringify(registration.jwksUri)}`,
      );
  }
  checkTokenExchange(type, registration.tokenExchange);
  if (registration.backchannelLogoutUri !== undefined) {
    const problem = backchannelLogoutUriProblem(registration.backchannelLogoutUri, policy);
    if (problem) throw new TypeError(problem);
    // Logout tokens tell a client that a user's session ended: a service has no users.
    if (kind === 'service')
      throw new TypeError('a service client has no users: it has no back-channel logout URI');
  } else if (registration.backchannelLogoutSessionRequired) {
    throw new TypeError('backchannel_logout_session_required needs a back-channel logout URI');
  }
  checkTtl('the access-token lifetime', registration.accessTokenTtl, ACCESS_TTL);
  checkTtl('the refresh-token lifetime', registration.refreshTokenTtl, REFRESH_TTL);
  if (registration.refreshTokenTtl !== undefined && !grantTypes.includes('refresh_token'))
    throw new TypeError('a refresh-token lifetime needs the refresh_token grant');
}
