import { DpopProofInvalid } from '../errors.js';
import { decodeBase64urlText } from '../lib/base64url.js';
import { parseJsonObject } from '../lib/json.js';
import { JWS_ALGORITHMS, type JwsAlgorithm } from '../lib/jws_algorithms.js';
import type { JwsHeaderParameters } from '../lib/jws_header.js';
import { LruCache } from '../lib/lru.js';
import { secondsOf } from '../lib/time.js';
import { accessTokenHash } from './access_token_hash.js';
import { dpopHtu } from './htu.js';
import { prepareHeader, rememberedHeader, rememberHeader } from './proof_header.js';

export interface VerifyDpopProofOptions {
  /** The HTTP method of the request the proof came with (RFC 9449 §4.3 point 8). */
  htm: string;
  /** The request's URI; the query and fragment are ignored (§4.3 point 9, compared as {@link dpopHtu}). */
  htu: string | URL;
  /** The asymmetric algorithms accepted, e.g. `['ES256', 'EdDSA']` (§4.3 point 5). `none` and `HS*` are a `TypeError`. */
  algorithms: readonly JwsAlgorithm[];
  /** The access token the proof came with, at a protected resource: `ath` must be its hash (§4.3 point 12). */
  accessToken?: string;
  /** The thumbprint the proof's key must have: `cnf.jkt` of the access token, or `dpop_jkt` (§6.1, §10). */
  jkt?: string;
  /**
   * The nonce the server gave the client (§4.3 point 10, §8, §9), or a predicate that judges the
   * proof's `nonce` (`undefined` when it has none). Without it, a `nonce` claim is not checked.
   */
  nonce?: string | ((nonce: string | undefined) => boolean);
  /** Oldest `iat` accepted, seconds before now (§4.3 point 11, §11.1; default 300). */
  maxAge?: number;
  /** Clock skew allowed either way around `iat`, seconds (default 5). */
  clockTolerance?: number;
  /** "Now" (default: the current time); for tests and for replaying recorded proofs. */
  currentDate?: Date;
}

export interface VerifiedDpopProof {
  /** RFC 7638 SHA-256 thumbprint of the proof's public key: what `cnf.jkt` binds a token to (§6.1). */
  jkt: string;
  /** The proof's unique identifier: the caller checks it has not been seen within the `iat` window (§11.1). */
  jti: string;
  iat: number;
  htm: string;
  /** `htu` as the proof carries it. */
  htu: string;
  nonce?: string;
  /** The protected header (frozen: proofs with the same header share it). */
  header: JwsHeaderParameters;
  payload: Record<string, unknown>;
}

/** A proof is a header with one public key, a short payload and a signature: 8 KiB covers RSA-4096. */
export const MAX_PROOF_LENGTH = 8192;
/** Longest `jti` accepted: replay caches store it, so it is bounded (§4.2 asks for ≥ 96 random bits). */
export const MAX_JTI_LENGTH = 256;
const DEFAULT_MAX_AGE = 300;
const DEFAULT_CLOCK_TOLERANCE = 5;

/** Algorithm lists already checked, so that a caller passing the same array pays for the check once. */
const checkedAlgorithms = new WeakSet<readonly string[]>();

/**
 * The comparison form of request URIs seen lately: a resource server sees the same URLs again and
 * again, and parsing one (the WHATWG URL parser) costs more than the rest of the claim checks.
 */
const requestHtus = new LruCache<string, string>(512);
/**
 * `ath` of access tokens seen lately, keyed on a token's last 32 characters (its signature: a Map
 * key that is cheap to hash) and confirmed by comparing the whole token. A client sends one token
 * with many proofs; hashing it anew each time costs as much as the rest of the claim checks.
 */
const tokenHashes = new LruCache<string, { token: string; ath: string }>(512);

