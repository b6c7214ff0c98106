import { decodeJwtUnverified } from '@tessera/jose';
import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { createServices } from '../src/services.js';
import { TEST_STORE } from './databases.js';
import { breakWrites } from './failures.js';
import { ADMIN_PASSWORD, post, removeDataDir, startServer, type TestServer } from './helpers.js';
import { request } from './requests.js';
import { SseStream, streamAuth } from './sse.js';

let server: TestServer;
const streams: SseStream[] = [];
beforeEach(async () => {
  server = await startServer();
  await server.services.clients.add({
    clientId: 'app',
    type: 'public',
    audiences: [server.services.config.audience],
    scopes: ['openid', 'profile', 'offline_access'],
  });
});
afterEach(async () => {
  for (const stream of streams.splice(0)) stream.close();
  await server.close();
  await removeDataDir(server.dataDir);
});

async function subscribe(headers: Record<string, string> = {}): Promise<SseStream> {
  const stream = await SseStream.open(server.url, { ...(await streamAuth(server.services)), ...headers });
  streams.push(stream);
  expect(stream.response.status).toBe(200);
  await stream.until((s) => s.snapshotComplete, 'end of snapshot');
  return stream;
}

interface Session {
  access_token: string;
  refresh_token: string;
  sid: string;
  sub: string;
  jti: string;
}
async function login(): Promise<Session> {
  const res = await post(`${server.url}/login`, {
    username: 'alice',
    password: ADMIN_PASSWORD,
    client_id: 'app',
  });
  expect(res.status).toBe(200);
  const body = (await res.json()) as { access_token: string; refresh_token: string };
  const claims = decodeJwtUnverified(body.access_token) as { sid: string; sub: string; jti: string };
  return { ...body, sid: claims.sid, sub: claims.sub, jti: claims.jti };
}
async function logout(session: Session, path = '/logout'): Promise<void> {
  const res = await request(`${server.url}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${session.access_token}` },
  });
  expect(res.status).toBe(204);
}

