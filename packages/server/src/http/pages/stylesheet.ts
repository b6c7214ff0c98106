import { createHash } from 'node:crypto';

/** Where the pages link their one stylesheet; the route that serves `STYLESHEET` answers here. */
export const STYLESHEET_PATH = '/assets/tessera.css';

/**
 * The pages' only styling, served from this origin so the CSP needs no 'unsafe-inline' (style-src
 * 'self'). Colours meet WCAG 2.1 AA in both schemes: text at least 4.5:1 against what it sits on,
 * input borders and focus rings at least 3:1 (§1.4.3, §1.4.11). Controls are at least 44 px tall
 * (§2.5.5), fonts are the system's (no third-party requests), and motion is only for readers who
 * have not asked for less. No `url()` anywhere: the CSP allows no images or fonts.
 */
export const STYLESHEET = `:root {
  color-scheme: light dark;
  --font: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", "Noto Sans", "Liberation Sans",
    Arial, sans-serif, "Apple Color Emoji", "Segoe UI Emoji", "Noto Color Emoji";
  --page: #f3f4f7;
  --surface: #ffffff;
  --surface-sunken: #f6f7f9;
  --text: #14171f;
  --muted: #4d5565;
  --hairline: #e2e5eb;
  --control-border: #737b8c;
  --control-border-hover: #4d5565;
  --control-background: #ffffff;
  --accent: #2e46c9;
  --accent-hover: #2438a8;
  --on-accent: #ffffff;
  --accent-soft: #e8ecfc;
  --focus: #2e46c9;
  --danger: #9a1c1c;
  --danger-background: #fdf1f1;
  --danger-border: #f0b4b4;
  --mark-1: #2e46c9;
  --mark-2: #6d83ec;
  --mark-3: #a8b6f5;
  --mark-4: #17256e;
  --shadow: 0 1px 2px rgb(20 23 31 / 6%), 0 8px 24px rgb(20 23 31 / 8%);
}

@media (prefers-color-scheme: dark) {
  :root {
    --page: #0e1117;
    --surface: #171b24;
    --surface-sunken: #1d222d;
    --text: #e7e9ef;
    --muted: #a7aebd;
    --hairline: #2b3140;
    --control-border: #7a8396;
    --control-border-hover: #a7aebd;
    --control-background: #0e1117;
    --accent: #a4b4ff;
    --accent-hover: #bfcaff;
    --on-accent: #0c1338;
    --accent-soft: #252d4d;
    --focus: #a4b4ff;
    --danger: #ffb8b8;
    --danger-background: #2b1518;
    --danger-border: #6e2a2f;
    --mark-1: #a4b4ff;
    --mark-2: #6d83ec;
    --mark-3: #3a50c9;
    --mark-4: #dfe5ff;
    --shadow: 0 1px 2px rgb(0 0 0 / 40%), 0 8px 24px rgb(0 0 0 / 30%);
  }
}

*,
*::before,
*::after {
  box-sizing: border-box;
}

html {
  -webkit-text-size-adjust: 100%;
  text-size-adjust: 100%;
}

body {
  margin: 0;
  min-height: 100vh;
  min-height: 100dvh;
  background: var(--page);
  color: var(--text);
  font: 400 1rem/1.5 var(--font);
  /* Names come from others and can be one long word: break them rather than widen the page. */
  overflow-wrap: anywhere;
  -webkit-font-smoothing: antialiased;
}

.page {
  display: flex;
  align-items: center;
  justify-content: center;
  min-height: 100vh;
  min-height: 100dvh;
  padding: 2.5rem 1rem;
}

.card {
  width: 100%;
  max-width: 26rem;
  padding: 2.25rem 2.25rem 2rem;
  background: var(--surface);
  border: 1px solid var(--hairline);
  border-radius: 0.875rem;
  box-shadow: var(--shadow);
}

.brand {
  display: flex;
  align-items: center;
  gap: 0.625rem;
  margin: 0 0 1.75rem;
  font-weight: 600;
  letter-spacing: -0.005em;
}

/* A 2 x 2 mosaic tile: four coloured quarters with grout lines in the card's colour. */
.brand-mark {
  flex: none;
  width: 1.75rem;
  height: 1.75rem;
  border-radius: 0.375rem;
  background:
    linear-gradient(var(--surface), var(--surface)) center / 100% 0.125rem no-repeat,
    linear-gradient(var(--surface), var(--surface)) center / 0.125rem 100% no-repeat,
    conic-gradient(var(--mark-1) 0 25%, var(--mark-2) 0 50%, var(--mark-3) 0 75%, var(--mark-4) 0);
}

h1 {
  margin: 0 0 1.25rem;
  font-size: 1.5rem;
  font-weight: 650;
  line-height: 1.25;
  letter-spacing: -0.015em;
}

.heading-detail {
  display: block;
  margin-top: 0.375rem;
  color: var(--muted);
  font-size: 1rem;
  font-weight: 400;
  line-height: 1.5;
  letter-spacing: 0;
}

.client-name {
  color: var(--text);
  font-weight: 600;
}

h2 {
  margin: 0 0 0.75rem;
  font-size: 1rem;
  font-weight: 600;
  line-height: 1.5;
}

p {
  margin: 0 0 1rem;
}

.lead {
  margin: -0.5rem 0 1.5rem;
  color: var(--muted);
}

.note {
  margin: 1.25rem 0 0;
  color: var(--muted);
  font-size: 0.875rem;
}

.alert {
  display: flex;
  align-items: flex-start;
  gap: 0.75rem;
  margin: 0 0 1.5rem;
  padding: 0.75rem 1rem;
  background: var(--danger-background);
  color: var(--danger);
  border: 1px solid var(--danger-border);
  border-radius: 0.5rem;
}

.alert::before {
  content: "!";
  content: "!" / "";
  display: grid;
  flex: none;
  place-items: center;
  width: 1.25rem;
  height: 1.25rem;
  margin-top: 0.125rem;
  border-radius: 50%;
  background: var(--danger);
  color: var(--danger-background);
  font-size: 0.8125rem;
  font-weight: 700;
  line-height: 1;
}

.alert p {
  margin: 0;
}

.field {
  margin: 0 0 1.25rem;
}

.field label {
  display: block;
  margin: 0 0 0.375rem;
  font-size: 0.9375rem;
  font-weight: 600;
}

.field input {
  display: block;
  width: 100%;
  min-height: 2.75rem;
  margin: 0;
  padding: 0.5rem 0.75rem;
  background: var(--control-background);
  color: var(--text);
  border: 1px solid var(--control-border);
  border-radius: 0.5rem;
  /* 1rem keeps phones from zooming into the field. */
  font: inherit;
}

.field input:hover {
  border-color: var(--control-border-hover);
}

.button {
  display: inline-flex;
  align-items: center;
  justify-content: center;
  width: 100%;
  min-height: 2.75rem;
  margin: 0;
  padding: 0.625rem 1.25rem;
  border: 1px solid transparent;
  border-radius: 0.5rem;
  font: inherit;
  font-weight: 600;
  line-height: 1.25;
  cursor: pointer;
}

.form-submit {
  margin-top: 0.5rem;
}

.button-primary {
  background: var(--accent);
  color: var(--on-accent);
}

.button-primary:hover {
  background: var(--accent-hover);
}

.button-secondary {
  background: var(--surface);
  color: var(--text);
  border-color: var(--control-border);
}

.button-secondary:hover {
  background: var(--surface-sunken);
  border-color: var(--control-border-hover);
}

:focus-visible {
  outline: 3px solid var(--focus);
  outline-offset: 2px;
}

.field input:focus-visible {
  outline-offset: 1px;
  border-color: var(--focus);
}

.account {
  display: inline-flex;
  align-items: center;
  gap: 0.5rem;
  max-width: 100%;
  margin: 0 0 1.5rem;
  padding: 0.375rem 0.875rem 0.375rem 0.375rem;
  background: var(--surface-sunken);
  border: 1px solid var(--hairline);
  border-radius: 1.375rem;
  color: var(--muted);
  font-size: 0.9375rem;
}

/* A head-and-shoulders silhouette, drawn with two gradients. */
.account::before {
  content: "";
  flex: none;
  width: 1.75rem;
  height: 1.75rem;
  border-radius: 50%;
  background:
    radial-gradient(circle at 50% 38%, var(--accent) 0 0.3rem, transparent calc(0.3rem + 1px)),
    radial-gradient(ellipse 0.6rem 0.45rem at 50% 100%, var(--accent) 0 100%, transparent 100%),
    var(--accent-soft);
}

.account strong {
  color: var(--text);
  font-weight: 600;
}

.scopes {
  margin: 0 0 1.75rem;
  padding: 0;
  list-style: none;
  border: 1px solid var(--hairline);
  border-radius: 0.625rem;
}

.scopes li {
  display: flex;
  align-items: flex-start;
  gap: 0.75rem;
  padding: 0.75rem 1rem;
}

.scopes li + li {
  border-top: 1px solid var(--hairline);
}

.scopes li::before {
  content: "\\2713";
  content: "\\2713" / "";
  display: grid;
  flex: none;
  place-items: center;
  width: 1.375rem;
  height: 1.375rem;
  margin-top: 0.0625rem;
  border-radius: 50%;
  background: var(--accent-soft);
  color: var(--accent);
  font-size: 0.8125rem;
  font-weight: 700;
  line-height: 1;
}

.actions {
  display: flex;
  flex-wrap: wrap;
  gap: 0.75rem;
}

.actions .button {
  flex: 1 1 9rem;
  width: auto;
}

.status-icon {
  display: grid;
  place-items: center;
  width: 2.75rem;
  height: 2.75rem;
  margin: 0 0 1.25rem;
  border-radius: 50%;
  background: var(--danger-background);
  color: var(--danger);
  font-size: 1.375rem;
  font-weight: 700;
  line-height: 1;
}

.status-icon::before {
  content: "!";
  content: "!" / "";
}

/* Narrow screens: the card becomes the page, edge to edge, from the top. */
@media (max-width: 30rem) {
  body {
    background: var(--surface);
  }

  .page {
    align-items: flex-start;
    padding: 0;
  }

  .card {
    max-width: none;
    padding: 2rem 1.25rem;
    border: 0;
    border-radius: 0;
    box-shadow: none;
  }
}

@media (prefers-reduced-motion: no-preference) {
  .button,
  .field input {
    transition:
      background-color 120ms ease-out,
      border-color 120ms ease-out;
  }
}

/* Windows High Contrast and other forced colours: keep every control's edge visible. */
@media (forced-colors: active) {
  .button,
  .field input,
  .alert {
    border: 1px solid CanvasText;
  }

  .button-primary {
    border-width: 2px;
  }
}
`;

/** A strong validator for the stylesheet: the SHA-256 of its text, base64url, quoted (RFC 9110 §8.8.3). */
export const STYLESHEET_ETAG = `"${createHash('sha256').update(STYLESHEET, 'utf8').digest('base64url')}"`;
