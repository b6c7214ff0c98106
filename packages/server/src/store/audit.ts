import type { Db } from './database.js';

/** Security events worth keeping (DESIGN.md): who did what, from where, never with secrets. */
export type AuditEventType =
  | 'login_succeeded'
  | 'login_failed'
  | 'login_throttled'
  | 'refresh_reuse_detected'
  | 'session_revoked'
  | 'user_logged_out_everywhere'
  | 'token_revoked'
  | 'password_changed'
  | 'user_disabled'
  | 'user_created'
  | 'key_rotated'
  | 'key_revoked';

export interface AuditEvent {
  type: AuditEventType;
  userId?: string | null;
  clientId?: string | null;
  ip?: string | null;
  detail?: Record<string, unknown>;
}

export interface Audit {
  record(event: AuditEvent): Promise<void>;
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
  return {
    async record(event) {
      await db
        .insertInto('audit_events')
        .values({
          type: event.type,
          user_id: event.userId ?? null,
          client_id: event.clientId ?? null,
          ip: event.ip ?? null,
          detail: JSON.stringify(event.detail ?? {}),
          created_at: clock(),
        })
        .execute();
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
        detail: JSON.parse(row.detail) as Record<string, unknown>,
        createdAt: row.created_at,
      }));
    },
  };
}
