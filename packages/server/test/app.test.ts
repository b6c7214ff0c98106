import { connect, type Socket } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ADMIN_PASSWORD, post, removeDataDir, startServer, stopServer, type TestServer } from './helpers.js';
import { expectError, expectSecurityHeaders, loginApp, startEndpointServer, userinfo } from './http.js';
import { request } from './requests.js';

let server: TestServer;
beforeEach(async () => {
  ({ server } = await startEndpointServer());
});
afterEach(() => stopServer(server));

const login = (body: unknown, headers: Record<string, string> = {}) =>
  post(`${server.url}/login`, body, headers);
const good = { username: 'alice', password: ADMIN_PASSWORD, client_id: 'app' };

describe('everything else', () => {
  it('an unknown route is a 404 JSON error with the security headers', async () => {
    for (const [method, path] of [
      ['GET', '/nope'],
      ['POST', '/nope'],
      ['GET', '/login'],
      ['DELETE', '/token'],
      ['GET', '/../etc/passwd'],
    ] as const) {
      const res = await request(`${server.url}${path}`, { method });
      expectSecurityHeaders(res);
      await expectError(res, 404, 'invalid_request');
    }
  });

  it('every response carries the security headers', async () => {
    const { access_token } = await loginApp(server);
    const responses = [
      await request(`${server.url}/.well-known/jwks.json`),
      await request(`${server.url}/.well-known/oauth-authorization-server`),
      await userinfo(server, access_token),
      await login({ ...good, password: 'wrong password 12' }),
      await login(good),
      await request(`${server.url}/nope`),
      await post(`${server.url}/token`, {}),
      await post(`${server.url}/revoke`, { token: 'x', client_id: 'app' }),
    ];
    for (const res of responses) {
      expectSecurityHeaders(res);
      expect(res.headers.get('cross-origin-resource-policy')).toBe('same-origin');
      // An http:// issuer: no HSTS (it would be ignored anyway, and would pin the wrong thing).
      expect(res.headers.get('strict-transport-security')).toBeNull();
      await res.arrayBuffer();
    }
  });

  it('error answers set no cookies', async () => {
    const res = await post(`${server.url}/login`, { ...good, password: 'wrong password 12' });
    expect(res.headers.getSetCookie()).toEqual([]);
    await res.arrayBuffer();
    const web = await login({ username: 'alice', password: 'wrong password 12' });
    expect(web.headers.getSetCookie()).toEqual([]);
    await web.arrayBuffer();
  });
});

describe('slow clients are cut off', () => {
  /** A raw connection to the server; resolves with everything it answered once the server closes it. */
  function slowClient(url: string, send: (socket: Socket) => void): Promise<string> {
    const { hostname, port } = new URL(url);
    return new Promise((resolve, reject) => {
      let answer = '';
      const socket = connect(Number(port), hostname, () => send(socket));
      socket.setEncoding('utf8');
      socket.on('data', (chunk) => {
        answer += chunk;
      });
      socket.on('error', reject);
      socket.on('close', () => resolve(answer));
    });
  }

  it('a body that never finishes arriving gets 408 once requestTimeout has passed', async () => {
    await server.close();
    await removeDataDir(server.dataDir);
    server = await startServer({ requestTimeout: 1, headersTimeout: 1 });
    const answer = await slowClient(server.url, (socket) => {
      socket.write(
        'POST /token HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{"grant',
      );
    });
    expect(answer).toMatch(/^HTTP\/1\.1 408 /);
  });

  it('headers that never finish arriving are cut off once headersTimeout has passed', async () => {
    await server.close();
    await removeDataDir(server.dataDir);
    server = await startServer({ requestTimeout: 2, headersTimeout: 1 });
    const answer = await slowClient(server.url, (socket) => {
      socket.write('GET /healthz HTTP/1.1\r\nhost: x\r\n');
    });
    expect(answer).toMatch(/^HTTP\/1\.1 408 /);
  });

  it('has finite limits by default', () => {
    expect(server.services.config.headersTimeout).toBe(10);
    expect(server.services.config.requestTimeout).toBe(30);
    expect(server.app.server.requestTimeout).toBe(30_000);
    expect(server.app.server.headersTimeout).toBe(10_000);
  });
});
