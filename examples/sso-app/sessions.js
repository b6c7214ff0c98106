// The app's own sessions: kept in this process's memory, found by a random id in an HttpOnly cookie.
// The browser holds only that id; the PKCE verifier, state, nonce and the user's claims stay here.
import { randomBytes } from 'node:crypto';

/** How long a sign-in may take, from /login to /callback. */
const PENDING_LOGIN_MS = 10 * 60_000;
/** How long the app remembers a signed-in user (its own choice: the tokens are not used after login). */
const SIGNED_IN_MS = 8 * 60 * 60_000;

/**
 * @typedef {{ codeVerifier: string, state: string, nonce: string }} PendingLogin
 * @typedef {{ claims: Record<string, unknown>, userinfo: Record<string, unknown>, idToken: string }} SignedIn
 * @typedef {{ state: string }} PendingLogout
 * @typedef {{ pendingLogin?: PendingLogin, user?: SignedIn, pendingLogout?: PendingLogout, expiresAt: number }} Session
 */

/**
 * A session store for one app.
 *
 * @param {object} options
 * @param {string} options.cookieName unique per app: browsers keep cookies per host, not per port, so
 *   two apps on localhost:3001 and localhost:3002 would otherwise overwrite each other's cookie
 * @param {boolean} options.secure add `Secure` (the app is served over https)
 */
export function createSessions({ cookieName, secure }) {
  /** @type {Map<string, Session>} */
  const sessions = new Map();

  /** @param {string} id @param {Session} session */
  function setCookie(response, id, session) {
    const maxAge = Math.round((session.expiresAt - Date.now()) / 1000);
    // HttpOnly: page scripts never see the id. SameSite=Lax: the browser still sends it on the
    // top-level redirect back from Tessera to /callback, which is a cross-site navigation.
    const attributes = ['Path=/', 'HttpOnly', 'SameSite=Lax', `Max-Age=${maxAge}`];
    if (secure) attributes.push('Secure');
    response.setHeader('set-cookie', `${cookieName}=${id}; ${attributes.join('; ')}`);
  }

  /** The id in the request's cookie, if it names a live session. */
  function idOf(request) {
    for (const pair of (request.headers.cookie ?? '').split(';')) {
      const eq = pair.indexOf('=');
      if (eq === -1 || pair.slice(0, eq).trim() !== cookieName) continue;
      const id = pair.slice(eq + 1).trim();
      const session = sessions.get(id);
      if (session && session.expiresAt > Date.now()) return id;
      sessions.delete(id);
    }
    return undefined;
  }

  /** Stores `session` under a new id and sets the cookie; the request's old session, if any, ends. */
  function start(request, response, session) {
    const previous = idOf(request);
    if (previous) sessions.delete(previous);
    for (const [id, { expiresAt }] of sessions) if (expiresAt <= Date.now()) sessions.delete(id);
    const id = randomBytes(32).toString('base64url');
    sessions.set(id, session);
    setCookie(response, id, session);
  }

  return {
    /** @returns {Session | undefined} */
    get(request) {
      const id = idOf(request);
      return id === undefined ? undefined : sessions.get(id);
    },

    /** A sign-in begins: remember what /callback must check. */
    startLogin(request, response, /** @type {PendingLogin} */ pendingLogin) {
      start(request, response, { pendingLogin, expiresAt: Date.now() + PENDING_LOGIN_MS });
    },

    /**
     * The user signed in. A new id, not the one from /login: whoever planted or saw the id before
     * sign-in cannot ride the signed-in session (session fixation).
     */
    signIn(request, response, /** @type {SignedIn} */ user) {
      start(request, response, { user, expiresAt: Date.now() + SIGNED_IN_MS });
    },

    /**
     * The user signs out of Tessera too: the signed-in session ends here, and only the `state` sent
     * to Tessera's end-session endpoint is kept, for the page Tessera sends the browser back to.
     */
    startLogout(request, response, /** @type {PendingLogout} */ pendingLogout) {
      start(request, response, { pendingLogout, expiresAt: Date.now() + PENDING_LOGIN_MS });
    },

    /** Forgets the request's session and clears the cookie. */
    end(request, response) {
      const id = idOf(request);
      if (id) sessions.delete(id);
      response.setHeader('set-cookie', `${cookieName}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0`);
    },
  };
}
