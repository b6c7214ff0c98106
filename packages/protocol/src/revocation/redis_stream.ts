import { checkedEntry, type RevocationEntry } from './entry.js';

/**
 * A revocation as an entry of the shared Redis stream (scaled out: every instance relays it, and a
 * guard may read it directly): the fields `kind`, `value`, `ver` (decimal, empty for none), `exp`
 * (seconds) and `rid` (the store's row id, for the server's own bookkeeping).
 */
export const STREAM_FIELDS = { kind: 'kind', value: 'value', ver: 'ver', exp: 'exp', rowId: 'rid' } as const;

/** The stream entry's fields, `[name, value, …]`, as XADD takes them. */
export function streamFields(entry: RevocationEntry, rowId: number): string[] {
  return [
    STREAM_FIELDS.kind,
    entry.kind,
    STREAM_FIELDS.value,
    entry.value,
    STREAM_FIELDS.ver,
    entry.ver === null ? '' : String(entry.ver),
    STREAM_FIELDS.exp,
    String(entry.expiresAt),
    STREAM_FIELDS.rowId,
    String(rowId),
  ];
}

/** Parses the fields of a stream entry (`[name, value, …]`); unknown fields are ignored. */
export function parseStreamFields(
  fields: readonly unknown[],
): { entry: RevocationEntry; rowId: number } | undefined {
  let kind: unknown;
  let value: unknown;
  let ver: unknown;
  let exp: unknown;
  let rowId: unknown;
  for (let i = 0; i + 1 < fields.length; i += 2) {
    switch (fields[i]) {
      case STREAM_FIELDS.kind:
        kind = fields[i + 1];
        break;
      case STREAM_FIELDS.value:
        value = fields[i + 1];
        break;
      case STREAM_FIELDS.ver:
        ver = fields[i + 1];
        break;
      case STREAM_FIELDS.exp:
        exp = fields[i + 1];
        break;
      case STREAM_FIELDS.rowId:
        rowId = fields[i + 1];
        break;
    }
  }
  if (typeof ver !== 'string' || !/^(?:-?\d{1,15})?$/.test(ver)) return undefined;
  if (typeof exp !== 'string' || !/^\d{1,15}(?:\.\d+)?$/.test(exp)) return undefined;
  const entry = checkedEntry(kind, value, ver === '' ? null : Number(ver), Number(exp));
  if (!entry) return undefined;
  return { entry, rowId: typeof rowId === 'string' && /^\d{1,15}$/.test(rowId) ? Number(rowId) : 0 };
}
