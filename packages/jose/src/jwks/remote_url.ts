// Which URLs a remote key set may be fetched from. A key set decides whose tokens are accepted, so
// the URL is the caller's (never a token's `jku` or `x5u`) and must reach the issuer untampered.

import { isLoopbackHost } from '../lib/loopback.js';

/**
 * Parses and checks the JWKS URL: `https:`, or `http:` only to a loopback host or with
 * `allowInsecureHttp`, and no user credentials (the Fetch standard refuses a request URL carrying
 * them; they belong in `headers`). Refused at creation, so a bad URL fails at start-up, not on the
 * first token. Throws a `TypeError` that names at most the URL's origin.
 */
export function checkJwksUrl(url: string | URL, allowInsecureHttp: boolean): URL {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new TypeError('the JWKS URL is not a valid absolute URL');
  }
  if (parsed.username !== '' || parsed.password !== '')
    throw new TypeError('the JWKS URL must not contain credentials; pass them in `headers`');
  if (parsed.protocol === 'https:') return parsed;
  if (parsed.protocol === 'http:') {
    // Over plain http anyone on the path can swap the keys; the loopback interface has no path.
    if (allowInsecureHttp || isLoopbackHost(parsed.hostname)) return parsed;
    throw new TypeError(
      `the JWKS URL ${parsed.origin} uses plain http; use https (or allowInsecureHttp: true on a trusted network)`,
    );
  }
  throw new TypeError(`the JWKS URL must use https, not ${parsed.protocol}`);
}
