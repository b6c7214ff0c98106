import { JoseAlgNotAllowed, JoseNotSupported, JwsInvalid } from '../errors.js';
import { decodeBase64urlText } from './base64url.js';
import { hasDuplicateMembers, isJsonObject, type JsonObject } from './json.js';
import { isJwsAlgorithm, JWS_ALGORITHMS, type JwsAlgorithmSpec } from './jws_algorithms.js';

/** The JOSE header of a JWS (RFC 7515 §4.1), as the verifier saw it. */
export interface JwsHeaderParameters {
  alg?: string;
  kid?: string;
  typ?: string;
  cty?: string;
  crit?: string[];
  b64?: boolean;
  jku?: string;
  jwk?: Record<string, unknown>;
  x5u?: string;
  x5c?: string[];
  x5t?: string;
  'x5t#S256'?: string;
  [parameter: string]: unknown;
}

/** Parameters defined by RFC 7515/7516/7518: RFC 7515 §4.1.11 forbids listing them in `crit`. */
const REGISTERED_PARAMETERS = new Set([
  'alg',
  'jku',
  'jwk',
  'kid',
  'x5u',
  'x5c',
  'x5t',
  'x5t#S256',
  'typ',
  'cty',
  'crit',
  'enc',
  'zip',
  'epk',
  'apu',
  'apv',
  'iv',
  'tag',
  'p2s',
  'p2c',
]);

/** Extensions this library itself understands (RFC 7797). */
const UNDERSTOOD_EXTENSIONS = new Set(['b64']);

/** The error a malformed header raises: `JwsInvalid` for JWS, `JweInvalid` for JWE. */
export type InvalidError = new (message: string) => Error;

/**
 * Refuses a header with an own `"__proto__"` member, which `JSON.parse` creates from
 * `{"__proto__": {…}}`. It is no registered parameter, and in JavaScript it is no ordinary member
 * either: copying it with `Object.assign` sets the copy's prototype, so the parameters inside it
 * would be read as header parameters while appearing in no header's own members (an unprotected
 * `zip` smuggled past the "zip must be protected" rule of RFC 7516 §4.1.3, for one).
 */
export function assertNoProtoMember(
  header: JsonObject,
  what: string,
  Invalid: InvalidError = JwsInvalid,
): void {
  if (Object.hasOwn(header, '__proto__')) throw new Invalid(`${what} must not have a "__proto__" member`);
}

/**
 * Decodes and parses a protected header segment: canonical base64url, UTF-8, a JSON object, no
 * duplicate names, no `"__proto__"` member.
 */
export function parseProtectedHeader(segment: string, Invalid: InvalidError = JwsInvalid): JsonObject {
  const text = decodeBase64urlText(segment);
  if (text === undefined) throw new Invalid('protected header is not canonical base64url of UTF-8 text');
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch {
    throw new Invalid('protected header is not valid JSON');
  }
  if (!isJsonObject(header)) throw new Invalid('protected header must be a JSON object');
  // RFC 7515 §5.2 step 4: duplicate Header Parameter names must be rejected.
  if (hasDuplicateMembers(text, header)) throw new Invalid('protected header has duplicate member names');
  assertNoProtoMember(header, 'protected header', Invalid);
  return header;
}

export interface HeaderPolicy {
  /** The algorithms the caller accepts. */
  readonly algorithms: ReadonlySet<string>;
  /** Extension parameters the caller understands and processes itself (for `crit`). */
  readonly crit?: readonly string[];
}

export interface CheckedHeader {
  readonly header: JwsHeaderParameters;
  readonly spec: JwsAlgorithmSpec;
  /** RFC 7797: false when the payload is not base64url-encoded. */
  readonly b64: boolean;
}

/**
 * Applies RFC 7515 §5.2 steps 4–5 and RFC 8725 to a parsed header: protected and unprotected
 * headers must be disjoint, `alg` must be allowed by the caller, `crit` must be well-formed and
 * understood, and `b64` must be a boolean named in `crit`.
 */
