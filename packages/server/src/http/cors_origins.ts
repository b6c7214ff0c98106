import type { Config } from '../config.js';
import { type Clients, corsOrigins } from '../store/clients.js';

/**
 * What a registered browser origin may do. `first-party`: the pages of the built-in web client
 * (its registered web origins and the `webOrigins` setting); they log in with the refresh cookie, so
 * they get CORS with credentials and pass the cookie endpoints' CSRF checks. `client`: the pages of
 * any other client (its web origins, a `spa`'s redirect-URI origins); their tokens travel in bodies
 * and headers, never in cookies, so they get CORS without credentials.
 */
export type WebOriginTrust = 'first-party' | 'client';

export interface WebOrigins {
  /** How far `origin` (an `Origin` header as sent) is trusted, or undefined when it is not registered. */
  trust(origin: string): Promise<WebOriginTrust | undefined>;
}

/**
 * How long a list of origins read from the store is used before it is read again. Registrations
 * change from the command line (another process) and on other instances: a change is seen by every
 * instance within this time. Each instance reads at most once per period, and only while browsers
 * call it from other origins; an origin nobody registered costs a map lookup, never a query.
 */
export const WEB_ORIGINS_TTL_MS = 5_000;

/**
 * The registered web origins of every client, read from the store as one map and kept for
 * {@link WEB_ORIGINS_TTL_MS}; one read at a time, whoever asks meanwhile waits for it. When a read
 * fails the last list is used until one succeeds (the next request after a failure tries again): a
 * store restarting must not cut every browser app off. With no list yet, the error reaches the
 * request (a 503 for an unavailable store).
 */
export function createWebOrigins(
  clients: Pick<Clients, 'list'>,
  config: Pick<Config, 'webOrigins'>,
  clock: () => number,
): WebOrigins {
  let current: { origins: ReadonlyMap<string, WebOriginTrust>; readAt: number } | undefined;
  let reading: Promise<ReadonlyMap<string, WebOriginTrust>> | undefined;

  async function read(): Promise<ReadonlyMap<string, WebOriginTrust>> {
    const readAt = clock();
    const origins = new Map<string, WebOriginTrust>();
    for (const client of await clients.list()) {
      // A first-party origin keeps its credentials even when another client lists it too.
      const trust: WebOriginTrust = client.type === 'first-party' ? 'first-party' : 'client';
      for (const origin of corsOrigins(client))
        if (origins.get(origin) !== 'first-party') origins.set(origin, trust);
    }
    for (const origin of config.webOrigins) origins.set(origin, 'first-party');
    current = { origins, readAt };
    return origins;
  }

  async function origins(): Promise<ReadonlyMap<string, WebOriginTrust>> {
    if (current && clock() - current.readAt < WEB_ORIGINS_TTL_MS) return current.origins;
    reading ??= read()
      .catch((err: unknown) => {
        if (current === undefined) throw err;
        return current.origins;
      })
      .finally(() => {
        reading = undefined;
      });
    return reading;
  }

  return {
    async trust(origin) {
      return (await origins()).get(origin);
    },
  };
}
