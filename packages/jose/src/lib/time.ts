// A Map, not an object literal: a lookup must never reach Object.prototype ('1 constructor').
const UNITS: ReadonlyMap<string, number> = new Map([
  ['s', 1],
  ['sec', 1],
  ['secs', 1],
  ['second', 1],
  ['seconds', 1],
  ['m', 60],
  ['min', 60],
  ['mins', 60],
  ['minute', 60],
  ['minutes', 60],
  ['h', 3600],
  ['hr', 3600],
  ['hrs', 3600],
  ['hour', 3600],
  ['hours', 3600],
  ['d', 86400],
  ['day', 86400],
  ['days', 86400],
  ['w', 604800],
  ['week', 604800],
  ['weeks', 604800],
  ['y', 31557600],
  ['yr', 31557600],
  ['yrs', 31557600],
  ['year', 31557600],
  ['years', 31557600],
]);
const SPAN = /^(\d+(?:\.\d+)?) ?([a-z]+)$/i;

/**
 * A span of time in whole seconds: a number of seconds (`900`) or a string with a unit
 * (`'15m'`, `'7 days'`, `'1.5h'`). Anything that is not a finite, non-negative span is refused with a
 * `TypeError`: a NaN or Infinity tolerance or age would silently switch off the checks it bounds.
 */
export function secondsOf(span: number | string, what: string): number {
  let seconds: number;
  if (typeof span === 'number') {
    seconds = Math.floor(span);
  } else {
    const match = typeof span === 'string' ? SPAN.exec(span.trim()) : null;
    const unit = match ? UNITS.get(match[2]!.toLowerCase()) : undefined;
    if (!match || unit === undefined) {
      throw new TypeError(
        `${what} must be seconds or a span like '15m', '12h', '7d' (got ${JSON.stringify(span)})`,
      );
    }
    // '999…9s' parses to Infinity: caught by the finiteness check below.
    seconds = Math.round(Number.parseFloat(match[1]!) * unit);
  }
  if (!Number.isFinite(seconds) || seconds < 0) {
    throw new TypeError(`${what} must be a finite, non-negative number of seconds`);
  }
  return seconds;
}

/** Seconds since the epoch, as JWT NumericDate values count them (RFC 7519 §2). */
export function epochSeconds(date: Date = new Date()): number {
  return Math.floor(date.getTime() / 1000);
}
