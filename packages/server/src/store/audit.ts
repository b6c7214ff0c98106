import { sql } from 'kysely';
import type { Db } from './database.js';
import { type JsonText, parseJsonText, toJsonText } from './schema.js';

/** Security events worth keeping (DESIGN.md): who did what, from where, never with secrets. */
export type AuditEventType =
  | 'login_succeeded'
  | 'login_failed'
  | 'login_throttled'
  | 'refresh_reuse_detected'
  | 'session_revoked'
  | 'sso_session_ended'
  | 'user_logged_out_everywhere'
  | 'token_revoked'
  | 'token_minted'
  | 'password_changed'
  | 'user_disabled'
  | 'user_enabled'
  | 'user_deleted'
  | 'roles_changed'
  | 'permissions_changed'
  | 'user_created'
  | 'key_rotated'
  | 'key_revoked'
  | 'secrets_resealed'
  | 'client_added'
  | 'client_updated'
  | 'client_removed'
  | 'client_secret_rotated'
  | 'profile_changed'
  | 'resource_added'
  | 'resource_removed'
  | 'consent_granted'
  | 'authorization_code_reused'
  | 'impersonation_started'
  | 'impersonation_ended'
  | 'receiver_added'
  | 'receiver_removed'
  /** The outbox stopped trying to deliver something (a logout token or a SET): refused, or too long failing. */
  | 'delivery_gave_up';

export interface AuditEvent {
  type: AuditEventType;
  userId?: string | null;
  clientId?: string | null;
  ip?: string | null;
  detail?: Record<string, unknown>;
}

/**
 * Events whose detail names the username that was typed. A failed login's username may be no
 * account's at all (often a password typed into the wrong field), so it is kept only for a while.
 */
const TYPED_USERNAME_EVENTS = ['login_failed', 'login_throttled'] as const;
/** Rows rewritten per statement when usernames are erased. */
const ERASE_BATCH = 500;
/**
 * Erasing re-reads this far behind its last cutoff: another instance (whose clock may be a little
 * behind) can commit a row older than the cutoff after this one has passed it.
 */
const ERASE_OVERLAP_MS = 3_600_000;

export interface Audit {
  /** With `executor`, inside the caller's transaction (the event commits with what it records). */
  record(event: AuditEvent, executor?: Db): Promise<void>;
  /**
   * Housekeeping: deletes rows older than `retention` seconds, and erases the username from the
   * detail of failed and throttled logins older than `usernameRetention` seconds (the rest of those
   * rows stays until `retention`). Returns how many rows it deleted and erased.
   */
  prune(retention: number, usernameRetention: number): Promise<{ deleted: number; erased: number }>;
  recent(limit?: number): Promise<
    {
      type: string;
      userId: string | null;
      clientId: string | null;
      ip: string | null;
      detail: Record<string, unknown>;
      createdAt: number;
    }[]
  >;
}

export function createAudit(db: Db, clock: () => number = Date.now): Audit {
  // Rows before this were erased by an earlier run (the first run after start reads them all).
  let erasedBefore = 0;
  return {
    async record(event, executor = db) {
      await executor
        .insertInto('audit_events')
        .values({
          type: event.type,
          user_id: event.userId ?? null,
          client_id: event.clientId ?? null,
          ip: event.ip ?? null,
          detail: toJsonText(event.detail ?? {}),
          created_at: clock(),
        })
        .execute();
    },
    async prune(retention, usernameRetention) {
      const now = clock();
      const { numDeletedRows } = await db
        .deleteFrom('audit_events')
        .where('created_at', '<', now - retention * 1000)
        .executeTakeFirst();
      const cutoff = now - usernameRetention * 1000;
      let erased = 0;
      for (;;) {
        const rows = await db
          .selectFrom('audit_events')
          .select(['id', 'detail'])
          .where('type', 'in', TYPED_USERNAME_EVENTS)
          .where('created_at', '>=', erasedBefore)
          .where('created_at', '<', cutoff)
          .where(sql<string>`detail`, 'like', '%"username"%')
          .orderBy('id')
          .limit(ERASE_BATCH)
          .execute();
        // Rows with the same detail once erased (nearly all: `{}`) are rewritten by one statement.
        const byDetail = new Map<JsonText<Record<string, unknown>>, number[]>();
        for (const row of rows) {
          const { username: _erased, ...rest } = parseJsonText(row.detail);
          const detail = toJsonText(rest);
          byDetail.set(detail, [...(byDetail.get(detail) ?? []), row.id]);
        }
        for (const [detail, ids] of byDetail)
          await db.updateTable('audit_events').set({ detail }).where('id', 'in', ids).execute();
        erased += rows.length;
        if (rows.length < ERASE_BATCH) break;
      }
      erasedBefore = Math.max(erasedBefore, cutoff - ERASE_OVERLAP_MS);
      return { deleted: Number(numDeletedRows), erased };
    },
    async recent(limit = 100) {
      const rows = await db
        .selectFrom('audit_events')
        .selectAll()
        .orderBy('id', 'desc')
        .limit(limit)
        .execute();
      return rows.map((row) => ({
        type: row.type,
        userId: row.user_id,
        clientId: row.client_id,
        ip: row.ip,
        detail: parseJsonText(row.detail),
        createdAt: row.created_at,
      }));
    },
  };
}
