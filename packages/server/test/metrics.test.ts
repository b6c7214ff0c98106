import { afterEach, describe, expect, it } from 'vitest';
import { ADMIN_PASSWORD, post, removeDataDir, startServer, type TestServer } from './helpers.js';
import { request } from './requests.js';

/** `GET /metrics`: Prometheus counters, for the operator only (a token, or a listener of its own). */

const METRICS_TOKEN = 'metrics-token-0123456789abcdefghijklmnopqrstuv';
let server: TestServer;
afterEach(async () => {
  await server.close();
  await removeDataDir(server.dataDir);
});

async function loginAndRefresh(): Promise<void> {
  await server.services.clients.add({
    clientId: 'app',
    type: 'public',
    audiences: [server.services.config.audience],
    scopes: ['openid', 'profile', 'offline_access'],
  });
  const login = (password: string) =>
    post(`${server.url}/login`, { username: 'alice', password, client_id: 'app' });
  const ok = (await (await login(ADMIN_PASSWORD)).json()) as { refresh_token: string };
  expect((await login('wrong password, definitely')).status).toBe(400);
  const refreshed = await post(`${server.url}/token`, {
    grant_type: 'refresh_token',
    refresh_token: ok.refresh_token,
    client_id: 'app',
  });
  expect(refreshed.status).toBe(200);
}

function expectCounters(text: string): void {
  expect(text).toMatch(/^# HELP tessera_logins_total /m);
  expect(text).toMatch(/^# TYPE tessera_logins_total counter$/m);
  expect(text).toMatch(/^tessera_logins_total\{outcome="succeeded"\} 1$/m);
  expect(text).toMatch(/^tessera_logins_total\{outcome="failed"\} 1$/m);
  expect(text).toMatch(/^# TYPE tessera_refreshes_total counter$/m);
  expect(text).toMatch(/^tessera_refreshes_total\{outcome="rotated"\} 1$/m);
  expect(text).toMatch(/^tessera_http_requests_total\{route="\/login",status="200"\} 1$/m);
  expect(text).toMatch(/^tessera_revocation_entries 0$/m);
}

describe('GET /metrics on the main listener', () => {
  it('is not served at all unless the operator set a metrics token or port', async () => {
    server = await startServer();
    expect((await request(`${server.url}/metrics`)).status).toBe(404);
  });

  it('with metricsToken, is Prometheus text counting logins and refreshes by outcome', async () => {
    server = await startServer({ metricsToken: METRICS_TOKEN });
    await loginAndRefresh();
    const res = await request(`${server.url}/metrics`, {
      headers: { authorization: `Bearer ${METRICS_TOKEN}` },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expectCounters(await res.text());
  });

  it('with metricsToken, refuses a request without the token, or with another one', async () => {
    server = await startServer({ metricsToken: METRICS_TOKEN });
    const none = await request(`${server.url}/metrics`);
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toBe('Bearer realm="tessera-metrics"');
    for (const authorization of [
      `Bearer ${METRICS_TOKEN.slice(0, -1)}x`,
      `Bearer ${METRICS_TOKEN}x`,
      `Basic ${METRICS_TOKEN}`,
      METRICS_TOKEN,
    ]) {
      const res = await request(`${server.url}/metrics`, { headers: { authorization } });
      expect(res.status).toBe(401);
      expect(await res.text()).not.toContain('tessera_');
    }
  });
});

describe('the metrics listener (metricsPort)', () => {
  it('serves /metrics without a token on its own port, and nothing else; the main listener does not serve them', async () => {
    server = await startServer({ metricsPort: 0 });
    expect(server.metricsUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    await loginAndRefresh();
    const res = await fetch(server.metricsUrl!);
    expect(res.status).toBe(200);
    expectCounters(await res.text());
    expect((await fetch(server.metricsUrl!.replace('/metrics', '/login'))).status).toBe(404);
    expect((await request(`${server.url}/metrics`)).status).toBe(404);
  });
});