export function checkHeader(
  protectedHeader: JsonObject | undefined,
  unprotectedHeader: JsonObject | undefined,
  policy: HeaderPolicy,
): CheckedHeader {
  let header: JwsHeaderParameters;
  if (unprotectedHeader === undefined) {
    header = protectedHeader ?? {};
  } else {
    if (!isJsonObject(unprotectedHeader)) throw new JwsInvalid('unprotected header must be a JSON object');
    assertNoProtoMember(unprotectedHeader, 'unprotected header');
    if (protectedHeader) assertDisjoint(protectedHeader, unprotectedHeader);
    header = { ...unprotectedHeader, ...protectedHeader };
  }

  const { alg } = header;
  if (typeof alg !== 'string' || alg.length === 0)
    throw new JwsInvalid('"alg" header parameter missing or not a string');
  // RFC 8725 §3.1: the caller's allow-list decides; `none` can never be on it for verification.
  if (!policy.algorithms.has(alg))
    throw new JoseAlgNotAllowed(`"alg" ${JSON.stringify(alg)} is not allowed`, alg);
  if (!isJwsAlgorithm(alg)) throw new JoseNotSupported(`unsupported "alg" ${JSON.stringify(alg)}`);

  checkCrit(header, protectedHeader, policy.crit);

  let b64 = true;
  if (header.b64 !== undefined) {
    // RFC 7797 §3 and §6: a boolean, in the protected header, and listed in "crit".
    if (typeof header.b64 !== 'boolean') throw new JwsInvalid('"b64" header parameter must be a boolean');
    if (!protectedHeader || !Object.hasOwn(protectedHeader, 'b64'))
      throw new JwsInvalid('"b64" must be integrity protected');
    if (!header.crit?.includes('b64')) throw new JwsInvalid('"b64" must be listed in "crit" (RFC 7797 §6)');
    b64 = header.b64;
  }
  for (const name of ['kid', 'typ', 'cty'] as const) {
    if (header[name] !== undefined && typeof header[name] !== 'string') {
      throw new JwsInvalid(`"${name}" header parameter must be a string`);
    }
  }
  return { header, spec: JWS_ALGORITHMS.get(alg)!, b64 };
}

// RFC 7515 §4.1.11 (and RFC 7516 §4.1.13, which adopts it for JWE).
export function checkCrit(
  header: JwsHeaderParameters,
  protectedHeader: JsonObject | undefined,
  understood: readonly string[] | undefined,
  Invalid: InvalidError = JwsInvalid,
  builtIn: ReadonlySet<string> = UNDERSTOOD_EXTENSIONS,
): void {
  if (header.crit === undefined) return;
  if (!protectedHeader || !Object.hasOwn(protectedHeader, 'crit'))
    throw new Invalid('"crit" must be integrity protected');
  const crit: unknown = header.crit;
  if (
    !Array.isArray(crit) ||
    crit.length === 0 ||
    !crit.every((name) => typeof name === 'string' && name.length > 0)
  ) {
    throw new Invalid('"crit" must be a non-empty array of names');
  }
  if (new Set(crit).size !== crit.length) throw new Invalid('"crit" must not repeat a name');
  for (const name of crit as string[]) {
    if (REGISTERED_PARAMETERS.has(name))
      throw new Invalid(`"crit" must not list the registered parameter "${name}"`);
    if (!builtIn.has(name) && !understood?.includes(name)) {
      throw new JoseNotSupported(`extension "${name}" is critical but not understood`);
    }
    if (header[name] === undefined) throw new Invalid(`"crit" lists "${name}", which is not in the header`);
  }
}

/** RFC 7515 §7.2.1: the protected and unprotected Header Parameter names must be disjoint. */
export function assertDisjoint(
  protectedHeader: JsonObject,
  unprotectedHeader: JsonObject,
  Invalid: InvalidError = JwsInvalid,
): void {
  for (const name of Object.keys(unprotectedHeader)) {
    if (Object.hasOwn(protectedHeader, name)) {
      throw new Invalid(`header parameter "${name}" appears in both the protected and unprotected headers`);
    }
  }
}

export interface AlgorithmOptions {
  /**
   * The algorithms to accept, e.g. `['ES256']`. Required: the token never chooses its own
   * algorithm (RFC 8725 §2.1, §3.1). `none` is never accepted.
   */
  algorithms: readonly string[];
  /** Names of `crit` extensions the caller understands and processes itself (RFC 7515 §4.1.11). */
  crit?: readonly string[];
}

/** Validates the caller's algorithm options once and builds the header policy. */
export function createHeaderPolicy(options: AlgorithmOptions | undefined): HeaderPolicy {
  const algorithms = options?.algorithms;
  if (!Array.isArray(algorithms) || algorithms.length === 0) {
    throw new TypeError('options.algorithms is required: list the algorithms to accept, e.g. ["ES256"]');
  }
  for (const alg of algorithms) {
    if (alg === 'none' || (typeof alg === 'string' && alg.toLowerCase() === 'none')) {
      throw new TypeError(
        '"none" is never accepted for verification; use decodeUnsecuredJwt for unsecured JWTs',
      );
    }
    if (!isJwsAlgorithm(alg))
      throw new TypeError(`unsupported algorithm ${JSON.stringify(alg)} in options.algorithms`);
  }
  const crit = options?.crit;
  if (crit !== undefined && (!Array.isArray(crit) || !crit.every((name) => typeof name === 'string'))) {
    throw new TypeError('options.crit must be an array of extension names');
  }
  return { algorithms: new Set(algorithms), crit };
}
