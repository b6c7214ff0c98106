import { readFileSync } from 'node:fs';
import { parseTimeSpan } from '@tessera/jose';
import { UsageError } from './errors.js';

/**
 * Option values the client and resource commands read alike: lifetimes written as spans, and keys
 * given as JSON files.
 */

/** `--access-token-ttl 15m`: seconds, or a span as the settings take them (`900`, `15m`, `30d`). */
export function spanOption(flag: string, value: string): number {
  try {
    return parseTimeSpan(/^\d+$/.test(value) ? Number(value) : value, `--${flag}`);
  } catch {
    throw new UsageError(
      `--${flag} takes seconds or a span like '15m', '1h', '30d', got ${JSON.stringify(value)}`,
    );
  }
}

/** Seconds as the shortest exact span (`900` → `15m`), for lists a person reads. */
export function describeSpan(seconds: number): string {
  for (const [unit, size] of [
    ['d', 86_400],
    ['h', 3_600],
    ['m', 60],
  ] as const)
    if (seconds >= size && seconds % size === 0) return `${seconds / size}${unit}`;
  return `${seconds}s`;
}

/** The JSON object in a file (a JWKS, a JWK); a usage error naming the file when it is not one. */
export function jsonObjectFile(flag: string, path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new UsageError(
      `--${flag}: cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
    );
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    // Not the parser's message: it may quote the file, and a private key put there by mistake with it.
    throw new UsageError(`--${flag}: ${path} is not JSON`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new UsageError(
      `--${flag}: ${path} holds ${Array.isArray(value) ? 'an array' : 'no object'}, not a JSON object`,
    );
  return value as Record<string, unknown>;
}
