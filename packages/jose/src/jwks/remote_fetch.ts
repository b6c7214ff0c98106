// The HTTP GET of a JWKS URL: one request under a timeout, a 2xx status, no redirects, a body size
// cap enforced before and while reading, UTF-8 text out. Error messages name the URL's origin and
// the HTTP status only: the path, query, headers and body may carry credentials.

import { isJoseError, type JoseError, JoseGenericError, JwksInvalid, JwksTimeout } from '../errors.js';
import type { JwksHttpSettings } from './remote_options.js';

/** A successful response: its body decoded as UTF-8, and its header fields for caching. */
export interface JwksResponse {
  readonly text: string;
  readonly headers: Headers;
}

const noop = (): void => {};

/**
 * GETs `url` within `settings.timeout` (headers and body together), enforcing the status and
 * `settings.maxResponseBytes`. Rejects with `ERR_JWKS_TIMEOUT`, `ERR_JWKS_INVALID` (too large, not
 * UTF-8) or `ERR_JOSE_GENERIC` (network error, HTTP status other than 2xx).
 */
export async function downloadJwks(url: URL, settings: JwksHttpSettings): Promise<JwksResponse> {
  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort();
  }, settings.timeout);
  // Races the work against the timer too, so a custom fetch that ignores the signal still times out.
  const aborted = new Promise<never>((_, reject) => {
    controller.signal.addEventListener('abort', () => reject(controller.signal.reason), { once: true });
  });
  aborted.catch(noop);
  const work = request(url, settings, controller.signal);
  work.catch(noop);
  try {
    return await Promise.race([work, aborted]);
  } catch (err) {
    if (timedOut)
      throw new JwksTimeout(`fetching the JWKS from ${url.origin} timed out after ${settings.timeout} ms`);
    throw err;
  } finally {
    clearTimeout(timer);
    controller.abort(); // releases the connection if the body was not read to the end
  }
}

/**
 * Any failure of a fetch as a JoseError: a JoseError as it is, anything else (a bug, a custom fetch
 * answering something that is not a `Response`) as a fetch failure naming only the origin.
 */
export function asFetchFailure(err: unknown, origin: string): JoseError {
  return isJoseError(err) ? err : fetchFailure(err, origin);
}

async function request(url: URL, settings: JwksHttpSettings, signal: AbortSignal): Promise<JwksResponse> {
  const { origin } = url;
  let response: Response;
  try {
    response = await settings.fetch(url.href, {
      method: 'GET',
      headers: new Headers(settings.headers),
      signal,
      // A redirect could lead anywhere, including to a plain http or internal URL the caller never
      // allowed: a 3xx is an error like any other non-2xx status.
      redirect: 'manual',
    });
  } catch (err) {
    // Always wrapped: a custom fetch's own message may quote the URL or a header.
    throw fetchFailure(err, origin);
  }
  if (response.status < 200 || response.status > 299) {
    discard(response);
    throw new JoseGenericError(`the JWKS endpoint ${origin} answered HTTP ${response.status}`);
  }
  // A declared length over the cap is refused before a byte of the body is read.
  const declared = response.headers.get('content-length');
  if (declared !== null && /^\s*\d+\s*$/.test(declared) && Number(declared) > settings.maxResponseBytes) {
    discard(response);
    throw new JwksInvalid(
      `the JWKS from ${origin} is ${Number(declared)} bytes, more than maxResponseBytes (${settings.maxResponseBytes})`,
    );
  }
  const bytes = await readBody(response, origin, settings.maxResponseBytes);
  let text: string;
  try {
    // RFC 8259 §8.1: JSON exchanged between systems is UTF-8; a malformed sequence is an error, not U+FFFD.
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new JwksInvalid(`the JWKS from ${origin} is not valid UTF-8`);
  }
  return { text, headers: response.headers };
}

/**
 * Reads the body as a stream and abandons it as soon as it grows past `maxResponseBytes`: a
 * `Content-Length` may be absent (chunked) or wrong, so only counting the bytes bounds the memory.
 */
async function readBody(response: Response, origin: string, maxResponseBytes: number): Promise<Uint8Array> {
  const body = response.body;
  if (body === null) return new Uint8Array(0);
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const chunk = await reader.read().catch((err: unknown) => {
      throw new JoseGenericError(`reading the JWKS from ${origin} failed (${describeFailure(err)})`);
    });
    if (chunk.done) break;
    total += chunk.value.byteLength;
    if (total > maxResponseBytes) {
      reader.cancel().catch(noop);
      throw new JwksInvalid(`the JWKS from ${origin} is larger than maxResponseBytes (${maxResponseBytes})`);
    }
    chunks.push(chunk.value);
  }
  const bytes = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return bytes;
}

function fetchFailure(err: unknown, origin: string): JoseGenericError {
  return new JoseGenericError(`could not fetch the JWKS from ${origin} (${describeFailure(err)})`);
}

/** A short, secret-free description of a transport failure: its code (ECONNREFUSED, ...) or its name. */
function describeFailure(err: unknown): string {
  const cause = typeof err === 'object' && err !== null ? (err as { cause?: unknown }).cause : undefined;
  return codeOf(cause) ?? codeOf(err) ?? (err instanceof Error ? err.name : 'unknown error');
}

/** An error's `code` when it looks like one (ECONNREFUSED, UND_ERR_SOCKET), never free text. */
function codeOf(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const code = (value as { code?: unknown }).code;
  return typeof code === 'string' && /^[A-Za-z0-9_]{1,64}$/.test(code) ? code : undefined;
}

/** Cancels a body that will not be read, so the connection is not held until the timeout. */
function discard(response: Response): void {
  response.body?.cancel().catch(noop);
}
