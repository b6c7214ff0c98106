import type { Key } from '../../key/key.js';
import { type AlgorithmOptions, createHeaderPolicy, type JwsHeaderParameters } from '../../lib/jws_header.js';
import { DEFAULT_MAX_TOKEN_LENGTH, splitCompact, verifyJws } from '../../lib/jws_verify.js';
import type { VerificationKey } from '../../lib/key_input.js';

export interface CompactVerifyOptions extends AlgorithmOptions {
  /** The payload of a detached JWS (RFC 7515 Appendix F), whose middle part is empty. */
  payload?: Uint8Array | string;
  /** Longest token accepted, in characters (default 16384). */
  maxTokenLength?: number;
}

export interface CompactVerifyResult {
  payload: Uint8Array;
  protectedHeader: JwsHeaderParameters;
  key: Key;
}

/**
 * Verifies a JWS Compact Serialization (RFC 7515 §5.2) and returns its payload bytes.
 *
 * @example
 * ```ts
 * const { payload, protectedHeader } = await compactVerify(jws, publicKey, { algorithms: ['ES256'] });
 * new TextDecoder().decode(payload); // 'hello'
 * ```
 */
export async function compactVerify(
  jws: string,
  key: VerificationKey,
  options: CompactVerifyOptions,
): Promise<CompactVerifyResult> {
  const policy = createHeaderPolicy(options);
  const parts = splitCompact(jws, options.maxTokenLength ?? DEFAULT_MAX_TOKEN_LENGTH);
  const verified = await verifyJws(parts, key, policy, options.payload);
  return { payload: verified.payload, protectedHeader: verified.header, key: verified.key };
}
