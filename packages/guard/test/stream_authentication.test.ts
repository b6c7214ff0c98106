import { inspect } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createGuard, type Guard, type GuardOptions } from '../src/index.js';
import { resolveOptions } from '../src/options.js';
import { guardFor, refusal, type TestLogger } from './helpers/guard.js';
import { AUDIENCE, startIssuer, type TestIssuer, waitFor } from './helpers/issuer.js';

// Tessera's server requires resource-server authentication on GET /revocations: the guard is a
// confidential client and sends HTTP Basic (RFC 6749 §2.3.1). The test issuer checks it the same way.

const CLIENT = { id: 'orders-api', secret: 'k3y:with spaces+/%~!' };
/**
 * RFC 6749 §2.3.1 by hand: each part application/x-www-form-urlencoded (":" → %3A, " " → "+",
 * "+" → %2B, "/" → %2F, "%" → %25, "~" → %7E, "!" → %21), joined by ":", then base64.
 */
const EXPECTED_AUTHORIZATION = `Basic ${Buffer.from('orders-api:k3y%3Awith+spaces%2B%2F%25%7E%21').toString('base64')}`;

let issuer: TestIssuer;
const guards: Guard[] = [];

beforeEach(async () => {
  issuer = await startIssuer();
});

afterEach(async () => {
  for (const guard of guards.splice(0)) await guard.close();
  await issuer.close();
});

function start(options: Partial<GuardOptions> = {}): { guard: Guard; logger: TestLogger } {
  const started = guardFor(issuer, { client: CLIENT, ...options });
  guards.push(started.guard);
  return started;
}

/** Resolves once the issuer has answered `count` stream requests. */
function attempts(count: number, what = `${count} stream requests`): Promise<void> {
  return waitFor(() => issuer.connections.length >= count, 5000, what);
}

