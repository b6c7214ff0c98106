import type { Services } from '../services.js';
import type { Impersonation, ImpersonationEnd } from '../store/impersonations.js';

type ImpersonationServices = Pick<Services, 'db' | 'impersonations' | 'audit' | 'revocations' | 'clock'>;

/** RFC 8693 gives no bound; an admin acting as someone else should be brief and visibly so. */
export const IMPERSONATION_MAX_TTL = 900;

/**
 * The one place an impersonation begins: its row and the `impersonation_started` audit event, in one
 * transaction, so an impersonation is never issued unrecorded (the caller hands out the token only
 * after this resolves). A hook announcing impersonations (a Security Event Token, say) goes here.
 */
export async function beginImpersonation(
  services: ImpersonationServices,
  impersonation: Impersonation,
  ip: string | undefined,
): Promise<void> {
  await services.db.transaction().execute(async (trx) => {
    await services.impersonations.insert(trx, impersonation);
    await services.audit.record(
      {
        type: 'impersonation_started',
        userId: impersonation.userId,
        clientId: impersonation.clientId,
        ip: ip ?? null,
        detail: {
          admin: impersonation.adminId,
          user: impersonation.userId,
          sid: impersonation.sid,
          exp: Math.floor(impersonation.expiresAt / 1000),
          jti: impersonation.jti,
        },
      },
      trx,
    );
  });
}

/**
 * The one place an impersonation ends: the row closed (once, whichever instance sees it first) and
 * `impersonation_ended` audited, in one transaction. False when it had ended already.
 */
export async function endImpersonation(
  services: ImpersonationServices,
  impersonation: Impersonation,
  reason: ImpersonationEnd,
): Promise<boolean> {
  const at = services.clock();
  return services.db.transaction().execute(async (trx) => {
    if (!(await services.impersonations.close(trx, impersonation.jti, reason, at))) return false;
    await services.audit.record(
      {
        type: 'impersonation_ended',
        userId: impersonation.userId,
        clientId: impersonation.clientId,
        detail: {
          admin: impersonation.adminId,
          user: impersonation.userId,
          sid: impersonation.sid,
          jti: impersonation.jti,
          reason,
        },
      },
      trx,
    );
    return true;
  });
}

/**
 * Housekeeping (server.ts, every minute): ends the open impersonations whose token can no longer be
 * used. `revoked`: the token matches the revocation list the way a guard would match it (its `jti`,
 * the admin's `sid` on logout, the user's `sub` below a raised `ver` on logout-everywhere, disable or
 * password change); `expired`: past its `exp`. Returns how many ended.
 */
export async function sweepImpersonations(services: ImpersonationServices): Promise<number> {
  const now = services.clock();
  let ended = 0;
  for (const open of await services.impersonations.open()) {
    const revoked = services.revocations.isRevoked({
      jti: open.jti,
      sid: open.sid,
      sub: open.userId,
      ver: open.ver,
    });
    const reason: ImpersonationEnd | undefined = revoked
      ? 'revoked'
      : open.expiresAt <= now
        ? 'expired'
        : undefined;
    if (reason && (await endImpersonation(services, open, reason))) ended++;
  }
  return ended;
}

/**
 * Ends impersonations as soon as this instance hears a revocation that could match one (a `sid`, a
 * `sub` or a `jti`), rather than at the next housekeeping: the audit trail then shows when the
 * admin's or the user's logout ended it. Sweeps run one at a time; revocations heard during one
 * cause one more. Returns the function that stops following.
 */
export function endImpersonationsOnRevocation(
  services: ImpersonationServices,
  onError: (err: unknown) => void,
): () => void {
  let running = false;
  let again = false;
  let stopped = false;
  const sweep = async () => {
    if (running) {
      again = true;
      return;
    }
    running = true;
    try {
      do {
        again = false;
        await sweepImpersonations(services);
      } while (again && !stopped);
    } catch (err) {
      if (!stopped) onError(err);
    } finally {
      running = false;
    }
  };
  const unsubscribe = services.revocations.subscribe((event) => {
    if (!stopped && event.kind !== 'kid') void sweep();
  });
  return () => {
    stopped = true;
    unsubscribe();
  };
}
