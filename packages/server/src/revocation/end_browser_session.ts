import type { Services } from '../services.js';
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
 * the logout request named one (the `id_token_hint`'s `sid`), that session too.
 *
 * The SSO session ends first, so no code issued under it can be exchanged from then on (the grant
 * checks that the SSO session still stands); then each session ends through `endSession` (its family
 * and its `sid` revocation in one transaction, published after commit), which is also what tells any
 * other party that follows ended sessions. A failure part way leaves the rest live for a retry.
 * Returns the sessions this call ended (not those ended already).
 */
export async function endBrowserSession(
  services: Pick<Services, 'db' | 'ssoSessions' | 'refreshTokens' | 'revocations'>,
  browser: SsoSession | undefined,
  hintedSid: string | undefined,
): Promise<{ ssoSessionEnded: boolean; ended: EndedSession[] }> {
  const ssoSessionEnded = browser ? await services.ssoSessions.end(browser.id) : false;
  if (!browser && hintedSid === undefined) return { ssoSessionEnded, ended: [] };
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
        ...(hintedSid !== undefined ? [eb('id', '=', hintedSid)] : []),
      ]),
    )
    .orderBy('created_at')
    .execute();
  const ended: EndedSession[] = [];
  for (const family of families) {
    if (await endSession(services, family.id, 'end_session'))
      ended.push({ sid: family.id, userId: family.user_id, clientId: family.client_id });
  }
  return { ssoSessionEnded, ended };
}
