import { createRemoteJwks, type RemoteJwks, type Verifier } from '@tessera/jose';
import { createBackoff, sleep } from './backoff.js';
import { type AuthorizationServerMetadata, DiscoveryError, fetchMetadata, metadataUrl } from './discovery.js';
import { describeFailure } from './logger.js';
import { isAllowedUrl, type ResolvedOptions } from './options.js';
import type { AccessTokenClaims } from './principal.js';
import type { RevocationFollowing } from './revocation/following.js';
import type { GuardFetch } from './revocation/stream.js';
import { acceptedAlgorithms, createAccessTokenVerifier } from './verification.js';

/**
 * A guard's start-up, begun at once: discovery (when options leave something to discover), the key
 * set and the verifier, then the revocation feed's first snapshot. Failures are retried with
 * back-off, except configuration errors, which end it (`fatal`).
 */
export interface Startup {
  /** Settles when start-up is done: resolves once started, rejects on a configuration error or close. */
  readonly settled: Promise<void>;
  /** Discovery, the key set and the first snapshot are in. */
  readonly started: boolean;
  /** The prepared verifier, as soon as the key set exists (before its first fetch completes). */
  readonly verifier: Verifier<AccessTokenClaims> | undefined;
  readonly jwks: RemoteJwks | undefined;
  /** A configuration error found after createGuard (in the discovery document): nothing will work. */
  readonly fatal: Error | undefined;
  /** What start-up waits for now, for messages. */
  readonly waitingFor: string;
  /** The last error the current step met, until it succeeds. */
  readonly lastError: unknown;
  readonly closed: boolean;
  /** Cancels every fetch (discovery, the key set, the stream) and the retries. */
  stop(): void;
}

/** The same, writable by start-up alone. */
type StartupState = { -readonly [K in keyof Startup]: Startup[K] };

export function startUp(config: ResolvedOptions, revocations: RevocationFollowing): Startup {
  const { issuer, logger } = config;
  const closing = new AbortController();
  // A fetch that stop() can cancel, whoever started it (discovery, the key set, the stream).
  const fetchFn: GuardFetch = (url, init) =>
    config.fetch(url, Object.assign({}, init, { signal: combine(init.signal, closing.signal) }));

  // Plain data properties, not getters: the request path reads `verifier`, `closed` and `fatal`
  // on every request, and a property load is cheaper than an accessor call.
  const state: StartupState = {
    settled: Promise.resolve(),
    started: false,
    verifier: undefined,
    jwks: undefined,
    fatal: undefined,
    waitingFor: `the metadata at ${metadataUrl(issuer)}`,
    lastError: undefined,
    closed: false,
    stop() {
      state.closed = true;
      closing.abort();
    },
  };

  async function start(): Promise<void> {
    const needsDiscovery =
      config.algorithms === undefined ||
      config.jwksUri === undefined ||
      (config.revocations.mode === 'stream' && config.revocations.url === undefined);
    let metadata: AuthorizationServerMetadata | undefined;
    if (needsDiscovery) metadata = await retry(() => fetchMetadata(issuer, fetchFn, closing.signal));

    const algorithms = acceptedAlgorithms(config, metadata);
    const jwksUri = config.jwksUri ?? metadata?.jwks_uri;
    if (jwksUri === undefined)
      throw new Error(`the metadata of ${issuer} has no jwks_uri; set options.jwksUri`);
    if (!isAllowedUrl(jwksUri, config.allowInsecureHttp))
      throw new Error(
        'the jwks_uri in the metadata must use https (or allowInsecureHttp on a trusted network)',
      );
    const keySet = createRemoteJwks(jwksUri, {
      fetch: fetchFn,
      allowInsecureHttp: config.allowInsecureHttp,
      clock: config.clock,
    });
    state.jwks = keySet;
    state.verifier = createAccessTokenVerifier(keySet, algorithms, config);

    const loaded = revocations.follow(metadata?.revocation_events_endpoint, fetchFn);
    state.waitingFor = `the JWKS at ${jwksUri}`;
    await retry(() => keySet.reload());
    const feed = revocations.feed;
    if (feed !== undefined) state.waitingFor = `the first revocation snapshot from ${feed.source}`;
    await loaded;
  }

  /** Runs a start-up step until it succeeds, backing off between attempts; permanent errors end it. */
  async function retry<T>(step: () => Promise<T>): Promise<T> {
    const backoff = createBackoff();
    for (;;) {
      try {
        const result = await step();
        state.lastError = undefined;
        return result;
      } catch (err) {
        if (closing.signal.aborted) throw new Error('the guard was closed');
        if (err instanceof DiscoveryError && err.permanent) throw err;
        state.lastError = err;
        await sleep(backoff.next(), closing.signal);
      }
    }
  }

  state.settled = start();
  state.settled.then(
    () => {
      state.started = true;
    },
    (err: unknown) => {
      if (!state.closed) {
        state.fatal = err as Error;
        // A configuration error: nothing works until an operator fixes it.
        logger.error({ error: describeFailure(err) }, 'the guard cannot start');
      }
    },
  );
  return state;
}

function combine(signal: AbortSignal | null | undefined, closing: AbortSignal): AbortSignal {
  return signal ? AbortSignal.any([signal, closing]) : closing;
}
