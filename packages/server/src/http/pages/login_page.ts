import { renderCard } from './card.js';
import { html } from './html.js';
import { renderPage } from './layout.js';
import { postForm } from './post_form.js';

export interface LoginPageInput {
  /** The product or organisation the user signs in with (`Tessera`, `Acme accounts`). */
  issuerName: string;
  /** The app the user signs in to, from its registration: untrusted text, always escaped. */
  clientName: string;
  /** The path the form posts to. */
  action: string;
  /** Fields posted back unchanged (the sealed interaction, the CSRF token). */
  hidden: Readonly<Record<string, string>>;
  /** Prefills the username (from `login_hint`, or the account being confirmed). */
  username?: string;
  /** Why the last attempt failed (invalid credentials, too many attempts), shown above the form. */
  error?: string;
  /** The user is signed in but must enter the password again (`prompt=login`, `max_age`). */
  reauthenticate?: boolean;
}

const ERROR_ID = 'login-error';

/**
 * The sign-in page of the authorization endpoint: username and password, posted with the hidden
 * fields to `action` as `username` and `password`. Autocomplete tokens let password managers fill
 * the form (WCAG 2.1 §1.3.5); an error is announced (`role="alert"`) and describes both fields, so a
 * screen reader hears it again on the field that has focus.
 */
export function renderLoginPage(input: LoginPageInput): string {
  const heading = input.reauthenticate ? "Confirm it's you" : 'Sign in';
  const hasError = input.error !== undefined && input.error !== '';
  const error = hasError
    ? html`<div class="alert" id="${ERROR_ID}" role="alert"><p>${input.error!}</p></div>\n`
    : '';
  const describedBy = hasError ? html` aria-describedby="${ERROR_ID}"` : '';
  // Focus goes where typing starts: the password when the username is known.
  const username = input.username ?? '';
  const usernameKnown = username !== '';
  const form = postForm({
    action: input.action,
    hidden: input.hidden,
    ...(hasError ? { describedBy: ERROR_ID } : {}),
    content: html`
<div class="field">
<label for="username">Username</label>
<input id="username" name="username" type="text" autocomplete="username" autocapitalize="none"
 spellcheck="false" required${usernameKnown ? html` value="${username}"` : html` autofocus`}${describedBy}>
</div>
<div class="field">
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password"
 required${usernameKnown ? html` autofocus` : ''}${describedBy}>
</div>
<button type="submit" class="button button-primary form-submit">Sign in</button>
`,
  });
  const client = html`<strong class="client-name">${input.clientName}</strong>`;
  const body = renderCard(
    input.issuerName,
    html`<h1>${heading} <span class="heading-detail">to continue to ${client}</span></h1>
${input.reauthenticate ? html`<p class="lead">For your security, enter your password again.</p>\n` : ''}${error}${form}`,
  );
  return renderPage({ title: `${heading} · ${input.issuerName}`, body });
}
