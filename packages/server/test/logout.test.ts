import { decodeJwtUnverified } from '@tessera/jose';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { breakWrites } from './failures.js';
import { startServer, stopServer, type TestServer } from './helpers.js';
import {
  addClients,
  browserHeaders,
  expectError,
  expectSecurityHeaders,
  foreignToken,
  loginApp,
  loginWeb,
  refreshApp,
  refreshWeb,
  setCookie,
  startEndpointServer,
  userinfo,
} from './http.js';
import { request } from './requests.js';
import { SseStream, streamAuth } from './sse.js';

let server: TestServer;
beforeEach(async () => {
  ({ server } = await startEndpointServer());
});
afterEach(() => stopServer(server));

describe('POST /logout and /logout/all', () => {
  for (const path of ['/logout', '/logout/all']) {
    it(`${path} without credentials is 401 invalid_token with a Bearer challenge`, async () => {
      for (const headers of [
        {},
        { authorization: 'Basic YTpi' },
        { authorization: 'Bearer' },
        { cookie: 'other=1' },
      ] as Record<string, string>[]) {
        const res = await request(`${server.url}${path}`, { method: 'POST', headers });
        expect(res.headers.get('www-authenticate')).toMatch(/^Bearer /);
        expectSecurityHeaders(res);
        await expectError(res, 401, 'invalid_token');
      }
    });

    it(`${path} without any credentials gets a bare Bearer challenge, without an error code (RFC 6750 §3.1)`, async () => {
      const res = await request(`${server.url}${path}`, { method: 'POST' });
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toBe('Bearer realm="tessera"');
    });

    it(`${path} with a revoked, expired or foreign token is 401 invalid_token`, async () => {
      const revoked = await loginApp(server);
      const logout = await request(`${server.url}/logout`, {
        method: 'POST',
        headers: { authorization: `Bearer ${revoked.access_token}` },
      });
      expect(logout.status).toBe(204);
      const again = await request(`${server.url}${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${revoked.access_token}` },
      });
      expect(again.headers.get('www-authenticate')).toMatch(/^Bearer error="invalid_token"/);
      await expectError(again, 401, 'invalid_token');

      const live = await loginApp(server);
      server.advance(16 * 60_000);
      const expired = await request(`${server.url}${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${live.access_token}` },
      });
      expect(expired.headers.get('www-authenticate')).toMatch(/^Bearer error="invalid_token"/);
      await expectError(expired, 401, 'invalid_token');
      // The refused logout ended nothing.
      const family = await server.services.refreshTokens.familyOf(live.refresh_token);
      const row = await server.services.db
        .selectFrom('refresh_token_families')
        .select('revoked_at')
        .where('id', '=', family!.familyId)
        .executeTakeFirstOrThrow();
      expect(row.revoked_at).toBeNull();

      const foreign = await request(`${server.url}${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${await foreignToken(server)}` },
      });
      await expectError(foreign, 401, 'invalid_token');
    });
  }

  it('/logout with an unknown or revoked cookie is 401', async () => {
    const unknown = await request(`${server.url}/logout`, {
      method: 'POST',
      headers: browserHeaders(server, 'A'.repeat(43)),
    });
    await expectError(unknown, 401, 'invalid_token');
  });

  it('a revoked, rotated or expired cookie no longer authenticates /logout or /logout/all', async () => {
    // Ended: the cookie of a logged-out session (a copy an attacker kept, say) cannot end other sessions.
    const ended = await loginWeb(server);
    const endedHeaders = browserHeaders(server, ended.cookie);
    expect((await request(`${server.url}/logout`, { method: 'POST', headers: endedHeaders })).status).toBe(
      204,
    );
    const app = await loginApp(server);
    for (const path of ['/logout', '/logout/all']) {
      const res = await request(`${server.url}${path}`, { method: 'POST', headers: endedHeaders });
      expect(res.headers.get('www-authenticate')).toMatch(/^Bearer /);
      await expectError(res, 401, 'invalid_token');
    }
    expect((await userinfo(server, app.access_token)).status).toBe(200);

    // Rotated: only the live cookie of a session speaks for it.
    const web = await loginWeb(server);
    const rotated = await refreshWeb(server, browserHeaders(server, web.cookie));
    expect(rotated.status).toBe(200);
    const live = setCookie(rotated)!.value;
    await expectError(
      await request(`${server.url}/logout/all`, {
        method: 'POST',
        headers: browserHeaders(server, web.cookie),
      }),
      401,
      'invalid_token',
    );
    expect((await userinfo(server, app.access_token)).status).toBe(200);

    // Expired: past the idle lifetime.
    server.advance(121_000);
    await expectError(
      await request(`${server.url}/logout/all`, { method: 'POST', headers: browserHeaders(server, live) }),
      401,
      'invalid_token',
    );
    const alice = (await server.services.users.byUsername('alice'))!;
    expect(alice.tokenVersion).toBe(0);
  });
});

describe('POST /logout is all or nothing', () => {
  it('a failure between revoking the family and recording its sid leaves the session whole; a retry ends it and publishes the sid', async () => {
    const session = await loginApp(server);
    const { sid } = decodeJwtUnverified(session.access_token) as { sid: string };
    const broken = await breakWrites(server.services.db, 'revocations', 'insert');
    const failed = await request(`${server.url}/logout`, {
      method: 'POST',
      headers: { authorization: `Bearer ${session.access_token}` },
    });
    expect(failed.status).toBeGreaterThanOrEqual(500);
    await broken.heal();
    // Nothing was written: the family is live, its access token passes, nothing is on the list.
    expect((await server.services.refreshTokens.familyOf(session.refresh_token))?.active).toBe(true);
    expect(server.services.revocations.isRevoked({ sid })).toBe(false);
    expect((await userinfo(server, session.access_token)).status).toBe(200);

    const stream = await SseStream.open(server.url, await streamAuth(server.services));
    try {
      await stream.until((s) => s.snapshotComplete, 'end of snapshot');
      const retried = await request(`${server.url}/logout`, {
        method: 'POST',
        headers: { authorization: `Bearer ${session.access_token}` },
      });
      expect(retried.status).toBe(204);
      await stream.until(
        (s) => s.revocations.some((e) => e.kind === 'sid' && e.value === sid),
        'the sid revocation',
      );
    } finally {
      stream.close();
    }
    expect((await userinfo(server, session.access_token)).status).toBe(401);
    await expectError(await refreshApp(server, session.refresh_token), 400, 'invalid_grant');
  });
});

describe('POST /logout and /logout/all: the revocation budget', () => {
  it('refuses with 429 slow_down once the user has caused revocationRateUser revocations this minute, ending nothing', async () => {
    await stopServer(server);
    server = await startServer({ revocationRateUser: 2 });
    await addClients(server);
    for (let i = 0; i < 2; i++) {
      const session = await loginApp(server);
      const res = await request(`${server.url}/logout`, {
        method: 'POST',
        headers: { authorization: `Bearer ${session.access_token}` },
      });
      expect(res.status).toBe(204);
    }
    const session = await loginApp(server);
    for (const path of ['/logout', '/logout/all']) {
      const refused = await request(`${server.url}${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${session.access_token}` },
      });
      expect(refused.headers.get('retry-after')).toMatch(/^[1-9]\d*$/);
      await expectError(refused, 429, 'slow_down');
    }
    // Nothing was ended: the session still refreshes and its token still works.
    expect((await userinfo(server, session.access_token)).status).toBe(200);
    expect((await refreshApp(server, session.refresh_token)).status).toBe(200);
  });
});
