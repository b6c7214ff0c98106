import {
  compactEncrypt,
  createVerifier,
  decodeJwtUnverified,
  importJwk,
  type Jwk,
  type JwtPayload,
  type Key,
  type KeySet,
  type Verifier,
} from '@tessera/jose';
import type { Config } from '../config.js';
import type { SigningKeys } from '../keys/signing_keys.js';
import type { Revocations } from '../revocation/revocations.js';
import { RESOURCE_KEY_ALGS } from '../store/resources.js';
import type { User, Users } from '../store/users.js';
import type { AccessTokenLifetimes } from './lifetimes.js';

/**
 * What one access token is issued for. A user's token carries the session (`sid`) and the user's
 * token version (`ver`), the revocation handles; a client's own token (client_credentials) has
 * `sub` = client_id and neither (it is revoked by `jti`, and lives briefly).
 */
export interface AccessTokenRequest {
  user: User | undefined;
  clientId: string;
  scope: string;
  sid?: string;
  audience: string | string[];
  /** Seconds (tokens/client_lifetimes.ts). */
  ttl: number;
  /** The resource's public key, for a resource whose tokens are encrypted (format `jwe`). */
  encryptTo?: Jwk;
  /** The deployment's own claims (tokens/extra_claims.ts), already checked. */
  extra?: Record<string, unknown>;
  /** RFC 9449 §6.1: the thumbprint of the DPoP key the token is bound to (`cnf.jkt`). */
  jkt?: string;
  /**
   * RFC 8693 §4.1 `act`: who acts for the subject (an exchanged token). The session (`sid`) may then
   * be the actor's: an admin's logout ends the impersonation it began.
   */
  act?: ActorClaim;
}

/** RFC 8693 §4.1: the acting party, and (nested) the one it acted for before. */
export interface ActorClaim {
  sub: string;
  client_id?: string;
  act?: ActorClaim;
}

/** The claims of a Tessera access token: RFC 9068 plus `sid` (session) and `ver` (token version). */
export interface AccessTokenClaims extends JwtPayload {
  sub: string;
  client_id: string;
  scope: string;
  /** Absent from a client's own token (client_credentials), as are `ver`, `roles` and `permissions`. */
  sid?: string;
  ver?: number;
  roles?: string[];
  permissions?: string[];
  /** RFC 9449 §6.1 (RFC 7800): a DPoP-bound token names its key's SHA-256 thumbprint. */
  cnf?: { jkt: string };
  /** RFC 8693 §4.1: an exchanged token's actor chain. */
  act?: ActorClaim;
  /** RFC 8693 §4.4: who may act for the subject (from the deployment's extraClaims hook). */
  may_act?: unknown;
}

export class AccessTokenRejected extends Error {
  constructor(readonly reason: 'invalid' | 'revoked') {
    super(`access token ${reason}`);
    this.name = 'AccessTokenRejected';
  }
}

export interface AccessTokens {
  /** `jti` and `exp` (seconds) of the signed token, for callers that record what they issued. */
  issue(request: AccessTokenRequest): { token: string; expiresIn: number; jti: string; exp: number };
  /**
   * The server's own check (userinfo, logout, introspection): signature with a published key, RFC 9068
   * `typ`, `iss`, `exp`; then the revocation list, and for a user's token the user's current token
   * version and status. A client's own token (client_credentials) comes back with `user` undefined.
   */
  verify(token: string, audience?: string): Promise<{ claims: AccessTokenClaims; user: User | undefined }>;
}

