import { Buffer } from 'node:buffer';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { JwsInvalid, JwsSignatureVerificationFailed } from '../errors.js';
import type { Key } from '../key/key.js';
import { decodeBase64url } from './base64url.js';
import type { JsonObject } from './json.js';
import type { JwsAlgorithmSpec } from './jws_algorithms.js';
import {
  checkHeader,
  type HeaderPolicy,
  type JwsHeaderParameters,
  parseProtectedHeader,
} from './jws_header.js';
import { resolveVerificationKeys, type VerificationKey } from './key_input.js';

/** Default cap on a compact token's length, in characters. Real access tokens are well under 4 KiB. */
export const DEFAULT_MAX_TOKEN_LENGTH = 16_384;

export interface CompactParts {
  readonly protectedSegment: string;
  readonly payloadSegment: string;
  readonly signatureSegment: string;
  /** ASCII(BASE64URL(header)) || '.' || payload segment: RFC 7515 §5.1 step 5. */
  readonly signingInput: string;
}

/** Splits a compact JWS (RFC 7515 §7.1) into its three parts, refusing JWEs and oversize input. */
export function splitCompact(token: unknown, maxLength: number): CompactParts {
  if (typeof token !== 'string') throw new JwsInvalid('a compact JWS must be a string');
  if (token.length > maxLength) throw new JwsInvalid(`token is longer than the ${maxLength}-character limit`);
  const first = token.indexOf('.');
  const second = token.indexOf('.', first + 1);
  if (first === -1 || second === -1) throw new JwsInvalid('a compact JWS has three parts separated by dots');
  if (first === 0) throw new JwsInvalid('the protected header is empty');
  if (token.indexOf('.', second + 1) !== -1) {
    throw new JwsInvalid(
      token.split('.').length === 5
        ? 'this is a JWE, not a JWS'
        : 'a compact JWS has three parts separated by dots',
    );
  }
  return {
    protectedSegment: token.slice(0, first),
    payloadSegment: token.slice(first + 1, second),
    signatureSegment: token.slice(second + 1),
    signingInput: token.slice(0, second),
  };
}

/** Strictly decodes the signature segment. */
export function decodeSignature(segment: string): Buffer {
  const signature = decodeBase64url(segment);
  if (signature === undefined || signature.length === 0) {
    throw new JwsInvalid('signature is missing or not canonical base64url');
  }
  return signature;
}

/**
 * Tries each candidate key on the signature and returns the one that verified. A signature of the
 * wrong length for the algorithm and key (RFC 7518 §3.4: ECDSA is exactly R‖S) never reaches the
 * primitive.
 */
export function verifyWithKeys(
  spec: JwsAlgorithmSpec,
  keys: readonly Key[],
  signingInput: Buffer | string,
  signature: Buffer,
): Key {
  for (const key of keys) {
    key.assertUsable(spec.alg, 'verify');
    const keyObject = key.verificationKey;
    if (
      signature.length === spec.signatureLength(keyObject) &&
      spec.verify(keyObject, signingInput, signature)
    ) {
      return key;
    }
  }
  throw new JwsSignatureVerificationFailed();
}

export interface JwsParts {
  /** BASE64URL(UTF8(JWS Protected Header)), absent in JSON serializations without one. */
  readonly protectedSegment: string | undefined;
  readonly unprotectedHeader?: JsonObject;
  /** The payload as serialized: base64url, or the raw text when `b64` is false. */
  readonly payloadSegment: string;
  readonly signatureSegment: string;
}

export interface VerifiedJws {
  readonly payload: Buffer;
  readonly protectedHeader: JwsHeaderParameters | undefined;
  readonly header: JwsHeaderParameters;
  readonly key: Key;
}

/** RFC 7515 §5.2, for any serialization: header checks, key selection, signature, payload. */
export async function verifyJws(
  parts: JwsParts,
  keyInput: VerificationKey,
  policy: HeaderPolicy,
  detachedPayload?: Uint8Array | string,
): Promise<VerifiedJws> {
  const protectedHeader = parts.protectedSegment ? parseProtectedHeader(parts.protectedSegment) : undefined;
  if (parts.protectedSegment === '') throw new JwsInvalid('protected header must not be empty');
  const { header, spec, b64 } = checkHeader(protectedHeader, parts.unprotectedHeader, policy);
  const signature = decodeSignature(parts.signatureSegment);
  let payloadSegment = parts.payloadSegment;
  let payload: Buffer;
  if (detachedPayload !== undefined) {
    // RFC 7515 Appendix F: the content travels separately and the JWS carries an empty payload.
    if (payloadSegment !== '') throw new JwsInvalid('a detached payload was given, but the JWS carries one');
    payload =
      typeof detachedPayload === 'string'
        ? Buffer.from(detachedPayload, 'utf8')
        : Buffer.from(detachedPayload);
    payloadSegment = b64 ? payload.toString('base64url') : '';
  } else if (b64) {
    const decoded = decodeBase64url(payloadSegment);
    if (decoded === undefined) throw new JwsInvalid('payload is not canonical base64url');
    payload = decoded;
  } else {
    payload = Buffer.from(payloadSegment, 'utf8');
  }
  const head = `${parts.protectedSegment ?? ''}.`;
  const signingInput = b64 ? head + payloadSegment : Buffer.concat([Buffer.from(head, 'ascii'), payload]);
  const keys = await resolveVerificationKeys(keyInput, header);
  const key = verifyWithKeys(spec, keys, signingInput, signature);
  return { payload, protectedHeader: protectedHeader as JwsHeaderParameters | undefined, header, key };
}

/**
 * A signature check for one algorithm and key, decided once, taking the signing input and the
 * signature segment as they appear in a compact token. For HMAC the expected signature is encoded
 * and compared in constant time with the segment: a canonical encoding is then implied by equality,
 * so the segment need not be decoded at all.
 */
export function createSignatureCheck(
  spec: JwsAlgorithmSpec,
  key: Key,
): (signingInput: string, segment: string) => boolean {
  key.assertUsable(spec.alg, 'verify');
  const keyObject = key.verificationKey;
  const length = spec.signatureLength(keyObject);
  if (spec.family === 'hmac') {
    const hash = spec.hash!;
    const encodedLength = Math.ceil((length * 4) / 3);
    return (signingInput, segment) => {
      if (segment.length !== encodedLength) return false;
      const expected = createHmac(hash, keyObject).update(signingInput).digest('base64url');
      // RFC 7515 §2 (strict base64url): compare bytes as sent. A latin1 view would keep only the low
      // byte of each character and read 'Ř' (U+0158) as 'X', letting one signature have many spellings.
      const actual = Buffer.from(segment, 'utf8');
      return actual.length === encodedLength && timingSafeEqual(Buffer.from(expected, 'latin1'), actual);
    };
  }
  return (signingInput, segment) => {
    const signature = decodeBase64url(segment);
    return (
      signature !== undefined &&
      signature.length === length &&
      spec.verify(keyObject, signingInput, signature)
    );
  };
}
