import type { ResolvedDpop } from './options.js';

/** What the adapters hand the guard: a `node:http` request (Express, Fastify's raw) or a Fetch `Request`. */
interface RequestLine {
  readonly method?: unknown;
  /** A path (node:http), or an absolute URL (Fetch). */
  readonly url?: unknown;
  /** Express: the path before a router stripped its mount point from `url`. */
  readonly originalUrl?: unknown;
  readonly socket?: { readonly encrypted?: unknown } | null;
}

type HeaderReader = (name: string) => string | undefined;

/** The request's HTTP method, or undefined when the request object does not tell it. */
export function requestMethod(request: object): string | undefined {
  const method = (request as RequestLine).method;
  return typeof method === 'string' && method.length > 0 ? method : undefined;
}

/**
 * The URI the client sent the request to, as its DPoP proof names it in `htu` (RFC 9449 §4.3
 * point 9; query and fragment are dropped by the comparison). With `publicUrl`: that, then the
 * request's path. Otherwise the request's own URL: a Fetch request's, or for node:http the scheme
 * of the connection (`X-Forwarded-Proto` when trusted) and the Host header (`X-Forwarded-Host` when
 * trusted) before the path. Undefined when the request object carries no URL.
 */
export function requestUri(request: object, dpop: ResolvedDpop, header: HeaderReader): string | undefined {
  const line = request as RequestLine;
  const target = typeof line.originalUrl === 'string' ? line.originalUrl : line.url;
  if (typeof target !== 'string' || target.length === 0) return undefined;
  const absolute = target.charCodeAt(0) !== 47; /* '/' */
  let path = target;
  if (absolute) {
    // A Fetch Request's URL (or an absolute-form request target): its path, after the authority.
    const authority = target.indexOf('//');
    if (authority === -1) return undefined;
    const slash = target.indexOf('/', authority + 2);
    path = slash === -1 ? '/' : target.slice(slash);
  }
  if (dpop.publicUrl !== undefined) return dpop.publicUrl + path;
  if (dpop.trustForwardedHeaders) {
    const proto = lastValue(header('x-forwarded-proto'));
    const host = lastValue(header('x-forwarded-host'));
    if (proto !== undefined || host !== undefined) {
      const fallback = absolute ? new URL(target) : undefined;
      const scheme = proto ?? fallback?.protocol.slice(0, -1) ?? connectionScheme(line);
      const authority = host ?? fallback?.host ?? header('host');
      return authority === undefined ? undefined : `${scheme}://${authority}${path}`;
    }
  }
  if (absolute) return target;
  const host = header('host');
  return host === undefined ? undefined : `${connectionScheme(line)}://${host}${path}`;
}

function connectionScheme(line: RequestLine): string {
  return line.socket?.encrypted === true ? 'https' : 'http';
}

/**
 * The last of a comma-separated list: the value the proxy nearest the API set. A proxy that appends
 * rather than replaces would leave a client's own value first.
 */
function lastValue(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const last = value.slice(value.lastIndexOf(',') + 1).trim();
  return last.length === 0 ? undefined : last;
}
