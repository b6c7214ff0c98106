import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';

/** A file the debugger page loads from this origin: where it is served, its type, its bytes. */
export interface DebuggerAsset {
  readonly path: string;
  readonly contentType: string;
  readonly body: string;
  /** A strong validator: the SHA-256 of the body, base64url, quoted (RFC 9110 §8.8.3). */
  readonly etag: string;
}

/**
 * The debugger's script and stylesheet are plain files in `src/http/pages/debugger_assets/`, linted
 * like the rest of the code and served as they are: no bundler, no build step of their own. tsc
 * copies no `.js` or `.css` into `dist/`, so both the sources (under vitest) and the build read them
 * from `src/` (the package ships it: `files` in package.json); the path below is the same from
 * `src/http/pages/` and from `dist/http/pages/`. Read once, when the server starts.
 */
const ASSETS_DIRECTORY = new URL('../../../src/http/pages/debugger_assets/', import.meta.url);

/** A strong entity tag for a text: its SHA-256, base64url, quoted. */
export function strongEtag(text: string): string {
  return `"${createHash('sha256').update(text, 'utf8').digest('base64url')}"`;
}

function load(file: string, path: string, contentType: string): DebuggerAsset {
  const body = readFileSync(new URL(file, ASSETS_DIRECTORY), 'utf8');
  return { path, contentType, body, etag: strongEtag(body) };
}

/** The page's script: decoding, times and WebCrypto signature checks, all in the browser. */
export const DEBUGGER_SCRIPT: DebuggerAsset = load(
  'debugger.js',
  '/assets/debugger.js',
  // RFC 9239 §6: text/javascript is the one media type for JavaScript.
  'text/javascript; charset=utf-8',
);

/** The page's own styles, on top of the shared stylesheet (whose colour variables it uses). */
export const DEBUGGER_STYLESHEET: DebuggerAsset = load(
  'debugger.css',
  '/assets/debugger.css',
  'text/css; charset=utf-8',
);
