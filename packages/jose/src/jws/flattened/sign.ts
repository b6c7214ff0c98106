import { isUtf8 } from 'node:buffer';
import { JwsInvalid } from '../../errors.js';
import type { JsonObject } from '../../lib/json.js';
import type { JwsHeaderParameters } from '../../lib/jws_header.js';
import { signParts } from '../../lib/jws_sign.js';
import type { KeyInput } from '../../lib/key_input.js';

/** The Flattened JWS JSON Serialization (RFC 7515 §7.2.2). */
export interface FlattenedJws {
  payload: string;
  protected?: string;
  header?: JwsHeaderParameters;
  signature: string;
}

export interface FlattenedSignOptions {
  protectedHeader?: JwsHeaderParameters;
  /** Header parameters that are not integrity protected (never `alg`'s safety net: `alg` goes in the protected header by default). */
  unprotectedHeader?: JsonObject;
}

/**
 * Signs `payload` into the Flattened JWS JSON Serialization.
 *
 * @example
 * ```ts
 * const jws = flattenedSign('hello', key, { protectedHeader: { alg: 'HS256' }, unprotectedHeader: { kid: 'k1' } });
 * ```
 */
export function flattenedSign(
  payload: Uint8Array | string,
  key: KeyInput,
  options: FlattenedSignOptions = {},
): FlattenedJws {
  const parts = signParts(payload, key, options.protectedHeader, options.unprotectedHeader);
  // RFC 7797 §5.3: an unencoded payload is a JSON string; bytes that are not UTF-8 would be altered.
  if (parts.protectedHeader.b64 === false && typeof payload !== 'string' && !isUtf8(payload)) {
    throw new JwsInvalid('an unencoded ("b64": false) payload must be UTF-8 text unless detached');
  }
  const jws: FlattenedJws = {
    payload: parts.payloadSegment,
    protected: parts.protectedSegment,
    signature: parts.signatureSegment,
  };
  // RFC 7515 §7.2.1: "protected" MUST be absent when there is no protected header.
  if (parts.protectedSegment === '') delete jws.protected;
  if (options.unprotectedHeader) jws.header = { ...options.unprotectedHeader };
  return jws;
}
