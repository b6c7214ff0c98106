import { type HtmlValue, html, type SafeHtml } from './html.js';

export interface PostFormInput {
  /** Where the form posts: a path on this server (`/authorize/login`), never another origin. */
  action: string;
  /** Sent back unchanged: the sealed interaction, the CSRF token. */
  hidden: Readonly<Record<string, string>>;
  /** The id of the element that describes the whole form (an error), if any. */
  describedBy?: string;
  content: HtmlValue;
}

/**
 * A form that posts to a path on this server. An action that could leave the origin (`//host`,
 * `https://…`, a backslash that browsers read as a slash, a tab or newline that they drop) is a
 * programming error: the form carries a CSRF token and, on the login page, a password.
 */
export function postForm(input: PostFormInput): SafeHtml {
  if (!/^\/(?![/\\])[^\\\x00-\x20\x7f]*$/.test(input.action)) {
    throw new TypeError(
      `a page form must post to a path on this server, not ${JSON.stringify(input.action)}`,
    );
  }
  const hidden = Object.entries(input.hidden).map(
    ([name, value]) => html`\n<input type="hidden" name="${name}" value="${value}">`,
  );
  const describedBy = input.describedBy === undefined ? '' : html` aria-describedby="${input.describedBy}"`;
  return html`<form method="post" action="${input.action}"${describedBy}>${hidden}${input.content}</form>`;
}
