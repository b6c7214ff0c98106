import { DpopProofInvalid, isJoseError } from '../errors.js';
import { importJwk, type Jwk } from '../key/import.js';
import type { Key } from '../key/key.js';
import { jwkThumbprint } from '../key/thumbprint.js';
import { deepFreeze, isJsonObject } from '../lib/json.js';
import { JWS_ALGORITHMS, type JwsAlgorithm } from '../lib/jws_algorithms.js';
import { type JwsHeaderParameters, parseProtectedHeader } from '../lib/jws_header.js';
import { createSignatureCheck } from '../lib/jws_verify.js';
import { LruCache } from '../lib/lru.js';

/** What a proof's protected header settles, decided once per distinct header (one per client key). */
export interface ProofHeader {
  /** Deeply frozen: every proof with this header shares it. */
  readonly header: JwsHeaderParameters;
  readonly alg: JwsAlgorithm;
  /** The public key from `jwk`, pinned to `alg`. */
  readonly key: Key;
  /** RFC 7638 SHA-256 thumbprint of `jwk` (RFC 9449 §6.1). */
  readonly jkt: string;
  readonly checkSignature: (signingInput: string, signatureSegment: string) => boolean;
}

/** RFC 9449 §4.2: `typ` is exactly this media type. */
export const DPOP_TYP = 'dpop+jwt';

/**
 * JWK members that hold private or symmetric key material (RFC 7518 §6.2.2, §6.3.2, §6.4; RFC 8037
 * §2). RFC 9449 §4.3 point 7: the `jwk` header must not contain a private key.
 */
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'] as const;
/** RFC 9449 §4.3 point 5: asymmetric signature keys only; `oct` can only be a shared secret. */
const ASYMMETRIC_KTY = new Set(['EC', 'OKP', 'RSA']);

/**
 * Headers of proofs whose signature verified, keyed on the header segment as sent. A client sends
 * the same header with every proof (it holds one key), so a hit skips decoding, JSON parsing, the
 * key import and the thumbprint: verification costs one signature check. Only headers of verified
 * proofs go in, and the map is bounded, so junk cannot grow it; any key pair can still sign its way
 * in, which only evicts entries a repeat costs one import to restore.
 */
const HEADER_CACHE_SIZE = 1024;
/**
 * Keyed on the segment's last 32 characters (the end of the key's coordinates or modulus, random
 * per key): a Map key that is cheap to hash, where the whole segment arrives as a fresh string with
 * every request. A hit is confirmed by comparing the whole segment.
 */
const headers = new LruCache<string, { segment: string; prepared: ProofHeader }>(HEADER_CACHE_SIZE);
const KEY_LENGTH = 32;

function keyOf(segment: string): string {
  return segment.length <= KEY_LENGTH ? segment : segment.slice(segment.length - KEY_LENGTH);
}

/** The remembered header for this segment, if a proof carrying it verified before. */
export function rememberedHeader(segment: string): ProofHeader | undefined {
  const known = headers.get(keyOf(segment));
  return known !== undefined && known.segment === segment ? known.prepared : undefined;
}

/** Remembers a header once a proof carrying it has verified. */
export function rememberHeader(segment: string, prepared: ProofHeader): void {
  headers.set(keyOf(segment), { segment, prepared });
}

/**
 * RFC 9449 §4.3 points 2–7 for a header seen for the first time: a JSON object with `typ`
 * `dpop+jwt`, an asymmetric `alg` (never `none`, never HMAC), no `crit`, and a `jwk` that is a
 * public key usable with `alg`.
 */
export function prepareHeader(segment: string): ProofHeader {
  let parsed: Record<string, unknown>;
  try {
    parsed = parseProtectedHeader(segment);
  } catch (err) {
    throw new DpopProofInvalid(`the proof's header is malformed: ${(err as Error).message}`, 'syntax');
  }
  const header = parsed as JwsHeaderParameters;
  if (header.typ !== DPOP_TYP) {
    throw new DpopProofInvalid(`the proof's "typ" must be "${DPOP_TYP}" (RFC 9449 §4.2)`, 'typ');
  }
  const alg = header.alg;
  const spec = typeof alg === 'string' ? JWS_ALGORITHMS.get(alg) : undefined;
  // RFC 9449 §4.3 point 5 (and RFC 8725 §3.1): `none` is not in the table, so it lands here too.
  if (spec === undefined || spec.family === 'hmac') {
    throw new DpopProofInvalid(
      'the proof\'s "alg" must be an asymmetric signature algorithm (RFC 9449 §4.3)',
      'alg',
    );
  }
  // RFC 7515 §4.1.11: no extension is understood here, so a critical one makes the proof unusable.
  if (header.crit !== undefined) {
    throw new DpopProofInvalid('the proof has a "crit" header, and no extension is understood', 'syntax');
  }
  const jwk = header.jwk;
  if (!isJsonObject(jwk)) {
    throw new DpopProofInvalid('the proof\'s "jwk" header is missing or not a JSON object', 'jwk');
  }
  if (typeof jwk.kty !== 'string' || !ASYMMETRIC_KTY.has(jwk.kty)) {
    throw new DpopProofInvalid('the proof\'s "jwk" must be an EC, OKP or RSA public key', 'jwk');
  }
  for (const member of PRIVATE_MEMBERS) {
    if (Object.hasOwn(jwk, member)) {
      throw new DpopProofInvalid(
        `the proof's "jwk" must not contain a private key ("${member}" present, RFC 9449 §4.3)`,
        'jwk',
      );
    }
  }
  let key: Key;
  let jkt: string;
  let checkSignature: ProofHeader['checkSignature'];
  try {
    key = importJwk(jwk, { alg: spec.alg });
    jkt = jwkThumbprint(jwk as Jwk);
    checkSignature = createSignatureCheck(spec, key);
  } catch (err) {
    if (!isJoseError(err)) throw err;
    throw new DpopProofInvalid(
      `the proof's "jwk" is not a usable ${spec.alg} public key: ${err.message}`,
      'jwk',
    );
  }
  return { header: deepFreeze(header), alg: spec.alg, key, jkt, checkSignature };
}
