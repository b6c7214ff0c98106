import { type HtmlValue, html } from './html.js';
import { STYLESHEET_PATH } from './stylesheet.js';

export interface PageInput {
  /** The document title: what a tab, a history entry and a screen reader announce first. */
  title: string;
  lang?: 'en';
  /** The content of the page's one `<main>` landmark. */
  body: HtmlValue;
}

/**
 * A complete HTML document with no inline style or script: everything it looks like comes from the
 * one stylesheet, so the pages work under a CSP without 'unsafe-inline'. The referrer policy keeps
 * the authorization request's query (client, state) out of any request the page leads to; the
 * color-scheme lets the browser draw form controls and scrollbars in the reader's scheme.
 */
export function renderPage(input: PageInput): string {
  return html`<!doctype html>
<html lang="${input.lang ?? 'en'}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="same-origin">
<meta name="color-scheme" content="light dark">
<meta name="robots" content="noindex, nofollow">
<title>${input.title}</title>
<link rel="stylesheet" href="${STYLESHEET_PATH}">
</head>
<body>
<main class="page">
${input.body}
</main>
</body>
</html>
`.toString();
}
