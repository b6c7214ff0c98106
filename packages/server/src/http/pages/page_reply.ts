import type { FastifyReply } from 'fastify';

/**
 * The pages' Content Security Policy: nothing but our stylesheet, no script at all, and forms that
 * may post only here. Chromium applies `form-action` to the redirect that follows a form post too, so
 * where that redirect may go (a client's redirect URI: its origin, or its scheme for a native app) is
 * allowed as well.
 */
export function pagePolicy(redirectUri: string | undefined): string {
  let target = '';
  if (redirectUri !== undefined) {
    const url = new URL(redirectUri);
    target = url.protocol === 'http:' || url.protocol === 'https:' ? ` ${url.origin}` : ` ${url.protocol}`;
  }
  return `default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'${target}; frame-ancestors 'none'; base-uri 'none'`;
}

/** Sends a server-rendered page (pages/*.ts) with its policy, never cached. */
export function sendPage(
  reply: FastifyReply,
  status: number,
  page: string,
  redirectUri?: string,
): FastifyReply {
  return (
    reply
      .code(status)
      .header('content-security-policy', pagePolicy(redirectUri))
      // Not no-referrer: under it Chromium sends `Origin: null` with the page's own form posts (Fetch
      // §3.1), which the form handlers' Origin checks must refuse. same-origin still tells other sites
      // nothing.
      .header('referrer-policy', 'same-origin')
      .header('cache-control', 'no-store')
      .type('text/html; charset=utf-8')
      .send(page)
  );
}
