import { randomUUID } from 'node:crypto';
import { JwtClaimValidationFailed, JwtExpired, JwtInvalid } from '../errors.js';
import { isJsonObject, type JsonObject } from './json.js';
import type { JwsHeaderParameters } from './jws_header.js';
import { epochSeconds, secondsOf } from './time.js';

/** The registered claims of RFC 7519 §4.1, plus whatever else the token carries. */
export interface JwtPayload {
  iss?: string;
  sub?: string;
  aud?: string | string[];
  exp?: number;
  nbf?: number;
  iat?: number;
  jti?: string;
  [claim: string]: unknown;
}

export interface JwtClaimsOptions {
  /** Accepted `iss` value(s). */
  issuer?: string | readonly string[];
  /** Accepted audience(s): the token's `aud` (string or array) must contain at least one. */
  audience?: string | readonly string[];
  /** Required `sub`. */
  subject?: string;
  /** Required `typ` header, compared per RFC 7515 §4.1.9 (case-insensitive, `application/` optional), e.g. `at+jwt`. */
  typ?: string;
  /** Allowed clock skew for `exp`, `nbf` and `iat`: seconds or a span such as `'30s'` (default 0). */
  clockTolerance?: number | string;
  /** Oldest acceptable token, measured from `iat` (which becomes required): seconds or `'1h'`. */
  maxTokenAge?: number | string;
  /** Claims that must be present. */
  requiredClaims?: readonly string[];
  /**
   * `exp` (RFC 7519 §4.1.4) is required unless this is `false`: a token without one is valid forever,
   * and a bounded lifetime limits what a stolen token is worth.
   */
  requireExp?: boolean;
  /** The time to validate at (default: now). */
  currentDate?: Date;
}

export type ClaimsValidator = (payload: JsonObject, header: JwsHeaderParameters, now: number) => void;

const NUMERIC_DATES = ['exp', 'nbf', 'iat'] as const;

/**
 * Builds, once, the checks of RFC 7519 §4.1 and §7.2 steps 9–10 that the options ask for. Every
 * number it would compare against must be finite: a NaN or Infinity tolerance, age or current time
 * makes every comparison false and so switches the `exp`, `nbf` and `maxTokenAge` checks off. Such
 * options are a `TypeError` here, at construction.
 */
