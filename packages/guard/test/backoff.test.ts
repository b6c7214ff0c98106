import { describe, expect, it } from 'vitest';
import { createBackoff, MAX_DELAY_MS, MAX_RETRY_AFTER_MS, retryAfterMs } from '../src/backoff.js';

describe('back-off', () => {
  it('doubles from 250 ms with equal jitter, caps at 30 s, and resets', () => {
    const low = createBackoff(() => 0);
    expect([low.next(), low.next(), low.next()]).toEqual([125, 250, 500]);
    const high = createBackoff(() => 0.999999);
    for (let i = 0; i < 20; i++) expect(high.next()).toBeLessThanOrEqual(MAX_DELAY_MS);
    expect(high.next()).toBeGreaterThan(MAX_DELAY_MS - 1);
    high.reset();
    expect(high.next()).toBeLessThan(251);
  });

  it("starts from the server's retry, within bounds", () => {
    const backoff = createBackoff(() => 0);
    backoff.setBase(1000);
    expect(backoff.next()).toBe(500);
    backoff.setBase(1);
    backoff.reset();
    expect(backoff.next()).toBe(50);
    backoff.setBase(10 ** 9);
    backoff.reset();
    expect(backoff.next()).toBe(MAX_DELAY_MS / 2);
  });
});

describe('Retry-After (RFC 9110 §10.2.3)', () => {
  const now = Date.parse('2026-12-03T08:00:00Z');

  it('reads delay-seconds', () => {
    expect(retryAfterMs('12', now)).toBe(12_000);
    expect(retryAfterMs(' 0 ', now)).toBe(0);
  });

  it('reads an HTTP-date, and a date already past as no wait', () => {
    expect(retryAfterMs('Thu, 03 Dec 2026 08:00:30 GMT', now)).toBe(30_000);
    expect(retryAfterMs('Thu, 03 Dec 2026 07:59:00 GMT', now)).toBe(0);
  });

  it('ignores what it cannot read', () => {
    for (const value of [null, '', 'soon', '-5', '1.5', '12 seconds'])
      expect(retryAfterMs(value, now)).toBeUndefined();
  });

  it('caps the wait, so that a wrong header cannot park the guard for good', () => {
    expect(retryAfterMs('86400', now)).toBe(MAX_RETRY_AFTER_MS);
    expect(retryAfterMs('99999999999999999999', now)).toBeUndefined();
    expect(retryAfterMs('Fri, 01 Jan 2100 00:00:00 GMT', now)).toBe(MAX_RETRY_AFTER_MS);
  });
});
