import { generateKeyPair } from '@tessera/jose';
import { afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Guard } from '../src/index.js';
import {
  buildForChild,
  closedPort,
  guardFor,
  refusal,
  runCloseAndExit,
  type TestLogger,
} from './helpers/guard.js';
import { AUDIENCE, bearer, startIssuer, type TestIssuer, waitFor } from './helpers/issuer.js';

let issuer: TestIssuer;
const guards: Guard[] = [];

beforeEach(async () => {
  issuer = await startIssuer();
});

afterEach(async () => {
  for (const guard of guards.splice(0)) await guard.close();
  await issuer.close();
});

/** A guard on the issuer's stream, closed after the test. */
function start(options: Parameters<typeof guardFor>[1] = {}): { guard: Guard; logger: TestLogger } {
  const started = guardFor(issuer, options);
  guards.push(started.guard);
  return started;
}

async function accepted(guard: Guard, token: string): Promise<boolean> {
  return guard.authenticate(bearer(token)).then(
    () => true,
    () => false,
  );
}

function seconds(fromNow: number): number {
  return Math.floor(issuer.clock.now() / 1000) + fromNow;
}

describe('revocations from the event stream', () => {
  it('refuses a token revoked by jti in the snapshot, and only that token', async () => {
    const revoked = issuer.token({ jti: 'jti-revoked' });
    issuer.push({ kind: 'jti', value: 'jti-revoked' });
    const { guard } = start();
    await guard.ready();
    const err = await refusal(guard, revoked);
    expect(err.status).toBe(401);
    expect(err.error).toBe('invalid_token');
    expect(err.reason).toBe('revoked (jti)');
    expect(await accepted(guard, issuer.token())).toBe(true);
  });

  it('refuses a token revoked by jti live, within milliseconds of the event', async () => {
    const { guard } = start();
    await guard.ready();
    const token = issuer.token({ jti: 'jti-live' });
    expect(await accepted(guard, token)).toBe(true);
    issuer.push({ kind: 'jti', value: 'jti-live' });
    await waitFor(() => guard.health().revocations.entries === 1, 2000, 'the live event');
    expect((await refusal(guard, token)).reason).toBe('revoked (jti)');
  });

  it('refuses every token of a session revoked by sid, from the snapshot and live', async () => {
    issuer.push({ kind: 'sid', value: 'session-a' });
    const { guard } = start();
    await guard.ready();
    expect((await refusal(guard, issuer.token({ sid: 'session-a' }))).reason).toBe('revoked (sid)');
    expect((await refusal(guard, issuer.token({ sid: 'session-a' }))).reason).toBe('revoked (sid)');
    const other = issuer.token({ sid: 'session-b' });
    expect(await accepted(guard, other)).toBe(true);
    issuer.push({ kind: 'sid', value: 'session-b' });
    await waitFor(() => guard.health().revocations.entries === 2, 2000, 'the live event');
    expect((await refusal(guard, other)).reason).toBe('revoked (sid)');
  });

  it('refuses tokens of a subject below the revoked version, keeps those at or above it', async () => {
    issuer.push({ kind: 'sub', value: 'user-1', ver: 4 });
    const { guard } = start();
    await guard.ready();
    expect((await refusal(guard, issuer.token({ ver: 3 }))).reason).toBe('revoked (sub)');
    expect(await accepted(guard, issuer.token({ ver: 4 }))).toBe(true);
    expect(await accepted(guard, issuer.token({ ver: 5 }))).toBe(true);
    // A token without a numeric ver predates versioning: any version bump revokes it.
    expect((await refusal(guard, issuer.token({}, { omit: ['ver'] }))).reason).toBe('revoked (sub)');
    expect(await accepted(guard, issuer.token({ sub: 'user-2', ver: 1 }))).toBe(true);
  });

  it('keeps the highest version when a subject is revoked several times, live', async () => {
    const { guard } = start();
    await guard.ready();
    const token = issuer.token({ ver: 4 });
    expect(await accepted(guard, token)).toBe(true);
    issuer.push({ kind: 'sub', value: 'user-1', ver: 5 }, 'e1');
    issuer.push({ kind: 'sub', value: 'user-1', ver: 2 }, 'e2');
    await waitFor(() => guard.health().revocations.lastEventId === 'e2', 2000, 'both events');
    expect((await refusal(guard, token)).reason).toBe('revoked (sub)');
    expect(await accepted(guard, issuer.token({ ver: 5 }))).toBe(true);
  });

  it('answers a revoked token exactly like a bad signature, a wrong issuer or a wrong audience', async () => {
    issuer.push({ kind: 'jti', value: 'jti-revoked' });
    const { guard } = start();
    await guard.ready();
    const { privateKey } = await generateKeyPair('ES256', { kid: 'key-1' });
    const failures = [
      await refusal(guard, issuer.token({ jti: 'jti-revoked' })),
      await refusal(guard, issuer.token({}, { key: privateKey })),
      await refusal(guard, issuer.token({}, { issuer: 'https://evil.example.com' })),
      await refusal(guard, issuer.token({}, { audience: 'https://other.example.com' })),
    ];
    const answers = failures.map((err) => ({
      status: err.status,
      headers: err.headers,
      body: JSON.stringify(err),
      message: err.message,
    }));
    for (const answer of answers) expect(answer).toEqual(answers[0]);
    expect(answers[0]!.body).not.toMatch(/revok|signature|issuer|audience/i);
    // The reasons differ, for the API's own logs.
    expect(new Set(failures.map((err) => err.reason)).size).toBe(4);
  });

  it('checks revocations only after the signature and claims: a forged token cannot probe the set', async () => {
    issuer.push({ kind: 'jti', value: 'jti-revoked' });
    const { guard } = start();
    await guard.ready();
    const { privateKey } = await generateKeyPair('ES256', { kid: 'key-1' });
    const forged = await refusal(guard, issuer.token({ jti: 'jti-revoked' }, { key: privateKey }));
    expect(forged.reason).toContain('ERR_JWS_SIGNATURE_VERIFICATION_FAILED');
    const expired = issuer.token({ jti: 'jti-revoked' }, { expiresIn: 1 });
    issuer.clock.advance(1000);
    expect((await refusal(guard, expired)).reason).toContain('ERR_JWT_EXPIRED');
  });

  it('drops entries when they expire, on the prune timer, so memory stays bounded', async () => {
    // Only the interval timers are faked: HTTP and the stream keep real time.
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    try {
      issuer.push({ kind: 'jti', value: 'short', expires_at: seconds(60) });
      issuer.push({ kind: 'sid', value: 'long', expires_at: seconds(600) });
      issuer.push({ kind: 'sub', value: 'user-9', ver: 2, expires_at: seconds(120) });
      issuer.push({ kind: 'jti', value: 'already-expired', expires_at: seconds(-1) });
      const { guard } = start({ onStale: 'fail-open' });
      await guard.ready();
      expect(guard.health().revocations.entries).toBe(3);
      issuer.clock.advance(61_000);
      expect(guard.health().revocations.entries).toBe(3);
      vi.advanceTimersByTime(60_000);
      expect(guard.health().revocations.entries).toBe(2);
      issuer.clock.advance(60_000);
      vi.advanceTimersByTime(60_000);
      expect(guard.health().revocations.entries).toBe(1);
      issuer.clock.advance(480_000);
      vi.advanceTimersByTime(60_000);
      expect(guard.health().revocations.entries).toBe(0);
    } finally {
      vi.useRealTimers();
    }
  });

  it('ignores malformed events and logs them without their values', async () => {
    const { guard, logger } = start();
    await guard.ready();
    issuer.write('id: 7\nevent: revocation\ndata: {"kind":"jti","value":"secret-value","ver":null}\n\n');
    issuer.write('id: 8\nevent: revocation\ndata: not json at all secret-value\n\n');
    issuer.write(
      'id: 9\nevent: revocation\ndata: {"kind":"nope","value":"secret-value","ver":null,"expires_at":1}\n\n',
    );
    issuer.push({ kind: 'jti', value: 'good' }, '10');
    await waitFor(() => guard.health().revocations.lastEventId === '10', 2000, 'the valid event');
    expect(guard.health().revocations.entries).toBe(1);
    const malformed = logger.warnings.filter((w) => w.message.includes('malformed'));
    expect(malformed).toHaveLength(3);
    expect(JSON.stringify(logger.warnings)).not.toContain('secret-value');
    expect((await refusal(guard, issuer.token({ jti: 'good' }))).reason).toBe('revoked (jti)');
  });
});