/**
 * Verifies a DPoP proof JWT (RFC 9449 §4.3, checks 2–12): `typ`, an allowed asymmetric `alg`, a
 * public `jwk` that verifies the signature, `jti`, `htm`, `htu`, `iat` within the window, `nonce`
 * when one is expected, `ath` when an access token came with it, and the key's thumbprint when `jkt`
 * is given. Synchronous: a header seen in a proof that verified before is remembered (bounded LRU),
 * so a repeat costs one signature verification. What needs state is left to the caller: check 1 (one
 * `DPoP` header field) and `jti` replay (§11.1). Throws {@link DpopProofInvalid} with the failed check
 * as `reason`; a misused option is a `TypeError`.
 *
 * @example
 * ```ts
 * const proof = verifyDpopProof(req.headers.dpop, {
 *   htm: 'GET', htu: 'https://api.example.com/orders', algorithms: ['ES256', 'EdDSA'],
 *   accessToken, jkt: payload.cnf.jkt,
 * });
 * if (!replayCache.firstUse(proof.jkt, proof.jti)) throw new Error('replayed proof');
 * ```
 */
export function verifyDpopProof(proof: string, options: VerifyDpopProofOptions): VerifiedDpopProof {
  const { htm, algorithms, accessToken, jkt, nonce } = options;
  if (typeof htm !== 'string' || htm.length === 0) throw new TypeError('options.htm must be the HTTP method');
  const htu = requestHtu(options.htu);
  checkAlgorithms(algorithms);
  if (accessToken !== undefined && (typeof accessToken !== 'string' || accessToken.length === 0)) {
    throw new TypeError('options.accessToken must be a non-empty string');
  }
  if (jkt !== undefined && typeof jkt !== 'string') throw new TypeError('options.jkt must be a string');
  if (nonce !== undefined && typeof nonce !== 'string' && typeof nonce !== 'function') {
    throw new TypeError('options.nonce must be a string or a function');
  }
  const maxAge = options.maxAge === undefined ? DEFAULT_MAX_AGE : secondsOf(options.maxAge, 'maxAge');
  const tolerance =
    options.clockTolerance === undefined
      ? DEFAULT_CLOCK_TOLERANCE
      : secondsOf(options.clockTolerance, 'clockTolerance');
  const now = (options.currentDate?.getTime() ?? Date.now()) / 1000;

  // §4.3 point 2: a single well-formed JWT.
  if (typeof proof !== 'string' || proof.length > MAX_PROOF_LENGTH) {
    throw new DpopProofInvalid(`the proof must be a JWT of at most ${MAX_PROOF_LENGTH} characters`, 'syntax');
  }
  const first = proof.indexOf('.');
  const second = proof.indexOf('.', first + 1);
  if (first <= 0 || second === -1 || proof.indexOf('.', second + 1) !== -1) {
    throw new DpopProofInvalid('the proof must be a compact JWS: three parts separated by dots', 'syntax');
  }
  const headerSegment = proof.slice(0, first);
  const known = rememberedHeader(headerSegment);
  const prepared = known ?? prepareHeader(headerSegment);
  // §4.3 point 5: acceptable per the caller's policy (checked on every call: callers differ).
  if (!algorithms.includes(prepared.alg)) {
    throw new DpopProofInvalid(`the proof's "alg" ${prepared.alg} is not accepted here`, 'alg');
  }
  // §4.3 point 6: the signature verifies with the key in `jwk`.
  if (!prepared.checkSignature(proof.slice(0, second), proof.slice(second + 1))) {
    throw new DpopProofInvalid('the proof signature does not verify with its "jwk"', 'signature');
  }
  if (!known) rememberHeader(headerSegment, prepared);

  const text = decodeBase64urlText(proof.slice(first + 1, second));
  const payload = text === undefined ? undefined : parseJsonObject(text);
  if (payload === undefined) {
    throw new DpopProofInvalid('the proof payload is not a base64url-encoded JSON object', 'syntax');
  }
  // §4.3 point 3 and §4.2: the required claims, each checked by the rule that governs it.
  const { jti, htm: proofHtm, htu: proofHtu, iat, ath, nonce: proofNonce } = payload;
  if (typeof jti !== 'string' || jti.length === 0 || jti.length > MAX_JTI_LENGTH) {
    throw new DpopProofInvalid(
      `the proof's "jti" must be a string of 1 to ${MAX_JTI_LENGTH} characters`,
      'syntax',
    );
  }
  // §4.3 point 8. HTTP methods are case-sensitive (RFC 9110 §9.1).
  if (proofHtm !== htm) throw new DpopProofInvalid(`the proof's "htm" does not match ${htm}`, 'htm');
  // §4.3 point 9, with RFC 3986 §6.2.2/§6.2.3 normalisation of both sides.
  if (typeof proofHtu !== 'string' || (proofHtu !== htu && normalisedOrNull(proofHtu) !== htu)) {
    throw new DpopProofInvalid(`the proof's "htu" does not match ${htu}`, 'htu');
  }
  // §4.3 point 10.
  if (proofNonce !== undefined && typeof proofNonce !== 'string') {
    throw new DpopProofInvalid('the proof\'s "nonce" must be a string', 'nonce');
  }
  if (typeof nonce === 'string' ? proofNonce !== nonce : nonce !== undefined && !nonce(proofNonce)) {
    throw new DpopProofInvalid(
      proofNonce === undefined ? 'the proof has no "nonce"' : 'the proof\'s "nonce" is not current',
      'nonce',
    );
  }
  // §4.3 point 11 and §11.1: created within the window (a little skew either way).
  if (typeof iat !== 'number' || !Number.isFinite(iat)) {
    throw new DpopProofInvalid('the proof\'s "iat" must be a number', 'iat');
  }
  if (iat > now + tolerance) throw new DpopProofInvalid('the proof was issued in the future', 'iat');
  if (iat < now - maxAge - tolerance) {
    throw new DpopProofInvalid(`the proof is older than ${maxAge} seconds`, 'iat');
  }
  // §4.3 point 12: bound to this access token, and made with the key the token is bound to. An
  // `ath` sent where no access token is expected is not checked: §4.3 has no rule for it.
  if (accessToken !== undefined && ath !== hashOf(accessToken)) {
    throw new DpopProofInvalid(
      ath === undefined
        ? 'the proof has no "ath"'
        : 'the proof\'s "ath" is not the hash of this access token',
      'ath',
    );
  }
  if (jkt !== undefined && prepared.jkt !== jkt) {
    throw new DpopProofInvalid(
      'the proof is signed with a key other than the one the token is bound to',
      'jkt',
    );
  }
  const result: VerifiedDpopProof = {
    jkt: prepared.jkt,
    jti,
    iat,
    htm,
    htu: proofHtu,
    header: prepared.header,
    payload,
  };
  if (proofNonce !== undefined) result.nonce = proofNonce;
  return result;
}

