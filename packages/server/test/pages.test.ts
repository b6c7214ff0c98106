/**
 * The server-rendered pages of the authorization endpoint (sign-in, consent, error), rendered as
 * plain strings: no server. They show text chosen by others (a client's registered name, a login
 * hint, an error), so every such value must stay text; and they must work under a CSP without
 * 'unsafe-inline', so no inline style or script may appear anywhere.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { renderConsentPage } from '../src/http/pages/consent_page.js';
import { renderErrorPage } from '../src/http/pages/error_page.js';
import { escapeHtml, html, SafeHtml } from '../src/http/pages/html.js';
import { renderPage } from '../src/http/pages/layout.js';
import { renderLoginPage } from '../src/http/pages/login_page.js';
import { describeScope, describeScopes } from '../src/http/pages/scope_descriptions.js';
import { STYLESHEET, STYLESHEET_ETAG, STYLESHEET_PATH } from '../src/http/pages/stylesheet.js';

/** Breaks out of element text, of a double-quoted attribute and of a single-quoted one. */
const HOSTILE = `"><script>alert(1)</script><img src=x onerror='alert(2)'>\`&`;

interface Tag {
  name: string;
  attributes: Map<string, string | undefined>;
  /** The text up to the next tag. */
  text: string;
}

/** The start tags of a page, read the simple way these pages are written (values in double quotes). */
function tags(page: string): Tag[] {
  const found: Tag[] = [];
  for (const match of page.matchAll(/<([a-z][a-z0-9]*)((?:\s+[a-z-]+(?:="[^"]*")?)*)\s*>([^<]*)/g)) {
    const attributes = new Map<string, string | undefined>();
    for (const attribute of match[2]!.matchAll(/([a-z-]+)(?:="([^"]*)")?/g)) {
      attributes.set(attribute[1]!, attribute[2]);
    }
    found.push({ name: match[1]!, attributes, text: match[3]! });
  }
  return found;
}

function tagsNamed(page: string, name: string): Tag[] {
  return tags(page).filter((tag) => tag.name === name);
}

/** The page's markup without its text and attribute values: what hostile text must never change. */
function skeleton(page: string): string {
  return page.replace(/="[^"]*"/g, '=""').replace(/>[^<]*</g, '><');
}

/**
 * The text of the first element whose start tag begins with `start` (`h1`, `p class="account"`),
 * tags removed, the escaper's entities decoded.
 */
function textOf(page: string, start: string): string {
  const name = start.split(' ')[0]!;
  const match = page.match(new RegExp(`<${start}[\\s>][\\s\\S]*?</${name}>`));
  if (!match) throw new Error(`no <${start}> in the page`);
  return decode(match[0].replace(/<[^>]*>/g, '')).trim();
}

function decode(text: string): string {
  const entities: Record<string, string> = {
    '&lt;': '<',
    '&gt;': '>',
    '&quot;': '"',
    '&#39;': "'",
    '&#96;': '`',
    '&amp;': '&',
  };
  return text.replace(/&(?:lt|gt|quot|#39|#96|amp);/g, (entity) => entities[entity]!);
}

function login(overrides: Partial<Parameters<typeof renderLoginPage>[0]> = {}): string {
  return renderLoginPage({
    issuerName: 'Tessera',
    clientName: 'Photo Gallery',
    action: '/authorize/login',
    hidden: { interaction: 'sealed-interaction', csrf: 'csrf-token' },
    ...overrides,
  });
}

function consent(overrides: Partial<Parameters<typeof renderConsentPage>[0]> = {}): string {
  return renderConsentPage({
    clientName: 'Photo Gallery',
    userName: 'alice',
    scopes: describeScopes(['openid', 'email']),
    action: '/authorize/consent',
    hidden: { interaction: 'sealed-interaction', csrf: 'csrf-token' },
    ...overrides,
  });
}

function errorPage(overrides: Partial<Parameters<typeof renderErrorPage>[0]> = {}): string {
  return renderErrorPage({
    title: 'This app is not registered',
    description: 'The app that sent you here is unknown to this server.',
    ...overrides,
  });
}

/** Every page in every state, with hostile text wherever text comes from outside. */
const EVERY_PAGE: Record<string, string> = {
  login: login(),
  'login with an error': login({ username: HOSTILE, error: HOSTILE, clientName: HOSTILE }),
  'login to confirm': login({ reauthenticate: true, username: 'alice' }),
  consent: consent({
    clientName: HOSTILE,
    userName: HOSTILE,
    scopes: describeScopes(['openid', HOSTILE]),
    hidden: { [HOSTILE]: HOSTILE },
  }),
  error: errorPage({ title: HOSTILE, description: HOSTILE }),
};

describe('html`…`', () => {
  it.each([
    ['&', '&amp;'],
    ['<', '&lt;'],
    ['>', '&gt;'],
    ['"', '&quot;'],
    ["'", '&#39;'],
    ['`', '&#96;'],
  ])('escapes %s in interpolated text', (character, entity) => {
    expect(html`<p title="${character}">${character}</p>`.toString()).toBe(
      `<p title="${entity}">${entity}</p>`,
    );
  });

  it('escapes an ampersand before anything else, so an entity in the input stays literal text', () => {
    expect(escapeHtml('&lt;script&gt;')).toBe('&amp;lt;script&amp;gt;');
  });

  it('passes markup built by html`…` through once, without escaping it twice', () => {
    const inner = html`<strong>${'a & b'}</strong>`;
    expect(html`<p>${inner}</p>`.toString()).toBe('<p><strong>a &amp; b</strong></p>');
  });

  it('escapes every item of a list, and passes built markup in it through', () => {
    expect(html`${['<i>', html`<br>`, 1]}`.toString()).toBe('&lt;i&gt;<br>1');
  });

  it('escapes an object that only pretends to be markup', () => {
    const forged = { toString: () => '<script>alert(1)</script>' } as unknown as SafeHtml;
    expect(html`${forged}`.toString()).toBe('&lt;script&gt;alert(1)&lt;/script&gt;');
  });

  it('makes SafeHtml only through the template tag', () => {
    const Forge = SafeHtml as unknown as new (key: symbol, markup: string) => SafeHtml;
    expect(() => new Forge(Symbol('built by html'), '<script>')).toThrow(TypeError);
  });
});

describe('renderPage', () => {
  const page = renderPage({ title: 'Sign in · <Tessera>', body: html`<p>hello</p>` });

  it('is an HTML5 document in English, UTF-8, sized for phones', () => {
    expect(page.startsWith('<!doctype html>\n')).toBe(true);
    expect(tagsNamed(page, 'html')[0]!.attributes.get('lang')).toBe('en');
    const metas = tagsNamed(page, 'meta');
    expect(metas[0]!.attributes.get('charset')).toBe('utf-8');
    const named = new Map(metas.map((meta) => [meta.attributes.get('name'), meta.attributes.get('content')]));
    expect(named.get('viewport')).toBe('width=device-width, initial-scale=1');
    expect(named.get('color-scheme')).toBe('light dark');
  });

  it('sends a referrer only to this server, so the authorization request never leaks to another site', () => {
    // Not no-referrer: under it a browser sends `Origin: null` on the page's own form posts (Fetch
    // §3.1, "append a request Origin header"), and the server could no longer tell them from forgeries.
    const referrer = tagsNamed(page, 'meta').find((meta) => meta.attributes.get('name') === 'referrer');
    expect(referrer?.attributes.get('content')).toBe('same-origin');
  });

  it('escapes the title and links the one stylesheet from this origin', () => {
    expect(page).toContain('<title>Sign in · &lt;Tessera&gt;</title>');
    const links = tagsNamed(page, 'link');
    expect(links).toHaveLength(1);
    expect(links[0]!.attributes.get('rel')).toBe('stylesheet');
    expect(links[0]!.attributes.get('href')).toBe(STYLESHEET_PATH);
    expect(STYLESHEET_PATH).toBe('/assets/tessera.css');
  });

  it('puts the body in the one main landmark', () => {
    expect(tagsNamed(page, 'main')).toHaveLength(1);
    expect(page).toMatch(/<main class="page">\s*<p>hello<\/p>\s*<\/main>/);
  });
});

describe('every page', () => {
  it.each(Object.entries(EVERY_PAGE))(
    '%s has no inline style or script and loads nothing from elsewhere',
    (_, page) => {
      expect(page).not.toMatch(/<script|<style/i);
      for (const tag of tags(page)) {
        for (const name of tag.attributes.keys()) expect(name).not.toMatch(/^(style|on[a-z]+)$/);
        for (const attribute of ['href', 'src', 'action']) {
          const url = tag.attributes.get(attribute);
          if (url !== undefined) expect(url).toMatch(/^\/(?!\/)/);
        }
      }
    },
  );

  it('keeps hostile text as text: the markup is the same as with harmless text', () => {
    const harmless = 'Photo Gallery';
    expect(skeleton(EVERY_PAGE['login with an error']!)).toBe(
      skeleton(login({ username: harmless, error: harmless, clientName: harmless })),
    );
    expect(skeleton(EVERY_PAGE.consent!)).toBe(
      skeleton(
        consent({
          clientName: harmless,
          userName: harmless,
          scopes: describeScopes(['openid', harmless]),
          hidden: { [harmless]: harmless },
        }),
      ),
    );
    expect(skeleton(EVERY_PAGE.error!)).toBe(skeleton(errorPage({ title: harmless, description: harmless })));
  });

  it.each(Object.entries(EVERY_PAGE))('%s labels every field and names every button', (_, page) => {
    const labels = new Set(tagsNamed(page, 'label').map((label) => label.attributes.get('for')));
    for (const input of tagsNamed(page, 'input')) {
      if (input.attributes.get('type') === 'hidden') continue;
      expect(labels).toContain(input.attributes.get('id'));
    }
    for (const button of tagsNamed(page, 'button')) expect(button.text.trim()).not.toBe('');
  });

  it.each(Object.entries(EVERY_PAGE))('%s has one h1 and no duplicate ids', (_, page) => {
    expect(tagsNamed(page, 'h1')).toHaveLength(1);
    const ids = tags(page).flatMap((tag) => tag.attributes.get('id') ?? []);
    expect(new Set(ids).size).toBe(ids.length);
  });
});

describe('renderLoginPage', () => {
  it('says whom the user signs in to', () => {
    const page = login();
    expect(textOf(page, 'h1')).toBe('Sign in to continue to Photo Gallery');
    expect(textOf(page, 'title')).toBe('Sign in · Tessera');
    expect(page).toContain('Tessera');
  });

  it('posts username and password with the hidden fields to the action', () => {
    const page = login();
    const [form] = tagsNamed(page, 'form');
    expect(form!.attributes.get('method')).toBe('post');
    expect(form!.attributes.get('action')).toBe('/authorize/login');
    const inputs = tagsNamed(page, 'input').map((input) => Object.fromEntries(input.attributes));
    expect(inputs).toEqual([
      { type: 'hidden', name: 'interaction', value: 'sealed-interaction' },
      { type: 'hidden', name: 'csrf', value: 'csrf-token' },
      expect.objectContaining({
        name: 'username',
        type: 'text',
        autocomplete: 'username',
        required: undefined,
      }),
      expect.objectContaining({
        name: 'password',
        type: 'password',
        autocomplete: 'current-password',
        required: undefined,
      }),
    ]);
    const buttons = tagsNamed(page, 'button');
    expect(buttons.map((button) => [button.attributes.get('type'), button.text.trim()])).toEqual([
      ['submit', 'Sign in'],
    ]);
  });

  it('never prefills the password, even when the username is known', () => {
    const password = tagsNamed(login({ username: 'alice' }), 'input').find(
      (input) => input.attributes.get('name') === 'password',
    );
    expect(password!.attributes.has('value')).toBe(false);
  });

  it('prefills the username from the login hint and puts the focus on the password', () => {
    const inputs = tagsNamed(login({ username: 'alice' }), 'input');
    const username = inputs.find((input) => input.attributes.get('name') === 'username')!;
    const password = inputs.find((input) => input.attributes.get('name') === 'password')!;
    expect(username.attributes.get('value')).toBe('alice');
    expect(username.attributes.has('autofocus')).toBe(false);
    expect(password.attributes.has('autofocus')).toBe(true);
  });

  it('escapes a hostile client name, username, error and hidden field', () => {
    const page = login({
      clientName: HOSTILE,
      username: HOSTILE,
      error: HOSTILE,
      hidden: { [HOSTILE]: HOSTILE },
    });
    expect(page).not.toContain('<script');
    expect(page).not.toContain('<img');
    expect(textOf(page, 'h1')).toBe(`Sign in to continue to ${HOSTILE}`);
    expect(textOf(page, 'div class="alert"')).toBe(HOSTILE);
    const values = tagsNamed(page, 'input').map((input) => decode(input.attributes.get('value') ?? ''));
    expect(values).toEqual([HOSTILE, HOSTILE, '']);
    expect(decode(tagsNamed(page, 'input')[0]!.attributes.get('name')!)).toBe(HOSTILE);
  });

  it('announces an error above the form and links it to the form and both fields', () => {
    const page = login({ error: 'Wrong username or password.' });
    const [alert] = tags(page).filter((tag) => tag.attributes.get('role') === 'alert');
    const id = alert!.attributes.get('id')!;
    expect(textOf(page, 'div class="alert"')).toBe('Wrong username or password.');
    expect(page.indexOf('role="alert"')).toBeLessThan(page.indexOf('<form'));
    const described = tags(page).filter((tag) => tag.attributes.get('aria-describedby') === id);
    expect(described.map((tag) => tag.attributes.get('name') ?? tag.name)).toEqual([
      'form',
      'username',
      'password',
    ]);
  });

  it.each([undefined, ''])('shows no alert and describes nothing when the error is %j', (error) => {
    const page = login(error === undefined ? {} : { error });
    expect(page).not.toContain('role="alert"');
    expect(page).not.toContain('aria-describedby');
  });

  it('asks the signed-in user to confirm it is them when reauthenticating', () => {
    const page = login({ reauthenticate: true, username: 'alice' });
    expect(textOf(page, 'h1')).toBe("Confirm it's you to continue to Photo Gallery");
    expect(textOf(page, 'title')).toBe("Confirm it's you · Tessera");
    expect(page).toContain('enter your password again');
  });

  it.each([
    'https://evil.example/collect',
    '//evil.example/collect',
    '/\\evil.example/collect',
    '/\t/evil.example/collect',
    '/authorize/\nlogin',
    'javascript:alert(1)',
    'authorize/login',
    '',
  ])('refuses to post the password anywhere but a path on this server: %j', (action) => {
    expect(() => login({ action })).toThrow(TypeError);
  });
});

describe('renderConsentPage', () => {
  it('lists what the app asks for, in human words, and who is signed in', () => {
    const page = consent({ scopes: describeScopes(['openid', 'profile', 'email', 'offline_access']) });
    expect(textOf(page, 'h1')).toBe('Photo Gallery wants access to your account');
    expect(textOf(page, 'p class="account"')).toBe('Signed in as alice');
    expect(tagsNamed(page, 'li').map((item) => item.text)).toEqual([
      'Sign you in',
      'Your name and username',
      'Your email address',
      'Stay signed in (keep access when you are away)',
    ]);
  });

  it('offers allow (first, primary) and deny as two submit buttons of one form', () => {
    const page = consent();
    expect(tagsNamed(page, 'form')).toHaveLength(1);
    const [form] = tagsNamed(page, 'form');
    expect(form!.attributes.get('method')).toBe('post');
    expect(form!.attributes.get('action')).toBe('/authorize/consent');
    const buttons = tagsNamed(page, 'button').map((button) => Object.fromEntries(button.attributes));
    expect(buttons).toEqual([
      { type: 'submit', name: 'decision', value: 'allow', class: 'button button-primary' },
      { type: 'submit', name: 'decision', value: 'deny', class: 'button button-secondary' },
    ]);
    const hidden = tagsNamed(page, 'input').map((input) => Object.fromEntries(input.attributes));
    expect(hidden).toEqual([
      { type: 'hidden', name: 'interaction', value: 'sealed-interaction' },
      { type: 'hidden', name: 'csrf', value: 'csrf-token' },
    ]);
  });

  it('escapes a hostile client name, user name and scope', () => {
    const page = EVERY_PAGE.consent!;
    expect(page).not.toContain('<script');
    expect(page).not.toContain('<img');
    expect(textOf(page, 'h1')).toBe(`${HOSTILE} wants access to your account`);
    expect(textOf(page, 'p class="account"')).toBe(`Signed in as ${HOSTILE}`);
    expect(tagsNamed(page, 'li').map((item) => decode(item.text))).toEqual(['Sign you in', HOSTILE]);
  });

  it('refuses an action that leaves this server', () => {
    expect(() => consent({ action: 'https://evil.example/' })).toThrow(TypeError);
  });
});

describe('renderErrorPage', () => {
  it('explains in plain words and offers no link and no form', () => {
    const page = errorPage();
    expect(textOf(page, 'h1')).toBe('This app is not registered');
    expect(page).toContain('The app that sent you here is unknown to this server.');
    expect(tagsNamed(page, 'a')).toEqual([]);
    expect(tagsNamed(page, 'form')).toEqual([]);
    expect(tags(page).filter((tag) => tag.attributes.has('href'))).toHaveLength(1); // the stylesheet
  });

  it('escapes a hostile title and description', () => {
    const page = EVERY_PAGE.error!;
    expect(page).not.toContain('<script');
    expect(textOf(page, 'h1')).toBe(HOSTILE);
    expect(textOf(page, 'title')).toBe(`${HOSTILE} · Tessera`);
  });
});

describe('scope descriptions', () => {
  it('describes the standard scopes in human words', () => {
    expect(describeScopes(['openid', 'profile', 'email', 'offline_access'])).toEqual([
      { name: 'openid', description: 'Sign you in' },
      { name: 'profile', description: 'Your name and username' },
      { name: 'email', description: 'Your email address' },
      { name: 'offline_access', description: 'Stay signed in (keep access when you are away)' },
    ]);
  });

  it('shows an unknown scope by its own name', () => {
    expect(describeScope('photos:read')).toEqual({ name: 'photos:read', description: 'photos:read' });
  });

  it('does not take a description from the object prototype', () => {
    for (const name of ['constructor', '__proto__', 'toString', 'hasOwnProperty']) {
      expect(describeScope(name)).toEqual({ name, description: name });
    }
  });

  it('lists each scope once, in the order asked', () => {
    expect(describeScopes(['email', 'openid', 'email']).map((scope) => scope.name)).toEqual([
      'email',
      'openid',
    ]);
  });
});

/** WCAG 2.1 relative luminance and contrast ratio of two #rrggbb colours. */
function contrast(first: string, second: string): number {
  const luminance = (hex: string) => {
    const [r, g, b] = [1, 3, 5].map((at) => {
      const channel = Number.parseInt(hex.slice(at, at + 2), 16) / 255;
      return channel <= 0.03928 ? channel / 12.92 : ((channel + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * r! + 0.7152 * g! + 0.0722 * b!;
  };
  const [lighter, darker] = [luminance(first), luminance(second)].sort((a, b) => b - a);
  return (lighter! + 0.05) / (darker! + 0.05);
}

function colours(block: string): Map<string, string> {
  return new Map(
    [...block.matchAll(/--([a-z0-9-]+):\s*(#[0-9a-f]{6});/g)].map((match) => [match[1]!, match[2]!]),
  );
}

describe('STYLESHEET', () => {
  it('has a strong ETag that is the SHA-256 of its text', () => {
    const digest = createHash('sha256').update(STYLESHEET).digest('base64url');
    expect(STYLESHEET_ETAG).toBe(`"${digest}"`);
    expect(STYLESHEET_ETAG).not.toMatch(/^W\//);
  });

  it('loads nothing else and has a dark scheme, focus rings and reduced motion', () => {
    expect(STYLESHEET).not.toMatch(/url\(|@import|@font-face/);
    expect(STYLESHEET).toContain('@media (prefers-color-scheme: dark)');
    expect(STYLESHEET).toContain(':focus-visible');
    expect(STYLESHEET).toContain('@media (prefers-reduced-motion: no-preference)');
    expect(STYLESHEET).toMatch(/\.button \{[^}]*min-height: 2\.75rem;/);
    expect(STYLESHEET).toMatch(/\.field input \{[^}]*min-height: 2\.75rem;/);
  });

  const [light, dark] = STYLESHEET.split('@media (prefers-color-scheme: dark)');
  it.each([
    ['light', colours(light!)],
    ['dark', colours(dark!.slice(0, dark!.indexOf('\n}\n')))],
  ])('meets WCAG AA contrast in the %s scheme', (_, scheme) => {
    const pairs: [string, string, number][] = [
      ['text', 'surface', 4.5],
      ['text', 'page', 4.5],
      ['text', 'surface-sunken', 4.5],
      ['muted', 'surface', 4.5],
      ['muted', 'surface-sunken', 4.5],
      ['on-accent', 'accent', 4.5],
      ['on-accent', 'accent-hover', 4.5],
      ['danger', 'danger-background', 4.5],
      ['text', 'control-background', 4.5],
      ['accent', 'accent-soft', 3],
      ['control-border', 'surface', 3],
      ['control-border', 'control-background', 3],
      ['focus', 'surface', 3],
      ['focus', 'page', 3],
    ];
    for (const [foreground, background, minimum] of pairs) {
      const ratio = contrast(scheme.get(foreground)!, scheme.get(background)!);
      expect(ratio, `${foreground} on ${background}`).toBeGreaterThanOrEqual(minimum);
    }
  });
});
