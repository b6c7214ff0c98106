import { JwsInvalid } from '../../errors.js';
import type { Key } from '../../key/key.js';
import { isJsonObject } from '../../lib/json.js';
import { type AlgorithmOptions, createHeaderPolicy, type JwsHeaderParameters } from '../../lib/jws_header.js';
import { verifyJws } from '../../lib/jws_verify.js';
import type { VerificationKey } from '../../lib/key_input.js';
import type { FlattenedJws } from './sign.js';

export interface FlattenedVerifyOptions extends AlgorithmOptions {
  /** The payload of a detached JWS, whose `payload` member is empty or absent (RFC 7515 Appendix F). */
  payload?: Uint8Array | string;
}

export interface FlattenedVerifyResult {
  payload: Uint8Array;
  protectedHeader: JwsHeaderParameters | undefined;
  unprotectedHeader: JwsHeaderParameters | undefined;
  key: Key;
}

/**
 * Verifies a Flattened JWS JSON Serialization (RFC 7515 §7.2.2).
 *
 * @example
 * ```ts
 * const { payload } = await flattenedVerify(jws, key, { algorithms: ['HS256'] });
 * ```
 */
export async function flattenedVerify(
  jws: FlattenedJws,
  key: VerificationKey,
  options: FlattenedVerifyOptions,
): Promise<FlattenedVerifyResult> {
  const policy = createHeaderPolicy(options);
  if (!isJsonObject(jws)) throw new JwsInvalid('a flattened JWS must be a JSON object');
  if (Object.hasOwn(jws, 'signatures')) throw new JwsInvalid('this is a general JWS; use generalVerify');
  const parts = signatureParts(jws, jws.payload, options.payload !== undefined);
  const verified = await verifyJws(parts, key, policy, options.payload);
  return {
    payload: verified.payload,
    protectedHeader: verified.protectedHeader,
    unprotectedHeader: jws.header,
    key: verified.key,
  };
}

/** Reads and type-checks one signature's members (shared with the general serialization). */
export function signatureParts(
  signature: { protected?: unknown; header?: unknown; signature?: unknown },
  payload: unknown,
  detached = false,
): {
  protectedSegment: string | undefined;
  unprotectedHeader: JwsHeaderParameters | undefined;
  payloadSegment: string;
  signatureSegment: string;
} {
  // RFC 7515 Appendix F: with detached content, the JSON serializations delete the "payload" member.
  if (detached && payload === undefined) payload = '';
  if (typeof payload !== 'string') throw new JwsInvalid('JWS "payload" must be a string');
  if (typeof signature.signature !== 'string') throw new JwsInvalid('JWS "signature" must be a string');
  if (signature.protected !== undefined && typeof signature.protected !== 'string') {
    throw new JwsInvalid('JWS "protected" must be a string');
  }
  if (signature.header !== undefined && !isJsonObject(signature.header))
    throw new JwsInvalid('JWS "header" must be an object');
  if (signature.protected === undefined && signature.header === undefined) {
    throw new JwsInvalid('a JWS signature needs a "protected" or "header" member');
  }
  return {
    protectedSegment: signature.protected as string | undefined,
    unprotectedHeader: signature.header as JwsHeaderParameters | undefined,
    payloadSegment: payload,
    signatureSegment: signature.signature,
  };
}
