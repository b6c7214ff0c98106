export type JsonObject = Record<string, unknown>;

/** Parses JSON text that must be an object; `undefined` for anything else (including arrays). */
export function parseJsonObject(text: string): JsonObject | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  return isJsonObject(value) ? value : undefined;
}

export function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * RFC 7515 §5.2 step 4 (and RFC 7519 §4): a header with duplicate member names must be rejected.
 * `JSON.parse` silently keeps the last one, so count the top-level members in the text (commas at
 * depth one, outside strings) and compare with what the parser kept. `text` must already parse
 * as an object.
 */
export function hasDuplicateMembers(text: string, parsed: JsonObject): boolean {
  let depth = 0;
  let members = 0;
  let sawMember = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      if (depth === 1) sawMember = true;
      for (i++; i < text.length; i++) {
        const s = text.charCodeAt(i);
        if (s === 0x5c /* \ */) i++;
        else if (s === 0x22) break;
      }
    } else if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      depth++;
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      depth--;
    } else if (c === 0x2c /* , */ && depth === 1) {
      members++;
    }
  }
  if (sawMember) members++;
  return members !== Object.keys(parsed).length;
}
