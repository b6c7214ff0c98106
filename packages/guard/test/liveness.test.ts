import { describe, expect, it } from 'vitest';
import { createLiveness } from '../src/revocation/liveness.js';

const NOW = 1_700_000_000_000;

describe('liveness', () => {
  it('is connecting, then live while proof arrives within staleAfter, then stale', () => {
    let now = NOW;
    const liveness = createLiveness(() => now, 30_000);
    expect(liveness.state(now)).toBe('connecting');
    liveness.markLive();
    expect(liveness.isLive(now)).toBe(false); // no snapshot yet
    now += 30_001;
    expect(liveness.state(now)).toBe('stale');
    liveness.markSnapshot();
    expect(liveness.state(now)).toBe('live');
    now += 30_000;
    expect(liveness.isLive(now)).toBe(true);
    now += 1;
    expect(liveness.state(now)).toBe('stale');
    const period = liveness.livePeriods;
    liveness.markLive();
    expect(liveness.livePeriods).toBe(period + 1);
    expect(liveness.lastLiveAt).toBe(now);
  });
});