describe('client authentication to the revocation stream (RFC 6749 §2.3.1)', () => {
  it('sends the client credentials on the first connection and on every reconnection', async () => {
    issuer.streamClient = CLIENT;
    const { guard } = start();
    await guard.ready();
    issuer.drop();
    await waitFor(
      () => issuer.connections.length === 2 && issuer.openStreams === 1,
      3000,
      'the reconnection',
    );
    await waitFor(() => guard.health().revocations.state === 'live', 2000, 'live again');
    expect(issuer.connections.map((c) => [c.authorization, c.status])).toEqual([
      [EXPECTED_AUTHORIZATION, 200],
      [EXPECTED_AUTHORIZATION, 200],
    ]);
  });

  it('sends no Authorization header without options.client', async () => {
    const { guard } = start({ client: undefined });
    await guard.ready();
    expect(issuer.connections[0]?.authorization).toBeUndefined();
  });

  it('wrong credentials: not live, lastError says so, one error logged however often it retries', async () => {
    issuer.streamClient = { id: CLIENT.id, secret: 'the-rotated-secret' };
    const { guard, logger } = start({ readyTimeout: 0.3 });
    await expect(guard.ready()).rejects.toThrow(
      /first revocation snapshot .*\(last error: the issuer refused the client credentials of "orders-api" on the revocation stream \(HTTP 401\): check options\.client\)/,
    );
    await attempts(3);
    expect(issuer.connections.every((c) => c.status === 401)).toBe(true);
    expect(guard.health()).toMatchObject({
      ready: false,
      revocations: { state: 'connecting', lastError: expect.stringContaining('HTTP 401') },
    });
    expect(logger.errors).toEqual([
      {
        fields: { source: issuer.url, status: 401, client: 'orders-api' },
        message:
          'the issuer refused the client credentials of "orders-api" on the revocation stream (HTTP 401): check options.client; retrying',
      },
    ]);
    // Fail-closed: valid tokens get 503 meanwhile.
    expect((await refusal(guard, issuer.token())).status).toBe(503);
  });

  it('credentials the issuer accepts later (client registered, secret rotated back): live, error cleared', async () => {
    issuer.streamClient = { id: CLIENT.id, secret: 'not-yet' };
    const { guard, logger } = start();
    await attempts(2);
    issuer.streamClient = CLIENT;
    await guard.ready();
    expect(guard.health()).toMatchObject({ ready: true, revocations: { state: 'live', lastError: null } });
    expect(logger.infos.map((entry) => entry.message)).toEqual(['the revocation stream is live again']);
    expect(logger.errors).toHaveLength(1);
  });

  it('a stream that requires a client the guard was not given: lastError says to set options.client', async () => {
    issuer.streamClient = CLIENT;
    const { guard, logger } = start({ client: undefined });
    await attempts(1);
    await waitFor(() => guard.health().revocations.lastError !== null, 2000, 'the error');
    expect(guard.health().revocations.lastError).toBe(
      "the issuer's revocation stream requires client authentication (HTTP 401): set options.client to the guard's client at the issuer",
    );
    expect(logger.errors).toHaveLength(1);
  });

  it('403 (a client not allowed to read revocations) is an error too, logged again when the cause changes', async () => {
    issuer.streamClient = { id: CLIENT.id, secret: 'other' };
    const { guard, logger } = start();
    await attempts(2);
    issuer.streamClient = CLIENT;
    issuer.forbidStreams = true;
    await waitFor(() => issuer.connections.some((c) => c.status === 403), 3000, 'a 403');
    await waitFor(() => logger.errors.length === 2, 2000, 'the second error');
    expect(logger.errors.map((entry) => (entry.fields as { status: number }).status)).toEqual([401, 403]);
    expect(guard.health().revocations.lastError).toBe(
      'the issuer does not allow the client "orders-api" to read its revocation stream (HTTP 403)',
    );
    issuer.forbidStreams = false;
    await guard.ready();
  });

  it('an outage after a refused client is an outage: a warning, and lastError says what changed', async () => {
    issuer.streamClient = { id: CLIENT.id, secret: 'other' };
    const { guard, logger } = start();
    await attempts(2);
    issuer.streamClient = undefined;
    issuer.refuseStreams = true;
    await waitFor(() => issuer.connections.some((c) => c.status === 503), 3000, 'a 503');
    await waitFor(() => logger.warnings.length === 1, 2000, 'the warning');
    expect(logger.warnings[0]?.message).toBe('the revocation stream failed; reconnecting');
    expect(logger.errors).toHaveLength(1);
    expect(guard.health().revocations.lastError).toBe(
      'the revocation stream failed (the revocation stream answered HTTP 503 (no type))',
    );
  });

  it('never writes the secret: not in logs, health, errors, refusals or the resolved options', async () => {
    issuer.streamClient = { id: CLIENT.id, secret: 'the-rotated-secret' };
    const { guard, logger } = start({ readyTimeout: 0.3 });
    const notReady = await guard.ready().catch((err: unknown) => err as Error);
    await attempts(3);
    const refused = await refusal(guard, issuer.token());
    const options = resolveOptions({ issuer: issuer.url, audience: AUDIENCE, client: CLIENT });
    const written = [
      JSON.stringify(logger),
      JSON.stringify(guard.health()),
      inspect(notReady, { depth: null, showHidden: true }),
      `${refused.message} ${refused.reason} ${JSON.stringify(refused)} ${inspect(refused, { showHidden: true })}`,
      JSON.stringify(options),
      inspect(options, { depth: null, showHidden: true, getters: true }),
    ];
    for (const text of written) {
      expect(text).not.toContain(CLIENT.secret);
      expect(text).not.toContain('k3y%3Awith');
      expect(text).not.toContain(EXPECTED_AUTHORIZATION.slice('Basic '.length));
    }
    // The client id is what an operator needs to find the registration; it is not a secret.
    expect(JSON.stringify(options)).toContain('"client":{"id":"orders-api"}');
  });
});

