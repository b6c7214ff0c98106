import { DEFAULT_ISSUER_NAME, renderCard } from './card.js';
import { html } from './html.js';
import { renderPage } from './layout.js';

export interface ErrorPageInput {
  /** What went wrong, in a few words ("Unknown app"). */
  title: string;
  /** What it means for the user, in plain words: no codes, no stack, no request dump. */
  description: string;
  /** The product name above the card; `Tessera` when not given. */
  issuerName?: string;
  /** What did not happen, under the description; by default that nothing was shared with the app. */
  note?: string;
}

/**
 * The page for an authorization request that must not be answered by a redirect: an unknown client
 * or a redirect URI it did not register (RFC 6749 §4.1.2.1, OpenID Connect Core §3.1.2.6). It offers
 * no link: the only URL at hand is the one that could not be trusted.
 */
export function renderErrorPage(input: ErrorPageInput): string {
  const issuerName = input.issuerName ?? DEFAULT_ISSUER_NAME;
  const body = renderCard(
    issuerName,
    html`<div class="status-icon" aria-hidden="true"></div>
<h1>${input.title}</h1>
<p>${input.description}</p>
<p class="note">${input.note ?? 'Nothing was shared with the app. You can close this page.'}</p>`,
  );
  return renderPage({ title: `${input.title} · ${issuerName}`, body });
}
