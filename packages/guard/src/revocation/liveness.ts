/** Where a revocation feed stands: see {@link Liveness.state}. */
export type RevocationState = 'connecting' | 'live' | 'stale' | 'off';

/**
 * Tracks proof that the revocation set is current. A feed marks it live whenever something arrives
 * that only a live source sends (an event, the end of a snapshot, a heartbeat, a Redis reply); the
 * set counts as current while the last proof is at most `staleAfterMs` old. Silence is the signal:
 * a server whose own revocation source is down stops its heartbeats, so the guard notices even
 * though the connection is still open.
 */
export interface Liveness {
  /** Proof of liveness, now. */
  markLive(): void;
  /** A complete snapshot was read (the set holds every revocation in force), and it proves liveness. */
  markSnapshot(): void;
  /** Whether the set is current: a snapshot was read and the last proof is recent. */
  isLive(now: number): boolean;
  /**
   * `connecting` until the first snapshot (for at most `staleAfterMs`), then `live` while proof
   * keeps arriving, `stale` when it stops.
   */
  state(now: number): Exclude<RevocationState, 'off'>;
  /** When the last proof arrived (ms since the epoch), or `undefined`. */
  readonly lastLiveAt: number | undefined;
  /** Whether a complete snapshot was ever read. */
  readonly loaded: boolean;
  /** How many live periods began (proof after more than `staleAfterMs` of silence): a stale period's number. */
  readonly livePeriods: number;
}

export function createLiveness(clock: () => number, staleAfterMs: number): Liveness {
  const startedAt = clock();
  let lastLiveAt = Number.NEGATIVE_INFINITY;
  let loaded = false;
  let livePeriods = 0;
  function proof(): void {
    const now = clock();
    if (now - lastLiveAt > staleAfterMs) livePeriods++;
    lastLiveAt = now;
  }
  return {
    markLive: proof,
    markSnapshot() {
      loaded = true;
      proof();
    },
    isLive(now) {
      return now - lastLiveAt <= staleAfterMs && loaded;
    },
    state(now) {
      if (!loaded) return now - startedAt <= staleAfterMs ? 'connecting' : 'stale';
      return now - lastLiveAt <= staleAfterMs ? 'live' : 'stale';
    },
    get lastLiveAt() {
      return lastLiveAt === Number.NEGATIVE_INFINITY ? undefined : lastLiveAt;
    },
    get loaded() {
      return loaded;
    },
    get livePeriods() {
      return livePeriods;
    },
  };
}