describe('the issuer at its stream caps (429)', () => {
  it('honours Retry-After before reconnecting, and is live once the cap lifts', async () => {
    issuer.limitStreams = { retryAfter: '1' };
    const { guard, logger } = start();
    await attempts(1);
    await waitFor(() => guard.health().revocations.lastError !== null, 2000, 'the error');
    expect(guard.health().revocations.lastError).toMatch(
      /^the issuer's revocation stream is at its connection limit \(HTTP 429\); retrying in [12] s$/,
    );
    const refusedAt = performance.now();
    issuer.limitStreams = undefined;
    await guard.ready();
    // The first back-off would have been 125–250 ms: the guard waited for the server's second.
    expect(performance.now() - refusedAt).toBeGreaterThanOrEqual(950);
    expect(issuer.connections.map((c) => c.status)).toEqual([429, 200]);
    // Transient, the issuer's load: a warning, not a configuration error.
    expect(logger.errors).toEqual([]);
    expect(logger.warnings.map((entry) => (entry.fields as { status: number }).status)).toEqual([429]);
  });

  it('without Retry-After, backs off as after any failure', async () => {
    issuer.limitStreams = { retryAfter: null };
    const { guard } = start();
    await attempts(2);
    const [first, second] = issuer.connections;
    // The first back-off step is 125–250 ms.
    expect(second!.at - first!.at).toBeLessThan(1000);
    issuer.limitStreams = undefined;
    await guard.ready();
  });

  it('accepts Retry-After as an HTTP-date (RFC 9110 §10.2.3)', async () => {
    issuer.limitStreams = { retryAfter: new Date(Date.now() + 3000).toUTCString() };
    const { guard } = start();
    await attempts(1);
    await waitFor(() => guard.health().revocations.lastError !== null, 2000, 'the error');
    // An HTTP-date has whole seconds: 2 to 3 s from now, plus up to 10% spread (the first back-off
    // alone would say 1 s).
    expect(guard.health().revocations.lastError).toMatch(/retrying in [234] s$/);
    issuer.limitStreams = undefined;
  });
});

describe('credentials and plain http', () => {
  // The rule is the issuer URL's: https, or plain http only to the loopback or with
  // allowInsecureHttp. The stream's URL meets it before any credentials are sent to it.

  it('refuses a plain-http stream URL on another host at createGuard', () => {
    expect(() =>
      createGuard({
        issuer: 'https://auth.example.com',
        audience: AUDIENCE,
        revocations: { url: 'http://auth.example.com/revocations' },
        client: CLIENT,
      }),
    ).toThrow(/options\.revocations\.url must use https/);
  });

  it('never connects to a plain-http stream on another host that discovery names', async () => {
    const requested: string[] = [];
    issuer.metadata = { revocation_events_endpoint: 'http://auth.internal.example/revocations' };
    const { guard } = start({
      fetch: (url, init) => {
        requested.push(String(url));
        return fetch(url, init);
      },
    });
    await expect(guard.ready()).rejects.toThrow(/revocation_events_endpoint must use https/);
    expect(requested.filter((url) => url.includes('auth.internal'))).toEqual([]);
  });

  it('sends them over plain http to another host with allowInsecureHttp', async () => {
    issuer.streamClient = CLIENT;
    // auth.internal.example stands for a host on a trusted network; the fetch takes it to the issuer.
    const internal = 'http://auth.internal.example';
    const { guard } = start({
      issuer: internal,
      allowInsecureHttp: true,
      algorithms: ['ES256'],
      jwksUri: `${internal}/jwks`,
      revocations: { url: `${internal}/revocations` },
      fetch: (url, init) => fetch(String(url).replace(internal, issuer.url), init),
    });
    await guard.ready();
    expect(issuer.connections[0]?.authorization).toBe(EXPECTED_AUTHORIZATION);
  });
});
