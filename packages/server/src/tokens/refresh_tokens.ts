import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { Config } from '../config.js';
import type { Sealer } from '../keys/master_key.js';
import type { Db } from '../store/database.js';
import { parseJsonText, toJsonText } from '../store/schema.js';

/** What a grace-window successor token is sealed for (the AAD). */
export const REFRESH_SUCCESSOR_SEAL_PURPOSE = 'refresh-successor';
const SEAL_PURPOSE = REFRESH_SUCCESSOR_SEAL_PURPOSE;

/** Why a refresh was refused. All of these answer `invalid_grant` (RFC 6749 §5.2). */
export type RefreshFailure =
  | 'unknown'
  | 'expired'
  | 'revoked'
  | 'client_mismatch'
  | 'reused'
  | 'dpop_mismatch';

export class InvalidRefreshToken extends Error {
  constructor(
    readonly reason: RefreshFailure,
    /** The family, when known (reuse revokes it; the caller publishes the revocation). */
    readonly familyId?: string,
    readonly userId?: string,
  ) {
    super(`refresh token rejected: ${reason}`);
    this.name = 'InvalidRefreshToken';
  }
}

/**
 * A login's session was not started: the account changed (password change, log out everywhere,
 * disabling) between the password check and the session, and that change ended every session.
 */
export class AccountChanged extends Error {
  constructor() {
    super('the account changed while the session was being started');
    this.name = 'AccountChanged';
  }
}

/**
 * A session was not started from an SSO session: the browser's sign-in ended (a sign-out at the
 * provider, or it expired) between the grant's check and the session.
 */
export class SsoSessionEnded extends Error {
  constructor() {
    super('the SSO session ended while a session was being started from it');
    this.name = 'SsoSessionEnded';
  }
}

export interface RefreshSession {
  familyId: string;
  userId: string;
  clientId: string;
  scope: string;
  /** The refresh token to hand out (new, or the same successor again within the grace window). */
  refreshToken: string;
  /** True when this answer repeats a successor already issued (a racing tab or a retry). */
  replayed: boolean;
  /** What a session started by the authorization code flow remembers (see SessionOrigin). */
  origin: SessionOrigin;
}

/**
 * How a session began, for the tokens its refreshes issue: the browser (SSO) session, when and how the
 * user authenticated (ID tokens repeat `auth_time` and `amr`, OIDC Core §12.2), the RFC 8707 resource.
 * Empty for a password login at `/login`.
 */
export interface SessionOrigin {
  ssoSessionId?: string;
  /** Milliseconds. */
  authTime?: number;
  amr?: string[];
  acr?: string;
  resource?: string;
}

export interface SessionOptions extends SessionOrigin {
  /** Seconds the session lives (its absolute lifetime); default the server's refreshAbsoluteTtl. */
  ttl?: number;
  /**
   * RFC 9449 §5: the thumbprint of the DPoP key the session's refresh tokens are bound to; every
   * refresh must then prove possession of that key.
   */
  dpopJkt?: string;
}

export interface RefreshTokenInfo {
  familyId: string;
  userId: string;
  clientId: string;
  scope: string;
  /** Still usable: not rotated, not expired, family not revoked. */
  active: boolean;
  /** When it stops working (the earlier of its idle and its family's absolute lifetime). */
  expiresAt: number;
  /** RFC 9449 §5: the DPoP key its family is bound to, if any. */
  dpopJkt: string | undefined;
}