export function createAccessTokens(
  config: Pick<Config, 'issuer' | 'signingAlg' | 'accessTokenTtl'>,
  keys: SigningKeys,
  revocations: Revocations,
  users: Users,
  clock: () => number = Date.now,
  lifetimes?: Pick<AccessTokenLifetimes, 'issued'>,
): AccessTokens {
  // The published set changes on rotation: resolve through the key store each time.
  const published: KeySet = {
    select: (header) => keys.jwks().select(header),
    resolve: async (header) => keys.jwks().select(header),
  };
  const verifiers = new Map<string, Verifier<AccessTokenClaims>>();
  const verifierFor = (audience: string | undefined) => {
    const cacheKey = audience ?? '';
    let verifier = verifiers.get(cacheKey);
    if (!verifier) {
      verifier = createVerifier<AccessTokenClaims>({
        key: published,
        algorithms: [config.signingAlg],
        issuer: config.issuer,
        audience,
        typ: 'at+jwt',
        requiredClaims: ['sub', 'jti', 'client_id'],
        clock,
      });
      verifiers.set(cacheKey, verifier);
    }
    return verifier;
  };

  return {
    issue(request) {
      const now = Math.floor(clock() / 1000);
      const { user } = request;
      const signed = keys.signer().sign({
        ...request.extra,
        sub: user ? user.id : request.clientId,
        aud: request.audience,
        client_id: request.clientId,
        scope: request.scope,
        ...(user ? { sid: request.sid, ver: user.tokenVersion } : {}),
        ...(user ? { roles: user.roles, permissions: user.permissions } : {}),
        ...(request.jkt !== undefined ? { cnf: { jkt: request.jkt } } : {}),
        ...(request.act !== undefined ? { act: request.act } : {}),
        iat: now,
        exp: now + request.ttl,
      });
      // A lifetime longer than any noted counts at once (revocation entries and retired keys outlive it).
      lifetimes?.issued(request.ttl);
      const token = request.encryptTo ? encryptFor(request.encryptTo, signed) : signed;
      return { token, expiresIn: request.ttl, jti: decodeJwtUnverified(signed).jti!, exp: now + request.ttl };
    },
    async verify(token, audience) {
      let claims: AccessTokenClaims;
      try {
        claims = verifierFor(audience).verify(token).payload;
      } catch {
        throw new AccessTokenRejected('invalid');
      }
      if (revocations.isRevoked(claims)) throw new AccessTokenRejected('revoked');
      // RFC 9449 §6.1: `cnf` here is only ever `{ jkt }`; anything else is not a token of ours.
      if (claims.cnf !== undefined && typeof claims.cnf?.jkt !== 'string')
        throw new AccessTokenRejected('invalid');
      // A client's own token: no session, no version, `sub` is the client (RFC 6749 §4.4).
      if (claims.sid === undefined && claims.ver === undefined) {
        if (claims.sub !== claims.client_id) throw new AccessTokenRejected('invalid');
        return { claims, user: undefined };
      }
      if (typeof claims.sid !== 'string' || typeof claims.ver !== 'number')
        throw new AccessTokenRejected('invalid');
      const user = await users.byId(claims.sub);
      if (!user || user.disabled || claims.ver < user.tokenVersion) throw new AccessTokenRejected('revoked');
      return { claims, user };
    },
  };
}

/** Imported resource keys, by their JWK text: a resource's key is parsed once, not per token. */
const encryptionKeys = new Map<string, Key>();

/**
 * RFC 7519 §11.2 nested JWT: the signed token, encrypted to the resource's key. The outer header says
 * `cty: "JWT"` (§5.2) so the resource knows to verify what it decrypts.
 */
function encryptFor(jwk: Jwk, signed: string): string {
  const text = JSON.stringify(jwk);
  let key = encryptionKeys.get(text);
  const alg = RESOURCE_KEY_ALGS[jwk.kty]!;
  if (!key) {
    key = importJwk({ ...jwk, alg });
    if (encryptionKeys.size > 1_000) encryptionKeys.clear();
    encryptionKeys.set(text, key);
  }
  return compactEncrypt(signed, key, {
    protectedHeader: { alg, enc: 'A256GCM', cty: 'JWT', ...(jwk.kid ? { kid: jwk.kid } : {}) },
  });
}
