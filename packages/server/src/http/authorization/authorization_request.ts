import { isLoopbackHost } from '@tessera/jose';
import type { Services } from '../../services.js';
import type { Client } from '../../store/clients.js';
import { errorDescription, OAuthError, type OAuthErrorCode } from '../errors.js';
import { grantedScope } from '../token_response.js';

/** A checked authorization request (RFC 6749 §4.1.1, OIDC Core §3.1.2.1, RFC 7636 §4.3, RFC 8707 §2). */
export interface AuthorizationRequest {
  clientId: string;
  redirectUri: string;
  scope: string;
  state: string | undefined;
  nonce: string | undefined;
  codeChallenge: string | undefined;
  /** `login` also stands for `select_account` (the login page is where another account is chosen). */
  prompt: { none: boolean; login: boolean; consent: boolean };
  /** Seconds. */
  maxAge: number | undefined;
  loginHint: string | undefined;
  /** The user an `id_token_hint` names (OIDC Core §3.1.2.1): another signed-in user is not enough. */
  hintedSubject: string | undefined;
  resource: string | undefined;
  /** RFC 9449 §10: the thumbprint of the DPoP key the code will be bound to. */
  dpopJkt?: string;
}

/**
 * The client or its redirect URI could not be established: the user sees an error page and nothing is
 * redirected (RFC 6749 §4.1.2.1: never to an unchecked URI, or the server becomes an open redirector).
 */
export class UnredirectableError extends Error {
  constructor(
    readonly title: string,
    readonly description: string,
  ) {
    super(description);
    this.name = 'UnredirectableError';
  }
}

/** An error the client hears about at its (checked) redirect URI (RFC 6749 §4.1.2.1). */
export class RedirectedError extends Error {
  readonly description: string;
  constructor(
    readonly redirectUri: string,
    readonly error: OAuthErrorCode,
    description: string,
    readonly state: string | undefined,
  ) {
    super(description);
    this.name = 'RedirectedError';
    this.description = errorDescription(description);
  }
}

type Parameters = Record<string, unknown>;

/** RFC 7636 §4.2: S256 gives 43 base64url characters (the verifier's SHA-256). */
const S256_CHALLENGE = /^[A-Za-z0-9_-]{43}$/;
const PROMPTS = new Set(['none', 'login', 'consent', 'select_account']);

/**
 * RFC 8252 §7.3: a native app's loopback redirect may use any port, chosen when it starts listening;
 * everything else compares as exact strings (RFC 9700 §4.1.3, no wildcards, no prefix matching).
 */
export function registeredRedirectUri(client: Client, redirectUri: string): boolean {
  if (client.redirectUris.includes(redirectUri)) return true;
  if (client.kind !== 'native') return false;
  let asked: URL;
  try {
    asked = new URL(redirectUri);
  } catch {
    return false;
  }
  if (asked.protocol !== 'http:' || !isLoopbackHost(asked.hostname)) return false;
  return client.redirectUris.some((registered) => {
    const url = new URL(registered);
    if (url.protocol !== 'http:' || !isLoopbackHost(url.hostname)) return false;
    url.port = asked.port;
    return url.href === asked.href;
  });
}

/** One value of a parameter; a parameter sent twice is refused (RFC 6749 §3.1). */
function single(parameters: Parameters, name: string): string | undefined {
  const value = parameters[name];
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw new DuplicateParameter(name);
  return value === '' ? undefined : value;
}

class DuplicateParameter extends Error {
  constructor(readonly parameter: string) {
    super(`${parameter} was sent more than once`);
  }
}

/**
 * Checks an authorization request in the order the standards require: first the client and its
 * redirect URI (errors shown on a page), then everything else (errors redirected to the client).
 */
