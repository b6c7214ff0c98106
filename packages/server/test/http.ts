import { createSigner, generateKeyPair } from '@tessera/jose';
import { afterEach, expect } from 'vitest';
import { ADMIN_PASSWORD, post, startServer, stopServer, type TestServer } from './helpers.js';
import { request } from './requests.js';

/** Helpers shared by the endpoint and hardening tests: requests as a browser or an app would send them. */

export const REFRESH_COOKIE = '__Host-tessera_refresh';
export const SECURITY_HEADERS = {
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
} as const;

export interface TokenBody {
  access_token: string;
  refresh_token?: string;
  token_type: string;
  expires_in: number;
  scope: string;
}

export interface ErrorBody {
  error: string;
  error_description: string;
}

/**
 * The server the endpoint tests share the shape of: short refresh lifetimes (so expiry is reachable
 * with the clock), a 5 s grace window, and the clients of {@link addClients}.
 */
export async function startEndpointServer(): Promise<{ server: TestServer; backendSecret: string }> {
  const server = await startServer({ refreshGrace: 5, refreshIdleTtl: 120, refreshAbsoluteTtl: 300 });
  const { backendSecret } = await addClients(server);
  return { server, backendSecret };
}

/**
 * For a file whose tests each start servers of their own: the returned function starts one (with
 * the clients of {@link addClients}); every server started in a test is stopped after it.
 */
export function serversPerTest(): () => Promise<TestServer> {
  const started: TestServer[] = [];
  afterEach(async () => {
    for (const server of started.splice(0)) await stopServer(server);
  });
  return async () => {
    const server = await startServer();
    started.push(server);
    await addClients(server);
    return server;
  };
}

/** Adds a public client `app` and a confidential client `backend`; returns the backend's secret. */
export async function addClients(server: TestServer): Promise<{ backendSecret: string }> {
  const audiences = [server.services.config.audience];
  await server.services.clients.add({
    clientId: 'app',
    type: 'public',
    audiences,
    scopes: ['openid', 'profile', 'offline_access'],
  });
  await server.services.clients.add({ clientId: 'other', type: 'public', audiences, scopes: ['openid'] });
  const { secret } = await server.services.clients.add({
    clientId: 'backend',
    type: 'confidential',
    audiences,
    scopes: ['openid'],
  });
  return { backendSecret: secret! };
}

export function basic(id: string, secret: string): string {
  return `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;
}

export function form(
  url: string,
  fields: Record<string, string | string[]>,
  headers: Record<string, string> = {},
): Promise<Response> {
  const body = new URLSearchParams();
  for (const [name, value] of Object.entries(fields))
    for (const v of Array.isArray(value) ? value : [value]) body.append(name, v);
  return request(url, { method: 'POST', headers, body });
}

/** Logs alice in through `app` (or another public client); the body carries the refresh token. */
export async function loginApp(server: TestServer, clientId = 'app'): Promise<Required<TokenBody>> {
  const res = await post(`${server.url}/login`, {
    username: 'alice',
    password: ADMIN_PASSWORD,
    client_id: clientId,
  });
  expect(res.status).toBe(200);
  const body = (await res.json()) as Required<TokenBody>;
  expect(typeof body.refresh_token).toBe('string');
  return body;
}

export const refreshApp = (server: TestServer, token: string, clientId = 'app') =>
  post(`${server.url}/token`, { grant_type: 'refresh_token', refresh_token: token, client_id: clientId });

export const userinfo = (server: TestServer, token: string) =>
  request(`${server.url}/userinfo`, { headers: { authorization: `Bearer ${token}` } });

/** The value of one cookie in a response's Set-Cookie headers, with its attributes. */
export function setCookie(
  res: Response,
  name = REFRESH_COOKIE,
): { value: string; attributes: string[]; raw: string } | undefined {
  for (const raw of res.headers.getSetCookie()) {
    const [pair, ...attributes] = raw.split(';').map((part) => part.trim());
    const eq = pair!.indexOf('=');
    if (pair!.slice(0, eq) === name)
      return { value: decodeURIComponent(pair!.slice(eq + 1)), attributes, raw };
  }
  return undefined;
}

/** Whether a Set-Cookie deletes the cookie (empty value and an expiry in the past or Max-Age=0). */
export function clearsCookie(res: Response, name = REFRESH_COOKIE): boolean {
  const cookie = setCookie(res, name);
  if (cookie?.value !== '') return false;
  return cookie.attributes.some(
    (a) => /^max-age=0$/i.test(a) || (/^expires=/i.test(a) && Date.parse(a.slice(8)) <= Date.now()),
  );
}

/** Logs alice in as the first-party web client; returns the access token and the cookie value. */
export async function loginWeb(server: TestServer): Promise<{ access_token: string; cookie: string }> {
  const res = await post(`${server.url}/login`, { username: 'alice', password: ADMIN_PASSWORD });
  expect(res.status).toBe(200);
  const body = (await res.json()) as TokenBody;
  const cookie = setCookie(res);
  expect(cookie).toBeDefined();
  return { access_token: body.access_token, cookie: cookie!.value };
}

/** The headers a browser on the issuer's origin sends with the web client's cookie requests. */
/** The headers a browser sends on a cookie request from the issuer's own page. */
export interface BrowserHeaders extends Record<string, string> {
  cookie: string;
  origin: string;
  'x-tessera-csrf': string;
}

export function browserHeaders(server: TestServer, cookie: string): BrowserHeaders {
  return {
    cookie: `${REFRESH_COOKIE}=${cookie}`,
    origin: new URL(server.services.config.issuer).origin,
    'x-tessera-csrf': '1',
  };
}

export const refreshWeb = (server: TestServer, headers: Record<string, string>) =>
  request(`${server.url}/token/refresh`, { method: 'POST', headers });

/** Asserts an OAuth error answer: status, `error` code, no caching, and returns the body. */
export async function expectError(res: Response, status: number, error: string): Promise<ErrorBody> {
  const text = await res.text();
  expect({ status: res.status, text }).toMatchObject({ status });
  const body = JSON.parse(text) as ErrorBody;
  expect(body.error).toBe(error);
  expect(typeof body.error_description).toBe('string');
  expect(res.headers.get('content-type')).toMatch(/^application\/json/);
  expect(res.headers.get('cache-control')).toBe('no-store');
  return body;
}

export function expectSecurityHeaders(res: Response): void {
  for (const [name, value] of Object.entries(SECURITY_HEADERS)) expect(res.headers.get(name)).toBe(value);
}

/** An access token with every right claim, signed by a key the server never published. */
export async function foreignToken(server: TestServer, kid?: string): Promise<string> {
  const { privateKey } = await generateKeyPair('ES256');
  const alice = (await server.services.users.byUsername('alice'))!;
  return createSigner({
    key: privateKey,
    kid: kid ?? server.services.keys.signer().kid,
    typ: 'at+jwt',
    issuer: server.services.config.issuer,
    audience: server.services.config.audience,
    expiresIn: 900,
    jti: true,
    clock: server.now,
  }).sign({
    sub: alice.id,
    client_id: 'app',
    scope: 'openid',
    sid: 'sid_forged',
    ver: alice.tokenVersion,
    roles: ['admin'],
    permissions: [],
  });
}
