import type { ServerResponse } from 'node:http';
import { GuardError } from '../errors.js';

/**
 * Writes a refusal on a `node:http` response (Express's included): the status, the guard's headers
 * (`WWW-Authenticate` or `Retry-After`) and the JSON body. Anything that is not a `GuardError` is a
 * bug elsewhere: it goes to `next` when there is one (Express's error handling), else a bare 500.
 */
export function respondWithError(res: ServerResponse, err: unknown, next?: (err?: unknown) => void): void {
  if (!(err instanceof GuardError)) {
    if (next) {
      next(err);
      return;
    }
    if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json; charset=utf-8' });
    res.end('{"error":"server_error"}');
    return;
  }
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.statusCode = err.status;
  const headers = err.headers;
  for (const name in headers) res.setHeader(name, headers[name]!);
  res.setHeader('content-type', 'application/json; charset=utf-8');
  res.end(JSON.stringify(err));
}
