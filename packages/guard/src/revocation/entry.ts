/**
 * One revocation, as the server publishes it (SSE `data` or a Redis stream entry): `jti` revokes one
 * access token, `sid` every token of a session, `sub` every token of a user whose `ver` is below
 * `ver`. It matters until `expiresAt`, when every token it could match has expired.
 */
export interface RevocationEntry {
  readonly kind: 'jti' | 'sid' | 'sub';
  readonly value: string;
  readonly ver: number | null;
  /** Seconds since the epoch. */
  readonly expiresAt: number;
}

/** Longest `value` accepted: ids, session ids and subjects are short; this bounds a hostile feed. */
const MAX_VALUE_LENGTH = 1024;

/** Parses the `data` of an SSE `revocation` event; `undefined` when malformed. */
export function entryFromJson(data: string): RevocationEntry | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(data);
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return undefined;
  const { kind, value, ver, expires_at: expiresAt } = parsed as Record<string, unknown>;
  if (ver !== null && !(typeof ver === 'number' && Number.isFinite(ver))) return undefined;
  if (!(typeof expiresAt === 'number' && Number.isFinite(expiresAt))) return undefined;
  return checked(kind, value, ver, expiresAt);
}

/**
 * Parses the fields of a Redis stream entry (`[name, value, name, value, …]`): `kind`, `value`,
 * `ver` (decimal, or empty for none), `exp` (seconds); others (`rid`) are ignored.
 */
export function entryFromFields(fields: readonly unknown[]): RevocationEntry | undefined {
  let kind: unknown;
  let value: unknown;
  let ver: unknown;
  let exp: unknown;
  for (let i = 0; i + 1 < fields.length; i += 2) {
    switch (fields[i]) {
      case 'kind':
        kind = fields[i + 1];
        break;
      case 'value':
        value = fields[i + 1];
        break;
      case 'ver':
        ver = fields[i + 1];
        break;
      case 'exp':
        exp = fields[i + 1];
        break;
    }
  }
  if (typeof ver !== 'string' || !/^(?:-?\d{1,15})?$/.test(ver)) return undefined;
  if (typeof exp !== 'string' || !/^\d{1,15}(?:\.\d+)?$/.test(exp)) return undefined;
  return checked(kind, value, ver === '' ? null : Number(ver), Number(exp));
}

function checked(kind: unknown, value: unknown, ver: number | null, expiresAt: number) {
  if (kind !== 'jti' && kind !== 'sid' && kind !== 'sub') return undefined;
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_VALUE_LENGTH) return undefined;
  return { kind, value, ver, expiresAt } satisfies RevocationEntry;
}
