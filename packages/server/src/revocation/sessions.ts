import { enqueueBackchannelLogouts } from '../logout/backchannel_logout.js';
import type { InitiatingEntity, SecurityEvent } from '../security_events/set.js';
import type { Services } from '../services.js';
import type { Db } from '../store/database.js';

/** What ending sessions needs: the store, the families, the revocations, the outbox and the security events. */
type SessionServices = Pick<Services, 'db' | 'refreshTokens' | 'revocations' | 'outbox' | 'securityEvents'>;

/** Who set off an ending, by its reason (CAEP 1.0 §2 `initiating_entity` of session-revoked). */
const INITIATED_BY: Readonly<Record<string, InitiatingEntity>> = {
  logout: 'user',
  logout_all: 'user',
  // A sign-out at the provider (OIDC RP-Initiated Logout, end_browser_session.ts).
  end_session: 'user',
  revoked: 'user',
  reuse_detected: 'policy',
  code_reuse: 'policy',
  user_unavailable: 'policy',
  disabled: 'admin',
  deleted: 'admin',
  password_changed: 'admin',
  roles_changed: 'admin',
  permissions_changed: 'admin',
  client_removed: 'admin',
};

function sessionRevoked(userId: string, sid: string, reason: string): SecurityEvent {
  return {
    name: 'session-revoked',
    userId,
    sid,
    reason,
    initiatingEntity: INITIATED_BY[reason] ?? 'system',
  };
}

/**
 * Ends one session: its refresh-token family, and (through a `sid` revocation) every access token it
 * issued, including one a concurrent refresh is signing right now. Both in one transaction: a failure
 * leaves the session whole (a retry ends it properly), never a revoked family whose access tokens
 * still pass. The revocation is published once committed; a crash in between is healed by the store
 * sync and redelivery (see Revocations.record). False when the session had already ended: whoever
 * ended it recorded its `sid`.
 *
 * What others must hear of it is written to the outbox in the same transaction: the back-channel
 * logout if the session's client registered a URI (BCL 1.0 §2.5), and the security events (a
 * session-revoked SET, plus the caller's `events`, like refresh-token reuse) for the receivers that
 * want them. A rolled-back ending tells no one; a committed one is told even if this process dies
 * right after.
 */
export async function endSession(
  services: SessionServices,
  sid: string,
  reason: string,
  events: readonly SecurityEvent[] = [],
): Promise<boolean> {
  const { revocations, refreshTokens, securityEvents } = services;
  const entry = await services.db.transaction().execute(async (trx) => {
    if (!(await refreshTokens.revokeFamily(sid, reason, trx))) return undefined;
    const recorded = await revocations.record(trx, 'sid', sid);
    await enqueueBackchannelLogouts(services.outbox, trx, [sid], reason);
    const family = await trx
      .selectFrom('refresh_token_families')
      .select('user_id')
      .where('id', '=', sid)
      .executeTakeFirstOrThrow();
    await securityEvents.record(trx, [...events, sessionRevoked(family.user_id, sid, reason)]);
    return recorded;
  });
  if (entry === undefined) return false;
  services.outbox.notify();
  await revocations.publish(entry);
  return true;
}

/**
 * Ends every session of a user (log out everywhere, password change, disabling), in one transaction:
 * `raiseVersion` (the user's change, which raises the token version), a `sub` revocation for tokens
 * below the new version, and each session's family and `sid` revocation, so that a refresh racing
 * this call cannot hand out a token with the new version for a session being ended. A failure
 * leaves none of it: a user is never half logged out. The revocations are published once committed.
 *
 * Each session ended gets its back-channel logout (one per `sid`, for clients that registered a URI),
 * written in the same transaction, and so do the security events: the caller's `events` (account
 * disabled, password changed) and a session-revoked per session, one `txn` for them all. A client
 * with no session of the user left hears no logout: logout tokens speak of sessions.
 */
export async function endEverySession(
  services: SessionServices,
  userId: string,
  raiseVersion: (trx: Db) => Promise<number>,
  reason: string,
  events: readonly SecurityEvent[] = [],
): Promise<{ version: number; sids: string[] }> {
  const { revocations, refreshTokens, securityEvents } = services;
  const done = await services.db.transaction().execute(async (trx) => {
    const version = await raiseVersion(trx);
    const entries = [await revocations.record(trx, 'sub', userId, version)];
    const sids = await refreshTokens.revokeUser(userId, reason, trx);
    for (const sid of sids) entries.push(await revocations.record(trx, 'sid', sid));
    await enqueueBackchannelLogouts(services.outbox, trx, sids, reason);
    await securityEvents.record(trx, [...events, ...sids.map((sid) => sessionRevoked(userId, sid, reason))]);
    return { version, sids, entries };
  });
  services.outbox.notify();
  for (const entry of done.entries) await revocations.publish(entry);
  return { version: done.version, sids: done.sids };
}
