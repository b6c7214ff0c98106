import { describe, expect, it } from 'vitest';
import { entryFromFields, entryFromJson } from '../src/revocation/entry.js';
import { createLiveness } from '../src/revocation/liveness.js';
import { createRevocationSet } from '../src/revocation/set.js';

const NOW = 1_700_000_000_000;
const later = NOW / 1000 + 3600;

describe("the revocation set (same rules as the server's isRevoked)", () => {
  it('matches jti, sid and sub+ver', () => {
    const set = createRevocationSet();
    set.add({ kind: 'jti', value: 'j', ver: null, expiresAt: later }, NOW);
    set.add({ kind: 'sid', value: 's', ver: null, expiresAt: later }, NOW);
    set.add({ kind: 'sub', value: 'u', ver: 4, expiresAt: later }, NOW);
    expect(set.match({ jti: 'j' })).toBe('jti');
    expect(set.match({ sid: 's' })).toBe('sid');
    expect(set.match({ sub: 'u', ver: 3 })).toBe('sub');
    expect(set.match({ sub: 'u', ver: 4 })).toBeUndefined();
    expect(set.match({ sub: 'u' })).toBe('sub');
    expect(set.match({ sub: 'u', ver: '9' })).toBe('sub');
    expect(set.match({ jti: 'k', sid: 't', sub: 'v' })).toBeUndefined();
    // Handles are compared as strings only.
    expect(set.match({ jti: ['j'] })).toBeUndefined();
  });

  it('treats a sub entry without ver as version 0, like the server', () => {
    const set = createRevocationSet();
    set.add({ kind: 'sub', value: 'u', ver: null, expiresAt: later }, NOW);
    expect(set.match({ sub: 'u' })).toBe('sub');
    expect(set.match({ sub: 'u', ver: 0 })).toBeUndefined();
    expect(set.match({ sub: 'u', ver: -1 })).toBe('sub');
  });

  it('keeps the highest version and the latest expiry of a subject', () => {
    const set = createRevocationSet();
    set.add({ kind: 'sub', value: 'u', ver: 5, expiresAt: NOW / 1000 + 60 }, NOW);
    set.add({ kind: 'sub', value: 'u', ver: 2, expiresAt: NOW / 1000 + 600 }, NOW);
    expect(set.match({ sub: 'u', ver: 4 })).toBe('sub');
    expect(set.prune(NOW + 61_000)).toBe(0);
    expect(set.match({ sub: 'u', ver: 4 })).toBe('sub');
    expect(set.prune(NOW + 600_000)).toBe(1);
    expect(set.size).toBe(0);
  });

  it('ignores entries that have already expired and prunes the others at their expiry', () => {
    const set = createRevocationSet();
    expect(set.add({ kind: 'jti', value: 'old', ver: null, expiresAt: NOW / 1000 }, NOW)).toBe(false);
    set.add({ kind: 'jti', value: 'a', ver: null, expiresAt: NOW / 1000 + 10 }, NOW);
    set.add({ kind: 'jti', value: 'a', ver: null, expiresAt: NOW / 1000 + 20 }, NOW);
    set.add({ kind: 'sid', value: 'b', ver: null, expiresAt: NOW / 1000 + 10 }, NOW);
    expect(set.size).toBe(2);
    expect(set.prune(NOW + 10_000)).toBe(1);
    expect(set.match({ jti: 'a' })).toBe('jti');
    expect(set.prune(NOW + 20_000)).toBe(1);
    expect(set.size).toBe(0);
  });
});

describe('revocation entries', () => {
  it('parse the SSE data of the server', () => {
    expect(entryFromJson('{"kind":"sub","value":"u","ver":3,"expires_at":1700000000}')).toEqual({
      kind: 'sub',
      value: 'u',
      ver: 3,
      expiresAt: 1700000000,
    });
    for (const bad of [
      'nope',
      '[]',
      'null',
      '{"kind":"jti","value":"x","ver":null}',
      '{"kind":"jti","value":"","ver":null,"expires_at":1}',
      '{"kind":"aud","value":"x","ver":null,"expires_at":1}',
      '{"kind":"sub","value":"x","ver":"3","expires_at":1}',
      '{"kind":"jti","value":"x","ver":null,"expires_at":"1"}',
      `{"kind":"jti","value":"${'x'.repeat(1025)}","ver":null,"expires_at":1}`,
    ]) {
      expect(entryFromJson(bad)).toBeUndefined();
    }
  });

  it('parse the fields of a Redis stream entry, rid ignored', () => {
    expect(
      entryFromFields(['kind', 'sub', 'value', 'u', 'ver', '7', 'exp', '1700000000', 'rid', '42']),
    ).toEqual({
      kind: 'sub',
      value: 'u',
      ver: 7,
      expiresAt: 1700000000,
    });
    expect(entryFromFields(['kind', 'jti', 'value', 'j', 'ver', '', 'exp', '1700000000'])).toMatchObject({
      ver: null,
    });
    expect(entryFromFields(['kind', 'jti', 'value', 'j', 'ver', '1.5', 'exp', '1700000000'])).toBeUndefined();
    expect(entryFromFields(['kind', 'jti', 'value', 'j', 'ver', '', 'exp', 'soon'])).toBeUndefined();
    expect(entryFromFields(['kind', 'jti', 'value', 'j', 'exp', '1700000000'])).toBeUndefined();
  });
});

describe('liveness', () => {
  it('is connecting, then live while proof arrives within staleAfter, then stale', () => {
    let now = NOW;
    const liveness = createLiveness(() => now, 30_000);
    expect(liveness.state(now)).toBe('connecting');
    liveness.markLive();
    expect(liveness.isLive(now)).toBe(false); // no snapshot yet
    now += 30_001;
    expect(liveness.state(now)).toBe('stale');
    liveness.markSnapshot();
    expect(liveness.state(now)).toBe('live');
    now += 30_000;
    expect(liveness.isLive(now)).toBe(true);
    now += 1;
    expect(liveness.state(now)).toBe('stale');
    const period = liveness.livePeriods;
    liveness.markLive();
    expect(liveness.livePeriods).toBe(period + 1);
    expect(liveness.lastLiveAt).toBe(now);
  });
});
