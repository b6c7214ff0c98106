/**
 * HTML built from templates whose interpolated values are escaped, so that a client name, a
 * username or an error message can never become markup. Only `SafeHtml` made by `html` passes
 * through unescaped; nothing else can make one, because its constructor needs a key that never
 * leaves this module.
 *
 * The escaping suits element text and double-quoted attribute values, the only two places pages
 * interpolate. Attribute values are always written in double quotes: unquoted, a space would end them.
 */

const built: unique symbol = Symbol('built by html');

/** Markup produced by `html`: interpolated as is. */
export class SafeHtml {
  readonly #markup: string;

  constructor(key: typeof built, markup: string) {
    if (key !== built) throw new TypeError('SafeHtml is made only by the html`…` template tag');
    this.#markup = markup;
  }

  toString(): string {
    return this.#markup;
  }
}

/** What a template may interpolate: text (escaped), markup built here, or a list of either. */
export type HtmlValue = string | number | SafeHtml | readonly HtmlValue[];

const ENTITIES: Readonly<Record<string, string>> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
  // A backtick delimits attribute values in some old parsers; escaping it costs nothing.
  '`': '&#96;',
};

/** Escapes text for element content and for double-quoted attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"'`]/g, (character) => ENTITIES[character]!);
}

function render(value: HtmlValue): string {
  if (value instanceof SafeHtml) return value.toString();
  if (Array.isArray(value)) return value.map(render).join('');
  // Anything else is text, including an object that only looks like SafeHtml.
  return escapeHtml(String(value));
}

/**
 * Tagged template: the literal parts are trusted markup, every interpolated value is escaped
 * unless it is `SafeHtml`.
 *
 * @example
 * html`<p class="greeting">Hello, ${'<b>Mallory</b>'}</p>`.toString();
 * // '<p class="greeting">Hello, &lt;b&gt;Mallory&lt;/b&gt;</p>'
 */
export function html(strings: TemplateStringsArray, ...values: readonly HtmlValue[]): SafeHtml {
  let markup = strings[0] ?? '';
  for (let index = 0; index < values.length; index++) {
    markup += render(values[index]!) + (strings[index + 1] ?? '');
  }
  return new SafeHtml(built, markup);
}
