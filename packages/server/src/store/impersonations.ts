import type { Db } from './database.js';

/** One impersonation: an admin acting as a user with a token from token exchange. */
export interface Impersonation {
  /** The `jti` of the token issued. */
  jti: string;
  adminId: string;
  userId: string;
  clientId: string;
  /** The admin's session, which the token carries as `sid`. */
  sid: string;
  /** The user's token version, which the token carries as `ver`. */
  ver: number;
  startedAt: number;
  /** Milliseconds since the epoch. */
  expiresAt: number;
}

export type ImpersonationEnd = 'expired' | 'revoked';

/**
 * The impersonations begun and not yet seen to end. Rows are only written through
 * tokens/impersonation.ts (start and end, each with its audit event in one transaction).
 */
export interface Impersonations {
  insert(executor: Db, impersonation: Impersonation): Promise<void>;
  /** Those not ended yet, oldest first, at most `limit`. */
  open(limit?: number): Promise<Impersonation[]>;
  /**
   * Marks one ended; false when it had ended already (another instance's housekeeping got there
   * first), so each end is recorded once.
   */
  close(executor: Db, jti: string, reason: ImpersonationEnd, at: number): Promise<boolean>;
  byJti(
    jti: string,
  ): Promise<(Impersonation & { endedAt?: number; endReason?: ImpersonationEnd }) | undefined>;
}

export function createImpersonations(db: Db): Impersonations {
  return {
    async insert(executor, i) {
      await executor
        .insertInto('impersonations')
        .values({
          jti: i.jti,
          admin_id: i.adminId,
          user_id: i.userId,
          client_id: i.clientId,
          sid: i.sid,
          ver: i.ver,
          started_at: i.startedAt,
          expires_at: i.expiresAt,
          ended_at: null,
          end_reason: null,
        })
        .execute();
    },
    async open(limit = 500) {
      const rows = await db
        .selectFrom('impersonations')
        .selectAll()
        .where('ended_at', 'is', null)
        .orderBy('started_at')
        .limit(limit)
        .execute();
      return rows.map(toImpersonation);
    },
    async close(executor, jti, reason, at) {
      const result = await executor
        .updateTable('impersonations')
        .set({ ended_at: at, end_reason: reason })
        .where('jti', '=', jti)
        .where('ended_at', 'is', null)
        .executeTakeFirst();
      return result.numUpdatedRows > 0n;
    },
    async byJti(jti) {
      const row = await db.selectFrom('impersonations').selectAll().where('jti', '=', jti).executeTakeFirst();
      if (!row) return undefined;
      return {
        ...toImpersonation(row),
        ...(row.ended_at !== null ? { endedAt: Number(row.ended_at) } : {}),
        ...(row.end_reason !== null ? { endReason: row.end_reason as ImpersonationEnd } : {}),
      };
    },
  };
}

function toImpersonation(row: {
  jti: string;
  admin_id: string;
  user_id: string;
  client_id: string;
  sid: string;
  ver: number;
  started_at: number;
  expires_at: number;
}): Impersonation {
  return {
    jti: row.jti,
    adminId: row.admin_id,
    userId: row.user_id,
    clientId: row.client_id,
    sid: row.sid,
    ver: Number(row.ver),
    startedAt: Number(row.started_at),
    expiresAt: Number(row.expires_at),
  };
}