export function createClaimsValidator(options: JwtClaimsOptions = {}): ClaimsValidator {
  if (
    options.currentDate !== undefined &&
    !(options.currentDate instanceof Date && Number.isFinite(options.currentDate.getTime()))
  ) {
    throw new TypeError('options.currentDate must be a valid Date');
  }
  const tolerance =
    options.clockTolerance === undefined ? 0 : secondsOf(options.clockTolerance, 'clockTolerance');
  const maxAge =
    options.maxTokenAge === undefined ? undefined : secondsOf(options.maxTokenAge, 'maxTokenAge');
  const issuers = stringList(options.issuer, 'issuer');
  const audiences = stringList(options.audience, 'audience');
  const { subject } = options;
  const typ = options.typ === undefined ? undefined : normalizeMediaType(options.typ);
  const required = new Set(options.requiredClaims ?? []);
  if (options.requireExp !== false) required.add('exp');
  if (issuers) required.add('iss');
  if (audiences) required.add('aud');
  if (subject !== undefined) required.add('sub');
  if (maxAge !== undefined) required.add('iat');
  const requiredClaims = [...required];

  return (payload, header, now) => {
    // The same reasoning for the time of validation (e.g. a clock that returned NaN).
    if (!Number.isFinite(now)) throw new TypeError('the current time must be a finite number of seconds');
    if (typ !== undefined && (typeof header.typ !== 'string' || normalizeMediaType(header.typ) !== typ)) {
      fail(payload, 'typ', 'check_failed', `unexpected "typ" header value ${JSON.stringify(header.typ)}`);
    }
    for (const claim of requiredClaims) {
      if (payload[claim] === undefined) fail(payload, claim, 'missing', `missing required "${claim}" claim`);
    }
    // RFC 7519 §2: NumericDate is a JSON number. Strings such as "1700000000" are refused.
    for (const claim of NUMERIC_DATES) {
      const value = payload[claim];
      if (value !== undefined && (typeof value !== 'number' || !Number.isFinite(value))) {
        fail(payload, claim, 'invalid', `"${claim}" claim must be a number`);
      }
    }
    const { exp, nbf, iat } = payload as { exp?: number; nbf?: number; iat?: number };
    // RFC 7519 §4.1.4: the current time must be before "exp".
    if (exp !== undefined && exp <= now - tolerance) {
      throw new JwtExpired('"exp" claim timestamp check failed', payload, new Date(exp * 1000));
    }
    // RFC 7519 §4.1.5: the current time must be at or after "nbf".
    if (nbf !== undefined && nbf > now + tolerance) {
      fail(payload, 'nbf', 'check_failed', '"nbf" claim timestamp check failed');
    }
    if (maxAge !== undefined) {
      if (iat! > now + tolerance)
        fail(payload, 'iat', 'check_failed', '"iat" claim timestamp check failed (it is in the future)');
      if (now - iat! > maxAge + tolerance) {
        throw new JwtExpired(
          '"iat" claim timestamp check failed (too far in the past)',
          payload,
          new Date((iat! + maxAge) * 1000),
          'iat',
        );
      }
    }
    checkStringClaim(payload, 'iss');
    checkStringClaim(payload, 'sub');
    checkStringClaim(payload, 'jti');
    if (issuers && !issuers.includes(payload.iss as string))
      fail(payload, 'iss', 'check_failed', 'unexpected "iss" claim value');
    if (subject !== undefined && payload.sub !== subject)
      fail(payload, 'sub', 'check_failed', 'unexpected "sub" claim value');
    const aud = payload.aud;
    if (
      aud !== undefined &&
      typeof aud !== 'string' &&
      !(Array.isArray(aud) && aud.every((a) => typeof a === 'string'))
    ) {
      fail(payload, 'aud', 'invalid', '"aud" claim must be a string or an array of strings');
    }
    // RFC 7519 §4.1.3: the recipient must identify itself with one of the values in "aud".
    if (
      audiences &&
      !(typeof aud === 'string'
        ? audiences.includes(aud)
        : (aud as string[]).some((a) => audiences.includes(a)))
    ) {
      fail(payload, 'aud', 'check_failed', 'unexpected "aud" claim value');
    }
  };
}

/** The current time in seconds for a verification: `currentDate` when given, else the clock. */
export function nowSeconds(options: { currentDate?: Date }): number {
  return options.currentDate ? epochSeconds(options.currentDate) : Math.floor(Date.now() / 1000);
}

function checkStringClaim(payload: JsonObject, claim: string): void {
  if (payload[claim] !== undefined && typeof payload[claim] !== 'string') {
    fail(payload, claim, 'invalid', `"${claim}" claim must be a string`);
  }
}

function fail(
  payload: JsonObject,
  claim: string,
  reason: 'missing' | 'invalid' | 'check_failed',
  message: string,
): never {
  throw new JwtClaimValidationFailed(message, payload, claim, reason);
}

function stringList(
  value: string | readonly string[] | undefined,
  name: string,
): readonly string[] | undefined {
  if (value === undefined) return undefined;
  const list = typeof value === 'string' ? [value] : value;
  if (!Array.isArray(list) || list.length === 0 || !list.every((v) => typeof v === 'string')) {
    throw new TypeError(`options.${name} must be a string or a non-empty array of strings`);
  }
  return list;
}

/**
 * RFC 7515 §4.1.9 (`typ`) and §4.1.10 (`cty`): media type names are case-insensitive, and a value
 * without a "/" means "application/" followed by it, so the prefix is dropped before comparing.
 */
export function normalizeMediaType(typ: string): string {
  const lower = typ.toLowerCase();
  return lower.startsWith('application/') ? lower.slice(12) : lower;
}

