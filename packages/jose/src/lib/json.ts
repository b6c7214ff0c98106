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

/**
 * Freezes `value` and every object and array inside it, so a result shared between callers (a
 * cache hit) cannot be changed through a nested member (`payload.roles.push`). Iterative, because a
 * 16 KiB token can nest thousands of levels deep. Objects that are already frozen are still entered
 * (a top-level freeze says nothing of their members); `seen` guards against cycles.
 */
export function deepFreeze<T>(value: T): T {
  const seen = new Set<object>();
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const item = stack.pop();
    if (typeof item !== 'object' || item === null || seen.has(item)) continue;
    seen.add(item);
    Object.freeze(item);
    for (const member of Object.values(item)) {
      if (typeof member === 'object' && member !== null) stack.push(member);
    }
  }
  return value;
}
