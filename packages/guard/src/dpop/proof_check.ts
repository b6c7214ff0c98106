import { type JwsAlgorithm, verifyDpopProof } from '@tessera/jose';
import { type GuardErrors, RETRY_AFTER } from '../errors.js';
import type { ResolvedDpop } from './options.js';
import {
  createMemoryReplayCache,
  createRedisReplayCache,
  type ReplayCache,
  ReplayCacheUnavailable,
} from './replay_cache.js';
import { dpopProofOf, headerReader } from './request_headers.js';
import { requestMethod, requestUri } from './request_uri.js';

export interface ProofCheck {
  /**
   * RFC 9449 §7.1: the request's DPoP proof for `accessToken`, bound to the key `jkt` (the token's
   * `cnf.jkt`). Returns nothing when the proof holds (a promise of nothing when the replay cache is
   * in Redis); throws (or rejects with) a GuardError: 401 `invalid_dpop_proof`, or 503 when the
   * replay cache cannot answer.
   */
  check(request: object, accessToken: string, jkt: string): void | Promise<void>;
  close(): Promise<void>;
}

export function createProofCheck(dpop: ResolvedDpop, errors: GuardErrors, clock: () => number): ProofCheck {
  const algorithms = dpop.algorithms as readonly JwsAlgorithm[];
  const { maxAge, clockTolerance } = dpop;
  const replay: ReplayCache | undefined =
    dpop.replay.mode === 'memory'
      ? createMemoryReplayCache((maxAge + 2 * clockTolerance) * 1000, dpop.replay.maxEntries, clock)
      : dpop.replay.mode === 'redis'
        ? createRedisReplayCache(dpop.replay.redis, dpop.replay.prefix)
        : undefined;

  function replayed(): never {
    throw errors.invalidDpopProof('the DPoP proof was used before (jti replay, RFC 9449 §11.1)');
  }

  function unavailable(err: unknown): never {
    if (!(err instanceof ReplayCacheUnavailable)) throw err;
    throw errors.unavailable(
      `DPoP proofs cannot be checked for replay: ${err.message}`,
      RETRY_AFTER.revocations,
      err,
    );
  }

  return {
    check(request, accessToken, jkt) {
      // §4.3 points 1 and 2: exactly one DPoP header holding one JWT.
      const proof = dpopProofOf(request, errors);
      const htm = requestMethod(request);
      const htu = requestUri(request, dpop, headerReader(request));
      if (htm === undefined || htu === undefined)
        throw errors.invalidDpopProof(
          'the request object gives no method or URL to check the DPoP proof against (pass the framework request, a node:http request or a Fetch Request)',
        );
      let verified: { jti: string; iat: number };
      try {
        // §4.3 points 3–12, §7.1: htm, htu, ath of this token, the key the token is bound to, iat.
        verified = verifyDpopProof(proof, {
          htm,
          htu,
          algorithms,
          accessToken,
          jkt,
          maxAge,
          clockTolerance,
          currentDate: new Date(clock()),
        });
      } catch (err) {
        if (err instanceof TypeError)
          // The request's own URL is not one (a Host header that makes no URL): not the proof's fault,
          // but nothing it could match either.
          throw errors.invalidDpopProof(`the request URL cannot be compared with htu: ${err.message}`, err);
        const reason = (err as { reason?: unknown }).reason;
        throw errors.invalidDpopProof(
          `DPoP proof refused (${typeof reason === 'string' ? reason : 'invalid'}): ${(err as Error).message}`,
          err,
        );
      }
      if (replay === undefined) return;
      // §11.1: remembered until iat leaves the window, after which the proof is refused anyway.
      const expiresAtMs = (verified.iat + maxAge + clockTolerance) * 1000;
      let first: boolean | Promise<boolean>;
      try {
        first = replay.firstUse(jkt, verified.jti, expiresAtMs);
      } catch (err) {
        unavailable(err);
      }
      if (first === true) return;
      if (first === false) replayed();
      return first.then((answer) => {
        if (!answer) replayed();
      }, unavailable);
    },
    close: () => replay?.close() ?? Promise.resolve(),
  };
}
