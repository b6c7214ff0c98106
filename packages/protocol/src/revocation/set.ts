import type { RevocationEntry, RevocationKind } from './entry.js';

/** What of a verified access token a revocation can match: its claims, and the `kid` that signed it. */
export interface RevocableToken {
  readonly jti?: unknown;
  readonly sid?: unknown;
  readonly sub?: unknown;
  readonly ver?: unknown;
}

export interface RevocationSet {
  /** Adds an entry (revocations are never undone); `false` when it had already expired. */
  add(entry: RevocationEntry, now: number): boolean;
  /**
   * Which handle revokes this token, if any: its `jti`, its `sid`, its `sub` below a version, or the
   * `kid` of the key that signed it (from the protected header). At most four map lookups.
   */
  match(claims: RevocableToken, kid?: unknown): RevocationKind | undefined;
  /** Drops entries whose tokens have all expired; returns how many. */
  prune(now: number): number;
  readonly size: number;
}

interface SubjectRevocation {
  /** Tokens of the subject with a numeric `ver` below this are revoked. */
  ver: number;
  /** Milliseconds since the epoch. */
  expiresAt: number;
}

/**
 * The revocations in force, indexed by handle: the one matching rule the server's own checks and
 * every guard apply. Purely additive: for a subject revoked several times the highest `ver` and the
 * latest expiry are kept, which covers every entry. Memory stays bounded because each entry is
 * dropped once its expiry has passed (by then it can match no live token). Times are milliseconds.
 */
export function createRevocationSet(): RevocationSet {
  /** jti, sid, kid → expiry (ms). */
  const byKind = {
    jti: new Map<string, number>(),
    sid: new Map<string, number>(),
    kid: new Map<string, number>(),
  };
  const subjects = new Map<string, SubjectRevocation>();

  return {
    add(entry, now) {
      const expiresAt = entry.expiresAt * 1000;
      if (expiresAt <= now) return false;
      if (entry.kind === 'sub') {
        // A `sub` entry without a version revokes every token that has none (read as 0).
        const ver = entry.ver ?? 0;
        const known = subjects.get(entry.value);
        if (known === undefined) subjects.set(entry.value, { ver, expiresAt });
        else {
          known.ver = Math.max(known.ver, ver);
          known.expiresAt = Math.max(known.expiresAt, expiresAt);
        }
      } else {
        const index = byKind[entry.kind];
        const known = index.get(entry.value);
        if (known === undefined || known < expiresAt) index.set(entry.value, expiresAt);
      }
      return true;
    },
    match(claims, kid) {
      const { jti, sid, sub } = claims;
      if (typeof jti === 'string' && byKind.jti.has(jti)) return 'jti';
      if (typeof sid === 'string' && byKind.sid.has(sid)) return 'sid';
      if (typeof sub === 'string') {
        const revoked = subjects.get(sub);
        // A token without a numeric `ver` predates versioning: any version bump revokes it.
        if (revoked !== undefined && !(typeof claims.ver === 'number' && claims.ver >= revoked.ver))
          return 'sub';
      }
      if (typeof kid === 'string' && byKind.kid.size > 0 && byKind.kid.has(kid)) return 'kid';
      return undefined;
    },
    prune(now) {
      let dropped = 0;
      for (const index of [byKind.jti, byKind.sid, byKind.kid]) {
        for (const [value, expiresAt] of index) {
          if (expiresAt <= now) {
            index.delete(value);
            dropped++;
          }
        }
      }
      for (const [value, revoked] of subjects) {
        if (revoked.expiresAt <= now) {
          subjects.delete(value);
          dropped++;
        }
      }
      return dropped;
    },
    get size() {
      return byKind.jti.size + byKind.sid.size + byKind.kid.size + subjects.size;
    },
  };
}
