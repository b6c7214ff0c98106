import type { Services } from '../services.js';

/**
 * Ends one session: its refresh-token family, and (through a `sid` revocation) every access token it
 * issued, including one a concurrent refresh is signing right now.
 */
export async function endSession(
  services: Pick<Services, 'refreshTokens' | 'revocations'>,
  sid: string,
  reason: string,
): Promise<boolean> {
  const ended = await services.refreshTokens.revokeFamily(sid, reason);
  // Whoever revoked the family first published its `sid`; once is enough.
  if (ended) await services.revocations.revoke('sid', sid);
  return ended;
}

/**
 * Ends every session of a user after their token version was raised to `version` (log out
 * everywhere, password change, disabling): a `sub` revocation for tokens below that version, and each
 * session's family and `sid`, so that a refresh racing this call cannot hand out a token with the new
 * version for a session that is being ended.
 */
export async function endEverySession(
  services: Pick<Services, 'refreshTokens' | 'revocations'>,
  userId: string,
  version: number,
  reason: string,
): Promise<string[]> {
  await services.revocations.revoke('sub', userId, version);
  const sids = await services.refreshTokens.revokeUser(userId, reason);
  for (const sid of sids) await services.revocations.revoke('sid', sid);
  return sids;
}
