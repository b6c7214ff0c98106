import { createHash } from 'node:crypto';
import { JwtExpired, type KeySet, type Signer, verifyJwt } from '@tessera/jose';
import type { User } from '../store/users.js';

/** The hash of each JWS algorithm (RFC 7518 §3.1), for `at_hash` (OIDC Core §3.1.3.6). */
const HASH_OF: Readonly<Record<string, string>> = {
  RS256: 'sha256',
  PS256: 'sha256',
  ES256: 'sha256',
  RS384: 'sha384',
  PS384: 'sha384',
  ES384: 'sha384',
  RS512: 'sha512',
  PS512: 'sha512',
  ES512: 'sha512',
  // OIDC Core predates EdDSA; the OpenID Foundation's errata and every major provider use SHA-512.
  EdDSA: 'sha512',
};

/**
 * OIDC Core §3.1.3.6: the base64url of the left half of the hash of the access token's ASCII bytes,
 * with the hash of the ID token's own algorithm.
 */
export function accessTokenHash(accessToken: string, alg: string): string {
  const hash = HASH_OF[alg];
  if (!hash) throw new Error(`no at_hash hash for ${alg}`);
  const digest = createHash(hash).update(accessToken, 'ascii').digest();
  return digest.subarray(0, digest.length / 2).toString('base64url');
}

export interface IdTokenRequest {
  user: User;
  clientId: string;
  /** The session (`sid`): the same value as the access tokens' `sid`, so one logout ends both. */
  sid: string;
  /** Milliseconds; OIDC Core §2 wants seconds, converted here. */
  authTime: number;
  amr: readonly string[];
  acr: string;
  /** Repeated from the authorization request (OIDC Core §3.1.2.1); never on refresh (§12.2). */
  nonce: string | undefined;
  /** The access token issued beside it, for `at_hash`. */
  accessToken: string | undefined;
  /** Profile claims the granted scopes allow (OIDC Core §5.4), and the deployment's own. */
  claims: Record<string, unknown>;
}

export interface IdTokens {
  issue(request: IdTokenRequest): string;
  /**
   * The subject of an ID token this server issued, expired or not (an `id_token_hint`, OIDC Core
   * §3.1.2.1: a hint is usually an old token), or undefined when it is not one of ours.
   */
  subjectOfHint(token: string): Promise<string | undefined>;
}

/**
 * ID tokens (OIDC Core §2): for the client (`aud` and `azp` its client_id), signed by the ID-token key
 * (RS256 by default: OIDC Discovery §3 requires every provider to support it), typed `JWT`, never
 * `at+jwt`, so no API accepts one as an access token (RFC 8725 §3.11).
 */
export function createIdTokens(
  signer: () => Signer,
  published: () => KeySet,
  config: { idTokenTtl: number; idTokenSigningAlg: string; issuer: string },
  clock: () => number = Date.now,
): IdTokens {
  return {
    async subjectOfHint(token) {
      const options = {
        algorithms: [config.idTokenSigningAlg],
        issuer: config.issuer,
        typ: 'JWT',
        currentDate: new Date(clock()),
      };
      try {
        const { payload } = await verifyJwt(token, published(), options);
        return typeof payload.sub === 'string' ? payload.sub : undefined;
      } catch (err) {
        // Expired is fine for a hint: the signature and issuer were checked before the expiry was.
        if (err instanceof JwtExpired && typeof err.payload?.sub === 'string') return err.payload.sub;
        return undefined;
      }
    },
    issue(request) {
      const now = Math.floor(clock() / 1000);
      const current = signer();
      return current.sign({
        ...request.claims,
        sub: request.user.id,
        aud: request.clientId,
        azp: request.clientId,
        iat: now,
        exp: now + config.idTokenTtl,
        auth_time: Math.floor(request.authTime / 1000),
        sid: request.sid,
        amr: [...request.amr],
        acr: request.acr,
        ...(request.nonce !== undefined ? { nonce: request.nonce } : {}),
        ...(request.accessToken !== undefined
          ? { at_hash: accessTokenHash(request.accessToken, current.alg) }
          : {}),
      });
    },
  };
}
