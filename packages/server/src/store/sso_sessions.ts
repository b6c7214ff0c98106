import { createHash, randomBytes } from 'node:crypto';
import type { Db } from './database.js';
import { parseJsonText, toJsonText } from './schema.js';

/** A browser's sign-in at the provider (single sign-on): what the `__Host-` cookie stands for. */
export interface SsoSession {
  /** The cookie value's SHA-256: the id families and codes refer to (the cookie itself is never stored). */
  id: string;
  userId: string;
  /** When the user authenticated, ms. */
  authTime: number;
  amr: string[];
  expiresAt: number;
}

export interface SsoSessions {
  /** Starts a session after a password check; the cookie value is returned once, to set. */
  start(
    userId: string,
    tokenVersion: number,
    amr: string[],
    ttlSeconds: number,
  ): Promise<{ cookie: string; session: SsoSession }>;
  /**
   * The live session a cookie stands for: not expired, not ended, and its user still enabled at the
   * token version it signed in with (log out everywhere, a password change or disabling end it too).
   */
  byCookie(cookie: string): Promise<SsoSession | undefined>;
  /** The same check by session id (a code's session, when the code is exchanged). */
  byId(id: string): Promise<SsoSession | undefined>;
  /** Ends it; false when it was not live. */
  end(id: string): Promise<boolean>;
  /** Deletes sessions ended or expired (housekeeping). */
  sweep(): Promise<void>;
}

const idOf = (cookie: string) => createHash('sha256').update(cookie).digest('base64url');

export function createSsoSessions(db: Db, clock: () => number = Date.now): SsoSessions {
  async function live(id: string): Promise<SsoSession | undefined> {
    const row = await db
      .selectFrom('sso_sessions as s')
      .innerJoin('users as u', 'u.id', 's.user_id')
      .select(['s.id', 's.user_id', 's.auth_time', 's.amr', 's.expires_at'])
      .where('s.id', '=', id)
      .where('s.revoked_at', 'is', null)
      .where('s.expires_at', '>', clock())
      .where('u.disabled', '=', 0)
      .whereRef('u.token_version', '=', 's.token_version')
      .executeTakeFirst();
    if (!row) return undefined;
    return {
      id: row.id,
      userId: row.user_id,
      authTime: Number(row.auth_time),
      amr: parseJsonText(row.amr),
      expiresAt: Number(row.expires_at),
    };
  }

  return {
    async start(userId, tokenVersion, amr, ttlSeconds) {
      const cookie = randomBytes(32).toString('base64url');
      const now = clock();
      const session = { id: idOf(cookie), userId, authTime: now, amr, expiresAt: now + ttlSeconds * 1000 };
      await db
        .insertInto('sso_sessions')
        .values({
          id: session.id,
          user_id: userId,
          token_version: tokenVersion,
          auth_time: now,
          amr: toJsonText(amr),
          created_at: now,
          expires_at: session.expiresAt,
          revoked_at: null,
        })
        .execute();
      return { cookie, session };
    },
    async byCookie(cookie) {
      if (!/^[\w-]{43}$/.test(cookie)) return undefined;
      return live(idOf(cookie));
    },
    byId: live,
    async end(id) {
      const result = await db
        .updateTable('sso_sessions')
        .set({ revoked_at: clock() })
        .where('id', '=', id)
        .where('revoked_at', 'is', null)
        .executeTakeFirst();
      return Number(result.numUpdatedRows) > 0;
    },
    async sweep() {
      const now = clock();
      await db
        .deleteFrom('sso_sessions')
        .where((eb) => eb.or([eb('expires_at', '<=', now), eb('revoked_at', 'is not', null)]))
        .execute();
    },
  };
}
