import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { Services } from '../../services.js';
import {
  DEBUGGER_SCRIPT,
  DEBUGGER_STYLESHEET,
  type DebuggerAsset,
  strongEtag,
} from '../pages/debugger_assets.js';
import { DEBUGGER_PATH, renderDebuggerPage } from '../pages/debugger_page.js';

/**
 * The page's Content Security Policy: script and style from this origin only (no inline code, no
 * eval), `fetch` to this origin only (the JWKS), nothing else at all. The one image is the page's
 * empty `data:` icon, there so that browsers do not ask the server for /favicon.ico (a request the
 * page would not need); `data:` images reach no network. No `<form>` exists and none may be
 * submitted; no other site may frame the page; no `<base>` may move its relative URLs.
 */
export const DEBUGGER_POLICY =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src data:; form-action 'none'; frame-ancestors 'none'; base-uri 'none'";

/**
 * The page and its files are revalidated on every use (`no-cache` with a strong ETag, answered by
 * 304 when unchanged): a page and a script from two different releases never meet, and a reload
 * costs a few hundred bytes.
 */
const REVALIDATE = 'no-cache';

const textResponse = { 200: { type: 'string' } } as const;

/**
 * RFC 9110 §13.1.2: If-None-Match is a list of entity tags (or `*`), compared weakly; a match means
 * the client's copy is current.
 */
function notModified(request: FastifyRequest, etag: string): boolean {
  const header = request.headers['if-none-match'];
  if (header === undefined) return false;
  const opaque = (tag: string) => tag.trim().replace(/^W\//, '');
  return header.trim() === '*' || header.split(',').some((tag) => opaque(tag) === etag);
}

function sendText(
  request: FastifyRequest,
  reply: FastifyReply,
  text: { body: string; etag: string; contentType: string },
) {
  reply.header('etag', text.etag).header('cache-control', REVALIDATE);
  if (notModified(request, text.etag)) return reply.code(304).send();
  return reply.type(text.contentType).send(text.body);
}

/**
 * `GET /debugger`: the token debugger, a page that decodes and checks tokens in the browser. The
 * server only serves files: it never sees a token pasted there. The script and stylesheet are served
 * here too (no CDN), so the page works offline once loaded.
 */
export const debuggerRoutes: FastifyPluginAsync<{ services: Services }> = async (app, { services }) => {
  const { issuer } = services.config;
  // The jwks_uri of the discovery document, as a path: the page fetches it from its own origin.
  const page = renderDebuggerPage({ issuer, jwksPath: new URL(`${issuer}/.well-known/jwks.json`).pathname });
  const document = { body: page, etag: strongEtag(page), contentType: 'text/html; charset=utf-8' };

  app.get(DEBUGGER_PATH, { schema: { response: textResponse } }, async (request, reply) => {
    reply
      .header('content-security-policy', DEBUGGER_POLICY)
      // No form posts here, so nothing needs an Origin: no page request carries a referrer at all.
      .header('referrer-policy', 'no-referrer')
      .header('cross-origin-opener-policy', 'same-origin');
    return sendText(request, reply, document);
  });

  const serve = (asset: DebuggerAsset) =>
    app.get(asset.path, { schema: { response: textResponse } }, async (request, reply) =>
      sendText(request, reply, asset),
    );
  serve(DEBUGGER_SCRIPT);
  serve(DEBUGGER_STYLESHEET);
};
