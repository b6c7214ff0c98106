/**
 * The longest access-token lifetime the deployment can issue with: the server's setting, a client's
 * own, a client kind's default, a resource's own. Revocation entries and retired signing keys must
 * outlive every token it allows, or a revoked token passes again (and a valid one fails) once they go.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createAccessTokenLifetimes, NOTE_INTERVAL_MS } from '../src/tokens/lifetimes.js';
import { removeDataDir, startServer, type TestServer } from './helpers.js';

const HOUR = 3_600_000;

let server: TestServer;
beforeEach(async () => {
  server = await startServer();
});
afterEach(async () => {
  await server.close();
  await removeDataDir(server.dataDir);
});

const config = () => server.services.config;
/** Lifetimes as another instance on the same store would see them (its own clock: the server's). */
const lifetimesOf = () => createAccessTokenLifetimes(server.services.db, config().accessTokenTtl, server.now);

async function addClient(clientId: string, extra: { accessTokenTtl?: number; kind?: 'service' } = {}) {
  await server.services.clients.add({
    clientId,
    type: extra.kind === 'service' ? 'confidential' : 'public',
    audiences: [config().audience],
    scopes: ['read'],
    ...extra,
  });
}

describe('the longest access-token lifetime', () => {
  it('is the setting while no client, kind or resource has a longer one', async () => {
    const lifetimes = lifetimesOf();
    await lifetimes.refresh();
    expect(lifetimes.longestAccessTtl()).toBe(config().accessTokenTtl);
    const now = server.now();
    expect(lifetimes.latestExpiry(now)).toBe(now + config().accessTokenTtl * 1000);
  });

  it("counts a client's own 2 h lifetime: revocation entries last that long", async () => {
    await addClient('reports', { accessTokenTtl: 7200 });
    const { lifetimes, revocations, db } = server.services;
    await lifetimes.refresh();
    expect(lifetimes.longestAccessTtl()).toBe(7200);
    expect(lifetimes.retentionMs()).toBeGreaterThanOrEqual(2 * HOUR);
    const before = server.now();
    expect(lifetimes.latestExpiry(before)).toBeGreaterThanOrEqual(before + 2 * HOUR);

    // A session ended now: its tokens, issued with the client's 2 h, must stay refused for 2 h.
    const entry = await revocations.record(db, 'sid', 'sid-of-a-reports-session');
    await revocations.publish(entry);
    expect(entry.expiresAt).toBeGreaterThanOrEqual(before + 2 * HOUR);
    server.advance(2 * HOUR - 60_000);
    await revocations.prune();
    expect(revocations.isRevoked({ sid: 'sid-of-a-reports-session' })).toBe(true);
    const kept = await db.selectFrom('revocations').select('value').execute();
    expect(kept.map((row) => row.value)).toContain('sid-of-a-reports-session');
  });

  it("counts a kind's default: a service client without a lifetime of its own makes it an hour", async () => {
    const lifetimes = lifetimesOf();
    await addClient('worker', { kind: 'service' });
    await lifetimes.refresh();
    expect(lifetimes.longestAccessTtl()).toBe(3600);
  });

  it("does not count a kind's default for a client that has its own lifetime", async () => {
    const lifetimes = lifetimesOf();
    await addClient('worker', { kind: 'service', accessTokenTtl: 600 });
    await lifetimes.refresh();
    expect(lifetimes.longestAccessTtl()).toBe(config().accessTokenTtl);
  });

  it("counts a resource's own lifetime (it wins over its clients')", async () => {
    const lifetimes = lifetimesOf();
    await server.services.resources.add({ resource: 'https://reports.example.com', accessTokenTtl: 5400 });
    await lifetimes.refresh();
    expect(lifetimes.longestAccessTtl()).toBe(5400);
  });

  it('keeps counting a lifetime after the client that had it is shortened, until tokens issued with it have expired', async () => {
    await addClient('reports', { accessTokenTtl: 7200 });
    const lifetimes = lifetimesOf();
    await lifetimes.refresh();
    await server.services.clients.update('reports', { accessTokenTtl: 300 });
    await lifetimes.refresh();
    // A token issued a moment ago with 2 h is still out there.
    expect(lifetimes.longestAccessTtl()).toBe(7200);
    const now = server.now();
    expect(lifetimes.latestExpiry(now)).toBeGreaterThanOrEqual(now + 2 * HOUR);

    // Every such token has expired (and the note's margins passed): the setting again.
    server.advance(2 * HOUR + 3 * NOTE_INTERVAL_MS);
    await lifetimes.refresh();
    expect(lifetimes.longestAccessTtl()).toBe(config().accessTokenTtl);
  });

  it('counts a token issued with a longer lifetime at once, before the next refresh notes it for the others', async () => {
    const lifetimes = lifetimesOf();
    await lifetimes.refresh();
    // The client was registered a moment ago, by another process: this refresh has not seen it yet.
    lifetimes.issued(7200);
    expect(lifetimes.longestAccessTtl()).toBe(7200);
    expect(lifetimes.latestExpiry(server.now())).toBeGreaterThanOrEqual(server.now() + 2 * HOUR);
    // Shorter tokens change nothing.
    lifetimes.issued(60);
    expect(lifetimes.longestAccessTtl()).toBe(7200);

    // Noted in the store at the refresh: another instance counts it too, though no client has it.
    await lifetimes.refresh();
    const other = lifetimesOf();
    await other.refresh();
    expect(other.longestAccessTtl()).toBe(7200);
  });
});
