// Tessera Coffee: the whole single-page app. It signs in with @tessera/client (first-party mode:
// Tessera's /login, the refresh token in Tessera's HttpOnly cookie), shows who is signed in and their
// orders from the orders API, and follows the session across tabs. It never sees a token: the client
// keeps the access token in memory and adds it (with a DPoP proof) to the requests it makes.
// spa_server.js bundles this file with the client (esbuild); the page's CSP allows nothing inline,
// so every element is built with DOM calls and text is only ever set as text.
import { AuthError, createAuthClient } from '@tessera/client';

/** The page's settings, filled in by the static server from its environment. */
const setting = (name) => document.querySelector(`meta[name="${name}"]`).content;
const issuer = setting('tessera-issuer');
const ordersApi = setting('orders-api');

/** `orders:write` lets the user place orders; `openid profile` lets the app ask /userinfo for their name. */
const SCOPE = 'openid profile offline_access orders:write';

// `apiOrigins`: the client adds the token to requests for the issuer, this page and these origins
// only. A request anywhere else goes out without it.
const client = createAuthClient({
  issuer,
  clientId: setting('tessera-client-id'),
  scope: SCOPE,
  apiOrigins: [ordersApi],
});

const $ = (id) => document.getElementById(id);
const views = { loading: $('loading'), signedOut: $('signed-out'), signedIn: $('signed-in') };

let refreshes = 0;
let countdown;
/** Why Tessera could not be reached, while it could not. */
let trouble = '';

// --- Views -----------------------------------------------------------------------------------------

function show(view) {
  for (const [name, element] of Object.entries(views)) element.hidden = name !== view;
}

function notify(message) {
  $('notice').textContent = message;
}

function showSignedOut(message = '') {
  clearInterval(countdown);
  notify(message);
  $('orders-list').replaceChildren();
  $('user-name').textContent = '';
  $('password').value = '';
  show('signedOut');
}

async function showSignedIn(state) {
  show('signedIn');
  showSession(state);
  await Promise.all([loadName(), loadOrders()]);
}

/** `client.fetch` rejects only when no answer came (the network, or a CORS refusal the browser hides). */
async function call(url, init, unreachable) {
  try {
    return await client.fetch(url, init);
  } catch {
    unreachable();
    return undefined;
  }
}

/** What the session is, never what the token is: its expiry, its binding, its scopes. */
function showSession(state) {
  // RFC 9449 §6: a DPoP-bound token names the key's thumbprint in `cnf.jkt`.
  const bound = typeof state.user?.cnf?.jkt === 'string';
  const dpop = $('token-dpop');
  dpop.textContent = bound ? 'yes' : 'no (Bearer)';
  dpop.className = bound ? 'yes' : '';
  const scopes = (state.scope ?? '').split(' ').filter(Boolean);
  $('token-scope').replaceChildren(
    ...(scopes.length ? scopes.map((scope) => element('span', '', scope)) : ['—']),
  );
  const roles = Array.isArray(state.user?.roles) ? state.user.roles : [];
  $('token-roles').textContent = roles.length ? roles.join(', ') : 'none';
  $('token-refreshes').textContent = refreshes === 1 ? '1 time' : `${refreshes} times`;
  clearInterval(countdown);
  const tick = () => {
    $('token-expiry').textContent = inTime(state.expiresAt - Date.now());
  };
  tick();
  countdown = setInterval(tick, 1000);
}

/** "in 4 min 12 s": a countdown a person reads at a glance. */
function inTime(ms) {
  if (ms <= 0) return 'now (renewing)';
  const seconds = Math.ceil(ms / 1000);
  const minutes = Math.floor(seconds / 60);
  // No-break spaces keep a number with its unit when the line wraps on a phone.
  return minutes ? `in ${minutes}\u00a0min ${seconds % 60}\u00a0s` : `in ${seconds}\u00a0s`;
}

// --- Calls -----------------------------------------------------------------------------------------

/** The user's name from Tessera's /userinfo (OIDC Core §5.3), called with the client's token. */
async function loadName() {
  const response = await call(new URL('/userinfo', issuer), undefined, () => {});
  if (!response?.ok) return;
  const user = await response.json();
  $('user-name').textContent = user.name ?? user.preferred_username ?? user.sub;
}

async function loadOrders() {
  $('orders-error').textContent = '';
  const response = await call(new URL('/orders', ordersApi), undefined, ordersUnreachable);
  if (!response) return;
  if (!response.ok) return ordersFailed(response);
  const { orders } = await response.json();
  renderOrders(orders);
}

async function placeOrder(item, quantity) {
  $('orders-error').textContent = '';
  const response = await call(
    new URL('/orders', ordersApi),
    {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ item, quantity }),
    },
    ordersUnreachable,
  );
  if (!response) return;
  if (!response.ok) return ordersFailed(response);
  const order = await response.json();
  notify(`Order placed: ${order.quantity} × ${order.item}.`);
  await loadOrders();
  $('orders-list')
    .querySelector(`[data-id="${CSS.escape(order.id)}"]`)
    ?.classList.add('fresh');
}

