// How long a fetched HTTP response stays fresh (RFC 9111 §4.2), read from its `Cache-Control` and
// `Age` header fields and clamped to bounds the caller sets, so that the server cannot make us
// fetch on every request or keep a document forever.

/** The bounds of a freshness lifetime, in milliseconds. */
export interface FreshnessBounds {
  /** The lifetime of a response that states none. */
  readonly defaultLifetime: number;
  /** The floor: `no-cache`, `no-store` and short `max-age`s are raised to it. */
  readonly minLifetime: number;
  /** The ceiling: long `max-age`s are lowered to it. */
  readonly maxLifetime: number;
}

/**
 * The remaining freshness lifetime of a response, in milliseconds, clamped to `bounds`: its
 * `max-age` or `s-maxage` (the shorter if both) less its `Age`, or `defaultLifetime` when it has
 * neither. `Expires` (§5.3) is not read: a response with only `Expires` gets `defaultLifetime`.
 */
export function freshnessLifetime(headers: Headers, bounds: FreshnessBounds): number {
  const directives = parseCacheControl(headers.get('cache-control'));
  let lifetime: number;
  // RFC 9111 §4.2.1: when directives conflict, the most restrictive is honoured. `no-store`
  // (§5.2.2.5) and `no-cache` (§5.2.2.4) would mean "fetch every time"; the floor turns that into
  // "fetch at most every `minLifetime`".
  if (directives.has('no-store') || directives.has('no-cache')) {
    lifetime = bounds.minLifetime;
  } else {
    // `max-age` (§5.2.2.1) and `s-maxage` (§5.2.2.10): when both are present the shorter wins, the
    // more restrictive reading (§4.2.1).
    const ages = [directives.get('max-age'), directives.get('s-maxage')]
      .filter((value) => value !== undefined)
      .map(deltaSeconds);
    if (ages.length === 0) {
      lifetime = bounds.defaultLifetime;
    } else {
      // §4.2.3 and §5.1: the response may have spent `Age` seconds in caches on the way.
      const age = deltaSeconds(headers.get('age') ?? '0');
      lifetime = Math.max(0, Math.min(...ages) - age) * 1000;
    }
  }
  return Math.min(bounds.maxLifetime, Math.max(bounds.minLifetime, lifetime));
}

/**
 * Cache-Control directives (RFC 9111 §5.2), names lower-cased (they compare case-insensitively),
 * arguments unquoted (both token and quoted-string forms are allowed). The first occurrence of a
 * repeated directive wins, as §4.2.1 suggests.
 */
function parseCacheControl(header: string | null): Map<string, string> {
  const directives = new Map<string, string>();
  if (header === null) return directives;
  for (const part of header.split(',')) {
    const eq = part.indexOf('=');
    const name = (eq === -1 ? part : part.slice(0, eq)).trim().toLowerCase();
    if (name === '' || directives.has(name)) continue;
    const value = eq === -1 ? '' : part.slice(eq + 1).trim();
    directives.set(
      name,
      value.length >= 2 && value.startsWith('"') && value.endsWith('"') ? value.slice(1, -1) : value,
    );
  }
  return directives;
}

/**
 * A delta-seconds value (RFC 9111 §1.2.2). Anything malformed counts as 0: a malformed `max-age`
 * makes the response already stale, as §4.2.1 encourages for invalid freshness information, and a
 * malformed `Age` is taken as none.
 */
function deltaSeconds(value: string): number {
  return /^\d+$/.test(value.trim()) ? Number(value.trim()) : 0;
}
