import type { Config } from '../config.js';
import type { Client, ClientKind } from '../store/clients.js';
import type { Resource } from '../store/resources.js';

/**
 * Lifetimes by kind of client, in seconds, where they differ from the server settings. A browser app
 * (spa) keeps its session a day at most (or the server's, if shorter): its refresh token sits in a
 * page an XSS could read (OAuth for browser-based apps BCP, §6.3.2); native and server-side web apps
 * keep what the server says; a service has no session at all and its tokens live an hour (it asks
 * again when they expire).
 */
export const KIND_LIFETIMES: Readonly<
  Record<ClientKind, { accessTokenTtl?: number; refreshTokenTtl?: number | 'none' }>
> = {
  spa: { refreshTokenTtl: 86_400 },
  native: {},
  web: {},
  service: { accessTokenTtl: 3_600, refreshTokenTtl: 'none' },
};

export interface ClientLifetimes {
  /** Seconds an access token lives. */
  accessTokenTtl: number;
  /** Seconds a session (refresh-token family) lives from its login; undefined: no refresh tokens. */
  refreshTokenTtl: number | undefined;
  /** Seconds an unused refresh token lives (never beyond the session). */
  refreshIdleTtl: number | undefined;
}

/**
 * What one client's tokens live: its own settings, else its kind's default, else the server's; a
 * resource's own access-token lifetime wins over the client's (the API knows how fresh it needs them).
 */
export function clientLifetimes(
  client: Pick<Client, 'kind' | 'accessTokenTtl' | 'refreshTokenTtl'>,
  config: Pick<Config, 'accessTokenTtl' | 'refreshAbsoluteTtl' | 'refreshIdleTtl'>,
  resource?: Pick<Resource, 'accessTokenTtl'>,
): ClientLifetimes {
  const byKind = client.kind ? KIND_LIFETIMES[client.kind] : {};
  const byKindRefresh =
    typeof byKind.refreshTokenTtl === 'number'
      ? Math.min(byKind.refreshTokenTtl, config.refreshAbsoluteTtl)
      : byKind.refreshTokenTtl;
  const refresh = client.refreshTokenTtl ?? byKindRefresh ?? config.refreshAbsoluteTtl;
  const refreshTokenTtl = refresh === 'none' ? undefined : refresh;
  return {
    accessTokenTtl:
      resource?.accessTokenTtl ?? client.accessTokenTtl ?? byKind.accessTokenTtl ?? config.accessTokenTtl,
    refreshTokenTtl,
    refreshIdleTtl:
      refreshTokenTtl === undefined ? undefined : Math.min(config.refreshIdleTtl, refreshTokenTtl),
  };
}