export async function checkAuthorizationRequest(
  services: Services,
  parameters: Parameters,
): Promise<{ request: AuthorizationRequest; client: Client }> {
  let clientId: string | undefined;
  let redirectUri: string | undefined;
  try {
    clientId = single(parameters, 'client_id');
    redirectUri = single(parameters, 'redirect_uri');
  } catch (err) {
    if (err instanceof DuplicateParameter)
      throw new UnredirectableError(
        'Invalid request',
        `The ${err.parameter} parameter was sent more than once.`,
      );
    throw err;
  }
  if (clientId === undefined)
    throw new UnredirectableError(
      'Invalid request',
      'The request does not say which application is asking (client_id).',
    );
  const client = /^[\w.~-]{1,128}$/.test(clientId) ? await services.clients.byId(clientId) : undefined;
  if (!client)
    throw new UnredirectableError(
      'Unknown application',
      'The application that sent you here is not registered.',
    );
  // OIDC Core §3.1.2.1: redirect_uri is required (and OAuth 2.1 requires it whenever a client has several).
  if (redirectUri === undefined)
    throw new UnredirectableError(
      'Invalid request',
      'The request does not say where to return (redirect_uri).',
    );
  if (!registeredRedirectUri(client, redirectUri))
    throw new UnredirectableError(
      'Invalid redirect',
      'The address this application asked to return to is not one it registered, so you were not sent there.',
    );

  const state =
    typeof parameters.state === 'string' && parameters.state !== '' ? parameters.state : undefined;
  const fail = (error: OAuthErrorCode, description: string): never => {
    throw new RedirectedError(redirectUri, error, description, state);
  };
  try {
    if (Array.isArray(parameters.state)) fail('invalid_request', 'state was sent more than once');
    if (state !== undefined && state.length > 2048)
      fail('invalid_request', 'state is longer than 2048 characters');
    // OIDC Core §6: request objects are not offered (discovery says so).
    if (parameters.request !== undefined) fail('request_not_supported', 'request objects are not supported');
    if (parameters.request_uri !== undefined)
      fail('request_uri_not_supported', 'request_uri is not supported');
    const responseType = single(parameters, 'response_type');
    if (responseType === undefined) fail('invalid_request', 'response_type is required');
    if (responseType !== 'code') fail('unsupported_response_type', 'only response_type=code is supported');
    if (!client.responseTypes.includes('code'))
      fail('unauthorized_client', 'this client may not use the authorization code flow');
    const responseMode = single(parameters, 'response_mode');
    if (responseMode !== undefined && responseMode !== 'query')
      fail('invalid_request', 'only response_mode=query is supported');

    let scope: string;
    try {
      scope = grantedScope(client, single(parameters, 'scope'));
    } catch (err) {
      if (err instanceof OAuthError) fail(err.error, err.description);
      throw err;
    }

    // RFC 7636 §4.3 and RFC 9700 §2.1.1: S256 only (`plain` shows the verifier to whoever sees the
    // request); public clients must use PKCE, since nothing else binds the code to them.
    const method = single(parameters, 'code_challenge_method');
    const codeChallenge = single(parameters, 'code_challenge');
    if (method !== undefined && method !== 'S256')
      fail('invalid_request', 'code_challenge_method must be S256 (plain is not accepted)');
    if (codeChallenge === undefined) {
      if (method !== undefined)
        fail('invalid_request', 'code_challenge is required with code_challenge_method');
      if (client.type !== 'confidential')
        fail('invalid_request', 'PKCE is required: send code_challenge (S256)');
    } else {
      if (method === undefined)
        fail('invalid_request', 'code_challenge_method=S256 is required (plain is not accepted)');
      if (!S256_CHALLENGE.test(codeChallenge))
        fail('invalid_request', 'code_challenge must be 43 base64url characters (S256)');
    }

    const nonce = single(parameters, 'nonce');
    if (nonce !== undefined && nonce.length > 512)
      fail('invalid_request', 'nonce is longer than 512 characters');

    const prompts = (single(parameters, 'prompt') ?? '').split(' ').filter(Boolean);
    const unknown = prompts.filter((prompt) => !PROMPTS.has(prompt));
    if (unknown.length) fail('invalid_request', `unsupported prompt value: ${unknown.join(' ')}`);
    // OIDC Core §3.1.2.1: none with any other value is an error.
    if (prompts.includes('none') && prompts.length > 1)
      fail('invalid_request', 'prompt=none cannot be combined with other values');

    const maxAgeText = single(parameters, 'max_age');
    let maxAge: number | undefined;
    if (maxAgeText !== undefined) {
      if (!/^\d{1,9}$/.test(maxAgeText)) fail('invalid_request', 'max_age is a number of seconds');
      maxAge = Number(maxAgeText);
    }
    const loginHint = single(parameters, 'login_hint');
    if (loginHint !== undefined && loginHint.length > 256) fail('invalid_request', 'login_hint is too long');

    // OIDC Core §3.1.2.1: an ID token we issued (expired is fine), naming whom the client expects.
    const idTokenHint = single(parameters, 'id_token_hint');
    let hintedSubject: string | undefined;
    if (idTokenHint !== undefined) {
      hintedSubject =
        idTokenHint.length <= 8192 ? await services.idTokens.subjectOfHint(idTokenHint) : undefined;
      if (hintedSubject === undefined)
        fail('invalid_request', 'id_token_hint is not an ID token of this server');
    }

    // RFC 8707 §2: the resource must be one this client may ask for, and registered.
    if (Array.isArray(parameters.resource))
      fail(
        'invalid_target',
        'ask for one resource per authorization; get tokens for others with the refresh token',
      );
    const resource = single(parameters, 'resource');
    if (resource !== undefined) {
      if (!client.resources.includes(resource) || !(await services.resources.byId(resource)))
        fail('invalid_target', `this client may not ask for the resource ${resource}`);
    }

    // RFC 9449 §10: a JWK SHA-256 thumbprint (RFC 7638), 43 base64url characters.
    const dpopJkt = single(parameters, 'dpop_jkt');
    if (dpopJkt !== undefined && !/^[A-Za-z0-9_-]{43}$/.test(dpopJkt))
      fail('invalid_request', 'dpop_jkt must be a JWK SHA-256 thumbprint (43 base64url characters)');

    return {
      client,
      request: {
        clientId: client.clientId,
        redirectUri,
        scope,
        state,
        nonce,
        codeChallenge,
        prompt: {
          none: prompts.includes('none'),
          login: prompts.includes('login') || prompts.includes('select_account'),
          consent: prompts.includes('consent'),
        },
        maxAge,
        loginHint,
        hintedSubject,
        resource,
        ...(dpopJkt !== undefined ? { dpopJkt } : {}),
      },
    };
  } catch (err) {
    if (err instanceof DuplicateParameter) fail('invalid_request', err.message);
    throw err;
  }
}

/** The redirect back to the client (RFC 6749 §4.1.2, RFC 9207 `iss`), keeping the URI's own query. */
export function redirectBack(
  redirectUri: string,
  issuer: string,
  parameters: Record<string, string | undefined>,
): string {
  const url = new URL(redirectUri);
  for (const [name, value] of Object.entries(parameters))
    if (value !== undefined) url.searchParams.append(name, value);
  url.searchParams.append('iss', issuer);
  return url.href;
}
