/**
 * Whether a URL's host is this machine: `localhost`, `127.0.0.0/8` or `[::1]` (the WHATWG URL parser
 * keeps the brackets of an IPv6 host). Plain http is acceptable only there, where no network path
 * exists for anyone to tamper with.
 *
 * @example
 * ```ts
 * isLoopbackHost(new URL('http://127.0.0.1:4000').hostname); // true
 * ```
 */
export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.toLowerCase();
  return host === 'localhost' || host === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}
