import { isUtf8 } from 'node:buffer';
import { JwsInvalid } from '../../errors.js';
import type { JwsHeaderParameters } from '../../lib/jws_header.js';
import { signParts } from '../../lib/jws_sign.js';
import type { KeyInput } from '../../lib/key_input.js';

export interface CompactSignOptions {
  /** The protected header. `alg` may be left out when the key serves exactly one algorithm. */
  protectedHeader?: JwsHeaderParameters;
  /** RFC 7515 Appendix F: leave the payload out of the result (send it separately). */
  detached?: boolean;
}

/**
 * Signs `payload` and returns the JWS Compact Serialization (RFC 7515 §7.1). With
 * `{ b64: false, crit: ['b64'] }` in the header the payload is not encoded (RFC 7797); it must then
 * not contain a `.` unless `detached` is set.
 *
 * @example
 * ```ts
 * const jws = compactSign('hello', privateKey, { protectedHeader: { alg: 'ES256', kid: 'k1' } });
 * ```
 */
export function compactSign(
  payload: Uint8Array | string,
  key: KeyInput,
  options: CompactSignOptions = {},
): string {
  const parts = signParts(payload, key, options.protectedHeader);
  if (options.detached) return `${parts.protectedSegment}..${parts.signatureSegment}`;
  // RFC 7797 §5: an unencoded payload travels as text; bytes that are not UTF-8 would be altered.
  if (parts.protectedHeader.b64 === false && typeof payload !== 'string' && !isUtf8(payload)) {
    throw new JwsInvalid('an unencoded ("b64": false) payload must be UTF-8 text unless detached');
  }
  // RFC 7797 §5.2: an unencoded payload containing '.' cannot be told apart from the separators.
  if (parts.protectedHeader.b64 === false && parts.payloadSegment.includes('.')) {
    throw new JwsInvalid(
      'an unencoded payload with "." cannot use the compact serialization; use detached or JSON',
    );
  }
  return `${parts.protectedSegment}.${parts.payloadSegment}.${parts.signatureSegment}`;
}
