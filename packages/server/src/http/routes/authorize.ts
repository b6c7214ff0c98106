import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { createUnknownUserCheck } from '../../passwords.js';
import type { Services } from '../../services.js';
import type { Client } from '../../store/clients.js';
import type { SsoSession } from '../../store/sso_sessions.js';
import { MAX_PASSWORD_LENGTH } from '../../store/users.js';
import {
  type AuthorizationRequest,
  checkAuthorizationRequest,
  RedirectedError,
  redirectBack,
  UnredirectableError,
} from '../authorization/authorization_request.js';
import {
  INTERACTION_TTL_MS,
  type Interaction,
  newCsrfToken,
  openInteraction,
  sealInteraction,
} from '../authorization/interaction.js';
import { OAuthError } from '../errors.js';
import type { LoginThrottle } from '../login_throttle.js';
import type { Metrics } from '../metrics.js';
import { renderConsentPage } from '../pages/consent_page.js';
import { renderErrorPage } from '../pages/error_page.js';
import { renderLoginPage } from '../pages/login_page.js';
import { sendPage } from '../pages/page_reply.js';
import { describeScopes } from '../pages/scope_descriptions.js';
import { STYLESHEET, STYLESHEET_ETAG, STYLESHEET_PATH } from '../pages/stylesheet.js';
import { checkPasswordLogin } from '../password_login.js';
import { interactionCookie, setInteractionCookie, setSsoCookie, ssoCookie } from '../sso_cookies.js';

/** RFC 8176 §2: how the user authenticated. Passwords only, for now. */
const PASSWORD_AMR = ['pwd'];
const LOGIN_PATH = '/authorize/login';
const CONSENT_PATH = '/authorize/consent';

/** Pages are HTML; these routes declare it (errors are pages too, never JSON). */
const htmlResponse = { '2xx': { type: 'string' }, '4xx': { type: 'string' } } as const;

/**
 * The OpenID Connect authorization endpoint (OIDC Core §3.1.2, RFC 6749 §4.1) and its pages: sign in,
 * then consent, then a code back to the client. A browser already signed in here (the SSO cookie)
 * goes straight back with a code: logging in once serves every app.
 */
