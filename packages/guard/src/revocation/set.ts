import type { RevocationEntry } from './entry.js';

/** The handles of a verified access token that a revocation can match. */
export interface RevocableClaims {
  readonly jti?: unknown;
  readonly sid?: unknown;
  readonly sub?: unknown;
  readonly ver?: unknown;
}

export interface RevocationSet {
  /** Adds an entry (revocations are never undone); `false` when it had already expired. */
  add(entry: RevocationEntry, now: number): boolean;
  /** Which handle revokes these claims, if any. Three map lookups. */
  match(claims: RevocableClaims): 'jti' | 'sid' | 'sub' | undefined;
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
 * The revocations in force, indexed by handle, with the same semantics as the server's own
 * `isRevoked`. Purely additive: for a subject revoked several times the highest `ver` and the
 * latest expiry are kept, which covers every entry. Memory stays bounded because each entry is
 * dropped once its expiry has passed (by then it can match no live token).
 */
export function createRevocationSet(): RevocationSet {
  /** jti → expiry (ms). */
  const tokens = new Map<string, number>();
  /** sid → expiry (ms). */
  const sessions = new Map<string, number>();
  const subjects = new Map<string, SubjectRevocation>();

  return {
    add(entry, now) {
      const expiresAt = entry.expiresAt * 1000;
      if (expiresAt <= now) return false;
      if (entry.kind === 'sub') {
        // A `sub` entry without a version revokes every token that has none (the server reads it as 0).
        const ver = entry.ver ?? 0;
        const known = subjects.get(entry.value);
        if (known === undefined) subjects.set(entry.value, { ver, expiresAt });
        else {
          known.ver = Math.max(known.ver, ver);
          known.expiresAt = Math.max(known.expiresAt, expiresAt);
        }
      } else {
        const index = entry.kind === 'jti' ? tokens : sessions;
        const known = index.get(entry.value);
        if (known === undefined || known < expiresAt) index.set(entry.value, expiresAt);
      }
      return true;
    },
    match(claims) {
      const { jti, sid, sub } = claims;
      if (typeof jti === 'string' && tokens.has(jti)) return 'jti';
      if (typeof sid === 'string' && sessions.has(sid)) return 'sid';
      if (typeof sub === 'string') {
        const revoked = subjects.get(sub);
        // A token without a numeric `ver` predates versioning: any version bump revokes it.
        if (revoked !== undefined && !(typeof claims.ver === 'number' && claims.ver >= revoked.ver))
          return 'sub';
      }
      return undefined;
    },
    prune(now) {
      let dropped = 0;
      for (const index of [tokens, sessions]) {
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
      return tokens.size + sessions.size + subjects.size;
    },
  };
}
