import { compactVerify, decodeProtectedHeader, importJwk, type Jwk } from '@tessera/jose';
import type { Config } from '../config.js';
import type { Db } from '../store/database.js';

/** What an `id_token_hint` tells the end-session endpoint once it is known to be one of ours. */
export interface IdTokenHint {
  /** The user the ID token was issued about. */
  sub: string;
  /** The clients it was issued to (`aud`, always an array here). */
  aud: string[];
  /** The authorized party, when the token names one. */
  azp: string | undefined;
  /** The session (refresh-token family) it was issued in. */
  sid: string | undefined;
}

/** An `id_token_hint` that is not an ID token this server issued. The reason never quotes the token. */
export class InvalidIdTokenHint extends Error {
  constructor(reason: string) {
    super(`id_token_hint refused: ${reason}`);
    this.name = 'InvalidIdTokenHint';
  }
}

/** Longer than any ID token we sign (an RSA-4096 signature and every profile claim fit well inside). */
const MAX_HINT_LENGTH = 8192;

/**
 * Checks an `id_token_hint` (OIDC RP-Initiated Logout 1.0 §2): an ID token this server signed, for
 * the end-session endpoint to learn whose session the client asks to end.
 *
 * The key is looked up by `kid` among every signing key the store still holds of the ID-token
 * algorithm — next, current and retired, including a retired key past its publication (no longer in
 * the JWKS but not yet deleted) — because a hint is usually an old token. A `revoked` key is never
 * used: it was withdrawn as compromised, so anything it signed may be forged. Read from the store on
 * every call (no cache), so a key revoked by another process is refused at once.
 *
 * §2: the OP should accept a hint whose `exp` has passed, so `exp`, `nbf` and `iat` are not checked;
 * everything else an ID token is (OIDC Core §3.1.3.7: signature, `iss`, an `aud`) is, and `typ` must
 * be `JWT` so that an access token (`at+jwt`, signed by the same key when the algorithms are the
 * same) is never taken for one (RFC 8725 §3.11).
 */
export async function verifyIdTokenHint(
  db: Db,
  config: Pick<Config, 'issuer' | 'idTokenSigningAlg'>,
  token: string,
): Promise<IdTokenHint> {
  if (token.length > MAX_HINT_LENGTH) throw new InvalidIdTokenHint('too long');
  let kid: unknown;
  try {
    kid = decodeProtectedHeader(token).kid;
  } catch {
    throw new InvalidIdTokenHint('not a signed JWT');
  }
  if (typeof kid !== 'string' || kid === '') throw new InvalidIdTokenHint('no kid');
  const row = await db
    .selectFrom('signing_keys')
    .select(['alg', 'state', 'public_jwk'])
    .where('kid', '=', kid)
    .where('alg', '=', config.idTokenSigningAlg)
    .where('state', '!=', 'revoked')
    .executeTakeFirst();
  if (!row) throw new InvalidIdTokenHint('not signed by an ID-token key of this server');
  let payload: Record<string, unknown>;
  try {
    const key = importJwk(JSON.parse(row.public_jwk) as Jwk);
    const verified = await compactVerify(token, key, {
      algorithms: [row.alg],
      maxTokenLength: MAX_HINT_LENGTH,
    });
    if (verified.protectedHeader.typ !== 'JWT') throw new InvalidIdTokenHint('not typed JWT');
    payload = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(verified.payload)) as Record<
      string,
      unknown
    >;
  } catch (err) {
    if (err instanceof InvalidIdTokenHint) throw err;
    throw new InvalidIdTokenHint('the signature does not verify');
  }
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload))
    throw new InvalidIdTokenHint('the payload is not a JSON object');
  if (payload.iss !== config.issuer) throw new InvalidIdTokenHint('issued by another issuer');
  const { sub, azp, sid } = payload;
  if (typeof sub !== 'string' || sub === '') throw new InvalidIdTokenHint('no sub');
  const aud = typeof payload.aud === 'string' ? [payload.aud] : payload.aud;
  if (!Array.isArray(aud) || aud.length === 0 || !aud.every((a) => typeof a === 'string' && a !== ''))
    throw new InvalidIdTokenHint('no aud');
  if (azp !== undefined && (typeof azp !== 'string' || !aud.includes(azp)))
    throw new InvalidIdTokenHint('azp is not among the audiences');
  if (sid !== undefined && (typeof sid !== 'string' || sid === '')) throw new InvalidIdTokenHint('bad sid');
  return { sub, aud: aud as string[], azp: azp as string | undefined, sid: sid as string | undefined };
}