function ordersUnreachable() {
  $('orders-error').textContent = `The orders API could not be reached at ${ordersApi}. Is it running?`;
}

function ordersFailed(response) {
  // The client has already refreshed once and retried on an expired token; a 401 now means the
  // session is over, and the client says so with a `logout` event.
  if (response.status === 401) return;
  $('orders-error').textContent =
    response.status === 403
      ? 'Your session may not place orders (it lacks the orders:write scope).'
      : `The orders API answered ${response.status}. Try again in a moment.`;
}

const placedAt = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });

function renderOrders(orders) {
  const list = $('orders-list');
  $('orders-empty').hidden = orders.length > 0;
  const newestFirst = [...orders].sort((a, b) => b.createdAt.localeCompare(a.createdAt));
  list.replaceChildren(
    ...newestFirst.map((order) => {
      const row = document.createElement('li');
      row.dataset.id = order.id;
      // The badge is for the eye; a screen reader hears "2 × Oat flat white" in one go.
      const count = element('span', 'count', String(order.quantity));
      count.setAttribute('aria-hidden', 'true');
      const item = element('span', 'item', order.item);
      item.prepend(element('span', 'visually-hidden', `${order.quantity} × `));
      const what = element('span', '', '');
      what.append(
        item,
        element('span', 'meta', `${placedAt.format(new Date(order.createdAt))} · ${order.id}`),
      );
      row.append(count, what, element('span', 'status', order.status));
      return row;
    }),
  );
}

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  node.textContent = text;
  return node;
}

/** Runs `work` with `button` disabled, so a double click is one request. */
async function busy(button, work) {
  button.disabled = true;
  try {
    return await work();
  } finally {
    button.disabled = false;
  }
}

// --- Wiring ----------------------------------------------------------------------------------------

for (const node of document.querySelectorAll('.issuer')) node.textContent = issuer;
$('orders-api-url').textContent = ordersApi;

$('sign-in-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const form = event.currentTarget;
  const button = form.querySelector('button');
  $('sign-in-error').textContent = '';
  busy(button, async () => {
    try {
      await client.login({ username: $('username').value, password: $('password').value });
    } catch (err) {
      $('sign-in-error').textContent = signInProblem(err);
      $('password').select();
    }
  });
});

/** What went wrong, in words: the password, a refusal from Tessera, or no answer at all. */
function signInProblem(err) {
  if (!(err instanceof AuthError)) return `Something went wrong (${err.message}).`;
  if (err.code === 'ERR_LOGIN_FAILED') return 'That username and password do not match. Try again.';
  // `invalid_scope`: the `web` client may not ask for orders:write yet (see the README).
  if (err.code === 'ERR_OAUTH') return `Tessera refused the sign-in: ${err.message}.`;
  // A CORS refusal looks like this too: the browser hides why (is the web origin registered?).
  return `Tessera could not be reached at ${issuer}. Is it running, with this page's origin registered?`;
}

$('order-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const form = event.currentTarget;
  const quantity = Number($('quantity').value);
  if (!Number.isInteger(quantity) || quantity < 1 || quantity > 100) {
    $('orders-error').textContent = 'The quantity is a whole number from 1 to 100.';
    $('quantity').focus();
    return;
  }
  busy(form.querySelector('button'), () => placeOrder($('item').value, quantity));
});

$('refresh-orders').addEventListener('click', (event) => busy(event.currentTarget, loadOrders));
// The client signs this browser out whatever the server answers; when Tessera could not be told
// (the network), the page says so: the session may still be live there until it expires.
const signOut = (options) => (event) =>
  busy(event.currentTarget, () =>
    client.logout(options).catch(() => {
      notify('Signed out here, but Tessera could not be reached to end the session there.');
    }),
  );
$('sign-out').addEventListener('click', signOut({}));
$('sign-out-everywhere').addEventListener('click', signOut({ everywhere: true }));

client.on('login', (state) => {
  notify('');
  showSignedIn(state).then(() => $('main').focus());
});
client.on('refresh', (state) => {
  refreshes += 1;
  if (trouble) {
    trouble = '';
    notify('');
  }
  showSession(state);
});
client.on('logout', ({ reason }) => {
  const why = {
    logout: 'You are signed out.',
    other_tab: 'You signed out in another tab, so this one is signed out too.',
    session_ended: 'Your session ended. Sign in again to go on.',
    unauthorized: 'Your session is no longer accepted. Sign in again to go on.',
  };
  showSignedOut(why[reason] ?? 'You are signed out.');
  $('username').focus();
});

// A background refresh that failed for a reason other than the session ending: the client tries
// again shortly; the page says so meanwhile.
client.on('error', (err) => {
  trouble = `Trouble reaching Tessera (${err.message}).`;
  if (client.state.loggedIn) notify(`${trouble} Trying again.`);
});

// A new tab or a reload: another tab, or else Tessera's refresh cookie, may still hold a session
// (then the `login` event shows it). Until the client knows, the page says "One moment".
client.ready().then((state) => {
  if (!state.loggedIn) showSignedOut(trouble);
});
