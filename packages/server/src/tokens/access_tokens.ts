import { createVerifier, type JwtPayload, type KeySet, type Verifier } from '@tessera/jose';
import type { Config } from '../config.js';
import type { SigningKeys } from '../keys/signing_keys.js';
import type { Revocations } from '../revocation/revocations.js';
import type { User, Users } from '../store/users.js';

/** The claims of a Tessera access token: RFC 9068 plus `sid` (session) and `ver` (token version). */
export interface AccessTokenClaims extends JwtPayload {
  sub: string;
  client_id: string;
  scope: string;
  sid: string;
  ver: number;
  roles: string[];
  permissions: string[];
}

export class AccessTokenRejected extends Error {
  constructor(readonly reason: 'invalid' | 'revoked') {
    super(`access token ${reason}`);
    this.name = 'AccessTokenRejected';
  }
}

export interface AccessTokens {
  issue(
    user: User,
    session: { familyId: string; clientId: string; scope: string },
    audience: string | string[],
  ): { token: string; expiresIn: number };
  /**
   * The server's own check (userinfo, logout, introspection): signature with a published key, RFC 9068
   * `typ`, `iss`, `exp`; then the revocation list, and the user's current token version and status.
   */
  verify(token: string, audience?: string): Promise<{ claims: AccessTokenClaims; user: User }>;
}

export function createAccessTokens(
  config: Pick<Config, 'issuer' | 'signingAlg' | 'accessTokenTtl'>,
  keys: SigningKeys,
  revocations: Revocations,
  users: Users,
  clock: () => number = Date.now,
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
        requiredClaims: ['sub', 'jti', 'sid', 'ver', 'client_id'],
        clock,
      });
      verifiers.set(cacheKey, verifier);
    }
    return verifier;
  };

  return {
    issue(user, session, audience) {
      const token = keys.signer().sign({
        sub: user.id,
        aud: audience,
        client_id: session.clientId,
        scope: session.scope,
        sid: session.familyId,
        ver: user.tokenVersion,
        roles: user.roles,
        permissions: user.permissions,
      });
      return { token, expiresIn: config.accessTokenTtl };
    },
    async verify(token, audience) {
      let claims: AccessTokenClaims;
      try {
        claims = verifierFor(audience).verify(token).payload;
      } catch {
        throw new AccessTokenRejected('invalid');
      }
      if (revocations.isRevoked(claims)) throw new AccessTokenRejected('revoked');
      const user = await users.byId(claims.sub);
      if (!user || user.disabled || claims.ver < user.tokenVersion) throw new AccessTokenRejected('revoked');
      return { claims, user };
    },
  };
}
