import { createSigner, type Key, type Signer } from '@tessera/jose';

/** BCL 1.0 §2.4: the `events` member that makes a JWT a logout token. */
export const BACKCHANNEL_LOGOUT_EVENT = 'http://schemas.openid.net/event/backchannel-logout';

/**
 * How long a logout token is good for, in seconds. BCL §2.4 asks for a short life: it is made for
 * one POST, just before it (each attempt signs a new one), so two minutes cover any clock skew.
 */
export const LOGOUT_TOKEN_TTL = 120;

export interface LogoutTokenRequest {
  /** `aud`: the client told. */
  clientId: string;
  /** `sub`: the user, as in the client's ID tokens. */
  sub: string;
  /** `sid`: the session, as in the client's ID tokens (the refresh-token family id). */
  sid: string;
}

export interface LogoutTokens {
  issue(request: LogoutTokenRequest): string;
}

/**
 * Logout tokens (OpenID Connect Back-Channel Logout 1.0 §2.4), signed like the client's ID tokens —
 * the same key and algorithm, so the client verifies them with what it already trusts — but typed
 * `logout+jwt` (§2.4, RFC 8725 §3.11), so neither can pass for the other. Claims: iss, aud, iat, exp,
 * a fresh `jti`, the `events` member, `sub` and `sid` (always: the session ended is one of ours, and
 * discovery says `backchannel_logout_session_supported`), and never a `nonce` (§2.4: it would let a
 * logout token pass as an ID token).
 */
export function createLogoutTokens(
  idTokenSigner: () => Signer,
  config: { issuer: string },
  clock: () => number = Date.now,
): LogoutTokens {
  // One prepared signer per ID-token key: made once when the key is first used, dropped with it.
  const signers = new WeakMap<Key, Signer>();
  const signerFor = (idSigner: Signer): Signer => {
    let signer = signers.get(idSigner.key);
    if (!signer) {
      signer = createSigner({
        key: idSigner.key,
        alg: idSigner.alg,
        ...(idSigner.kid !== undefined ? { kid: idSigner.kid } : {}),
        typ: 'logout+jwt',
        issuer: config.issuer,
        expiresIn: LOGOUT_TOKEN_TTL,
        jti: true,
        clock,
      });
      signers.set(idSigner.key, signer);
    }
    return signer;
  };
  return {
    issue({ clientId, sub, sid }) {
      return signerFor(idTokenSigner()).sign({
        aud: clientId,
        sub,
        sid,
        events: { [BACKCHANNEL_LOGOUT_EVENT]: {} },
      });
    },
  };
}
