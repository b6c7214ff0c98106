import { decodeJwtUnverified } from '@tessera/jose';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ADMIN_PASSWORD, post, removeDataDir, startServer, type TestServer } from './helpers.js';
import { SseStream } from './sse.js';

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
  const stream = await SseStream.open(server.url, headers);
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
  const res = await fetch(`${server.url}${path}`, {
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
