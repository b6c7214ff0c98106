import type { FastifyReply, FastifyRequest } from 'fastify';

/**
 * The browser's sign-in at the provider. `__Host-` pins it to this host (Secure, Path=/, no Domain);
 * HttpOnly keeps it from scripts; SameSite=Lax, because a second app sends the browser here with a
 * cross-site top-level navigation and single sign-on needs the cookie on exactly that request.
 */
export const SSO_COOKIE = '__Host-tessera_sso';
/**
 * Binds a login or consent form to the browser it was shown to (double submit: the sealed form holds
 * the same value). Strict: only this site's own pages post those forms.
 */
export const INTERACTION_COOKIE = '__Host-tessera_interaction';

export function setSsoCookie(reply: FastifyReply, value: string, maxAgeSeconds: number): void {
  reply.setCookie(SSO_COOKIE, value, {
    httpOnly: true,
    secure: true,
    sameSite: 'lax',
    path: '/',
    maxAge: maxAgeSeconds,
  });
}

/** Signs the browser out of the provider (the session row is ended by whoever calls this). */
export function clearSsoCookie(reply: FastifyReply): void {
  reply.clearCookie(SSO_COOKIE, { httpOnly: true, secure: true, sameSite: 'lax', path: '/' });
}

export function ssoCookie(request: FastifyRequest): string | undefined {
  const value = request.cookies[SSO_COOKIE];
  return value === undefined || value === '' ? undefined : value;
}

export function setInteractionCookie(reply: FastifyReply, value: string): void {
  // A browser session cookie: a page left open longer than the interaction lasts fails anyway.
  reply.setCookie(INTERACTION_COOKIE, value, { httpOnly: true, secure: true, sameSite: 'strict', path: '/' });
}

export function interactionCookie(request: FastifyRequest): string | undefined {
  const value = request.cookies[INTERACTION_COOKIE];
  return value === undefined || value === '' ? undefined : value;
}