export interface RefreshTokens {
  /**
   * Starts a family (a login session) and returns its first token. With `tokenVersion` (what the
   * login read with the password it checked), only while the user is still at that version and not
   * disabled, else {@link AccountChanged}: a change that ends every session (a password change, say)
   * while a login is checking the old password must end that login's session too. With
   * `ssoSessionId`, only while that SSO session is live, else {@link SsoSessionEnded}.
   */
  start(
    userId: string,
    clientId: string,
    scope: string,
    tokenVersion?: number,
    options?: SessionOptions,
  ): Promise<RefreshSession>;
  /**
   * Exchanges a token for its successor, with grace for duplicates and family revocation on reuse.
   * `dpopJkt` is the key the request proved possession of: a family bound to another key (or a
   * request without one) fails with `dpop_mismatch` before anything is rotated or revoked.
   */
  rotate(refreshToken: string, clientId: string, dpopJkt?: string): Promise<RefreshSession>;
  /** Looks up a token without rotating it (for revocation, logout and introspection). */
  familyOf(refreshToken: string): Promise<RefreshTokenInfo | undefined>;
  /** Revokes a family (with `executor`, inside the caller's transaction); false if it was already revoked. */
  revokeFamily(familyId: string, reason: string, executor?: Db): Promise<boolean>;
  /** Revokes every live family of a user; returns their ids. With `executor`, inside the caller's transaction. */
  revokeUser(userId: string, reason: string, executor?: Db): Promise<string[]>;
  /** Drops sealed successor copies whose grace window has passed (housekeeping). */
  sweep(): Promise<void>;
  /** The ids of a client's live sessions (families not revoked or expired), to end them. */
  liveFamiliesOfClient(clientId: string): Promise<string[]>;
}

/** 256 random bits, base64url: the token never exists anywhere but with its holder. */
export function newRefreshToken(): string {
  return randomBytes(32).toString('base64url');
}

/** Stored instead of the token. A fast hash suffices: the input has 256 bits of entropy. */
export function refreshTokenHash(token: string): string {
  return createHash('sha256').update(token).digest('base64url');
}

/**
 * Refresh tokens in families (one per login session), rotating on every use. Concurrency: rotation is
 * a conditional update (`rotated_at IS NULL`), so of two simultaneous refreshes of one token exactly
 * one wins; the loser re-reads and, inside the grace window, receives the winner's successor (sealed
 * under the master key for that window only). Presenting a rotated token outside the window, or one
 * that is not the immediate predecessor of the live token, is reuse: the family is revoked.
 */
