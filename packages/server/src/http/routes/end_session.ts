import { timingSafeEqual } from 'node:crypto';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { Sealer } from '../../keys/master_key.js';
import {
  type EndedSession,
  endBrowserSession,
  startedFromBrowser,
} from '../../revocation/end_browser_session.js';
import type { Services } from '../../services.js';
import type { SsoSession } from '../../store/sso_sessions.js';
import { type IdTokenHint, InvalidIdTokenHint, verifyIdTokenHint } from '../../tokens/id_token_hint.js';
import { newCsrfToken } from '../authorization/interaction.js';
import { OAuthError } from '../errors.js';
import { renderEndSessionPage, renderSignedOutPage } from '../pages/end_session_pages.js';
import { renderErrorPage } from '../pages/error_page.js';
import { sendPage } from '../pages/page_reply.js';
import type { RevocationBudget } from '../revocation_budget.js';
import { clearSsoCookie, interactionCookie, setInteractionCookie, ssoCookie } from '../sso_cookies.js';

/** The end-session endpoint (OIDC RP-Initiated Logout 1.0 §2), advertised as `end_session_endpoint`. */
export const END_SESSION_PATH = '/logout/end';
/** Where the confirmation page's form posts: apart from the endpoint, which apps may post to as well. */
export const END_SESSION_CONFIRM_PATH = '/logout/end/confirm';

/** What the sealed confirmation is sealed for (the AAD): nothing sealed for another use opens as one. */
const SEAL_PURPOSE = 'end-session-confirmation';
/** A confirmation page may sit open this long before its form is refused. */
const CONFIRMATION_TTL_MS = 10 * 60_000;
/**
 * The query parameter of the GET a cookie-less POST is redirected to: the checked request, sealed
 * (see the POST route). Not one of §2's parameters, so no app sends it by accident.
 */
const RESUME_PARAMETER = 'resume';
const RESUME_SEAL_PURPOSE = 'end-session-request';
/** The redirect is followed at once; a sealed request older than this is refused. */
const RESUME_TTL_MS = 5 * 60_000;

/** §2's parameters (the same from the query of a GET and the form of a POST); others are ignored. */
interface EndSessionParameters {
  id_token_hint?: string;
  logout_hint?: string;
  client_id?: string;
  post_logout_redirect_uri?: string;
  state?: string;
  ui_locales?: string;
}

const parameterSchema = {
  type: 'object',
  properties: {
    id_token_hint: { type: 'string', maxLength: 8192 },
    logout_hint: { type: 'string', maxLength: 512 },
    client_id: { type: 'string', maxLength: 128 },
    post_logout_redirect_uri: { type: 'string', maxLength: 2048 },
    state: { type: 'string', maxLength: 2048 },
    ui_locales: { type: 'string', maxLength: 256 },
  },
} as const;

/** A cookie-less POST's request, sealed into the URL it is redirected to (longer than any we seal). */
const resumeSchema = {
  type: 'object',
  properties: { ...parameterSchema.properties, [RESUME_PARAMETER]: { type: 'string', maxLength: 12288 } },
} as const;

/** Pages are HTML; these routes declare it (errors are pages too, never JSON). */
const htmlResponse = { '2xx': { type: 'string' }, '4xx': { type: 'string' } } as const;

/** Where the browser goes once signed out (§3): a registered URI and the app's `state`. */
interface Back {
  postLogoutRedirectUri?: string;
  state?: string;
}

/** A request whose parameters passed every check (§2, §3): what is left to decide is whether to ask. */
interface CheckedRequest {
  /** What a verified `id_token_hint` says: whose session, and which (`sid`, a refresh-token family). */
  hint?: { sub: string; sid?: string };
  /** The app that sent the browser, when known (its name is shown on the confirmation page). */
  clientId?: string;
  back: Back;
}

/**
 * The request a confirmation page asks about, carried in its form rather than stored: sealed under
 * the master key (the browser can neither read nor change where it will be sent back to), and bound
 * to the browser by `csrf`, the value of the SameSite=Strict interaction cookie set with the page,
 * which a cross-site form cannot know (double submit).
 */
interface Confirmation {
  csrf: string;
  /** The `id_token_hint`'s session, ended with the browser's. */
  sid?: string;
  /** Checked against the client's registration before the page was shown. */
  postLogoutRedirectUri?: string;
  state?: string;
  expiresAt: number;
}

/** A request the endpoint answers with an error page; nothing has been ended. */
class EndSessionError extends Error {
  constructor(
    readonly status: number,
    readonly title: string,
    readonly description: string,
    /** `Retry-After`, when trying again later may work. */
    readonly headers: Record<string, string> = {},
  ) {
    super(description);
  }
}

