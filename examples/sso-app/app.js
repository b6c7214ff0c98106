// A server-side web app that signs its users in through Tessera with OpenID Connect (openid-client).
// Run twice under two names and client ids, it shows single sign-on: sign in to one, and the other
// signs you in without asking for a password again. server.js reads the flags and listens; the test
// builds the app here against an in-process Tessera server.
import { createServer } from 'node:http';
import * as oidc from 'openid-client';
import { createSessions } from './sessions.js';

/** What the app asks Tessera for: an ID token (`openid`) with the user's name (`profile`). */
const SCOPE = 'openid profile';

/**
 * openid-client refuses plain http, as it should: tokens and codes travel in these requests. A
 * Tessera on this machine (`npm start` serves http://127.0.0.1:4000) is reached without a network,
 * so for a loopback issuer only, the example allows http. Anywhere else the issuer must be https.
 */
function isLoopback(url) {
  return ['localhost', '127.0.0.1', '[::1]'].includes(url.hostname);
}

/**
 * Builds the app: reads Tessera's discovery document (so Tessera must be up), and returns an
 * http.Server, not yet listening.
 *
 * @param {object} options
 * @param {string} options.name shown on the page (`Notes`, `Photos`)
 * @param {string} options.issuer the Tessera server, exactly its issuer URL
 * @param {string} options.clientId this app's client at Tessera (`tessera client add <id> --kind web`)
 * @param {string} options.clientSecret its secret, printed once by `tessera client add`
 * @param {string} options.baseUrl where the browser reaches this app, like `http://localhost:3001`;
 *   `<baseUrl>/callback` must be one of the client's registered redirect URIs
 * @param {(line: string) => void} [options.log] one line per sign-in and failure; never a token or secret
 * @returns {Promise<import('node:http').Server>}
 */
