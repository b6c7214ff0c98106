import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ADMIN_PASSWORD, post, stopServer, type TestServer } from './helpers.js';
import {
  basic,
  expectError,
  expectSecurityHeaders,
  form,
  startEndpointServer,
  type TokenBody,
  userinfo,
} from './http.js';
import { request } from './requests.js';

let server: TestServer;
let backendSecret: string;
beforeEach(async () => {
  ({ server, backendSecret } = await startEndpointServer());
});
afterEach(() => stopServer(server));

const login = (body: unknown, headers: Record<string, string> = {}) =>
  post(`${server.url}/login`, body, headers);
const good = { username: 'alice', password: ADMIN_PASSWORD, client_id: 'app' };

/** Every header but `date`, for comparing two answers byte for byte. */
async function snapshot(res: Response) {
  const headers = [...res.headers.entries()].filter(([name]) => name !== 'date');
  return { status: res.status, headers, body: await res.text() };
}

describe('POST /login', () => {
  it('refuses missing, extra, wrong-typed, empty and overlong fields with 400 invalid_request', async () => {
    const bad: unknown[] = [
      { password: ADMIN_PASSWORD, client_id: 'app' },
      { username: 'alice', client_id: 'app' },
      {},
      { ...good, remember_me: true },
      { ...good, client_secret: 'x' },
      { ...good, username: 42 },
      { ...good, password: ['correct horse battery staple'] },
      { ...good, password: { $ne: '' } },
      { ...good, client_id: 7 },
      { ...good, scope: ['openid'] },
      { ...good, username: '' },
      { ...good, password: '' },
      { ...good, client_id: '' },
      { ...good, username: 'a'.repeat(65) },
      { ...good, password: 'p'.repeat(1025) },
      { ...good, scope: 's'.repeat(1025) },
      null,
      [good],
      'alice',
    ];
    for (const body of bad) {
      const res = await login(body);
      expectSecurityHeaders(res);
      await expectError(res, 400, 'invalid_request');
    }
    // Malformed JSON is a 400 too.
    const malformed = await request(`${server.url}/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"username": "alice", "password": ',
    });
    await expectError(malformed, 400, 'invalid_request');
    // Neither a parse error nor prototype poisoning echoes the body back.
    for (const raw of [
      `{"username":"alice","password":"${ADMIN_PASSWORD}" x}`,
      `{"__proto__":{"admin":true},"username":"alice","password":"${ADMIN_PASSWORD}"}`,
      `{"constructor":{"prototype":{"admin":true}},"username":"alice","password":"${ADMIN_PASSWORD}"}`,
    ]) {
      const res = await request(`${server.url}/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: raw,
      });
      const error = await expectError(res, 400, 'invalid_request');
      expect(JSON.stringify(error)).not.toContain(ADMIN_PASSWORD);
    }
    await expectError(
      await request(`${server.url}/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: `__proto__=x&username=alice&password=${encodeURIComponent(ADMIN_PASSWORD)}`,
      }),
      400,
      'invalid_request',
    );
    // None of these counted as a failed login: the real password still works at once.
    expect((await login(good)).status).toBe(200);
  });

  it('accepts the longest allowed username and password lengths as ordinary failures', async () => {
    await expectError(await login({ ...good, username: 'a'.repeat(64) }), 400, 'invalid_grant');
    await expectError(await login({ ...good, password: 'p'.repeat(1024) }), 400, 'invalid_grant');
  });

  it('accepts only JSON and forms: text/plain and multipart get 415 invalid_request', async () => {
    const text = await request(`${server.url}/login`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: JSON.stringify(good),
    });
    expectSecurityHeaders(text);
    await expectError(text, 415, 'invalid_request');

    const multipart = new FormData();
    for (const [name, value] of Object.entries(good)) multipart.append(name, value);
    const mp = await request(`${server.url}/login`, { method: 'POST', body: multipart });
    expect(mp.headers.get('x-content-type-options')).toBe('nosniff');
    await expectError(mp, 415, 'invalid_request');

    const xml = await request(`${server.url}/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/xml' },
      body: '<login/>',
    });
    await expectError(xml, 415, 'invalid_request');
  });

  it('accepts a form-encoded body', async () => {
    const res = await form(`${server.url}/login`, good);
    expect(res.status).toBe(200);
    const body = (await res.json()) as TokenBody;
    expect(body).toMatchObject({ token_type: 'Bearer', scope: 'openid profile offline_access' });
    expect((await userinfo(server, body.access_token)).status).toBe(200);
  });

  it('refuses a form with a repeated field (RFC 6749 §3.2) and extra form fields', async () => {
    await expectError(
      await form(`${server.url}/login`, { ...good, username: ['alice', 'bob'] }),
      400,
      'invalid_request',
    );
    await expectError(await form(`${server.url}/login`, { ...good, extra: '1' }), 400, 'invalid_request');
  });

  it('refuses bodies over 16 KiB with 413 invalid_request, JSON or form', async () => {
    const big = { ...good, scope: 'openid '.repeat(3000) };
    const json = await login(big);
    expectSecurityHeaders(json);
    await expectError(json, 413, 'invalid_request');
    await expectError(await form(`${server.url}/login`, big), 413, 'invalid_request');
  });

  it('answers an unknown client 401 invalid_client with a Basic challenge', async () => {
    const res = await login({ ...good, client_id: 'nope' });
    expect(res.headers.get('www-authenticate')).toBe('Basic realm="tessera"');
    await expectError(res, 401, 'invalid_client');
  });

  it('does not log a confidential client in with a password: 400 unauthorized_client', async () => {
    const res = await login(
      { username: 'alice', password: ADMIN_PASSWORD },
      { authorization: basic('backend', backendSecret) },
    );
    await expectError(res, 400, 'unauthorized_client');
    // Without its secret the confidential client does not even authenticate.
    await expectError(await login({ ...good, client_id: 'backend' }), 401, 'invalid_client');
    // A public client has no secret to send.
    await expectError(
      await login({ username: 'alice', password: ADMIN_PASSWORD }, { authorization: basic('app', 'x') }),
      401,
      'invalid_client',
    );
  });

  it('refuses a scope the client may not ask for with 400 invalid_scope', async () => {
    await expectError(await login({ ...good, scope: 'openid admin' }), 400, 'invalid_scope');
    const narrowed = (await (await login({ ...good, scope: 'openid' })).json()) as TokenBody;
    expect(narrowed.scope).toBe('openid');
  });

  it('gives a wrong password, an unknown user and a disabled user the identical answer', async () => {
    const wrong = await snapshot(await login({ ...good, password: 'not the password at all' }));
    const unknown = await snapshot(await login({ ...good, username: 'mallory' }));
    expect(wrong.status).toBe(400);
    expect(JSON.parse(wrong.body)).toEqual({
      error: 'invalid_grant',
      error_description: 'invalid username or password',
    });
    expect(unknown).toEqual(wrong);

    const bob = await server.services.users.create('bob', 'bob password 12345');
    await server.services.users.disable(bob.id);
    const disabled = await snapshot(
      await login({ username: 'bob', password: 'bob password 12345', client_id: 'app' }),
    );
    expect(disabled).toEqual(wrong);
    const disabledWrong = await snapshot(
      await login({ username: 'bob', password: 'wrong password 123', client_id: 'app' }),
    );
    expect(disabledWrong).toEqual(wrong);
  });
});

describe('POST /login from a browser (login CSRF)', () => {
  const web = { username: 'alice', password: ADMIN_PASSWORD };

  it('refuses a web-client login posted from another origin with 403 invalid_request, and sets no cookie', async () => {
    const res = await login(web, { origin: 'https://evil.example' });
    await expectError(res, 403, 'invalid_request');
    expect(res.headers.get('set-cookie')).toBeNull();
  });

  it('accepts a web-client login from the issuer origin and from non-browser callers without Origin', async () => {
    const origin = new URL(server.services.config.issuer).origin;
    expect((await login(web, { origin })).status).toBe(200);
    expect((await login(web)).status).toBe(200);
  });
});