function checkAlgorithms(algorithms: readonly JwsAlgorithm[]): void {
  if (checkedAlgorithms.has(algorithms)) return;
  if (!Array.isArray(algorithms) || algorithms.length === 0) {
    throw new TypeError(
      'options.algorithms is required: the asymmetric algorithms to accept, e.g. ["ES256"]',
    );
  }
  for (const alg of algorithms) {
    const spec = JWS_ALGORITHMS.get(alg);
    // RFC 9449 §4.3 point 5: asymmetric only; `none` is not in the table.
    if (spec === undefined || spec.family === 'hmac') {
      throw new TypeError(
        `options.algorithms: ${JSON.stringify(alg)} is not an asymmetric JWS algorithm (RFC 9449 §4.3)`,
      );
    }
  }
  checkedAlgorithms.add(algorithms);
}

function requestHtu(url: string | URL): string {
  if (typeof url !== 'string') return dpopHtu(url);
  let htu = requestHtus.get(url);
  if (htu === undefined) {
    htu = dpopHtu(url);
    requestHtus.set(url, htu);
  }
  return htu;
}

function hashOf(accessToken: string): string {
  const key = accessToken.length <= 32 ? accessToken : accessToken.slice(-32);
  const known = tokenHashes.get(key);
  if (known !== undefined && known.token === accessToken) return known.ath;
  const ath = accessTokenHash(accessToken);
  tokenHashes.set(key, { token: accessToken, ath });
  return ath;
}

function normalisedOrNull(htu: string): string | null {
  try {
    return dpopHtu(htu);
  } catch {
    return null;
  }
}
