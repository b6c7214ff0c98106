import { isUtf8 } from 'node:buffer';
import { JwsInvalid } from '../../errors.js';
import type { JsonObject } from '../../lib/json.js';
import type { JwsHeaderParameters } from '../../lib/jws_header.js';
import { signParts } from '../../lib/jws_sign.js';
import type { KeyInput } from '../../lib/key_input.js';

/** The General JWS JSON Serialization (RFC 7515 §7.2.1): one payload, several signatures. */
export interface GeneralJws {
  payload: string;
  signatures: { protected?: string; header?: JwsHeaderParameters; signature: string }[];
}

export interface GeneralSigner {
  key: KeyInput;
  protectedHeader?: JwsHeaderParameters;
  unprotectedHeader?: JsonObject;
}

/**
 * Signs `payload` once per signer into the General JWS JSON Serialization. All signers must agree on
 * `b64` (RFC 7797 §3), since they share one payload.
 *
 * @example
 * ```ts
 * const jws = generalSign('hello', [
 *   { key: rsaKey, protectedHeader: { alg: 'RS256' }, unprotectedHeader: { kid: 'rsa-1' } },
 *   { key: ecKey, protectedHeader: { alg: 'ES256' }, unprotectedHeader: { kid: 'ec-1' } },
 * ]);
 * ```
 */
export function generalSign(payload: Uint8Array | string, signers: readonly GeneralSigner[]): GeneralJws {
  if (!Array.isArray(signers) || signers.length === 0)
    throw new JwsInvalid('generalSign needs at least one signer');
  const signed = signers.map((signer) =>
    signParts(payload, signer.key, signer.protectedHeader, signer.unprotectedHeader),
  );
  if (new Set(signed.map((s) => s.payloadSegment)).size !== 1) {
    throw new JwsInvalid('all signers must use the same "b64" value (RFC 7797 §3)');
  }
  // RFC 7797 §5.3: an unencoded payload is a JSON string; bytes that are not UTF-8 would be altered.
  if (signed[0]!.protectedHeader.b64 === false && typeof payload !== 'string' && !isUtf8(payload)) {
    throw new JwsInvalid('an unencoded ("b64": false) payload must be UTF-8 text unless detached');
  }
  return {
    payload: signed[0]!.payloadSegment,
    signatures: signed.map((s, i) => {
      const unprotectedHeader = signers[i]!.unprotectedHeader;
      const entry: GeneralJws['signatures'][number] = unprotectedHeader
        ? { protected: s.protectedSegment, header: { ...unprotectedHeader }, signature: s.signatureSegment }
        : { protected: s.protectedSegment, signature: s.signatureSegment };
      // RFC 7515 §7.2.1: "protected" MUST be absent when there is no protected header.
      if (s.protectedSegment === '') delete entry.protected;
      return entry;
    }),
  };
}
