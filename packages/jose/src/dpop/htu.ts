/**
 * The form in which RFC 9449 §4.3 compares a proof's `htu` with the request's URI: the query and
 * fragment dropped (§4.2, §4.3 point 9), then syntax-based and scheme-based normalisation (RFC 3986
 * §6.2.2, §6.2.3) so that equivalent spellings compare equal: scheme and host in lower case, the
 * default port left out, an empty path as `/`, dot segments removed, percent-encodings in upper case
 * and percent-encoded unreserved characters decoded. Only `http` and `https` URIs are accepted, and
 * none with a user name or password (RFC 9110 §4.2.4: a recipient treats userinfo as an error).
 * Anything else is a `TypeError`.
 *
 * @example
 * ```ts
 * dpopHtu('HTTPS://API.Example.com:443/orders/%7e1?page=2#top'); // 'https://api.example.com/orders/~1'
 * ```
 */
export function dpopHtu(url: string | URL): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new TypeError('htu must be an absolute http or https URI');
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') {
    throw new TypeError('htu must be an absolute http or https URI');
  }
  if (parsed.username !== '' || parsed.password !== '') {
    throw new TypeError('htu must not carry a user name or password (RFC 9110 §4.2.4)');
  }
  // The WHATWG parser already lower-cases scheme and host, drops the default port, turns an empty
  // path into '/' and removes dot segments; it leaves percent-encodings as they are.
  const path = parsed.pathname;
  return parsed.origin + (path.includes('%') ? path.replace(PERCENT_ENCODED, normalisePercent) : path);
}

const PERCENT_ENCODED = /%([0-9A-Fa-f]{2})/g;
/** RFC 3986 §2.3. */
const UNRESERVED = /^[A-Za-z0-9\-._~]$/;

// RFC 3986 §6.2.2.1 (upper-case hex digits) and §6.2.2.2 (decode percent-encoded unreserved characters).
function normalisePercent(_match: string, hex: string): string {
  const char = String.fromCharCode(Number.parseInt(hex, 16));
  return UNRESERVED.test(char) ? char : `%${hex.toUpperCase()}`;
}
