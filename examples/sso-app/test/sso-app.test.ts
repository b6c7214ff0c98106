import { mkdtempSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, loadConfig, type TesseraServer } from '../../../packages/server/src/index.js';
import {
  browserUnavailable,
  launchChromium,
  newPage,
} from '../../../packages/server/test/browser/chromium.js';
import { createSsoApp } from '../app.js';

// The README's "Single sign-on with two apps" as a test: a real Tessera server in this process (from
// the sources), the example app running twice as Notes and Photos on their own ports, each
// registered as a confidential `web` client, and a user who signs in once for both. First in a real
// Chromium, then without a browser for the app's security rules.

const PASSWORD = 'correct horse battery staple';
const FULL_NAME = 'Alice Liddell';

let dataDir: string;
let tessera: TesseraServer;
let issuer: string;
/** Every line the apps logged. */
const logLines: string[] = [];
/** The client secrets, to check that none is logged. */
const secrets: string[] = [];

interface RunningApp {
  url: string;
  server: Server;
}
let notes: RunningApp;
let photos: RunningApp;

/** A port free right now: an app's redirect URI must name the port it will listen on. */
async function freePort(): Promise<number> {
  const probe = createNetServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as { port: number };
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

/** Registers the app as `tessera client add <id> --kind web --name <name> --redirect-uri …` does, and starts it. */
async function startApp(name: string, clientId: string): Promise<RunningApp> {
  const port = await freePort();
  const url = `http://localhost:${port}`;
  const { secret } = await tessera.services.clients.add({
    clientId,
    type: 'confidential',
    kind: 'web',
    name,
    audiences: [],
    scopes: ['openid', 'profile', 'offline_access'],
    redirectUris: [`${url}/callback`],
    postLogoutRedirectUris: [`${url}/signed-out`],
  });
  secrets.push(secret!);
  const server = (await createSsoApp({
    name,
    issuer,
    clientId,
    clientSecret: secret!,
    baseUrl: url,
    log: (line: string) => logLines.push(line),
  })) as Server;
  await new Promise<void>((resolve) => server.listen(port, 'localhost', resolve));
  return { url, server };
}

async function stopApp(app: RunningApp | undefined): Promise<void> {
  if (!app) return;
  app.server.closeAllConnections();
  await new Promise((resolve) => app.server.close(resolve));
}

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'sso-app-test-'));
  // The issuer is the URL the server really listens on, as with `npm start` (http://127.0.0.1:4000):
  // the apps fetch its discovery document and keys, and the browser signs in there.
  const config = loadConfig(
    {},
    {},
    { dataDir, port: await freePort(), masterKey: 'A'.repeat(43), logLevel: 'silent' },
  );
  tessera = await createServer(config, { logger: false });
  await tessera.services.users.create('alice', PASSWORD, { name: FULL_NAME });
  await tessera.listen();
  issuer = config.issuer;
  notes = await startApp('Notes', 'notes');
  photos = await startApp('Photos', 'photos');
});

