import { isLoopbackHost } from '@tessera/jose';

/**
 * Why a string may not be registered as a web origin (a browser origin allowed to call the server
 * with CORS), or undefined when it may.
 *
 * A web origin is compared as an exact string with the `Origin` request header, so it must be
 * written exactly as browsers serialise it (RFC 6454 §6.2, the Fetch standard's "ASCII serialisation
 * of an origin"): `scheme://host[:port]`, lower case, no default port, no path (not even `/`), no
 * wildcard. `https`, or `http` on a loopback host only: the rule redirect URIs follow (RFC 8252
 * §7.3), since a plain-http origin elsewhere is whoever controls the network. `null` is what
 * sandboxed frames, `file:` pages and redirects across origins send: it names no one, so it is
 * never registered.
 */
export function webOriginProblem(origin: string): string | undefined {
  const quoted = JSON.stringify(origin);
  if (origin === 'null')
    return 'the origin "null" (sandboxed frames, file: pages) names no one and cannot be registered';
  if (origin.includes('*')) return `web origins are matched exactly: no wildcards, got ${quoted}`;
  if (origin.length > 512) return 'a web origin is at most 512 characters';
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    return `a web origin is scheme://host[:port], like https://app.example.com, got ${quoted}`;
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:')
    return `a web origin is https (http only on a loopback host), got ${quoted}`;
  if (url.protocol === 'http:' && !isLoopbackHost(url.hostname))
    return `a web origin is https (http only on a loopback host), got ${quoted}`;
  if (url.username !== '' || url.password !== '')
    return `a web origin has no user name or password, got ${quoted}`;
  // What browsers send: `https://app.example.com`, never `https://App.example.com:443/`.
  if (origin !== url.origin)
    return `a web origin is written as browsers send it, without a path: ${JSON.stringify(url.origin)}, not ${quoted}`;
  return undefined;
}