export function createRefreshTokens(
  db: Db,
  sealer: Sealer,
  config: Pick<Config, 'refreshIdleTtl' | 'refreshAbsoluteTtl' | 'refreshGrace'>,
  clock: () => number = Date.now,
): RefreshTokens {
  const idle = config.refreshIdleTtl * 1000;
  const grace = config.refreshGrace * 1000;

  async function revokeFamily(familyId: string, reason: string, executor: Db = db): Promise<boolean> {
    const result = await executor
      .updateTable('refresh_token_families')
      .set({ revoked_at: clock(), revoked_reason: reason })
      .where('id', '=', familyId)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    // Nothing of a revoked family is worth keeping sealed.
    await executor
      .updateTable('refresh_tokens')
      .set({ successor_sealed: null })
      .where('family_id', '=', familyId)
      .execute();
    return Number(result.numUpdatedRows) > 0;
  }

  async function rotate(
    refreshToken: string,
    clientId: string,
    dpopJkt: string | undefined,
    attempt = 0,
  ): Promise<RefreshSession> {
    const now = clock();
    const hash = refreshTokenHash(refreshToken);
    const row = await db
      .selectFrom('refresh_tokens')
      .innerJoin('refresh_token_families as f', 'f.id', 'refresh_tokens.family_id')
      .select([
        'refresh_tokens.token_hash',
        'refresh_tokens.family_id',
        'refresh_tokens.expires_at',
        'refresh_tokens.rotated_at',
        'refresh_tokens.successor_hash',
        'refresh_tokens.successor_sealed',
        'f.user_id',
        'f.client_id',
        'f.scope',
        'f.expires_at as family_expires_at',
        'f.revoked_at',
        'f.sso_session_id',
        'f.auth_time',
        'f.amr',
        'f.acr',
        'f.resource',
        'f.dpop_jkt',
      ])
      .where('refresh_tokens.token_hash', '=', hash)
      .executeTakeFirst();
    if (!row) throw new InvalidRefreshToken('unknown');
    const session = {
      familyId: row.family_id,
      userId: row.user_id,
      clientId: row.client_id,
      scope: row.scope,
      origin: {
        ...(row.sso_session_id !== null ? { ssoSessionId: row.sso_session_id } : {}),
        ...(row.auth_time !== null ? { authTime: Number(row.auth_time) } : {}),
        ...(row.amr !== null ? { amr: parseJsonText(row.amr) } : {}),
        ...(row.acr !== null ? { acr: row.acr } : {}),
        ...(row.resource !== null ? { resource: row.resource } : {}),
      },
    };
    // RFC 6749 §6: the token must have been issued to the client that presents it.
    if (row.client_id !== clientId)
      throw new InvalidRefreshToken('client_mismatch', row.family_id, row.user_id);
    // RFC 9449 §5: a bound family refreshes only with a proof of its key. Checked before anything is
    // rotated, and before reuse is judged: someone holding a copy of the token but not the key can
    // neither refresh nor, by replaying an old token, end the session of the one who has the key.
    if (row.dpop_jkt !== null && row.dpop_jkt !== dpopJkt)
      throw new InvalidRefreshToken('dpop_mismatch', row.family_id, row.user_id);
    if (row.revoked_at !== null) throw new InvalidRefreshToken('revoked', row.family_id, row.user_id);
    if (row.family_expires_at <= now) throw new InvalidRefreshToken('expired', row.family_id, row.user_id);

    if (row.rotated_at === null) {
      if (row.expires_at <= now) throw new InvalidRefreshToken('expired', row.family_id, row.user_id);
      const successor = newRefreshToken();
      const successorHash = refreshTokenHash(successor);
      const won = await db.transaction().execute(async (trx) => {
        const claimed = await trx
          .updateTable('refresh_tokens')
          .set({
            rotated_at: now,
            successor_hash: successorHash,
            successor_sealed: sealer.seal(successor, SEAL_PURPOSE),
          })
          .where('token_hash', '=', hash)
          .where('rotated_at', 'is', null)
          .executeTakeFirst();
        if (Number(claimed.numUpdatedRows) !== 1) return false;
        await trx
          .insertInto('refresh_tokens')
          .values({
            token_hash: successorHash,
            family_id: row.family_id,
            parent_hash: hash,
            issued_at: now,
            expires_at: Math.min(now + idle, row.family_expires_at),
            rotated_at: null,
            successor_hash: null,
            successor_sealed: null,
          })
          .execute();
        return true;
      });
      if (won) return { ...session, refreshToken: successor, replayed: false };
      // Another request rotated it between our read and our update: answer as a duplicate.
      if (attempt > 0) throw new InvalidRefreshToken('reused', row.family_id, row.user_id);
      return rotate(refreshToken, clientId, dpopJkt, attempt + 1);
    }

    // Already rotated. Inside the grace window, and only if the successor is still the live token,
    // the duplicate gets that same successor: no new family, no revocation.
    if (now - row.rotated_at <= grace && row.successor_hash && row.successor_sealed) {
      const successor = await db
        .selectFrom('refresh_tokens')
        .select(['rotated_at'])
        .where('token_hash', '=', row.successor_hash)
        .executeTakeFirst();
      if (successor && successor.rotated_at === null) {
        return { ...session, refreshToken: sealer.open(row.successor_sealed, SEAL_PURPOSE), replayed: true };
      }
    }
    // Reuse of a rotated token: theft. The caller ends the whole session (family and `sid`, in one
    // transaction: see endSession), so nothing is half-revoked if that fails.
    throw new InvalidRefreshToken('reused', row.family_id, row.user_id);
  }

  return {
    async start(userId, clientId, scope, tokenVersion, options = {}) {
      const now = clock();
      const familyId = `sid_${randomUUID()}`;
      const refreshToken = newRefreshToken();
      const { ttl, dpopJkt, ...origin } = options;
      const familyExpiresAt = now + (ttl ?? config.refreshAbsoluteTtl) * 1000;
      await db.transaction().execute(async (trx) => {
        if (tokenVersion !== undefined) {
          // A write that changes nothing but locks the user's row: a concurrent endEverySession
          // (which raises the version in the same row) either commits first, and this finds the
          // version changed, or waits for this family to commit, and then ends it with the others.
          const unchanged = await trx
            .updateTable('users')
            .set((eb) => ({ token_version: eb.ref('token_version') }))
            .where('id', '=', userId)
            .where('token_version', '=', tokenVersion)
            .where('disabled', '=', 0)
            .executeTakeFirst();
          if (Number(unchanged.numUpdatedRows) !== 1) throw new AccountChanged();
        }
        if (origin.ssoSessionId !== undefined) {
          // The same for the browser's sign-in: a write that changes nothing but locks the SSO
          // session's row, and only while it is live. A sign-out that ends it (one conditional update
          // of that row) either commits first, and this starts nothing, or waits for this family to
          // commit, and then its second read of the families finds it (end_browser_session.ts). Without
          // it, a family started between the grant's check and here would outlive the sign-out.
          const live = await trx
            .updateTable('sso_sessions')
            .set((eb) => ({ revoked_at: eb.ref('revoked_at') }))
            .where('id', '=', origin.ssoSessionId)
            .where('revoked_at', 'is', null)
            .where('expires_at', '>', now)
            .executeTakeFirst();
          if (Number(live.numUpdatedRows) !== 1) throw new SsoSessionEnded();
        }
        await trx
          .insertInto('refresh_token_families')
          .values({
            id: familyId,
            user_id: userId,
            client_id: clientId,
            scope,
            created_at: now,
            expires_at: familyExpiresAt,
            revoked_at: null,
            revoked_reason: null,
            sso_session_id: origin.ssoSessionId ?? null,
            auth_time: origin.authTime ?? null,
            amr: origin.amr ? toJsonText(origin.amr) : null,
            acr: origin.acr ?? null,
            resource: origin.resource ?? null,
            dpop_jkt: dpopJkt ?? null,
          })
          .execute();
        await trx
          .insertInto('refresh_tokens')
          .values({
            token_hash: refreshTokenHash(refreshToken),
            family_id: familyId,
            parent_hash: null,
            issued_at: now,
            expires_at: Math.min(now + idle, familyExpiresAt),
            rotated_at: null,
            successor_hash: null,
            successor_sealed: null,
          })
          .execute();
      });
      return { familyId, userId, clientId, scope, refreshToken, replayed: false, origin };
    },
    rotate: (refreshToken, clientId, dpopJkt) => rotate(refreshToken, clientId, dpopJkt),
    async familyOf(refreshToken) {
      const row = await db
        .selectFrom('refresh_tokens')
        .innerJoin('refresh_token_families as f', 'f.id', 'refresh_tokens.family_id')
        .select([
          'f.id',
          'f.user_id',
          'f.client_id',
          'f.scope',
          'f.revoked_at',
          'f.expires_at as family_expires_at',
          'refresh_tokens.rotated_at',
          'refresh_tokens.expires_at',
          'f.dpop_jkt',
        ])
        .where('refresh_tokens.token_hash', '=', refreshTokenHash(refreshToken))
        .executeTakeFirst();
      if (!row) return undefined;
      const expiresAt = Math.min(row.expires_at, row.family_expires_at);
      return {
        familyId: row.id,
        userId: row.user_id,
        clientId: row.client_id,
        scope: row.scope,
        active: row.revoked_at === null && row.rotated_at === null && expiresAt > clock(),
        expiresAt,
        dpopJkt: row.dpop_jkt ?? undefined,
      };
    },
    revokeFamily,
    async sweep() {
      await db
        .updateTable('refresh_tokens')
        .set({ successor_sealed: null })
        .where('successor_sealed', 'is not', null)
        .where('rotated_at', '<', clock() - grace)
        .execute();
    },
    async revokeUser(userId, reason, executor = db) {
      const families = await executor
        .selectFrom('refresh_token_families')
        .select('id')
        .where('user_id', '=', userId)
        .where('revoked_at', 'is', null)
        .execute();
      for (const { id } of families) await revokeFamily(id, reason, executor);
      return families.map((f) => f.id);
    },
    async liveFamiliesOfClient(clientId) {
      const families = await db
        .selectFrom('refresh_token_families')
        .select('id')
        .where('client_id', '=', clientId)
        .where('revoked_at', 'is', null)
        .where('expires_at', '>', clock())
        .execute();
      return families.map((f) => f.id);
    },
  };
}
