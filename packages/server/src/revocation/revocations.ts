import { EventEmitter } from 'node:events';
import type { Db } from '../store/database.js';

/**
 * A revocation, by one of the three handles every verifier can check without a database: one access
 * token (`jti`), every access token of a session (`sid`), or every token of a user issued below a
 * token version (`sub` + `ver`: log out everywhere, password change, disable).
 */
export interface RevocationEvent {
  /** Monotonic id: the SSE event id, for resuming with Last-Event-ID. */
  id: number;
  kind: 'jti' | 'sid' | 'sub';
  value: string;
  /** For `sub`: tokens with `ver` below this are revoked. */
  ver: number | null;
  /** When the longest access token this entry could match has expired; then the entry is dropped. */
  expiresAt: number;
}

export interface AccessTokenHandles {
  jti?: unknown;
  sid?: unknown;
  sub?: unknown;
  ver?: unknown;
}

export interface Revocations {
  /** Reads the live entries from the store (on start). */
  load(): Promise<void>;
  revoke(kind: RevocationEvent['kind'], value: string, ver?: number): Promise<RevocationEvent>;
  isRevoked(token: AccessTokenHandles): boolean;
  /** Live entries, oldest first (the snapshot sent on connect). */
  snapshot(): RevocationEvent[];
  /** Live entries after `id` (resume after a reconnect). */
  since(id: number): RevocationEvent[];
  onRevoked(listener: (event: RevocationEvent) => void): () => void;
  /** Drops entries whose tokens have all expired. */
  prune(): Promise<void>;
  /**
   * Picks up revocations other processes wrote to the store (`tessera user disable` while the server
   * runs): adds them and emits them to the stream.
   */
  sync(): Promise<void>;
}

/**
 * The revocation list: durable in the store, mirrored in memory so the server's own checks and the
 * event stream never wait on the database. Entries expire with the tokens they could match, so the
 * set stays as small as the number of revocations in one access-token lifetime.
 */
export function createRevocations(
  db: Db,
  accessTokenTtl: number,
  clock: () => number = Date.now,
): Revocations {
  const events = new EventEmitter();
  events.setMaxListeners(0);
  let entries: RevocationEvent[] = [];
  const jtis = new Set<string>();
  const sids = new Set<string>();
  const subs = new Map<string, number>();
  /** Every revocation row with an id up to this one is known (read by load or sync). */
  let synced = 0;

  function index(entry: RevocationEvent): void {
    if (entry.kind === 'jti') jtis.add(entry.value);
    else if (entry.kind === 'sid') sids.add(entry.value);
    else subs.set(entry.value, Math.max(subs.get(entry.value) ?? 0, entry.ver ?? 0));
  }

  function reindex(): void {
    jtis.clear();
    sids.clear();
    subs.clear();
    for (const entry of entries) index(entry);
  }

  return {
    async load() {
      const rows = await db
        .selectFrom('revocations')
        .selectAll()
        .where('expires_at', '>', clock())
        .orderBy('id')
        .execute();
      synced = Math.max(
        0,
        ...rows.map((row) => row.id),
        Number(
          (
            await db
              .selectFrom('revocations')
              .select(({ fn }) => fn.max('id').as('max'))
              .executeTakeFirst()
          )?.max ?? 0,
        ),
      );
      entries = rows.map((row) => ({
        id: row.id,
        kind: row.kind as RevocationEvent['kind'],
        value: row.value,
        ver: row.ver,
        expiresAt: row.expires_at,
      }));
      reindex();
    },
    async revoke(kind, value, ver) {
      const now = clock();
      // An entry outlives every access token it could match: those issued up to now.
      const expiresAt = now + (accessTokenTtl + 60) * 1000;
      const { id } = await db
        .insertInto('revocations')
        .values({ kind, value, ver: ver ?? null, created_at: now, expires_at: expiresAt })
        .returning('id')
        .executeTakeFirstOrThrow();
      const entry: RevocationEvent = { id: Number(id), kind, value, ver: ver ?? null, expiresAt };
      entries.push(entry);
      index(entry);
      events.emit('revoked', entry);
      return entry;
    },
    isRevoked(token) {
      if (typeof token.jti === 'string' && jtis.has(token.jti)) return true;
      if (typeof token.sid === 'string' && sids.has(token.sid)) return true;
      if (typeof token.sub === 'string') {
        const below = subs.get(token.sub);
        // A token without a numeric `ver` predates versioning: revoked by any version bump.
        if (below !== undefined && !(typeof token.ver === 'number' && token.ver >= below)) return true;
      }
      return false;
    },
    snapshot: () => entries.filter((entry) => entry.expiresAt > clock()),
    since: (id) => entries.filter((entry) => entry.id > id && entry.expiresAt > clock()),
    onRevoked(listener) {
      events.on('revoked', listener);
      return () => events.off('revoked', listener);
    },
    async sync() {
      // Every row above `synced` is read, ours included (skipped by id): another process may have
      // taken an id between two of ours.
      const rows = await db
        .selectFrom('revocations')
        .selectAll()
        .where('id', '>', synced)
        .orderBy('id')
        .execute();
      const known = new Set(entries.map((entry) => entry.id));
      for (const row of rows) {
        synced = Math.max(synced, row.id);
        if (known.has(row.id) || row.expires_at <= clock()) continue;
        const entry: RevocationEvent = {
          id: row.id,
          kind: row.kind as RevocationEvent['kind'],
          value: row.value,
          ver: row.ver,
          expiresAt: row.expires_at,
        };
        entries.push(entry);
        index(entry);
        events.emit('revoked', entry);
      }
    },
    async prune() {
      const now = clock();
      await db.deleteFrom('revocations').where('expires_at', '<=', now).execute();
      entries = entries.filter((entry) => entry.expiresAt > now);
      reindex();
    },
  };
}