/** Parses a JWT payload segment: it must decode to a JSON object (RFC 7519 §7.2 step 10). */
export function parseJwtPayload(bytes: Uint8Array | string): JsonObject {
  let payload: unknown;
  try {
    payload = JSON.parse(
      typeof bytes === 'string' ? bytes : new TextDecoder('utf-8', { fatal: true }).decode(bytes),
    );
  } catch {
    throw new JwtInvalid('JWT claims set is not valid UTF-8 JSON');
  }
  if (!isJsonObject(payload)) throw new JwtInvalid('JWT claims set must be a JSON object');
  return payload;
}

export interface JwtIssueOptions {
  /** `iss` to set. */
  issuer?: string;
  /** `sub` to set. */
  subject?: string;
  /** `aud` to set. */
  audience?: string | string[];
  /** Lifetime: `exp` = `iat` + this (seconds, or `'15m'`, `'7d'`). */
  expiresIn?: number | string;
  /** `nbf` = now + this (seconds or a span; `0` for now). */
  notBefore?: number | string;
  /** `jti`: a value, or `true` for a random UUID. */
  jti?: string | true;
  /**
   * `iat`: `true` (default) for now, `false` to leave it out, or a NumericDate to set that exact value.
   * Like every option here it wins over an `iat` in the claims: `true` means now, whatever the claims
   * say, so a specific issue time must be given here, not in the claims.
   */
  iat?: boolean | number;
  /** The time to issue at (default: now). */
  currentDate?: Date;
}

/**
 * Normalises issuing options once, returning a function that builds each payload. Options win over
 * claims of the same name, so a signer configured with an issuer always emits that issuer.
 */
export function createClaimsBuilder(
  options: JwtIssueOptions = {},
): (claims: JsonObject, now: number) => JsonObject {
  const expiresIn = options.expiresIn === undefined ? undefined : secondsOf(options.expiresIn, 'expiresIn');
  const notBefore = options.notBefore === undefined ? undefined : secondsOf(options.notBefore, 'notBefore');
  const { issuer, subject, audience, jti } = options;
  const iat = options.iat ?? true;
  if (typeof iat === 'number' && !Number.isFinite(iat))
    throw new TypeError('options.iat must be a finite number');
  const fixed: JsonObject = {};
  if (issuer !== undefined) fixed.iss = issuer;
  if (subject !== undefined) fixed.sub = subject;
  if (audience !== undefined) fixed.aud = audience;
  if (typeof jti === 'string') fixed.jti = jti;
  const randomJti = jti === true;

  return (claims, now) => {
    if (!isJsonObject(claims)) throw new TypeError('JWT claims must be a plain object');
    // Object.assign, not spread: on Node 20 spreading a fresh object is several times slower, and this
    // runs once per token signed. But Object.assign would run the __proto__ setter for an own
    // "__proto__" claim (as JSON.parse makes) and drop it; RFC 7519 §4 claim names are any strings.
    const payload: JsonObject = Object.hasOwn(claims, '__proto__')
      ? { ...claims, ...fixed }
      : Object.assign({}, claims, fixed);
    // iat: true means now, overriding a claims "iat" (which would otherwise also move "exp").
    const issuedAt = iat === true ? now : iat === false ? undefined : iat;
    if (issuedAt !== undefined) payload.iat = issuedAt;
    else delete payload.iat;
    if (expiresIn !== undefined) payload.exp = (issuedAt ?? now) + expiresIn;
    if (notBefore !== undefined) payload.nbf = now + notBefore;
    if (randomJti) payload.jti = randomUUID();
    for (const claim of NUMERIC_DATES) {
      const value = payload[claim];
      if (value !== undefined && (typeof value !== 'number' || !Number.isFinite(value))) {
        throw new TypeError(`"${claim}" must be a NumericDate (a number of seconds since the epoch)`);
      }
    }
    return payload;
  };
}