describe('reconnecting', () => {
  it('sends Last-Event-ID and receives only what it missed', async () => {
    issuer.push({ kind: 'jti', value: 'first' });
    issuer.push({ kind: 'jti', value: 'second' }, '1733044000000-0');
    const { guard } = start();
    await guard.ready();
    expect(guard.health().revocations.lastEventId).toBe('1733044000000-0');
    issuer.drop();
    const missed = issuer.push({ kind: 'jti', value: 'while-away' }, '1733044000001-0');
    await waitFor(
      () => issuer.openStreams === 1 && issuer.connections.length === 2,
      3000,
      'the reconnection',
    );
    expect(issuer.connections[0]!.lastEventId).toBeUndefined();
    expect(issuer.connections[1]!.lastEventId).toBe('1733044000000-0');
    await waitFor(() => guard.health().revocations.lastEventId === missed, 2000, 'the missed event');
    expect((await refusal(guard, issuer.token({ jti: 'while-away' }))).reason).toBe('revoked (jti)');
    issuer.push({ kind: 'jti', value: 'after' }, '1733044000002-0');
    await waitFor(() => guard.health().revocations.entries === 4, 2000, 'the live event');
    expect((await refusal(guard, issuer.token({ jti: 'after' }))).reason).toBe('revoked (jti)');
  });

  it('applies events without an id and resumes from the last id the stream gave', async () => {
    issuer.push({ kind: 'jti', value: 'with-id' }, '100');
    const { guard } = start();
    await guard.ready();
    // The server sends id-less events while its shared stream is down (WHATWG: the id is kept).
    const data = { kind: 'jti', value: 'without-id', ver: null, expires_at: seconds(3600) };
    issuer.write(`event: revocation\ndata: ${JSON.stringify(data)}\n\n`);
    await waitFor(() => guard.health().revocations.entries === 2, 2000, 'the id-less event');
    expect(guard.health().revocations.lastEventId).toBe('100');
    expect((await refusal(guard, issuer.token({ jti: 'without-id' }))).reason).toBe('revoked (jti)');
    issuer.drop();
    await waitFor(() => issuer.connections.length === 2, 3000, 'the reconnection');
    expect(issuer.connections[1]!.lastEventId).toBe('100');
  });

  it('reconnects without Last-Event-ID when it saw no event, and gets the full snapshot', async () => {
    const { guard } = start();
    await guard.ready();
    issuer.drop();
    issuer.push({ kind: 'sid', value: 'while-away' });
    await waitFor(() => guard.health().revocations.entries === 1, 3000, 'the snapshot after reconnecting');
    expect(issuer.connections.map((c) => c.lastEventId)).toEqual([undefined, undefined]);
  });

  it('backs off exponentially, with jitter, while the stream is unreachable', async () => {
    const port = await closedPort();
    const attempts: number[] = [];
    const url = `http://127.0.0.1:${port}/revocations`;
    start({
      revocations: { url },
      fetch: (input, init) => {
        if (String(input) === url) attempts.push(performance.now());
        return fetch(input, init);
      },
    });
    await waitFor(() => attempts.length >= 4, 5000, 'four attempts');
    const gaps = attempts.slice(1).map((at, i) => at - attempts[i]!);
    // Delays are uniform in [d/2, d] for d = 250, 500, 1000 ms: never shorter than half, and growing.
    expect(gaps[0]).toBeGreaterThanOrEqual(120);
    expect(gaps[0]).toBeLessThan(450);
    expect(gaps[1]).toBeGreaterThanOrEqual(245);
    expect(gaps[2]).toBeGreaterThanOrEqual(495);
    expect(gaps[2]).toBeGreaterThan(gaps[0]!);
  });

  it("honours the server's retry: and starts again from it after a healthy connection", async () => {
    issuer.retry = 600;
    const { guard } = start();
    await guard.ready();
    for (let round = 0; round < 2; round++) {
      const dropped = performance.now();
      const before = issuer.connections.length;
      issuer.drop();
      await waitFor(
        () => issuer.connections.length > before && issuer.openStreams === 1,
        3000,
        'reconnection',
      );
      const waited = performance.now() - dropped;
      // Uniform in [300, 600] ms each time: the healthy connection reset the back-off.
      expect(waited).toBeGreaterThanOrEqual(290);
      expect(waited).toBeLessThan(1100);
      await waitFor(() => guard.health().revocations.state === 'live', 2000, 'live');
    }
  });

  it('keeps retrying when the stream answers with an error, and recovers', async () => {
    issuer.refuseStreams = true;
    const { guard } = start({ readyTimeout: 0.3 });
    await expect(guard.ready()).rejects.toThrow(/first revocation snapshot .*\(last error: .*HTTP 503/);
    expect(guard.health().revocations.state).toBe('connecting');
    issuer.refuseStreams = false;
    await waitFor(() => guard.health().revocations.state === 'live', 4000, 'recovery');
    await guard.ready();
  });

  it('drops a stream whose line exceeds the size cap, and reconnects', async () => {
    const { guard, logger } = start();
    await guard.ready();
    issuer.write(`data: ${'x'.repeat(70 * 1024)}`);
    await waitFor(() => issuer.connections.length === 2, 3000, 'a new connection');
    expect(logger.warnings.some((w) => JSON.stringify(w).includes('longer than'))).toBe(true);
  });
});

describe('staleness', () => {
  it('fail-closed: answers 503 with Retry-After once nothing proved liveness for staleAfter', async () => {
    const { guard } = start({ staleAfter: 30 });
    await guard.ready();
    const token = issuer.token();
    expect(await accepted(guard, token)).toBe(true);
    issuer.clock.advance(30_000);
    expect(await accepted(guard, token)).toBe(true);
    issuer.clock.advance(1_000);
    const err = await refusal(guard, token);
    expect(err.status).toBe(503);
    expect(err.toJSON().error).toBe('temporarily_unavailable');
    expect(err.headers['retry-after']).toBe('5');
    expect(err.headers['www-authenticate']).toBeUndefined();
    expect(err.reason).toMatch(/stale/);
    expect(guard.health()).toMatchObject({ ready: false, revocations: { state: 'stale' } });
  });

  it('a heartbeat proves liveness again; other comments do not', async () => {
    const { guard } = start();
    await guard.ready();
    issuer.clock.advance(31_000);
    const token = issuer.token();
    issuer.comment('something else');
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(guard.health().revocations.state).toBe('stale');
    issuer.comment('heartbeat');
    await waitFor(() => guard.health().revocations.state === 'live', 2000, 'the heartbeat');
    expect(guard.health().revocations.lastLiveAt).toBe(issuer.clock.now());
    expect(await accepted(guard, token)).toBe(true);
  });

  it('a live event proves liveness too', async () => {
    const { guard } = start();
    await guard.ready();
    issuer.clock.advance(31_000);
    expect(guard.health().revocations.state).toBe('stale');
    issuer.push({ kind: 'jti', value: 'x' });
    await waitFor(() => guard.health().revocations.state === 'live', 2000, 'the event');
  });

  it('after a stale period, a new connection counts as live only once its snapshot is complete', async () => {
    const { guard } = start();
    await guard.ready();
    issuer.clock.advance(31_000);
    expect(guard.health().revocations.state).toBe('stale');
    // The connection is lost; the next one sends events but has not finished its snapshot yet.
    issuer.holdSnapshot = true;
    const before = issuer.connections.length;
    issuer.drop();
    await waitFor(
      () => issuer.connections.length > before && issuer.openStreams === 1,
      5000,
      'the reconnect',
    );
    issuer.push({ kind: 'jti', value: 'in-the-snapshot' });
    await waitFor(() => guard.health().revocations.entries === 1, 2000, 'the event');
    expect(guard.health().revocations.state).toBe('stale');
    expect((await refusal(guard, issuer.token())).status).toBe(503);
    issuer.completeSnapshot();
    await waitFor(() => guard.health().revocations.state === 'live', 2000, 'the end of the snapshot');
    expect(await accepted(guard, issuer.token())).toBe(true);
  });

  it('fail-open: accepts tokens on signature and claims, logging once per stale period', async () => {
    const { guard, logger } = start({ onStale: 'fail-open' });
    await guard.ready();
    const stale = () => logger.warnings.filter((w) => w.message.includes('not current'));
    issuer.clock.advance(31_000);
    const token = issuer.token();
    expect(await accepted(guard, token)).toBe(true);
    expect(await accepted(guard, token)).toBe(true);
    expect(stale()).toHaveLength(1);
    expect(guard.health().ready).toBe(true);
    issuer.comment('heartbeat');
    await waitFor(() => guard.health().revocations.state === 'live', 2000, 'the heartbeat');
    expect(await accepted(guard, token)).toBe(true);
    issuer.clock.advance(31_000);
    expect(await accepted(guard, token)).toBe(true);
    expect(stale()).toHaveLength(2);
  });

  it('fail-open still refuses a token it knows is revoked', async () => {
    issuer.push({ kind: 'jti', value: 'revoked' });
    const { guard } = start({ onStale: 'fail-open' });
    await guard.ready();
    issuer.clock.advance(31_000);
    expect((await refusal(guard, issuer.token({ jti: 'revoked' }))).status).toBe(401);
  });

  it('before the first snapshot: connecting, then stale; 503 when failing closed', async () => {
    issuer.holdSnapshot = true;
    const { guard } = start({ readyTimeout: 0.2 });
    await expect(guard.ready()).rejects.toThrow(
      /not ready after 0.2 s: waiting for the first revocation snapshot from http:\/\/127\.0\.0\.1:\d+/,
    );
    expect(guard.health().revocations.state).toBe('connecting');
    const err = await refusal(guard, issuer.token());
    expect(err.status).toBe(503);
    issuer.clock.advance(31_000);
    expect(guard.health().revocations.state).toBe('stale');
    issuer.completeSnapshot();
    await guard.ready();
    expect(guard.health().revocations.state).toBe('live');
  });
});

describe('health', () => {
  it('reports mode, state, position, last proof, entries and the key set', async () => {
    issuer.holdSnapshot = true;
    issuer.push({ kind: 'jti', value: 'a' }, '41');
    const { guard } = start();
    expect(guard.health()).toMatchObject({
      ready: false,
      revocations: { mode: 'stream', state: 'connecting' },
    });
    await waitFor(() => guard.health().revocations.lastEventId === '41', 2000, 'the snapshot event');
    issuer.completeSnapshot();
    await guard.ready();
    const health = guard.health();
    expect(health).toMatchObject({
      ready: true,
      revocations: {
        mode: 'stream',
        state: 'live',
        lastEventId: '41',
        lastLiveAt: issuer.clock.now(),
        entries: 1,
      },
    });
    expect(health.jwks).toMatchObject({ state: 'fresh', keys: 1, kids: ['key-1'] });
  });

  it("reports 'off' when revocations are off", async () => {
    const { guard } = start({ revocations: 'off' });
    await guard.ready();
    expect(guard.health()).toMatchObject({
      ready: true,
      revocations: { mode: 'off', state: 'off', lastEventId: null, lastLiveAt: null, entries: 0 },
    });
    expect(issuer.connections).toHaveLength(0);
  });
});

describe('close', () => {
  // The child process runs transpiled sources; transpiling (once, cached) is not the test's time.
  beforeAll(() => buildForChild(), 30_000);

  it('ends the stream connection, and later requests get 503', async () => {
    const { guard } = start();
    await guard.ready();
    expect(issuer.openStreams).toBe(1);
    await guard.close();
    await waitFor(() => issuer.openStreams === 0, 2000, 'the stream to close');
    expect((await refusal(guard, issuer.token())).status).toBe(503);
    await guard.close(); // twice is fine
  });

  it('rejects a pending ready() and stops reconnecting', async () => {
    issuer.refuseStreams = true;
    const { guard } = start();
    const ready = guard.ready();
    await waitFor(() => issuer.connections.length >= 1, 2000, 'a first attempt');
    await guard.close();
    await expect(ready).rejects.toThrow(/closed/);
    const attempts = issuer.connections.length;
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(issuer.connections.length).toBe(attempts);
  });

  it('leaves nothing open: a process that closed its guard exits on its own', async () => {
    const token = issuer.token({}, { expiresIn: 3600 });
    // The child runs on the real clock: sign on it too.
    const result = await runCloseAndExit({
      GUARD_ISSUER: issuer.url,
      GUARD_AUDIENCE: AUDIENCE,
      GUARD_TOKEN: token,
    });
    expect(result.stderr).toBe('');
    expect(result.stdout).toBe('closed user-1\n');
    expect(result.code).toBe(0);
  });
});
