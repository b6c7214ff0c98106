import type { RemoteJwksStatus } from '@tessera/jose';
import type { ResolvedOptions } from './options.js';
import type { RevocationFollowing, RevocationHealth } from './revocation/following.js';
import type { Startup } from './startup.js';

/** What `guard.health()` reports, for the API's readiness probe. */
export interface GuardHealth {
  /**
   * Whether the guard can accept tokens now: started (discovery, keys, first snapshot), keys held,
   * and, when failing closed, the revocation set current.
   */
  ready: boolean;
  revocations: RevocationHealth;
  /** The key set's status (`createRemoteJwks().status()`), or `null` before discovery. */
  jwks: RemoteJwksStatus | null;
}

/** The state of start-up, keys and revocations, read now. */
export function guardHealth(
  startup: Startup,
  revocations: RevocationFollowing,
  config: ResolvedOptions,
): GuardHealth {
  const revocationHealth = revocations.health(config.clock());
  const keys = startup.jwks?.status() ?? null;
  const keysHeld = keys !== null && keys.keys > 0;
  const revocationsOk =
    revocationHealth.mode === 'off' || config.failOpen || revocationHealth.state === 'live';
  return {
    ready: startup.started && !startup.closed && keysHeld && revocationsOk,
    revocations: revocationHealth,
    jwks: keys,
  };
}
