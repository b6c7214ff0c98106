import type { FastifyInstance } from 'fastify';

/**
 * `fetch` for the server tests, without a socket when the socket is not the point: a request to an
 * in-process test server (registered by `startServer`) runs through Fastify's `app.inject()` — the
 * whole app, hooks, schemas and error handler — and comes back as a real `Response`. Anything else
 * (a child process, a stream that must stay open) goes over HTTP as usual. Tests whose subject is
 * the connection itself (timeouts, Server-Sent Events) call the global `fetch`.
 */
const apps = new Map<string, FastifyInstance>();

export function serveInProcess(url: string, app: FastifyInstance): () => void {
  const origin = new URL(url).origin;
  apps.set(origin, app);
  return () => {
    if (apps.get(origin) === app) apps.delete(origin);
  };
}

export async function request(input: string, init: RequestInit = {}): Promise<Response> {
  const url = new URL(input);
  const app = apps.get(url.origin);
  // An abortable request is one the test wants to leave open (a stream): that needs a socket.
  if (!app || init.signal) return fetch(input, init);
  const headers: Record<string, string> = {};
  new Headers(init.headers).forEach((value, name) => {
    headers[name] = value;
  });
  let payload: string | undefined;
  if (typeof init.body === 'string') {
    payload = init.body;
    // What fetch sends for a string body without a content type.
    headers['content-type'] ??= 'text/plain;charset=UTF-8';
  } else if (init.body instanceof URLSearchParams) {
    payload = init.body.toString();
    headers['content-type'] ??= 'application/x-www-form-urlencoded;charset=UTF-8';
  } else if (init.body !== undefined && init.body !== null) {
    // Multipart and streams: fetch encodes them exactly as a client would; send them for real.
    return fetch(input, init);
  }
  const res = await app.inject({
    method: (init.method ?? 'GET') as 'GET',
    url: `${url.pathname}${url.search}`,
    headers: { host: url.host, ...headers },
    ...(payload !== undefined ? { payload } : {}),
  });
  const answer = new Headers();
  for (const [name, value] of Object.entries(res.headers)) {
    if (value === undefined) continue;
    for (const one of Array.isArray(value) ? value : [value]) answer.append(name, String(one));
  }
  const empty = res.statusCode === 204 || res.statusCode === 304 || init.method === 'HEAD';
  // A Uint8Array view, which both the DOM and Node typings of BodyInit accept (the client tests use both).
  return new Response(empty ? null : new Uint8Array(res.rawPayload), {
    status: res.statusCode,
    headers: answer,
  });
}
