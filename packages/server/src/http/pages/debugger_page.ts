import { DEFAULT_ISSUER_NAME } from './card.js';
import { DEBUGGER_SCRIPT, DEBUGGER_STYLESHEET } from './debugger_assets.js';
import { html } from './html.js';
import { STYLESHEET_PATH } from './stylesheet.js';

export const DEBUGGER_PATH = '/debugger';

export interface DebuggerPageInput {
  /** This server's issuer: the page says whether a token's `iss` is it. */
  issuer: string;
  /** Where this server's JWKS is, as a path on the page's own origin (CSP connect-src 'self'). */
  jwksPath: string;
}

/**
 * The token debugger: a token pasted here is decoded and checked by the page's script, in the
 * browser. The markup has no inline script or style and no `<form>` (nothing is ever submitted);
 * every control has a label, and the panels are headed sections in reading order, which is also the
 * focus order. The script fills in the empty regions; without it the page says it needs it.
 *
 * `translate="no"` and `spellcheck="false"` keep the browser's own cloud features (page translation,
 * enhanced spell checking) from sending the pasted token to a third party.
 */
export function renderDebuggerPage(input: DebuggerPageInput): string {
  return html`<!doctype html>
<html lang="en" translate="no">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<meta name="color-scheme" content="light dark">
<meta name="robots" content="noindex, nofollow">
<meta name="google" content="notranslate">
<title>Token debugger · ${DEFAULT_ISSUER_NAME}</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="${STYLESHEET_PATH}">
<link rel="stylesheet" href="${DEBUGGER_STYLESHEET.path}">
<script type="module" src="${DEBUGGER_SCRIPT.path}"></script>
</head>
<body>
<main class="debugger" id="debugger" data-issuer="${input.issuer}" data-jwks-path="${input.jwksPath}">
<header class="debugger-header">
<p class="brand"><span class="brand-mark" aria-hidden="true"></span>${DEFAULT_ISSUER_NAME}</p>
<h1>Token debugger</h1>
<p class="lead">Decode a JWT, read its claims and check its signature. What you paste stays in this page: it is not sent anywhere, stored, or put in the address bar. The only request the page makes is for this server’s public keys, and checks with a key you paste work offline.</p>
</header>
<noscript><div class="alert"><p>The debugger runs in your browser and needs JavaScript.</p></div></noscript>
<div class="debugger-panels">
<section class="panel panel-encoded" aria-labelledby="encoded-heading">
<h2 id="encoded-heading">Encoded token</h2>
<div class="field">
<label for="token">Token (signed JWS or encrypted JWE, compact form)</label>
<textarea id="token" class="code-input" rows="7" spellcheck="false" autocomplete="off" autocapitalize="off" autocorrect="off" aria-describedby="token-hint token-problems"></textarea>
<p class="hint" id="token-hint">A leading <code>Bearer</code> or <code>DPoP</code>, spaces and line breaks are ignored.</p>
</div>
<div class="problems" id="token-problems" aria-live="polite" hidden></div>
<div id="segments-block" hidden>
<h3 id="segments-heading">Parts</h3>
<ol class="segments" id="segments" aria-labelledby="segments-heading"></ol>
</div>
<button type="button" class="button button-secondary button-small" id="clear">Clear</button>
</section>
<section class="panel panel-decoded" aria-labelledby="decoded-heading">
<h2 id="decoded-heading">Decoded</h2>
<p class="placeholder" id="decoded-empty">Paste a token to see its header and claims.</p>
<div id="decoded" hidden>
<h3 class="part-heading part-heading-1" id="header-heading">Header</h3>
<pre class="json" id="header-json"></pre>
<div id="payload-block">
<h3 class="part-heading part-heading-2" id="payload-heading">Payload (claims)</h3>
<pre class="json" id="payload-json"></pre>
</div>
<p class="note" id="jwe-note" hidden>This token is encrypted (JWE): only its protected header can be read. Its claims can be decrypted only with the recipient’s private key, which this page never asks for.</p>
<div id="times-block" hidden>
<h3 id="times-heading">Times</h3>
<p class="expiry" id="expiry"></p>
<dl class="times" id="times"></dl>
</div>
<p class="note" id="issuer-note" hidden></p>
</div>
</section>
<section class="panel panel-signature" aria-labelledby="signature-heading">
<h2 id="signature-heading">Signature</h2>
<fieldset class="choices">
<legend>Check it against</legend>
<div class="choice"><input type="radio" name="key-source" id="source-jwks" value="jwks" checked><label for="source-jwks">This server’s keys <span class="choice-detail">(${input.jwksPath})</span></label></div>
<div class="choice"><input type="radio" name="key-source" id="source-public" value="public"><label for="source-public">A public key I paste <span class="choice-detail">(JWK, JWKS or PEM)</span></label></div>
<div class="choice"><input type="radio" name="key-source" id="source-secret" value="secret"><label for="source-secret">A shared secret <span class="choice-detail">(HS256, HS384, HS512)</span></label></div>
</fieldset>
<div class="field" id="public-key-field" hidden>
<label for="public-key">Public key</label>
<textarea id="public-key" class="code-input" rows="6" spellcheck="false" autocomplete="off" autocapitalize="off" autocorrect="off" aria-describedby="public-key-hint"></textarea>
<p class="hint" id="public-key-hint">A JWK, a JWKS (<code>{"keys": [...]}</code>) or a PEM <code>BEGIN PUBLIC KEY</code>. Never paste a private key.</p>
</div>
<div class="field" id="secret-field" hidden>
<label for="secret">Secret</label>
<input id="secret" class="code-input" type="text" spellcheck="false" autocomplete="off" autocapitalize="off" autocorrect="off">
<div class="checkbox"><input type="checkbox" id="secret-base64url"><label for="secret-base64url">The secret is base64url-encoded</label></div>
</div>
<div class="verdict" id="verdict" role="status" aria-live="polite" aria-busy="false" data-state="idle"><p class="verdict-title">Not checked</p><p class="verdict-detail">Paste a token to check its signature.</p></div>
</section>
</div>
</main>
</body>
</html>
`.toString();
}
