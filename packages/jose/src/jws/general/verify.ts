import { isJoseError, JwsInvalid, JwsSignatureVerificationFailed } from '../../errors.js';
import { isJsonObject } from '../../lib/json.js';
import { createHeaderPolicy } from '../../lib/jws_header.js';
import { verifyJws } from '../../lib/jws_verify.js';
import type { VerificationKey } from '../../lib/key_input.js';
import {
  type FlattenedVerifyOptions,
  type FlattenedVerifyResult,
  signatureParts,
} from '../flattened/verify.js';
import type { GeneralJws } from './sign.js';

/** Default for {@link GeneralVerifyOptions.maxSignatures}. */
export const DEFAULT_MAX_SIGNATURES = 16;

export interface GeneralVerifyOptions extends FlattenedVerifyOptions {
  /**
   * Most signatures a General JWS may carry (default 16). Signatures are tried in turn, each costing
   * a verification, so a JWS over the limit is refused with `ERR_JWS_INVALID` before any
   * cryptography.
   */
  maxSignatures?: number;
}
export type GeneralVerifyResult = FlattenedVerifyResult;

/**
 * Verifies a General JWS JSON Serialization (RFC 7515 §7.2.1): succeeds with the first signature
 * that verifies under an allowed algorithm and a matching key. Signatures the caller cannot check
 * (algorithm not allowed, no matching key) are skipped; when none verifies, the result is
 * `ERR_JWS_SIGNATURE_VERIFICATION_FAILED`. At most `maxSignatures` signatures (default 16) are
 * accepted.
 *
 * @example
 * ```ts
 * const { payload, protectedHeader } = await generalVerify(jws, jwks, { algorithms: ['ES256', 'RS256'] });
 * ```
 */
export async function generalVerify(
  jws: GeneralJws,
  key: VerificationKey,
  options: GeneralVerifyOptions,
): Promise<GeneralVerifyResult> {
  const policy = createHeaderPolicy(options);
  const maxSignatures = options.maxSignatures ?? DEFAULT_MAX_SIGNATURES;
  if (!Number.isInteger(maxSignatures) || maxSignatures < 1) {
    throw new TypeError('options.maxSignatures must be a positive integer');
  }
  if (!isJsonObject(jws)) throw new JwsInvalid('a general JWS must be a JSON object');
  if (!Array.isArray(jws.signatures) || jws.signatures.length === 0) {
    throw new JwsInvalid('a general JWS needs a non-empty "signatures" array');
  }
  // RFC 7515 §7.2.1 sets no bound; the verifier does, before any signature is checked.
  if (jws.signatures.length > maxSignatures) {
    throw new JwsInvalid(`the JWS has more than ${maxSignatures} signatures (options.maxSignatures)`);
  }
  for (const signature of jws.signatures) {
    if (!isJsonObject(signature)) throw new JwsInvalid('each JWS signature must be an object');
    try {
      const parts = signatureParts(signature, jws.payload, options.payload !== undefined);
      const verified = await verifyJws(parts, key, policy, options.payload);
      return {
        payload: verified.payload,
        protectedHeader: verified.protectedHeader,
        unprotectedHeader: signature.header,
        key: verified.key,
      };
    } catch (err) {
      // Malformed input is the sender's error, whichever signature carries it; anything else moves on.
      if (isJoseError(err, 'ERR_JWS_INVALID')) throw err;
      if (!isJoseError(err)) throw err;
    }
  }
  throw new JwsSignatureVerificationFailed();
}
