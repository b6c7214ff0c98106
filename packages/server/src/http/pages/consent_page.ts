import { DEFAULT_ISSUER_NAME, renderCard } from './card.js';
import { html } from './html.js';
import { renderPage } from './layout.js';
import { postForm } from './post_form.js';
import type { ScopeDescription } from './scope_descriptions.js';

export interface ConsentPageInput {
  /** The app asking for access, from its registration: untrusted text, always escaped. */
  clientName: string;
  /** The signed-in user, so someone on a shared computer notices the wrong account. */
  userName: string;
  /** What the app asks for, in the order shown (see `describeScopes`). */
  scopes: readonly ScopeDescription[];
  /** The path the form posts to. */
  action: string;
  /** Fields posted back unchanged (the sealed interaction, the CSRF token). */
  hidden: Readonly<Record<string, string>>;
  /** The product name above the card; `Tessera` when not given. */
  issuerName?: string;
}

/**
 * The consent page: what the app asks for, and one form with two submit buttons that post
 * `decision=allow` or `decision=deny`. Allow comes first, so it is also the form's default button.
 */
export function renderConsentPage(input: ConsentPageInput): string {
  const issuerName = input.issuerName ?? DEFAULT_ISSUER_NAME;
  const scopes = input.scopes.map((scope) => html`<li>${scope.description}</li>\n`);
  const form = postForm({
    action: input.action,
    hidden: input.hidden,
    content: html`
<div class="actions">
<button type="submit" name="decision" value="allow" class="button button-primary">Allow</button>
<button type="submit" name="decision" value="deny" class="button button-secondary">Deny</button>
</div>
`,
  });
  const body = renderCard(
    issuerName,
    html`<h1>${input.clientName} wants access to your account</h1>
<p class="account"><span>Signed in as <strong>${input.userName}</strong></span></p>
<h2>What ${input.clientName} asks for</h2>
<ul class="scopes">
${scopes}</ul>
${form}
<p class="note">Allow only if you trust ${input.clientName}. Deny takes you back without sharing anything.</p>`,
  );
  return renderPage({ title: `Allow ${input.clientName} access? · ${issuerName}`, body });
}
