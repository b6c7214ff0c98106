import { failureOutcome, type OutboxKind } from '../outbox/kinds.js';
import type { Outbox } from '../outbox/outbox.js';
import type { Clients } from '../store/clients.js';
import type { Db } from '../store/database.js';
import type { LogoutTokens } from './logout_tokens.js';

/** The outbox kind of back-channel logout deliveries. */
export const BACKCHANNEL_LOGOUT = 'backchannel_logout';

/** What an outbox row holds to make each attempt's logout token: who, which session, and why. */
export interface BackchannelLogoutPayload {
  clientId: string;
  sub: string;
  sid: string;
  /** Why the session ended (logout, logout_all, revoked, reuse_detected, disabled…): for audit only. */
  reason: string;
}

/** Families read per statement when a user's every session ends. */
const BATCH = 500;

/**
 * Writes one back-channel logout delivery for each of `sids` whose client registered a
 * `backchannel_logout_uri`, with `trx`: the transaction that ended them (revocation/sessions.ts). The
 * caller calls `outbox.notify()` once it committed. Returns how many were written.
 */
export async function enqueueBackchannelLogouts(
  outbox: Outbox,
  trx: Db,
  sids: readonly string[],
  reason: string,
): Promise<number> {
  let written = 0;
  for (let start = 0; start < sids.length; start += BATCH) {
    const rows = await trx
      .selectFrom('refresh_token_families as f')
      .innerJoin('clients as c', 'c.client_id', 'f.client_id')
      .select(['f.id', 'f.user_id', 'f.client_id', 'c.backchannel_logout_uri'])
      .where('f.id', 'in', sids.slice(start, start + BATCH))
      .where('c.backchannel_logout_uri', 'is not', null)
      .execute();
    await outbox.enqueue(
      trx,
      rows.map((row) => ({
        kind: BACKCHANNEL_LOGOUT,
        payload: {
          clientId: row.client_id,
          sub: row.user_id,
          sid: row.id,
          reason,
        } satisfies BackchannelLogoutPayload,
        // The URI as registered now; each attempt checks it still is (the kind's `superseded`).
        target: row.backchannel_logout_uri!,
      })),
    );
    written += rows.length;
  }
  return written;
}

/**
 * BCL 1.0 §2.5: POST `application/x-www-form-urlencoded` with `logout_token`; §2.8: the RP answers 200
 * (204 is what many send for an empty answer, and means the same). A 400 means it refused the token
 * (§2.8): sending it again would be refused again, so the delivery is given up; an overloaded or
 * failing RP (429, 5xx) is tried again, and one answering 401, 403, 404… (mid-redeploy, say) for an
 * hour (kinds.ts failureOutcome).
 */
export function backchannelLogoutKind(
  logoutTokens: LogoutTokens,
  clients: Pick<Clients, 'byId'>,
): OutboxKind<BackchannelLogoutPayload> {
  return {
    name: BACKCHANNEL_LOGOUT,
    parse(payload) {
      const { clientId, sub, sid, reason } = (payload ?? {}) as Partial<Record<string, unknown>>;
      if (typeof clientId !== 'string' || typeof sub !== 'string' || typeof sid !== 'string')
        throw new TypeError('a back-channel logout payload has clientId, sub and sid');
      return { clientId, sub, sid, reason: typeof reason === 'string' ? reason : 'unknown' };
    },
    // The client as registered at this attempt, not when the session ended: an operator who removes
    // the client or its URI, or moves the URI, means the old address must hear nothing more (it may
    // no longer be the RP's). Pending logouts are given up, not re-aimed: the new URI was never
    // promised them. `tessera client remove` ends the client's sessions first; their logouts go with
    // the client unless delivered before it was removed.
    async superseded(payload, target) {
      const client = await clients.byId(payload.clientId);
      if (!client) return 'the client was removed';
      if (client.backchannelLogoutUri === undefined)
        return 'the client no longer registers a back-channel logout URI';
      if (client.backchannelLogoutUri !== target)
        return 'the client registered another back-channel logout URI';
      return undefined;
    },
    request(payload, target) {
      const logoutToken = logoutTokens.issue(payload);
      return {
        url: target,
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ logout_token: logoutToken }).toString(),
      };
    },
    outcome: (status) => (status === 200 || status === 204 ? 'delivered' : failureOutcome(status)),
    describe: (payload) => ({
      userId: payload.sub,
      clientId: payload.clientId,
      detail: { sid: payload.sid, reason: payload.reason },
    }),
  };
}
