import { createHash, randomBytes } from 'node:crypto';
import type { Db } from './database.js';
import { parseJsonText, toJsonText } from './schema.js';

/** RFC 6749 §4.1.2 recommends at most ten minutes; a minute is plenty for a redirect and a POST. */
export const AUTHORIZATION_CODE_TTL_SECONDS = 60;

/** Marks a code whose reuse was seen before its first exchange had started a session. */
const REUSED_BEFORE_SESSION = '!reused';

/** What the user authorized, bound to the code until the client exchanges it. */
export interface AuthorizationGrant {
  clientId: string;
  userId: string;
  redirectUri: string;
  scope: string;
  nonce: string | undefined;
  codeChallenge: string | undefined;
  resource: string | undefined;
  ssoSessionId: string;
  /** Milliseconds. */
  authTime: number;
  amr: string[];
  acr: string;
  /** RFC 9449 §10: the DPoP key (`dpop_jkt`) the exchange must prove possession of. */
  dpopJkt?: string;
}

export type Redemption =
  | { outcome: 'redeemed'; codeHash: string; grant: AuthorizationGrant }
  | { outcome: 'unknown' | 'expired' }
  /** RFC 9449 §10: the code names a DPoP key (`dpop_jkt`) the exchange did not prove; nothing changed. */
  | { outcome: 'dpop_mismatch' }
  /** A second exchange: the session the first one started, if any yet, must end. */
  | { outcome: 'reused'; familyId: string | undefined; userId: string; clientId: string };

export interface AuthorizationCodes {
  issue(grant: AuthorizationGrant): Promise<string>;
  /**
   * Uses the code up, once: the first call gets its grant, any later one `reused`. `dpopJkt` is the
   * key the exchange proved possession of: a code bound to another key (or a request without one) is
   * `dpop_mismatch` and stays as it was, neither used up nor counted as reused.
   */
  redeem(code: string, dpopJkt?: string): Promise<Redemption>;
  /**
   * Records the session the exchange started. False when the code was reused meanwhile: the caller
   * must end that session (RFC 6749 §4.1.2: revoke what the code gave).
   */
  attachSession(codeHash: string, familyId: string): Promise<boolean>;
  /** Deletes codes long expired (housekeeping); kept a while to recognise late reuse. */
  sweep(): Promise<void>;
}

const hashOf = (code: string) => createHash('sha256').update(code).digest('base64url');

/**
 * Single-use codes (RFC 6749 §4.1.2, §10.5), stored only as hashes. Redemption is one conditional
 * update (`used_at IS NULL`), so of two simultaneous exchanges exactly one wins.
 */
export function createAuthorizationCodes(db: Db, clock: () => number = Date.now): AuthorizationCodes {
  return {
    async issue(grant) {
      const code = randomBytes(32).toString('base64url');
      const now = clock();
      await db
        .insertInto('authorization_codes')
        .values({
          code_hash: hashOf(code),
          client_id: grant.clientId,
          user_id: grant.userId,
          redirect_uri: grant.redirectUri,
          scope: grant.scope,
          nonce: grant.nonce ?? null,
          code_challenge: grant.codeChallenge ?? null,
          resource: grant.resource ?? null,
          sso_session_id: grant.ssoSessionId,
          auth_time: grant.authTime,
          amr: toJsonText(grant.amr),
          acr: grant.acr,
          created_at: now,
          expires_at: now + AUTHORIZATION_CODE_TTL_SECONDS * 1000,
          used_at: null,
          family_id: null,
          dpop_jkt: grant.dpopJkt ?? null,
        })
        .execute();
      return code;
    },
    async redeem(code, dpopJkt) {
      if (!/^[\w-]{43}$/.test(code)) return { outcome: 'unknown' };
      const codeHash = hashOf(code);
      const now = clock();
      // One statement claims the code and reads it back (RETURNING: SQLite 3.35+, PostgreSQL).
      const claimed = await db
        .updateTable('authorization_codes')
        .set({ used_at: now })
        .where('code_hash', '=', codeHash)
        .where('used_at', 'is', null)
        .where('expires_at', '>', now)
        // RFC 9449 §10: only with a proof of the key the authorization request named, so a thief
        // holding the code but not the key can neither spend it nor end the session it started.
        .where((eb) =>
          dpopJkt === undefined
            ? eb('dpop_jkt', 'is', null)
            : eb.or([eb('dpop_jkt', 'is', null), eb('dpop_jkt', '=', dpopJkt)]),
        )
        .returningAll()
        .executeTakeFirst();
      if (claimed) {
        return {
          outcome: 'redeemed',
          codeHash,
          grant: {
            clientId: claimed.client_id,
            userId: claimed.user_id,
            redirectUri: claimed.redirect_uri,
            scope: claimed.scope,
            nonce: claimed.nonce ?? undefined,
            codeChallenge: claimed.code_challenge ?? undefined,
            resource: claimed.resource ?? undefined,
            ssoSessionId: claimed.sso_session_id,
            authTime: Number(claimed.auth_time),
            amr: parseJsonText(claimed.amr),
            acr: claimed.acr,
            ...(claimed.dpop_jkt !== null ? { dpopJkt: claimed.dpop_jkt } : {}),
          },
        };
      }
      const row = await db
        .selectFrom('authorization_codes')
        .select(['used_at', 'family_id', 'user_id', 'client_id', 'dpop_jkt'])
        .where('code_hash', '=', codeHash)
        .executeTakeFirst();
      if (!row) return { outcome: 'unknown' };
      if (row.dpop_jkt !== null && row.dpop_jkt !== dpopJkt) return { outcome: 'dpop_mismatch' };
      if (row.used_at === null) return { outcome: 'expired' };
      // Reused. If the first exchange has not recorded its session yet, mark the code so that it
      // ends the session itself when it does (attachSession answers false).
      let familyId = row.family_id;
      if (familyId === null) {
        const marked = await db
          .updateTable('authorization_codes')
          .set({ family_id: REUSED_BEFORE_SESSION })
          .where('code_hash', '=', codeHash)
          .where('family_id', 'is', null)
          .executeTakeFirst();
        if (Number(marked.numUpdatedRows) !== 1) {
          const again = await db
            .selectFrom('authorization_codes')
            .select('family_id')
            .where('code_hash', '=', codeHash)
            .executeTakeFirst();
          familyId = again?.family_id ?? null;
        }
      }
      return {
        outcome: 'reused',
        familyId: familyId === null || familyId === REUSED_BEFORE_SESSION ? undefined : familyId,
        userId: row.user_id,
        clientId: row.client_id,
      };
    },
    async attachSession(codeHash, familyId) {
      const result = await db
        .updateTable('authorization_codes')
        .set({ family_id: familyId })
        .where('code_hash', '=', codeHash)
        .where('family_id', 'is', null)
        .executeTakeFirst();
      return Number(result.numUpdatedRows) === 1;
    },
    async sweep() {
      // A day after expiry: reuse is recognised (and its session revoked) for that long.
      await db
        .deleteFrom('authorization_codes')
        .where('expires_at', '<', clock() - 86_400_000)
        .execute();
    },
  };
}
