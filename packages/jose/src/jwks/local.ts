import { isJoseError, JwksInvalid } from '../errors.js';
import { exportJwk } from '../key/export.js';
import { importJwk, type Jwk } from '../key/import.js';
import type { Key } from '../key/key.js';
import { isJsonObject } from '../lib/json.js';
import type { JwsHeaderParameters } from '../lib/jws_header.js';
import { type KeySet, receivingOperation } from '../lib/key_input.js';

/** A JSON Web Key Set (RFC 7517 §5). */
export interface JsonWebKeySet {
  keys: Jwk[];
}

/** A key of the set that was left out, and why (unsupported type, too weak, malformed). */
export interface SkippedKey {
  readonly kid: string | undefined;
  readonly reason: string;
}

/** A key set held in memory. */
export interface LocalJwks extends KeySet {
  /** The keys that were imported. */
  readonly keys: readonly Key[];
  /** The keys that were left out, with the reason. */
  readonly skipped: readonly SkippedKey[];
  /**
   * The publishable JWKS: the public members of every asymmetric key. Private members are never
   * included, and secret keys (HMAC, AES) are left out entirely, since a secret has no public part;
   * a set of secrets therefore serializes as `{ "keys": [] }`. `JSON.stringify(jwks)` calls this, so
   * logging or serving the set can never leak a secret.
   */
  toJSON(): JsonWebKeySet;
}

/**
 * A key set from a JWKS document. Keys are chosen for a token by `kid` (when the token has one),
 * `alg`, `kty`, `crv`, `use` and `key_ops`; the token's `jwk`, `jku`, `x5u` and `x5c` headers are
 * ignored. Keys this library cannot use (unknown `kty` or curve, RSA under 2048 bits, malformed)
 * are skipped and listed in `skipped`. Two rules keep the choice unambiguous, and break them and
 * the whole set is refused: `kid`s are unique, and secret keys are never mixed with public-key
 * material (a set that mixes them invites key confusion).
 *
 * @example
 * ```ts
 * const jwks = createLocalJwks(JSON.parse(fs.readFileSync('jwks.json', 'utf8')));
 * const { payload } = await verifyJwt(token, jwks, { algorithms: ['ES256', 'RS256'] });
 * ```
 */
export function createLocalJwks(jwks: JsonWebKeySet): LocalJwks {
  const { keys, skipped } = importKeySet(jwks);
  return {
    keys,
    skipped,
    select: (header) => selectKeys(keys, header),
    resolve: async (header) => selectKeys(keys, header),
    // Secrets are omitted, never published: their `k` is the key itself.
    toJSON: () => ({
      keys: keys.filter((key) => key.type !== 'secret').map((key) => exportJwk(key, { public: true })),
    }),
  };
}

/** Imports every key of a JWKS document, applying the set-level rules. Shared with the remote set. */
export function importKeySet(jwks: unknown): { keys: Key[]; skipped: SkippedKey[] } {
  if (!isJsonObject(jwks) || !Array.isArray(jwks.keys))
    throw new JwksInvalid('a JWKS must be an object with a "keys" array');
  const keys: Key[] = [];
  const skipped: SkippedKey[] = [];
  const kids = new Set<string>();
  for (const jwk of jwks.keys as unknown[]) {
    if (!isJsonObject(jwk)) throw new JwksInvalid('every member of "keys" must be a JWK object');
    const kid = typeof jwk.kid === 'string' ? jwk.kid : undefined;
    if (kid !== undefined) {
      if (kids.has(kid))
        throw new JwksInvalid(`the JWKS has more than one key with "kid" ${JSON.stringify(kid)}`);
      kids.add(kid);
    }
    try {
      keys.push(importJwk(jwk));
    } catch (err) {
      if (!isJoseError(err)) throw err;
      skipped.push({ kid, reason: err.message });
    }
  }
  const secrets = keys.filter((key) => key.type === 'secret').length;
  if (secrets > 0 && secrets < keys.length) {
    throw new JwksInvalid('the JWKS mixes secret and public keys; keep HMAC secrets in a set of their own');
  }
  return { keys, skipped };
}

/** The keys that may verify a token with this header. */
export function selectKeys(keys: readonly Key[], header: JwsHeaderParameters): Key[] {
  const { alg, kid } = header;
  const found: Key[] = [];
  for (const key of keys) {
    if (kid !== undefined && key.kid !== kid) continue;
    if (alg !== undefined && !key.canServe(alg, receivingOperation(alg))) continue;
    found.push(key);
  }
  return found;
}
