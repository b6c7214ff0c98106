import type { Services } from '../services.js';
import type { Db } from '../store/database.js';
import type { SsoSession } from '../store/sso_sessions.js';
import { endSession } from './sessions.js';

/** A session (refresh-token family, `sid`) that a sign-out at the provider ended. */
export interface EndedSession {
  sid: string;
  userId: string;
  clientId: string;
}

/**
 * Signs a browser out of the provider (OIDC RP-Initiated Logout 1.0 §2): its SSO session, every
 * session an app started from it (the families the authorization code grant tied to it) and, when
 * the logout request named one (the `id_token_hint`'s `sid`), that session too. Each session ends
 * through `endSession` (its family and its `sid` revocation in one transaction, published after
 * commit), which is also what tells any other party that follows ended sessions.
 *
 * `beforeEnding` is shown the sessions about to end before any is: when it throws (a spent revocation
 * budget), nothing has ended. The sessions end first and the SSO session last, so a failure part way
 * leaves the SSO session standing and its cookie still finds every session left for a retry. Then the
 * families are read once more: a code exchanged while this ran may have started one the first read
 * could not see. Starting a family from an SSO session locks that session's row and requires it live
 * (refresh_tokens.ts start()), so none can start once it has ended, but one may have committed just
 * before; this second read finds it. Those end without
 * `beforeEnding`: the SSO session is gone already, and a session left live would never end. Returns
 * the sessions this call ended (not those ended already).
 */
export async function endBrowserSession(
  services: Pick<
    Services,
    'db' | 'ssoSessions' | 'refreshTokens' | 'revocations' | 'outbox' | 'securityEvents'
  >,
  browser: SsoSession | undefined,
  hintedSid: string | undefined,
  beforeEnding: (sessions: readonly EndedSession[]) => Promise<void> = async () => {},
): Promise<{ ssoSessionEnded: boolean; ended: EndedSession[] }> {
  const ended: EndedSession[] = [];
  async function live(sid: string | undefined): Promise<EndedSession[]> {
    if (!browser && sid === undefined) return [];
    const families = await services.db
      .selectFrom('refresh_token_families')
      .select(['id', 'user_id', 'client_id'])
      .where('revoked_at', 'is', null)
      .where((eb) =>
        eb.or([
          // By the user first: the families of one user are indexed, their SSO session is not.
          ...(browser
            ? [eb.and([eb('user_id', '=', browser.userId), eb('sso_session_id', '=', browser.id)])]
            : []),
          ...(sid !== undefined ? [eb('id', '=', sid)] : []),
        ]),
      )
      .orderBy('created_at')
      .execute();
    return families.map((f) => ({ sid: f.id, userId: f.user_id, clientId: f.client_id }));
  }
  async function endAll(sessions: EndedSession[]): Promise<void> {
    for (const session of sessions)
      if (await endSession(services, session.sid, 'end_session')) ended.push(session);
  }
  const first = await live(hintedSid);
  await beforeEnding(first);
  await endAll(first);
  if (!browser) return { ssoSessionEnded: false, ended };
  const ssoSessionEnded = await services.ssoSessions.end(browser.id);
  await endAll(await live(undefined));
  return { ssoSessionEnded, ended };
}

/**
 * Whether session `sid` (a refresh-token family, an ID token's `sid`) was started from the SSO session
 * `browser`, for its user: the hint belongs to the browser's current sign-in, not an earlier one or
 * another browser's (OIDC RP-Initiated Logout 1.0 §2).
 */
export async function startedFromBrowser(db: Db, sid: string, browser: SsoSession): Promise<boolean> {
  const family = await db
    .selectFrom('refresh_token_families')
    .select('id')
    .where('id', '=', sid)
    .where('user_id', '=', browser.userId)
    .where('sso_session_id', '=', browser.id)
    .executeTakeFirst();
  return family !== undefined;
}
