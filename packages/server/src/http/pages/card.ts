import { type HtmlValue, html, type SafeHtml } from './html.js';

/** The product name shown when a page is not told whose server this is. */
export const DEFAULT_ISSUER_NAME = 'Tessera';

/**
 * The sign-in card every page sits in: the product's name above the page's own content. The mark is
 * decoration (hidden from assistive technology); the name is text.
 */
export function renderCard(issuerName: string, content: HtmlValue): SafeHtml {
  return html`<div class="card">
<p class="brand"><span class="brand-mark" aria-hidden="true"></span>${issuerName}</p>
${content}
</div>`;
}