export async function createSsoApp({ name, issuer, clientId, clientSecret, baseUrl, log = console.log }) {
  const issuerUrl = new URL(issuer);
  // OIDC Discovery §4: endpoints and keys from /.well-known/openid-configuration. The secret goes to
  // the token endpoint in the Authorization header (client_secret_basic, RFC 6749 §2.3.1).
  const config = await oidc.discovery(issuerUrl, clientId, undefined, oidc.ClientSecretBasic(clientSecret), {
    execute: isLoopback(issuerUrl) ? [oidc.allowInsecureRequests] : [],
  });
  const redirectUri = new URL('/callback', baseUrl).href;
  // Where Tessera sends the browser after signing it out: registered for the client with
  // `--post-logout-redirect-uri` (Tessera compares it as an exact string).
  const postLogoutRedirectUri = new URL('/signed-out', baseUrl).href;
  /** A page of this app's. */
  const page = (response, status, body) => sendPage(response, status, name, body, issuerUrl.origin);
  const sessions = createSessions({
    // Cookies are kept per host, not per port: each app needs a cookie name of its own.
    cookieName: `sso_app_${clientId}`,
    secure: new URL(baseUrl).protocol === 'https:',
  });

  /** GET /: who is signed in here, or a link to sign in. */
  function home(request, response) {
    const user = sessions.get(request)?.user;
    if (!user) {
      return page(
        response,
        200,
        `<p>You are not signed in to ${escapeHtml(name)}.</p>\n<p><a href="/login">Sign in</a></p>`,
      );
    }
    const { claims, userinfo } = user;
    const shownName = userinfo.name ?? claims.name ?? userinfo.preferred_username ?? claims.sub;
    return page(
      response,
      200,
      `<p>Signed in as <strong>${escapeHtml(shownName)}</strong>.</p>
<form method="post" action="/logout"><button type="submit">Sign out of ${escapeHtml(name)}</button></form>
<form method="post" action="/logout/tessera"><button type="submit">Sign out of ${escapeHtml(name)} and Tessera</button></form>
<h2>ID token claims</h2>
<pre>${escapeHtml(JSON.stringify(claims, null, 2))}</pre>
<h2>UserInfo</h2>
<pre>${escapeHtml(JSON.stringify(userinfo, null, 2))}</pre>`,
    );
  }

  /** GET /login: off to Tessera's authorization endpoint (OIDC Core §3.1.2.1). */
  async function login(request, response) {
    // Three single-use values, kept in the session and checked at /callback:
    // - the PKCE verifier (RFC 7636): only the app that started the sign-in can redeem the code;
    // - state (RFC 6749 §10.12): the callback answers a sign-in this browser started (no login CSRF);
    // - nonce (OIDC Core §3.1.2.1): the ID token was minted for this sign-in, not replayed.
    const codeVerifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const nonce = oidc.randomNonce();
    sessions.startLogin(request, response, { codeVerifier, state, nonce });
    const authorizationUrl = oidc.buildAuthorizationUrl(config, {
      redirect_uri: redirectUri,
      scope: SCOPE,
      code_challenge: await oidc.calculatePKCECodeChallenge(codeVerifier),
      code_challenge_method: 'S256',
      state,
      nonce,
    });
    response.writeHead(303, { location: authorizationUrl.href, 'cache-control': 'no-store' });
    response.end();
  }

  /** GET /callback: Tessera sends the browser back here with a code (or an error). */
  async function callback(request, response) {
    const pendingLogin = sessions.get(request)?.pendingLogin;
    if (!pendingLogin) {
      return page(
        response,
        400,
        '<p>No sign-in is in progress here: it expired, or this page was opened twice.</p>\n<p><a href="/login">Sign in again</a></p>',
      );
    }
    // The URL as this app is known to Tessera, not as the Host header says: openid-client sends it
    // back as the redirect_uri, which must equal the one in the authorization request.
    const currentUrl = new URL(request.url, baseUrl);
    let tokens;
    try {
      // Checks state and the response's `iss` (RFC 9207), exchanges the code with the PKCE verifier,
      // and validates the ID token: signature (Tessera's published keys), iss, aud, exp, nonce.
      tokens = await oidc.authorizationCodeGrant(config, currentUrl, {
        pkceCodeVerifier: pendingLogin.codeVerifier,
        expectedState: pendingLogin.state,
        expectedNonce: pendingLogin.nonce,
        idTokenExpected: true,
      });
    } catch (err) {
      // A state, code or verifier works once: a failed sign-in starts over from /login.
      sessions.end(request, response);
      // An OAuth error from Tessera (`access_denied`: the user clicked Deny; `invalid_grant`: the code
      // or verifier was refused) or openid-client's own check that failed (state, iss, the ID token).
      // Neither message holds a token or the secret.
      const error = err.error ?? err.code ?? 'error';
      // openid-client's own errors say what in `cause` (`unexpected "state" response parameter value`).
      const description =
        err.error_description ?? (err.cause?.message ? `${err.message}: ${err.cause.message}` : err.message);
      log(`${name}: sign-in failed: ${error}: ${description}`);
      return page(
        response,
        400,
        `<p>The sign-in did not complete (${escapeHtml(error)}): ${escapeHtml(description)}</p>\n<p><a href="/login">Try again</a></p>`,
      );
    }
    const claims = tokens.claims();
    // OIDC Core §5.3: more about the user, with the access token; `sub` must match the ID token's.
    const userinfo = await oidc.fetchUserInfo(config, tokens.access_token, claims.sub);
    // Only who the user is, and nothing else, is kept. An app that calls APIs for the user would keep
    // the access token (and refresh token) in this server-side session too, never in the browser.
    // The ID token too, server-side only: it is the `id_token_hint` of a later sign-out at Tessera.
    sessions.signIn(request, response, {
      claims: { ...claims },
      userinfo: { ...userinfo },
      idToken: tokens.id_token,
    });
    log(`${name}: ${claims.sub} signed in`);
    response.writeHead(303, { location: '/', 'cache-control': 'no-store' });
    response.end();
  }

  /**
   * POST /logout: forgets this app's session only. The browser is still signed in at Tessera, so
   * "Sign in" comes straight back without a password.
   */
  function logout(request, response) {
    sessions.end(request, response);
    response.writeHead(303, { location: '/' });
    response.end();
  }

  /**
   * POST /logout/tessera: forgets this app's session, then sends the browser to Tessera's end-session
   * endpoint (OpenID Connect RP-Initiated Logout 1.0) with the ID token as `id_token_hint`, so Tessera
   * signs the browser out at once, without asking. Tessera ends its sign-in session and every session
   * the apps started from it, and sends the browser back to /signed-out with `state`.
   */
  function logoutOfTessera(request, response) {
    const user = sessions.get(request)?.user;
    if (!user) {
      response.writeHead(303, { location: '/' });
      return response.end();
    }
    const state = oidc.randomState();
    sessions.startLogout(request, response, { state });
    const endSessionUrl = oidc.buildEndSessionUrl(config, {
      id_token_hint: user.idToken,
      post_logout_redirect_uri: postLogoutRedirectUri,
      state,
    });
    log(`${name}: ${user.claims.sub} signed out of Tessera`);
    response.writeHead(303, { location: endSessionUrl.href, 'cache-control': 'no-store' });
    response.end();
  }

  /** GET /signed-out: back from Tessera; `state` says this browser's sign-out is the one that ended. */
  function signedOut(request, response) {
    const pendingLogout = sessions.get(request)?.pendingLogout;
    const state = new URL(request.url, baseUrl).searchParams.get('state');
    // A link to this page from elsewhere changes nothing: only the sign-out this browser started ends.
    if (!pendingLogout || state !== pendingLogout.state) {
      return page(
        response,
        400,
        '<p>No sign-out is in progress here: it expired, or this page was opened twice.</p>\n<p><a href="/">Home</a></p>',
      );
    }
    sessions.end(request, response);
    return page(
      response,
      200,
      `<p>You are signed out of ${escapeHtml(name)} and of Tessera.</p>\n<p><a href="/login">Sign in</a></p>`,
    );
  }

  return createServer((request, response) => {
    const { pathname } = new URL(request.url, baseUrl);
    const route = `${request.method} ${pathname}`;
    const handler = {
      'GET /': home,
      'GET /login': login,
      'GET /callback': callback,
      'POST /logout': logout,
      'POST /logout/tessera': logoutOfTessera,
      'GET /signed-out': signedOut,
    }[route];
    if (!handler) return page(response, 404, '<p>Not found.</p>\n<p><a href="/">Home</a></p>');
    Promise.resolve(handler(request, response)).catch((err) => {
      log(`${name}: ${route} failed: ${err.message}`);
      if (!response.headersSent) page(response, 500, '<p>Something went wrong.</p>');
      else response.end();
    });
  });
}

/** Text for HTML: claims come from Tessera and from what users typed, so every value is escaped. */
function escapeHtml(value) {
  return String(value).replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c],
  );
}

/**
 * A whole page. No scripts at all, and forms post only here (the Content Security Policy says so);
 * `issuerOrigin` is allowed too because browsers apply form-action to the redirect after a post, and
 * the sign-out form's goes to Tessera.
 */
function sendPage(response, status, title, body, issuerOrigin) {
  response.writeHead(status, {
    'content-type': 'text/html; charset=utf-8',
    'content-security-policy': `default-src 'none'; form-action 'self' ${issuerOrigin}; frame-ancestors 'none'`,
    'cache-control': 'no-store',
  });
  response.end(`<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title></head>
<body>
<h1>${escapeHtml(title)}</h1>
${body}
</body>
</html>
`);
}