/** Opens a sealed value of `purpose` that carries `expiresAt`; undefined when forged, altered or expired. */
function openSealed<T extends { expiresAt: number }>(
  sealer: Sealer,
  sealed: unknown,
  purpose: string,
  now: number,
): T | undefined {
  if (typeof sealed !== 'string') return undefined;
  let value: T;
  try {
    value = JSON.parse(sealer.open(sealed, purpose)) as T;
  } catch {
    return undefined;
  }
  return value.expiresAt > now ? value : undefined;
}

function openConfirmation(
  sealer: Sealer,
  sealed: unknown,
  csrfCookie: string | undefined,
  now: number,
): Confirmation | undefined {
  if (csrfCookie === undefined) return undefined;
  const confirmation = openSealed<Confirmation>(sealer, sealed, SEAL_PURPOSE, now);
  if (!confirmation) return undefined;
  const expected = Buffer.from(confirmation.csrf);
  const actual = Buffer.from(csrfCookie);
  if (expected.length !== actual.length || !timingSafeEqual(expected, actual)) return undefined;
  return confirmation;
}

/**
 * OIDC RP-Initiated Logout 1.0: an app sends the browser here (GET, or a form POST) to sign the user
 * out of the provider. With a valid `id_token_hint` from the browser's current sign-in, the sign-out
 * happens at once; otherwise the user is asked first, on a page whose form is bound
 * to the browser. Signing out ends the SSO session and every session apps started from it
 * (`endBrowserSession`), then sends the browser back to a registered `post_logout_redirect_uri` with
 * `state`, or shows that it is signed out.
 */
