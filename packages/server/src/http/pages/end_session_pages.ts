import { DEFAULT_ISSUER_NAME, renderCard } from './card.js';
import { html } from './html.js';
import { renderPage } from './layout.js';
import { postForm } from './post_form.js';

export interface EndSessionPageInput {
  /** The issuer URL, shown so the user knows which provider they would leave. */
  issuer: string;
  /** The signed-in user, if the browser is signed in: someone on a shared computer sees whose. */
  userName: string | undefined;
  /** The app that sent the user here, when it is known (from its registration: escaped). */
  clientName: string | undefined;
  /** The path the form posts to. */
  action: string;
  /** Fields posted back unchanged (the sealed request, bound to the browser). */
  hidden: Readonly<Record<string, string>>;
  /** The product name above the card; `Tessera` when not given. */
  issuerName?: string;
}

/**
 * OIDC RP-Initiated Logout 1.0 §2 / §6: the end-session endpoint asks before it signs the browser out
 * when it cannot tell that the request comes from the signed-in user's own app (no valid
 * `id_token_hint`, or one not from the browser's current sign-in). One form, one button; leaving the page signs nothing
 * out.
 */
export function renderEndSessionPage(input: EndSessionPageInput): string {
  const issuerName = input.issuerName ?? DEFAULT_ISSUER_NAME;
  const form = postForm({
    action: input.action,
    hidden: input.hidden,
    content: html`
<button type="submit" class="button button-primary form-submit">Sign out</button>
`,
  });
  const account =
    input.userName === undefined
      ? html`<p class="lead">This browser is not signed in at ${input.issuer}.</p>\n`
      : html`<p class="account"><span>Signed in as <strong>${input.userName}</strong></span></p>\n`;
  const from =
    input.clientName === undefined ? '' : html`<p>${input.clientName} asked to sign you out.</p>\n`;
  const body = renderCard(
    issuerName,
    html`<h1>Sign out of ${input.issuer}?</h1>
${account}${from}<p>Signing out here signs you out of every app you signed in to with ${issuerName} in this browser.</p>
${form}
<p class="note">If you did not ask to sign out, close this page: nothing changes.</p>`,
  );
  return renderPage({ title: `Sign out? · ${issuerName}`, body });
}

/** After a sign-out with nowhere registered to go back to (no `post_logout_redirect_uri`). */
export function renderSignedOutPage(input: { issuer: string; issuerName?: string }): string {
  const issuerName = input.issuerName ?? DEFAULT_ISSUER_NAME;
  const body = renderCard(
    issuerName,
    html`<h1>You are signed out</h1>
<p>This browser is no longer signed in at ${input.issuer}.</p>
<p class="note">You can close this page.</p>`,
  );
  return renderPage({ title: `Signed out · ${issuerName}`, body });
}
