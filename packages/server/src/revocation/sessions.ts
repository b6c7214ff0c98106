import { enqueueBackchannelLogouts } from '../logout/backchannel_logout.js';
import type { Services } from '../services.js';
import type { Db } from '../store/database.js';

/**
 * Ends one session: its refresh-token family, and (through a `sid` revocation) every access token it
 * issued, including one a concurrent refresh is signing right now. Both in one transaction: a failure
 * leaves the session whole (a retry ends it properly), never a revoked family whose access tokens
 * still pass. The revocation is published once committed; a crash in between is healed by the store
 * sync and redelivery (see Revocations.record). False when the session had already ended: whoever
 * ended it recorded its `sid`.
 *
 * If the session's client registered a back-channel logout URI, its delivery is written to the outbox
 * in the same transaction (BCL 1.0 §2.5: the RP hears of it from the provider's server): a rolled-back
 * logout tells no one, a committed one is told even if this process dies right after.
 */
export async function endSession(
  services: Pick<Services, 'db' | 'refreshTokens' | 'revocations' | 'outbox'>,
  sid: string,
  reason: string,
): Promise<boolean> {
  const { revocations, refreshTokens } = services;
  const entry = await services.db.transaction().execute(async (trx) => {
    if (!(await refreshTokens.revokeFamily(sid, reason, trx))) return undefined;
    const recorded = await revocations.record(trx, 'sid', sid);
    const told = await enqueueBackchannelLogouts(services.outbox, trx, [sid], reason);
    return { recorded, told };
  });
  if (entry === undefined) return false;
  if (entry.told > 0) services.outbox.notify();
  await revocations.publish(entry.recorded);
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
 * written in the same transaction. A client with no session of the user left hears nothing: logout
 * tokens speak of sessions, and it has none to end.
 */
export async function endEverySession(
  services: Pick<Services, 'db' | 'refreshTokens' | 'revocations' | 'outbox'>,
  userId: string,
  raiseVersion: (trx: Db) => Promise<number>,
  reason: string,
): Promise<{ version: number; sids: string[] }> {
  const { revocations, refreshTokens } = services;
  const done = await services.db.transaction().execute(async (trx) => {
    const version = await raiseVersion(trx);
    const entries = [await revocations.record(trx, 'sub', userId, version)];
    const sids = await refreshTokens.revokeUser(userId, reason, trx);
    for (const sid of sids) entries.push(await revocations.record(trx, 'sid', sid));
    const told = await enqueueBackchannelLogouts(services.outbox, trx, sids, reason);
    return { version, sids, entries, told };
  });
  if (done.told > 0) services.outbox.notify();
  for (const entry of done.entries) await revocations.publish(entry);
  return { version: done.version, sids: done.sids };
}
