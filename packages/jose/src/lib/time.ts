const UNITS: Record<string, number> = {
  s: 1,
  sec: 1,
  secs: 1,
  second: 1,
  seconds: 1,
  m: 60,
  min: 60,
  mins: 60,
  minute: 60,
  minutes: 60,
  h: 3600,
  hr: 3600,
  hrs: 3600,
  hour: 3600,
  hours: 3600,
  d: 86400,
  day: 86400,
  days: 86400,
  w: 604800,
  week: 604800,
  weeks: 604800,
  y: 31557600,
  yr: 31557600,
  yrs: 31557600,
  year: 31557600,
  years: 31557600,
};
const SPAN = /^(\d+(?:\.\d+)?) ?([a-z]+)$/i;

/**
 * A span of time in whole seconds: a number of seconds (`900`) or a string with a unit
 * (`'15m'`, `'7 days'`, `'1.5h'`). Negative and non-finite spans are refused.
 */
export function secondsOf(span: number | string, what: string): number {
  if (typeof span === 'number') {
    if (!Number.isFinite(span) || span < 0)
      throw new TypeError(`${what} must be a non-negative number of seconds`);
    return Math.floor(span);
  }
  const match = SPAN.exec(span.trim());
  const unit = match ? UNITS[match[2]!.toLowerCase()] : undefined;
  if (!match || unit === undefined) {
    throw new TypeError(
      `${what} must be seconds or a span like '15m', '12h', '7d' (got ${JSON.stringify(span)})`,
    );
  }
  return Math.round(Number.parseFloat(match[1]!) * unit);
}

/** Seconds since the epoch, as JWT NumericDate values count them (RFC 7519 §2). */
export function epochSeconds(date: Date = new Date()): number {
  return Math.floor(date.getTime() / 1000);
}