describe('GET /revocations (Server-Sent Events)', () => {
  it('is an uncacheable event stream that starts with a retry hint and an (empty) snapshot', async () => {
    const stream = await subscribe();
    expect(stream.response.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(stream.response.headers.get('cache-control')).toMatch(/no-store/);
    expect(stream.messages[0]?.retry).toMatch(/^\d+$/);
    expect(stream.snapshot).toEqual([]);
  });

  it('sends the live entries on connect', async () => {
    const one = await login();
    const two = await login();
    await logout(one);
    await logout(two);
    const stream = await subscribe();
    const snapshot = stream.snapshot;
    expect(snapshot.map((e) => [e.kind, e.value])).toEqual([
      ['sid', one.sid],
      ['sid', two.sid],
    ]);
    expect(snapshot[1]!.id).toBeGreaterThan(snapshot[0]!.id);
    const ttl = server.services.config.accessTokenTtl;
    for (const event of snapshot) {
      expect(event.ver).toBeNull();
      // Kept as long as a token it matches could still be valid (plus a minute of skew).
      expect(event.expires_at).toBeGreaterThanOrEqual(Math.floor(server.now() / 1000) + ttl);
      expect(event.expires_at).toBeLessThanOrEqual(Math.ceil(server.now() / 1000) + ttl + 60);
    }
  });

  it('streams a logout (sid), a logout everywhere (sub + ver) and a revoked access token (jti) as they happen', async () => {
    const stream = await subscribe();
    const a = await login();
    const b = await login();
    const c = await login();

    // Logout on another connection: the session's sid.
    await logout(a);
    const [first] = await stream.revocationCount(1);
    expect(first).toMatchObject({ kind: 'sid', value: a.sid, ver: null });

    // RFC 7009 revocation of one access token: its jti.
    const revoke = await post(`${server.url}/revoke`, {
      token: b.access_token,
      token_type_hint: 'access_token',
      client_id: 'app',
    });
    expect(revoke.status).toBe(200);
    const [, second] = await stream.revocationCount(2);
    expect(second).toMatchObject({ kind: 'jti', value: b.jti, ver: null });

    // Log out everywhere: the user, with the token version below which everything is revoked.
    await logout(c, '/logout/all');
    const [, , third] = await stream.revocationCount(3);
    const user = await server.services.users.byId(c.sub);
    expect(third).toMatchObject({ kind: 'sub', value: c.sub, ver: user!.tokenVersion });
    expect(third!.ver).toBeGreaterThan(0);

    // Then the sid of every session of the user that was still live (b's and c's; a's had ended), so
    // that a refresh racing the logout cannot mint a token for one of them.
    const sids = (await stream.revocationCount(5)).slice(3);
    expect(sids.map((e) => e.kind)).toEqual(['sid', 'sid']);
    expect(new Set(sids.map((e) => e.value))).toEqual(new Set([b.sid, c.sid]));

    // Ids increase with the log, and the stream's entries match what the server holds.
    const ids = stream.revocations.map((e) => e.id);
    expect(ids).toEqual([...ids].sort((x, y) => x - y));
    expect(new Set(ids).size).toBe(5);
    expect((await server.services.revocations.feed.backlog(undefined)).map((e) => e.id)).toEqual(ids);
  });

  it('resumes after Last-Event-ID with only the later events', async () => {
    const sessions = [await login(), await login(), await login()];
    for (const session of sessions) await logout(session);
    const all = (await subscribe()).snapshot;
    expect(all).toHaveLength(3);

    const resumed = await subscribe({ 'last-event-id': String(all[0]!.id) });
    expect(resumed.snapshot.map((e) => e.value)).toEqual([sessions[1]!.sid, sessions[2]!.sid]);

    const upToDate = await subscribe({ 'last-event-id': String(all[2]!.id) });
    expect(upToDate.snapshot).toEqual([]);
    // …and then it carries on live.
    const later = await login();
    await logout(later);
    const [live] = await upToDate.revocationCount(1);
    expect(live).toMatchObject({ kind: 'sid', value: later.sid });
    expect(live!.id).toBeGreaterThan(all[2]!.id);
  });

  it('keeps streaming to other subscribers when one disconnects', async () => {
    const leaving = await subscribe();
    const staying = await subscribe();
    leaving.close();
    const sessions = [await login(), await login()];
    for (const session of sessions) await logout(session);
    const events = await staying.revocationCount(2);
    expect(events.map((e) => e.value)).toEqual(sessions.map((s) => s.sid));
  });

  it('ends open streams when the server shuts down; a guard resumes from its last id after the restart', async () => {
    const before = await login();
    await logout(before);
    const stream = await subscribe();
    const [seen] = stream.snapshot;
    const dir = server.dataDir;
    // With a subscriber connected, close() must still finish (it would wait on the stream forever).
    await server.close();
    await stream.until((s) => s.ended, 'end of stream');

    server = await startServer({}, dir);
    const after = await login();
    await logout(after);
    const resumed = await subscribe({ 'last-event-id': String(seen!.id) });
    expect(resumed.snapshot.map((e) => [e.kind, e.value])).toEqual([['sid', after.sid]]);
  });

  it('drops entries once every token they could match has expired', async () => {
    const sessions = [await login(), await login()];
    for (const session of sessions) await logout(session);
    expect((await subscribe()).snapshot).toHaveLength(2);

    server.advance((server.services.config.accessTokenTtl + 61) * 1000);
    await server.services.revocations.prune();
    expect((await subscribe()).snapshot).toEqual([]);
    expect(await server.services.db.selectFrom('revocations').selectAll().execute()).toEqual([]);
    // Resuming from an old id finds nothing either.
    expect((await subscribe({ 'last-event-id': '0' })).snapshot).toEqual([]);
  });
});

describe('the store sync', () => {
  it('brings revocations another process wrote to the running server: its checks, its feed and its stream', async () => {
    const session = await login();
    const stream = await subscribe();
    const fed: string[] = [];
    const unsubscribe = server.services.revocations.feed.subscribe((event) => void fed.push(event.kind));
    try {
      // A second process on the same store, as `tessera user disable` would be.
      const cli = await createServices(
        loadConfig({}, {}, { ...server.services.config, dataDir: server.dataDir }),
      );
      try {
        await cli.revocations.revoke('sub', session.sub, 99);
      } finally {
        await cli.close();
      }
      await server.services.revocations.sync();
    } finally {
      unsubscribe();
    }
    expect(fed).toEqual(['sub']);
    expect(server.services.revocations.isRevoked({ sub: session.sub, ver: 0 })).toBe(true);
    const bearer = { authorization: `Bearer ${session.access_token}` };
    expect((await request(`${server.url}/userinfo`, { headers: bearer })).status).toBe(401);
    await stream.until(
      (s) => s.revocations.some((e) => e.kind === 'sub' && e.value === session.sub && e.ver === 99),
      'the sub revocation written by the other process',
    );
  });
});

// PostgreSQL takes a row's id at insert and shows the row at commit, so a revocation can appear after
// one with a higher id. The store sync (the path that holds while Redis is down) must still find it.
describe.runIf(TEST_STORE === 'postgres')('the store sync on PostgreSQL', () => {
  async function openTransaction() {
    const client = new pg.Client({ connectionString: server.services.config.databaseUrl });
    await client.connect();
    await client.query('BEGIN');
    return client;
  }
  async function insertRevocation(client: pg.Client, value: string): Promise<number> {
    const now = server.now();
    const { rows } = await client.query<{ id: string }>(
      `insert into revocations (kind, value, ver, created_at, expires_at, published_at)
       values ('jti', $1, null, $2, $3, $2) returning id`,
      [value, now, now + 3_600_000],
    );
    return Number(rows[0]!.id);
  }

  it('picks up a revocation committed after one with a higher id', async () => {
    const { revocations } = server.services;
    const late = await openTransaction();
    try {
      const lateId = await insertRevocation(late, 'late-jti');
      const later = await revocations.revoke('jti', 'later-jti');
      expect(later.id).toBeGreaterThan(lateId);
      await revocations.sync();
      expect(revocations.isRevoked({ jti: 'later-jti' })).toBe(true);
      expect(revocations.isRevoked({ jti: 'late-jti' })).toBe(false); // not committed yet
      await late.query('COMMIT');
      await revocations.sync();
      expect(revocations.isRevoked({ jti: 'late-jti' })).toBe(true);
    } finally {
      await late.end();
    }
  });

  it('picks up such a revocation while it was starting, too', async () => {
    const late = await openTransaction();
    let restarted: TestServer | undefined;
    try {
      await insertRevocation(late, 'late-at-start');
      await server.services.revocations.revoke('jti', 'before-start');
      // A second instance on the same database starts (load) while the first insert is in flight.
      restarted = await startServer({ databaseUrl: server.services.config.databaseUrl });
      expect(restarted.services.revocations.isRevoked({ jti: 'before-start' })).toBe(true);
      expect(restarted.services.revocations.isRevoked({ jti: 'late-at-start' })).toBe(false);
      await late.query('COMMIT');
      await restarted.services.revocations.sync();
      expect(restarted.services.revocations.isRevoked({ jti: 'late-at-start' })).toBe(true);
    } finally {
      await late.end();
      await restarted?.close();
      if (restarted) await removeDataDir(restarted.dataDir);
    }
  });
});

describe('POST /logout/all is all or nothing', () => {
  it('a failure while ending the sessions leaves the token version, the sessions and the revocation list as they were; a retry then succeeds', async () => {
    const session = await login();
    const other = await login();
    const stream = await subscribe();
    const user = await server.services.users.byId(session.sub);
    const broken = await breakWrites(server.services.db, 'refresh_token_families', 'update');
    const failed = await request(`${server.url}/logout/all`, {
      method: 'POST',
      headers: { authorization: `Bearer ${session.access_token}` },
    });
    expect(failed.status).toBeGreaterThanOrEqual(500);
    await broken.heal();

    // Nothing of it was written: same version, no revocation, every session alive.
    expect((await server.services.users.byId(session.sub))?.tokenVersion).toBe(user?.tokenVersion);
    expect(await server.services.db.selectFrom('revocations').selectAll().execute()).toEqual([]);
    expect(server.services.revocations.isRevoked(decodeJwtUnverified(session.access_token))).toBe(false);
    const refreshed = await post(`${server.url}/token`, {
      grant_type: 'refresh_token',
      refresh_token: other.refresh_token,
      client_id: 'app',
    });
    expect(refreshed.status).toBe(200);
    const successor = (await refreshed.json()) as { refresh_token: string };

    // So the same access token can ask again, and this time every session ends.
    const retried = await request(`${server.url}/logout/all`, {
      method: 'POST',
      headers: { authorization: `Bearer ${session.access_token}` },
    });
    expect(retried.status).toBe(204);
    await stream.until(
      (s) => s.revocations.some((e) => e.kind === 'sub' && e.value === session.sub),
      'the sub revocation',
    );
    const after = await post(`${server.url}/token`, {
      grant_type: 'refresh_token',
      refresh_token: successor.refresh_token,
      client_id: 'app',
    });
    expect(after.status).toBe(400);
    expect(server.services.revocations.isRevoked(decodeJwtUnverified(session.access_token))).toBe(true);
  });
});

describe('entries outlive tokens issued under a longer lifetime', () => {
  it('a token issued with a 1 h lifetime stays revoked after the server restarts with 5 min, until that token expires', async () => {
    await server.close();
    const dataDir = server.dataDir;
    const longLived = await startServer({ accessTokenTtl: 3600 }, dataDir);
    server = longLived;
    const session = await login();
    await longLived.close();

    // The operator lowers the lifetime; the token issued before still has 55 minutes to live.
    server = await startServer({ accessTokenTtl: 300 }, dataDir);
    const bearer = { authorization: `Bearer ${session.access_token}` };
    expect((await request(`${server.url}/logout`, { method: 'POST', headers: bearer })).status).toBe(204);
    const { exp } = decodeJwtUnverified(session.access_token) as { exp: number };

    // Far past the new lifetime (and past any margin of it), the entry is still there.
    server.advance(20 * 60_000);
    await server.services.revocations.prune();
    expect(server.services.revocations.isRevoked(decodeJwtUnverified(session.access_token))).toBe(true);
    expect((await request(`${server.url}/userinfo`, { headers: bearer })).status).toBe(401);
    const entry = (await subscribe()).snapshot.find((e) => e.kind === 'sid' && e.value === session.sid);
    expect(entry?.expires_at).toBeGreaterThanOrEqual(exp);

    // Once the token itself has expired, the entry goes.
    server.advance((exp - Math.floor(server.now() / 1000)) * 1000 + 5 * 60_000);
    await server.services.revocations.prune();
    expect(server.services.revocations.isRevoked(decodeJwtUnverified(session.access_token))).toBe(false);
  });
});