export const authorizeRoutes: FastifyPluginAsync<{
  services: Services;
  throttle: LoginThrottle;
  metrics: Metrics;
}> = async (app, { services, throttle, metrics }) => {
  const { config, clock, sealer } = services;
  const verifyUnknownUser = await createUnknownUserCheck();

  app.setErrorHandler((error, request, reply) => {
    if (error instanceof UnredirectableError)
      return sendPage(reply, 400, renderErrorPage({ title: error.title, description: error.description }));
    if (error instanceof RedirectedError) {
      return reply
        .code(303)
        .header('cache-control', 'no-store')
        .redirect(
          redirectBack(error.redirectUri, config.issuer, {
            error: error.error,
            error_description: error.description,
            state: error.state,
          }),
          303,
        );
    }
    const status = (error as { statusCode?: number }).statusCode ?? 500;
    if (status >= 500) request.log.error({ err: error }, 'authorization failed');
    return sendPage(
      reply,
      status >= 500 ? 500 : 400,
      renderErrorPage(
        status >= 500
          ? {
              title: 'Something went wrong',
              description: 'The sign-in could not be completed. Try again shortly.',
            }
          : {
              title: 'Invalid request',
              description: 'The request could not be understood. Start again from the application.',
            },
      ),
    );
  });

  /** The live SSO session of this browser, if any. */
  async function currentSession(request: FastifyRequest): Promise<SsoSession | undefined> {
    const cookie = ssoCookie(request);
    return cookie === undefined ? undefined : services.ssoSessions.byCookie(cookie);
  }

  /** Form posts come only from our own pages: a foreign Origin is a cross-site forgery. */
  function assertOwnPage(request: FastifyRequest): void {
    const origin = request.headers.origin;
    if (origin !== undefined && origin !== new URL(config.issuer).origin)
      throw new UnredirectableError('Invalid request', 'This form can only be sent from the sign-in page.');
  }

  function interactionFields(
    reply: FastifyReply,
    request: FastifyRequest,
    interaction: Omit<Interaction, 'csrf' | 'expiresAt'>,
  ) {
    const csrf = interactionCookie(request) ?? newCsrfToken();
    setInteractionCookie(reply, csrf);
    return {
      interaction: sealInteraction(sealer, { ...interaction, csrf, expiresAt: clock() + INTERACTION_TTL_MS }),
    };
  }

  function loginPage(
    reply: FastifyReply,
    request: FastifyRequest,
    authorization: AuthorizationRequest,
    client: Client,
    options: { status?: number; error?: string; username?: string; reauthenticate?: boolean } = {},
  ) {
    return sendPage(
      reply,
      options.status ?? 200,
      renderLoginPage({
        issuerName: 'Tessera',
        clientName: client.name,
        action: LOGIN_PATH,
        hidden: interactionFields(reply, request, { request: authorization }),
        username: options.username ?? authorization.loginHint,
        error: options.error,
        reauthenticate: options.reauthenticate,
      }),
      authorization.redirectUri,
    );
  }

  /**
   * What comes next for a checked request: the login page, the consent page, or the code. With
   * `authenticated`, the user has just entered the password in this very authorization.
   */
  async function proceed(
    request: FastifyRequest,
    reply: FastifyReply,
    authorization: AuthorizationRequest,
    client: Client,
    session: SsoSession | undefined,
    authenticated: boolean,
  ) {
    const fail = (error: 'login_required' | 'consent_required', description: string) => {
      throw new RedirectedError(authorization.redirectUri, error, description, authorization.state);
    };
    // OIDC Core §3.1.2.1: prompt=login and max_age ask for the password again (max_age=0 always,
    // like prompt=login: hence `>=`).
    const tooOld =
      session !== undefined &&
      authorization.maxAge !== undefined &&
      clock() - session.authTime >= authorization.maxAge * 1000;
    // §3.1.2.1: with id_token_hint, only that user's sign-in will do.
    const otherUser =
      session !== undefined &&
      authorization.hintedSubject !== undefined &&
      session.userId !== authorization.hintedSubject;
    if (!session || otherUser || (!authenticated && (authorization.prompt.login || tooOld))) {
      if (authorization.prompt.none) fail('login_required', 'the user is not signed in');
      if (otherUser) return loginPage(reply, request, authorization, client);
      const user = session ? await services.users.byId(session.userId) : undefined;
      return loginPage(reply, request, authorization, client, {
        username: user?.username,
        reauthenticate: session !== undefined,
      });
    }
    const user = await services.users.byId(session.userId);
    if (!user || user.disabled)
      throw new UnredirectableError('Account unavailable', 'This account cannot sign in.');
    const scopes = authorization.scope.split(' ');
    const missing = client.skipConsent
      ? []
      : await services.consents.missing(user.id, client.clientId, scopes);
    if (!client.skipConsent && (missing.length > 0 || authorization.prompt.consent)) {
      if (authorization.prompt.none) fail('consent_required', 'the user has not allowed this client yet');
      return sendPage(
        reply,
        200,
        renderConsentPage({
          clientName: client.name,
          userName: user.profile.name ?? user.username,
          scopes: describeScopes(scopes),
          action: CONSENT_PATH,
          hidden: interactionFields(reply, request, {
            request: authorization,
            ssoSessionId: session.id,
            authenticated,
          }),
        }),
        authorization.redirectUri,
      );
    }
    return issueCode(reply, authorization, session, authenticated);
  }

  async function issueCode(
    reply: FastifyReply,
    authorization: AuthorizationRequest,
    session: SsoSession,
    authenticated: boolean,
  ) {
    const code = await services.authorizationCodes.issue({
      clientId: authorization.clientId,
      userId: session.userId,
      redirectUri: authorization.redirectUri,
      scope: authorization.scope,
      nonce: authorization.nonce,
      codeChallenge: authorization.codeChallenge,
      resource: authorization.resource,
      ...(authorization.dpopJkt !== undefined ? { dpopJkt: authorization.dpopJkt } : {}),
      ssoSessionId: session.id,
      authTime: session.authTime,
      amr: session.amr,
      // As Keycloak: "1" when the user authenticated in this request, "0" when the SSO session did.
      acr: authenticated ? '1' : '0',
    });
    reply.header('cache-control', 'no-store');
    return reply.redirect(
      redirectBack(authorization.redirectUri, config.issuer, { code, state: authorization.state }),
      303,
    );
  }

  // OIDC Core §3.1.2.1: the authorization endpoint answers GET and POST (form) alike.
  const authorize = async (
    request: FastifyRequest,
    reply: FastifyReply,
    parameters: Record<string, unknown>,
  ) => {
    const { request: authorization, client } = await checkAuthorizationRequest(services, parameters);
    return proceed(request, reply, authorization, client, await currentSession(request), false);
  };
  app.get('/authorize', { schema: { response: htmlResponse } }, (request, reply) =>
    authorize(request, reply, (request.query ?? {}) as Record<string, unknown>),
  );
  app.post('/authorize', { schema: { response: htmlResponse } }, (request, reply) =>
    authorize(request, reply, (request.body ?? {}) as Record<string, unknown>),
  );

  /** The interaction a form carries, with its client; an error page when it is stale or foreign. */
  async function resume(request: FastifyRequest, sealed: unknown) {
    assertOwnPage(request);
    const interaction = openInteraction(sealer, sealed, interactionCookie(request), clock());
    if (!interaction)
      throw new UnredirectableError(
        'This page has expired',
        'The sign-in took too long or was opened in another browser. Go back to the application and start again.',
      );
    const client = await services.clients.byId(interaction.request.clientId);
    if (!client)
      throw new UnredirectableError('Unknown application', 'The application is no longer registered.');
    return { interaction, client };
  }

  app.post<{ Body: { interaction: string; username: string; password: string } }>(
    LOGIN_PATH,
    {
      schema: {
        body: {
          type: 'object',
          required: ['interaction', 'username', 'password'],
          properties: {
            interaction: { type: 'string', maxLength: 8192 },
            username: { type: 'string', maxLength: 64 },
            password: { type: 'string', maxLength: MAX_PASSWORD_LENGTH },
          },
        },
        response: htmlResponse,
      },
    },
    async (request, reply) => {
      const { interaction, client } = await resume(request, request.body.interaction);
      const authorization = interaction.request;
      const { username, password } = request.body;
      if (username === '' || password === '' || /[\u0000-\u001f\u007f]/.test(username))
        return loginPage(reply, request, authorization, client, {
          status: 400,
          username,
          error: 'Enter your username and password.',
        });
      let user: Awaited<ReturnType<typeof checkPasswordLogin>>;
      try {
        user = await checkPasswordLogin(services, throttle, metrics, verifyUnknownUser, {
          username,
          password,
          clientId: client.clientId,
          ip: request.ip,
        });
      } catch (err) {
        if (!(err instanceof OAuthError)) throw err;
        const throttled = err.status === 429;
        if (throttled) reply.header('retry-after', err.headers['retry-after'] ?? '60');
        return loginPage(reply, request, authorization, client, {
          status: throttled ? 429 : 400,
          username,
          error: throttled
            ? 'Too many failed attempts. Wait a few minutes, then try again.'
            : 'The username or password is not right.',
        });
      }
      // A browser signing in (again, or as someone else) gets a new session; the old one ends.
      const previous = await currentSession(request);
      if (previous) await services.ssoSessions.end(previous.id);
      const started = await services.ssoSessions.start(
        user.id,
        user.tokenVersion,
        PASSWORD_AMR,
        config.ssoSessionTtl,
      );
      setSsoCookie(reply, started.cookie, config.ssoSessionTtl);
      metrics.login('succeeded');
      await services.audit.record({
        type: 'login_succeeded',
        userId: user.id,
        clientId: client.clientId,
        ip: request.ip,
        detail: { sso: true },
      });
      return proceed(request, reply, authorization, client, started.session, true);
    },
  );

  app.post<{ Body: { interaction: string; decision: string } }>(
    CONSENT_PATH,
    {
      schema: {
        body: {
          type: 'object',
          required: ['interaction', 'decision'],
          properties: {
            interaction: { type: 'string', maxLength: 8192 },
            decision: { type: 'string', enum: ['allow', 'deny'] },
          },
        },
        response: htmlResponse,
      },
    },
    async (request, reply) => {
      const { interaction, client } = await resume(request, request.body.interaction);
      const authorization = interaction.request;
      const session = await currentSession(request);
      // The consent was asked of this session's user: a sign-out or another sign-in since voids it.
      if (!session || session.id !== interaction.ssoSessionId)
        return proceed(request, reply, authorization, client, session, false);
      if (request.body.decision === 'deny') {
        throw new RedirectedError(
          authorization.redirectUri,
          'access_denied',
          'the user did not allow the request',
          authorization.state,
        );
      }
      await services.consents.grant(session.userId, client.clientId, authorization.scope.split(' '));
      await services.audit.record({
        type: 'consent_granted',
        userId: session.userId,
        clientId: client.clientId,
        ip: request.ip,
        detail: { scope: authorization.scope },
      });
      return issueCode(reply, authorization, session, interaction.authenticated === true);
    },
  );

  app.get(STYLESHEET_PATH, async (request, reply) => {
    reply.header('etag', STYLESHEET_ETAG).header('cache-control', 'public, max-age=86400');
    if (request.headers['if-none-match'] === STYLESHEET_ETAG) return reply.code(304).send();
    return reply.type('text/css; charset=utf-8').send(STYLESHEET);
  });
};
