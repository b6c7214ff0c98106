// Time spans (lib/time.ts): seconds or '15m'-style strings, always finite and non-negative, so a
// tolerance, an age or a lifetime can never silently switch off the check it bounds.
import { describe, expect, it } from 'vitest';
import { parseTimeSpan } from '../../src/index.js';

describe('parseTimeSpan', () => {
  it.each([
    ['1 constructor', '1 constructor'],
    ['1 toString', '1 toString'],
    ['1 __proto__', '1 __proto__'],
    ['1 hasOwnProperty', '1 hasOwnProperty'],
    ["'9…9s' (400 digits, Infinity)", `${'9'.repeat(400)}s`],
  ])('refuses %s (TypeError), not NaN or Infinity', (_name, span) => {
    expect(() => parseTimeSpan(span, 'span')).toThrow(TypeError);
  });

  it.each([Number.NaN, Number.POSITIVE_INFINITY, -1])('refuses the number %s (TypeError)', (span) => {
    expect(() => parseTimeSpan(span, 'span')).toThrow(TypeError);
  });

  it('reads a span with a unit, a fractional span, and a number as whole seconds', () => {
    expect(parseTimeSpan('15m', 'span')).toBe(900);
    expect(parseTimeSpan('1.5h', 'span')).toBe(5400);
    expect(parseTimeSpan(90.9, 'span')).toBe(90);
  });
});
