import { DpopProofInvalid, type JwsAlgorithm, verifyDpopProof } from '@tessera/jose';
import type { Config } from '../../config.js';
import type { ReplayCache } from '../../shared/replay_cache.js';
import { createDpopNonces, type DpopNonces } from './nonces.js';

/** RFC 9449 §4.1: the request header that carries the proof. */
export const DPOP_HEADER = 'DPoP';
/**
 * RFC 9449 §8.1: the response header that carries a server nonce. Browsers read it only when CORS
 * exposes it (`Access-Control-Expose-Headers`), which http/cors.ts does with this name.
 */
export const DPOP_NONCE_HEADER = 'DPoP-Nonce';

/**
 * The proof algorithms accepted (RFC 9449 §5.1 `dpop_signing_alg_values_supported`): the asymmetric
 * ones @tessera/jose verifies that clients can also make with WebCrypto or common libraries. Never
 * `none` nor HMAC (§4.3 point 5).
 */
export const DPOP_SIGNING_ALGORITHMS: readonly JwsAlgorithm[] = [
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
  'Ed25519',
  'PS256',
  'PS384',
  'PS512',
  'RS256',
  'RS384',
  'RS512',
];

/**
 * RFC 9449 §4.3 point 11, §11.1: how old a proof's `iat` may be, and how far ahead of this server's
 * clock. Proofs are made for one request and sent at once; two minutes leave room for a slow network,
 * and the replay cache remembers each `jti` for as long.
 */
export const DPOP_PROOF_MAX_AGE_SECONDS = 120;
export const DPOP_CLOCK_TOLERANCE_SECONDS = 5;

/** A proof that passed every check: the key it was signed with (RFC 7638 thumbprint, RFC 9449 §6.1). */
export interface DpopProof {
  jkt: string;
}

/**
 * Why a proof was refused, as the wire says it: `invalid_dpop_proof` (RFC 9449 §5, §7.1) or
 * `use_dpop_nonce` (§8, §9). The message names the check, never the proof or the key.
 */
export class DpopRefused extends Error {
  constructor(
    readonly error: 'invalid_dpop_proof' | 'use_dpop_nonce',
    message: string,
  ) {
    super(message);
    this.name = 'DpopRefused';
  }
}

export interface DpopProofCheck {
  /** The request's method (`htm`). */
  htm: string;
  /** The endpoint's path under the issuer: `htu` is the issuer's URL with it (the public URL). */
  path: string;
  /** At a protected resource: the access token the proof must hash (`ath`) and its key (`cnf.jkt`). */
  accessToken?: string;
  jkt?: string;
  /** Whether a server nonce is required (the token endpoint and `/login`, with `dpopNonce` on). */
  nonce: boolean;
}

export interface DpopProofs {
  /** Server nonces; undefined with `dpopNonce` off. */
  readonly nonces: DpopNonces | undefined;
  /** Where each proof's `jti` is remembered (RFC 9449 §11.1). */
  readonly replayCache: ReplayCache;
  /**
   * Every RFC 9449 §4.3 check of the request's `DPoP` header: one header (point 1), the proof's
   * syntax, header and signature (2–7), `htm`, `htu` (8–9), `ath` and the key (10), `nonce` and
   * `iat` (11), then the `jti` replay cache (§11.1), last, so only a proof that passed everything uses
   * up its `jti`. Undefined when the request has no `DPoP` header. Throws {@link DpopRefused}, or
   * ReplayCacheUnavailable when it cannot tell whether the `jti` was seen (refuse: 503).
   */
  check(header: string | string[] | undefined, check: DpopProofCheck): Promise<DpopProof | undefined>;
}

export function createDpopProofs(
  config: Pick<Config, 'issuer' | 'dpopNonce'>,
  masterKey: Buffer,
  replayCache: ReplayCache,
  clock: () => number,
): DpopProofs {
  const nonces = config.dpopNonce ? createDpopNonces(masterKey, clock) : undefined;
  const isFresh = (nonce: string | undefined) => nonces!.isFresh(nonce);
  return {
    nonces,
    replayCache,
    async check(header, check) {
      if (header === undefined) return undefined;
      // RFC 9449 §4.3 point 1: exactly one header. Node joins repeated headers with ", ", and a
      // compact JWS never holds a comma or a space.
      if (Array.isArray(header) || /[,\s]/.test(header) || header === '')
        throw new DpopRefused('invalid_dpop_proof', 'send exactly one DPoP proof in one DPoP header');
      let verified: ReturnType<typeof verifyDpopProof>;
      try {
        verified = verifyDpopProof(header, {
          htm: check.htm,
          htu: `${config.issuer}${check.path}`,
          algorithms: DPOP_SIGNING_ALGORITHMS,
          ...(check.accessToken !== undefined ? { accessToken: check.accessToken } : {}),
          ...(check.jkt !== undefined ? { jkt: check.jkt } : {}),
          ...(check.nonce && nonces ? { nonce: isFresh } : {}),
          maxAge: DPOP_PROOF_MAX_AGE_SECONDS,
          clockTolerance: DPOP_CLOCK_TOLERANCE_SECONDS,
          currentDate: new Date(clock()),
        });
      } catch (err) {
        if (!(err instanceof DpopProofInvalid)) throw err;
        // RFC 9449 §8: a missing or stale nonce in an otherwise good proof asks for a retry.
        if (err.reason === 'nonce')
          throw new DpopRefused('use_dpop_nonce', 'the DPoP proof needs a fresh server nonce');
        throw new DpopRefused('invalid_dpop_proof', err.message);
      }
      // RFC 9449 §11.1: each proof is used once. Remembered per key for as long as its `iat` is accepted:
      // the window includes its last millisecond and the cache forgets an id at `expiresAt`, hence + 1.
      const expiresAt = (verified.iat + DPOP_PROOF_MAX_AGE_SECONDS + DPOP_CLOCK_TOLERANCE_SECONDS) * 1000 + 1;
      if (!(await replayCache.firstUse(`dpop:${verified.jkt}`, verified.jti, expiresAt)))
        throw new DpopRefused('invalid_dpop_proof', 'the DPoP proof was already used (its jti is known)');
      return { jkt: verified.jkt };
    },
  };
}