afterAll(async () => {
  await stopApp(notes);
  await stopApp(photos);
  await tessera?.close();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

/** The claims an app shows: its first <pre> holds the ID token's, as JSON. */
function shownClaims(html: string): Record<string, unknown> {
  const pre = /<pre>([^<]*)<\/pre>/.exec(html)?.[1];
  if (pre === undefined) throw new Error('the page shows no claims');
  return JSON.parse(pre.replaceAll('&quot;', '"').replaceAll('&#39;', "'").replaceAll('&amp;', '&'));
}

describe.skipIf(browserUnavailable())('single sign-on in a real browser', () => {
  let browser: Browser;
  let page: Page;
  const atTessera = (path: string) => (url: URL) =>
    url.origin === new URL(issuer).origin && url.pathname === path;

  beforeAll(async () => {
    browser = await launchChromium();
    page = await newPage(browser);
  });

  afterAll(async () => {
    await browser?.close();
  });

  it('signs in to the first app with the password, then to the second with a consent only', async () => {
    // Notes: not signed in; "Sign in" leads to Tessera's sign-in page.
    await page.goto(`${notes.url}/`);
    await page.getByText('You are not signed in to Notes').waitFor();
    await page.getByRole('link', { name: 'Sign in' }).click();
    await page.waitForURL(atTessera('/authorize'));
    expect(await page.getByRole('heading', { level: 1 }).textContent()).toContain(
      'Sign in to continue to Notes',
    );
    await page.getByLabel('Username').fill('alice');
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();

    // Tessera asks once whether Notes may know who alice is (the page answers the sign-in form).
    await page.waitForURL(atTessera('/authorize/login'));
    expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe(
      'Notes wants access to your account',
    );
    await page.getByRole('button', { name: 'Allow' }).click();
    await page.waitForURL(`${notes.url}/`);
    await page.getByText(`Signed in as ${FULL_NAME}`).waitFor();
    const notesClaims = shownClaims(await page.content());

    // Photos: "Sign in" asks for no password, only for Photos' own consent.
    await page.goto(`${photos.url}/`);
    await page.getByText('You are not signed in to Photos').waitFor();
    await page.getByRole('link', { name: 'Sign in' }).click();
    await page.waitForURL(atTessera('/authorize'));
    expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe(
      'Photos wants access to your account',
    );
    expect(await page.getByLabel('Password').count()).toBe(0);
    await page.getByRole('button', { name: 'Allow' }).click();
    await page.waitForURL(`${photos.url}/`);
    await page.getByText(`Signed in as ${FULL_NAME}`).waitFor();
    const photosClaims = shownClaims(await page.content());

    // The same user, from the same sign-in at Tessera: one `sub`, one `auth_time`. `acr` says how:
    // "1" with the password in this very request, "0" from the sign-in already there (SSO).
    expect(photosClaims.sub).toBe(notesClaims.sub);
    expect(photosClaims.auth_time).toBe(notesClaims.auth_time);
    expect(notesClaims).toMatchObject({ iss: issuer, aud: 'notes', acr: '1', name: FULL_NAME });
    expect(photosClaims).toMatchObject({ iss: issuer, aud: 'photos', acr: '0', name: FULL_NAME });

    // Both apps stay signed in side by side: each keeps its own cookie on the shared host.
    await page.goto(`${notes.url}/`);
    await page.getByText(`Signed in as ${FULL_NAME}`).waitFor();
    const cookies = await page.context().cookies(notes.url);
    expect(
      cookies
        .filter((c) => c.name.startsWith('sso_app_'))
        .map((c) => [c.name, c.httpOnly])
        .sort(),
    ).toEqual([
      ['sso_app_notes', true],
      ['sso_app_photos', true],
    ]);
  });

  it('signs out of one app only; signing in again asks for neither the password nor a consent', async () => {
    await page.goto(`${photos.url}/`);
    await page.getByRole('button', { name: 'Sign out of Photos', exact: true }).click();
    await page.getByText('You are not signed in to Photos').waitFor();
    await page.goto(`${notes.url}/`);
    await page.getByText(`Signed in as ${FULL_NAME}`).waitFor();

    // Still signed in at Tessera (only "Sign out of Notes and Tessera" ends that), and Photos already allowed:
    // Tessera answers the authorization request with a redirect straight back, no page.
    const authorizeStatuses: number[] = [];
    page.on('response', (response) => {
      if (atTessera('/authorize')(new URL(response.url()))) authorizeStatuses.push(response.status());
    });
    await page.goto(`${photos.url}/`);
    await page.getByRole('link', { name: 'Sign in' }).click();
    await page.getByText(`Signed in as ${FULL_NAME}`).waitFor();
    expect(page.url()).toBe(`${photos.url}/`);
    expect(authorizeStatuses).toEqual([303]);
  });

  it('signs out of Tessera too (RP-initiated logout): back at the app, and the next sign-in asks for the password', async () => {
    await page.goto(`${notes.url}/`);
    await page.getByRole('button', { name: 'Sign out of Notes and Tessera' }).click();
    await page.waitForURL((url) => url.href.startsWith(`${notes.url}/signed-out?state=`));
    await page.getByText('You are signed out of Notes and of Tessera.').waitFor();
    // Tessera's sign-in session is gone: Photos' next sign-in asks for the password.
    await page.goto(`${photos.url}/login`);
    await page.waitForURL(atTessera('/authorize'));
    expect(await page.getByRole('heading', { level: 1 }).textContent()).toContain(
      'Sign in to continue to Photos',
    );
    expect(await page.getByLabel('Password').count()).toBe(1);
  });
});

/**
 * A user agent without a browser: it keeps cookies by host, as browsers do (not by port, so both
 * apps on localhost share a jar, with Tessera's own on 127.0.0.1), follows redirects and posts forms.
 */
class Agent {
  private readonly jars = new Map<string, Map<string, string>>();

  private jar(url: URL): Map<string, string> {
    const jar = this.jars.get(url.hostname) ?? new Map<string, string>();
    this.jars.set(url.hostname, jar);
    return jar;
  }

  cookie(url: string, name: string): string | undefined {
    return this.jar(new URL(url)).get(name);
  }

  /** One request, no redirect followed; cookies sent and kept. */
  async fetch(url: string, init: RequestInit = {}): Promise<Response> {
    const target = new URL(url);
    const jar = this.jar(target);
    const headers = new Headers(init.headers);
    if (jar.size) headers.set('cookie', [...jar].map(([name, value]) => `${name}=${value}`).join('; '));
    const response = await fetch(target, { ...init, headers, redirect: 'manual' });
    for (const line of response.headers.getSetCookie()) {
      const [pair = ''] = line.split(';');
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      if (value === '' || /max-age=0/i.test(line)) jar.delete(name);
      else jar.set(name, value);
    }
    return response;
  }

  /** Follows redirects (303s become GETs) until a page answers; returns it and where it is. */
  async follow(response: Response, from: string): Promise<{ url: string; status: number; html: string }> {
    let url = from;
    for (let hops = 0; response.status >= 300 && response.status < 400; hops++) {
      if (hops > 10) throw new Error('too many redirects');
      url = new URL(response.headers.get('location')!, url).href;
      response = await this.fetch(url);
    }
    return { url, status: response.status, html: await response.text() };
  }

  async open(url: string) {
    return this.follow(await this.fetch(url), url);
  }

  /** Submits the page's form at `pageUrl` with its hidden fields and `fields`, as the browser would. */
  async submit(pageUrl: string, html: string, fields: Record<string, string>) {
    const action = new URL(/<form[^>]* action="([^"]+)"/.exec(html)![1]!.replaceAll('&amp;', '&'), pageUrl);
    const form = new URLSearchParams(fields);
    for (const [, name, value] of html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)"/g))
      form.set(name!, value!.replaceAll('&quot;', '"').replaceAll('&#39;', "'").replaceAll('&amp;', '&'));
    // A browser sends the page's origin with a form post (Tessera refuses posts from other origins).
    const response = await this.fetch(action.href, {
      method: 'POST',
      headers: { origin: new URL(pageUrl).origin },
      body: form,
    });
    return { response, url: action.href };
  }
}

let users = 0;
/** A user of their own for a test, so that no consent given in another test changes what it sees. */
async function newUser(): Promise<string> {
  const username = `user${++users}`;
  await tessera.services.users.create(username, PASSWORD, { name: FULL_NAME });
  return username;
}

/**
 * Signs `agent` in to `app` as `username` (the password and the consent when Tessera asks for them),
 * up to Tessera's redirect back to the app's callback, which is returned and not followed.
 */
async function callbackFor(agent: Agent, app: RunningApp, username: string): Promise<string> {
  let url = `${app.url}/login`;
  let response = await agent.fetch(url);
  for (let steps = 0; steps < 10; steps++) {
    if (response.status === 303 || response.status === 302) {
      const next = new URL(response.headers.get('location')!, url).href;
      if (next.startsWith(`${app.url}/callback?`)) return next;
      url = next;
      response = await agent.fetch(url);
      continue;
    }
    expect(response.status).toBe(200);
    const html = await response.text();
    const answer: Record<string, string> = html.includes('name="password"')
      ? { username, password: PASSWORD }
      : { decision: 'allow' };
    ({ response, url } = await agent.submit(url, html, answer));
  }
  throw new Error('no redirect back to the app');
}

/** Signs `agent` in to `app` all the way: the app's page after sign-in. */
async function signIn(agent: Agent, app: RunningApp, username: string) {
  const callback = await callbackFor(agent, app, username);
  return agent.follow(await agent.fetch(callback), callback);
}

describe('single sign-on without a browser, and the app’s checks', () => {
  it('signs in to Notes with the password and to Photos with a consent only: the same user', async () => {
    const agent = new Agent();
    const username = await newUser();
    const login = await agent.open(`${notes.url}/login`);
    expect(login.url.startsWith(`${issuer}/authorize?`)).toBe(true);
    expect(login.html).toContain('name="password"');
    const consent = await agent.submit(login.url, login.html, { username, password: PASSWORD });
    const consentPage = await consent.response.text();
    expect(consentPage).toContain('Notes wants access to your account');
    const allowed = await agent.submit(consent.url, consentPage, { decision: 'allow' });
    const home = await agent.follow(allowed.response, allowed.url);
    expect(home.url).toBe(`${notes.url}/`);
    expect(home.html).toContain(`Signed in as <strong>${FULL_NAME}</strong>`);

    const second = await agent.open(`${photos.url}/login`);
    expect(second.html).not.toContain('name="password"');
    expect(second.html).toContain('Photos wants access to your account');
    const done = await agent.submit(second.url, second.html, { decision: 'allow' });
    const photosHome = await agent.follow(done.response, done.url);
    expect(photosHome.url).toBe(`${photos.url}/`);
    expect(shownClaims(photosHome.html).sub).toBe(shownClaims(home.html).sub);
    expect(shownClaims(photosHome.html).auth_time).toBe(shownClaims(home.html).auth_time);
  });

  it('keeps its session id in an HttpOnly, SameSite=Lax cookie named for the app, new at sign-in', async () => {
    const agent = new Agent();
    const started = await agent.fetch(`${notes.url}/login`);
    expect(started.status).toBe(303);
    const setCookie = started.headers.get('set-cookie')!;
    expect(setCookie).toMatch(/^sso_app_notes=[\w-]{43}; /);
    expect(setCookie).toContain('HttpOnly');
    expect(setCookie).toContain('SameSite=Lax');
    const beforeSignIn = agent.cookie(notes.url, 'sso_app_notes');

    // Session fixation: whoever knew the id from before the sign-in does not hold the signed-in session.
    expect((await signIn(agent, notes, await newUser())).html).toContain('Signed in as');
    expect(agent.cookie(notes.url, 'sso_app_notes')).not.toBe(beforeSignIn);
    const planted = await fetch(`${notes.url}/`, { headers: { cookie: `sso_app_notes=${beforeSignIn}` } });
    expect(await planted.text()).toContain('You are not signed in');
  });

  it('refuses a callback when this browser has no sign-in in progress', async () => {
    const callback = await callbackFor(new Agent(), notes, await newUser());
    const response = await new Agent().fetch(callback);
    expect(response.status).toBe(400);
    expect(await response.text()).toContain('No sign-in is in progress here');
  });

  it('refuses another browser’s code at its callback: the state differs (login CSRF, RFC 6749 §10.12)', async () => {
    // The attacker signs in with their own account and gets the victim to open the callback link.
    const forged = await callbackFor(new Agent(), notes, await newUser());
    // The victim's browser has a sign-in of its own in progress, with another state.
    const victim = new Agent();
    expect((await victim.fetch(`${notes.url}/login`)).status).toBe(303);
    const refused = await victim.follow(await victim.fetch(forged), forged);
    expect(refused.status).toBe(400);
    expect(refused.html).toContain('state');
    // The victim is not signed in to the attacker's account, and the sign-in in progress is spent.
    expect((await victim.open(`${notes.url}/`)).html).toContain('You are not signed in');
    expect((await victim.fetch(forged)).status).toBe(400);
  });

  it('cannot redeem a stolen code without the PKCE verifier of the sign-in that asked for it (RFC 7636)', async () => {
    const stolen = new URL(await callbackFor(new Agent(), notes, await newUser()));
    // The thief starts a sign-in of their own and brings the stolen code back with their own state.
    const thief = new Agent();
    const toTessera = new URL((await thief.fetch(`${notes.url}/login`)).headers.get('location')!);
    stolen.searchParams.set('state', toTessera.searchParams.get('state')!);
    const refused = await thief.follow(await thief.fetch(stolen.href), stolen.href);
    expect(refused.status).toBe(400);
    expect(refused.html).toContain('invalid_grant');
    expect((await thief.open(`${notes.url}/`)).html).toContain('You are not signed in');
  });

  it('says so when the user denies the consent, and stays signed out', async () => {
    const agent = new Agent();
    const login = await agent.open(`${notes.url}/login`);
    const consent = await agent.submit(login.url, login.html, {
      username: await newUser(),
      password: PASSWORD,
    });
    const denied = await agent.submit(consent.url, await consent.response.text(), { decision: 'deny' });
    const page = await agent.follow(denied.response, denied.url);
    expect(page.status).toBe(400);
    expect(page.html).toContain('access_denied');
    expect((await agent.open(`${notes.url}/`)).html).toContain('You are not signed in');
  });

  it('signs out of one app without signing out of the other', async () => {
    const agent = new Agent();
    const username = await newUser();
    expect((await signIn(agent, notes, username)).html).toContain('Signed in as');
    expect((await signIn(agent, photos, username)).html).toContain('Signed in as');

    const out = await agent.follow(await agent.fetch(`${notes.url}/logout`, { method: 'POST' }), notes.url);
    expect(out.html).toContain('You are not signed in to Notes');
    expect((await agent.open(`${photos.url}/`)).html).toContain('Signed in as');
  });

  it('signs out of Tessera too: back at /signed-out with its state, every app session at Tessera ended', async () => {
    const agent = new Agent();
    const username = await newUser();
    expect((await signIn(agent, notes, username)).html).toContain('Signed in as');
    expect((await signIn(agent, photos, username)).html).toContain('Signed in as');
    const userId = (await tessera.services.users.byUsername(username))!.id;

    const toTessera = await agent.fetch(`${notes.url}/logout/tessera`, { method: 'POST' });
    expect(toTessera.status).toBe(303);
    const endSession = new URL(toTessera.headers.get('location')!);
    expect(`${endSession.origin}${endSession.pathname}`).toBe(`${issuer}/logout/end`);
    expect(endSession.searchParams.get('post_logout_redirect_uri')).toBe(`${notes.url}/signed-out`);
    expect(endSession.searchParams.get('client_id')).toBe('notes');
    const out = await agent.follow(toTessera, `${notes.url}/logout/tessera`);
    expect(out.url).toBe(`${notes.url}/signed-out?state=${endSession.searchParams.get('state')}`);
    expect(out.html).toContain('You are signed out of Notes and of Tessera.');
    expect((await agent.open(`${notes.url}/`)).html).toContain('You are not signed in to Notes');

    // Both apps' sessions at Tessera ended with the sign-in; a new sign-in asks for the password.
    const families = await tessera.services.db
      .selectFrom('refresh_token_families')
      .select(['client_id', 'revoked_reason'])
      .where('user_id', '=', userId)
      .execute();
    expect(families.map((f) => [f.client_id, f.revoked_reason]).sort()).toEqual([
      ['notes', 'end_session'],
      ['photos', 'end_session'],
    ]);
    expect((await agent.open(`${photos.url}/login`)).html).toContain('name="password"');
  });

  it('refuses a /signed-out visit this browser did not start', async () => {
    const agent = new Agent();
    expect((await signIn(agent, notes, await newUser())).html).toContain('Signed in as');
    const forged = await agent.fetch(`${notes.url}/signed-out?state=guessed`);
    expect(forged.status).toBe(400);
    expect(await forged.text()).toContain('No sign-out is in progress here');
    // A link to it signs no one out of the app.
    expect((await agent.open(`${notes.url}/`)).html).toContain('Signed in as');
  });

  it('refuses an issuer over plain http unless it is on this machine', async () => {
    // openid-client refuses before any request is made: nothing needs to listen there.
    const options = { name: 'Notes', clientId: 'notes', clientSecret: 'x', baseUrl: 'http://localhost:1' };
    await expect(createSsoApp({ ...options, issuer: 'http://auth.example.com' })).rejects.toThrow(
      'only requests to HTTPS are allowed',
    );
  });

  it('logs sign-ins and failures without secrets, codes or tokens', () => {
    expect(logLines.some((line) => line.includes('signed in'))).toBe(true);
    expect(logLines.some((line) => line.includes('sign-in failed: access_denied'))).toBe(true);
    const log = logLines.join('\n');
    for (const secret of secrets) expect(log).not.toContain(secret);
    expect(log).not.toMatch(/eyJ[\w-]+\.[\w-]+\./); // no JWT
    expect(log).not.toContain('code=');
  });
});
