/**
 * A revocation as it travels from the server to guards. Four handles, each checkable without a
 * database: `jti` revokes one access token, `sid` every access token of a session, `sub` every token
 * of a user whose `ver` is below `ver` (log out everywhere, password change, disable), and `kid`
 * every token signed by a withdrawn (compromised) signing key. It matters until `expiresAt`, when
 * every token it could match has expired.
 */
export interface RevocationEntry {
  readonly kind: RevocationKind;
  readonly value: string;
  /** For `sub`: tokens with a `ver` below this are revoked. `null` for the other kinds. */
  readonly ver: number | null;
  /** Seconds since the epoch. */
  readonly expiresAt: number;
}

export const REVOCATION_KINDS = ['jti', 'sid', 'sub', 'kid'] as const;
export type RevocationKind = (typeof REVOCATION_KINDS)[number];

/** Longest `value` accepted: ids, session ids, subjects and key ids are short; this bounds a hostile feed. */
export const MAX_VALUE_LENGTH = 1024;

export function isRevocationKind(kind: unknown): kind is RevocationKind {
  return kind === 'jti' || kind === 'sid' || kind === 'sub' || kind === 'kid';
}

/** The entry, if every field is well-formed; `undefined` otherwise (a guard skips it and says so). */
export function checkedEntry(
  kind: unknown,
  value: unknown,
  ver: number | null,
  expiresAt: number,
): RevocationEntry | undefined {
  if (!isRevocationKind(kind)) return undefined;
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_VALUE_LENGTH) return undefined;
  if (ver !== null && !Number.isFinite(ver)) return undefined;
  if (!Number.isFinite(expiresAt)) return undefined;
  return { kind, value, ver, expiresAt };
}