export const endSessionRoutes: FastifyPluginAsync<{
  services: Services;
  revocationBudget: RevocationBudget;
}> = async (app, { services, revocationBudget }) => {
  const { config, clock, sealer } = services;
  const issuerOrigin = new URL(config.issuer).origin;

  app.setErrorHandler((error, request, reply) => {
    const status =
      error instanceof EndSessionError
        ? error.status
        : ((error as { statusCode?: number }).statusCode ?? 500);
    if (status >= 500) request.log.error({ err: error }, 'end session failed');
    if (error instanceof EndSessionError) reply.headers(error.headers);
    const { title, description } =
      error instanceof EndSessionError
        ? error
        : status >= 500
          ? {
              title: 'Something went wrong',
              description: 'The sign-out could not be completed. Try again shortly.',
            }
          : {
              title: 'Invalid request',
              description: 'The sign-out request could not be understood. Go back to the application.',
            };
    return sendPage(
      reply,
      Math.min(status, 500),
      renderErrorPage({ title, description, note: 'You have not been signed out. You can close this page.' }),
    );
  });

  async function currentSession(request: FastifyRequest): Promise<SsoSession | undefined> {
    const cookie = ssoCookie(request);
    return cookie === undefined ? undefined : services.ssoSessions.byCookie(cookie);
  }

  /** Ends the browser's sign-in and the hinted session, audits it, and says so (redirect or page). */
  async function signOut(
    request: FastifyRequest,
    reply: FastifyReply,
    browser: SsoSession | undefined,
    sid: string | undefined,
    back: Back,
  ) {
    const { ssoSessionEnded, ended } = await endBrowserSession(services, browser, sid, spendBudget);
    // Only a cookie this request carried is cleared: a request without it (a cross-site subresource,
    // say) says nothing about the browser's sign-in, and must not pretend to have ended it.
    if (ssoCookie(request) !== undefined) clearSsoCookie(reply);
    try {
      await audit(request, browser, ssoSessionEnded, ended);
    } catch (err) {
      // The sessions have ended: answering "not signed out" would have the user believe they still
      // are, and try again to no effect. The missing record is logged for the operator instead.
      request.log.error({ err, sessions: ended.length }, 'end session audit failed');
    }
    if (back.postLogoutRedirectUri === undefined)
      return sendPage(reply, 200, renderSignedOutPage({ issuer: config.issuer }));
    // §3: `state` goes back unchanged; the URI is the registered one, byte for byte, plus `state`.
    const target = new URL(back.postLogoutRedirectUri);
    if (back.state !== undefined) target.searchParams.append('state', back.state);
    return reply.code(303).header('cache-control', 'no-store').redirect(target.href, 303);
  }

  /**
   * Each session ended is a revocation every guard holds (revocation_budget.ts), so a sign-out spends
   * the budget of its user and client per session, as `/logout` does, before it ends any: a spent
   * budget ends nothing, and the browser may try again after Retry-After.
   */
  async function spendBudget(sessions: readonly EndedSession[]): Promise<void> {
    try {
      for (const session of sessions) await revocationBudget.spend(session.userId, session.clientId);
    } catch (err) {
      if (!(err instanceof OAuthError) || err.status !== 429) throw err;
      throw new EndSessionError(
        429,
        'Too many sign-outs',
        'There have been too many sign-outs for this account or application just now. Wait a minute, then try again.',
        err.headers,
      );
    }
  }

  async function audit(
    request: FastifyRequest,
    browser: SsoSession | undefined,
    ssoSessionEnded: boolean,
    ended: EndedSession[],
  ) {
    for (const session of ended)
      await services.audit.record({
        type: 'session_revoked',
        userId: session.userId,
        clientId: session.clientId,
        ip: request.ip,
        detail: { sid: session.sid, reason: 'end_session' },
      });
    if (browser && ssoSessionEnded)
      await services.audit.record({
        type: 'sso_session_ended',
        userId: browser.userId,
        ip: request.ip,
        detail: { reason: 'end_session', sessions: ended.length },
      });
  }

  async function verifyHint(request: FastifyRequest, token: string): Promise<IdTokenHint> {
    try {
      return await verifyIdTokenHint(services.db, config, token);
    } catch (err) {
      if (!(err instanceof InvalidIdTokenHint)) throw err;
      // The message names the check that failed, never the token.
      request.log.info({ reason: err.message }, 'end session refused');
      throw new EndSessionError(
        400,
        'Invalid sign-out request',
        'The application sent a sign-out request this server cannot verify. Go back to the application.',
      );
    }
  }

  /** §2, §3: verifies the hint, the client and the redirect URI; throws an EndSessionError otherwise. */
  async function checkRequest(request: FastifyRequest, raw: EndSessionParameters): Promise<CheckedRequest> {
    // An empty value is the parameter left out (a form's empty field).
    const parameters = Object.fromEntries(
      Object.entries(raw).filter(([, value]) => typeof value === 'string' && value !== ''),
    ) as EndSessionParameters;
    // `ui_locales`: these pages exist in English only. `logout_hint`: the hint, when there is one,
    // names the user; the browser's own sign-in decides what ends. Both are accepted (§2) and unused.
    const hint =
      parameters.id_token_hint === undefined
        ? undefined
        : await verifyHint(request, parameters.id_token_hint);
    // §2: a client_id given with a hint must be one the ID token was issued to.
    if (hint && parameters.client_id !== undefined && !hint.aud.includes(parameters.client_id))
      throw new EndSessionError(
        400,
        'Invalid sign-out request',
        'The application does not match the sign-in it asks to end. Go back to the application.',
      );
    const clientId =
      parameters.client_id ?? (hint ? (hint.aud.length === 1 ? hint.aud[0] : hint.azp) : undefined);
    const client = clientId === undefined ? undefined : await services.clients.byId(clientId);
    if (parameters.client_id !== undefined && !client)
      throw new EndSessionError(400, 'Unknown application', 'The application is not registered here.');
    // §3: the browser goes back only to a URI registered for the client, compared as exact strings; a
    // request that names none, or no client, gets the pages instead — never an open redirect.
    const uri = parameters.post_logout_redirect_uri;
    if (uri !== undefined && !client?.postLogoutRedirectUris.includes(uri))
      throw new EndSessionError(
        400,
        'Invalid redirect',
        'The application asked to be sent back to an address it has not registered.',
      );
    return {
      ...(hint ? { hint: { sub: hint.sub, ...(hint.sid !== undefined ? { sid: hint.sid } : {}) } } : {}),
      ...(client ? { clientId: client.clientId } : {}),
      back: {
        ...(uri !== undefined ? { postLogoutRedirectUri: uri } : {}),
        ...(uri !== undefined && parameters.state !== undefined ? { state: parameters.state } : {}),
      },
    };
  }

  /** Signs the browser out at once when the request is plainly its own app's; asks otherwise. */
  async function decide(request: FastifyRequest, reply: FastifyReply, checked: CheckedRequest) {
    const { hint, back } = checked;
    const browser = await currentSession(request);
    // §2: the OP MUST ask when the ID token does not belong to the browser's current session with the
    // RP. So only a hint whose session (`sid`) was started from this very SSO session, for its user,
    // signs out without a question; a hint from an earlier sign-in, another browser, another user, or
    // sent to a browser not signed in gets the confirmation page (a leaked ID token alone ends nothing).
    if (hint?.sid !== undefined && browser && (await startedFromBrowser(services.db, hint.sid, browser)))
      return signOut(request, reply, browser, hint.sid, back);
    const client = checked.clientId === undefined ? undefined : await services.clients.byId(checked.clientId);
    const uri = back.postLogoutRedirectUri;
    const csrf = interactionCookie(request) ?? newCsrfToken();
    setInteractionCookie(reply, csrf);
    const confirmation: Confirmation = {
      csrf,
      ...(hint?.sid !== undefined ? { sid: hint.sid } : {}),
      ...back,
      expiresAt: clock() + CONFIRMATION_TTL_MS,
    };
    const user = browser ? await services.users.byId(browser.userId) : undefined;
    return sendPage(
      reply,
      200,
      renderEndSessionPage({
        issuer: config.issuer,
        userName: user ? (user.profile.name ?? user.username) : undefined,
        clientName: client?.name,
        action: END_SESSION_CONFIRM_PATH,
        hidden: { confirmation: sealer.seal(JSON.stringify(confirmation), SEAL_PURPOSE) },
      }),
      uri,
    );
  }

  app.get<{ Querystring: EndSessionParameters & { [RESUME_PARAMETER]?: string } }>(
    END_SESSION_PATH,
    // No HEAD twin: a request that may sign someone out is one the standard defines (GET, POST),
    // never a HEAD that a link checker or prefetcher sends expecting it to change nothing.
    { exposeHeadRoute: false, schema: { querystring: resumeSchema, response: htmlResponse } },
    async (request, reply) => {
      const { [RESUME_PARAMETER]: resume, ...parameters } = request.query ?? {};
      if (resume === undefined) return decide(request, reply, await checkRequest(request, parameters));
      // The GET a cookie-less POST was redirected to: the request as checked then, standing alone
      // (nothing added next to it is taken).
      const resumed =
        Object.keys(parameters).length === 0
          ? openSealed<{ request: CheckedRequest; expiresAt: number }>(
              sealer,
              resume,
              RESUME_SEAL_PURPOSE,
              clock(),
            )
          : undefined;
      if (!resumed)
        throw new EndSessionError(
          400,
          'This sign-out link has expired',
          'The sign-out request was altered or is too old. Go back to the application and sign out again.',
        );
      return decide(request, reply, resumed.request);
    },
  );
  // §2: the endpoint takes the same parameters as a form POST.
  app.post<{ Body: EndSessionParameters }>(
    END_SESSION_PATH,
    { schema: { body: parameterSchema, response: htmlResponse } },
    async (request, reply) => {
      const checked = await checkRequest(request, request.body ?? {});
      // A form another site posts carries no SameSite=Lax cookie, so a POST without the SSO cookie
      // says nothing about whether the browser is signed in: taking it for signed out would end the
      // hinted session alone and leave the browser's sign-in, and every other app's session, live.
      // The browser is sent on to a top-level GET instead, which carries the Lax cookie, with the
      // request as checked here sealed into it (so the hint itself is never put in a URL).
      if (ssoCookie(request) === undefined) {
        const target = new URL(`${config.issuer}${END_SESSION_PATH}`);
        target.searchParams.set(
          RESUME_PARAMETER,
          sealer.seal(
            JSON.stringify({ request: checked, expiresAt: clock() + RESUME_TTL_MS }),
            RESUME_SEAL_PURPOSE,
          ),
        );
        return reply.code(303).header('cache-control', 'no-store').redirect(target.href, 303);
      }
      return decide(request, reply, checked);
    },
  );

  app.post<{ Body: { confirmation?: string } }>(
    END_SESSION_CONFIRM_PATH,
    {
      schema: {
        body: { type: 'object', properties: { confirmation: { type: 'string', maxLength: 8192 } } },
        response: htmlResponse,
      },
    },
    async (request, reply) => {
      // Only our own confirmation page posts here: a foreign (or `null`) Origin is a forgery, and so
      // is a form whose sealed token does not match this browser's cookie.
      const origin = request.headers.origin;
      const confirmation =
        origin === undefined || origin === issuerOrigin
          ? openConfirmation(sealer, request.body?.confirmation, interactionCookie(request), clock())
          : undefined;
      if (!confirmation)
        throw new EndSessionError(
          403,
          'This page has expired',
          'The sign-out page was opened too long ago or in another browser. Go back to the application and sign out again.',
        );
      return signOut(request, reply, await currentSession(request), confirmation.sid, {
        ...(confirmation.postLogoutRedirectUri !== undefined
          ? { postLogoutRedirectUri: confirmation.postLogoutRedirectUri }
          : {}),
        ...(confirmation.state !== undefined ? { state: confirmation.state } : {}),
      });
    },
  );
};
