import { JoseNotSupported } from '../errors.js';
import type { Jwk } from './import.js';
import type { Key } from './key.js';

export interface ExportJwkOptions {
  /** Export only the public members, even of a private key (default `false`). */
  public?: boolean;
}

/**
 * Exports a key as a JWK, with its `alg`, `kid`, `use` and `key_ops` when it has them. A private key
 * exports its private members unless `{ public: true }` is passed; a secret exports `k`, and asking
 * for the public part of a secret is a `TypeError`. RSASSA-PSS (`rsa-pss`) keys have no JWK form in
 * node:crypto (`ERR_JOSE_NOT_SUPPORTED`): use {@link exportPem}.
 *
 * @example
 * ```ts
 * const jwk = exportJwk(privateKey, { public: true }); // publish in a JWKS
 * ```
 */
export function exportJwk(key: Key, options: ExportJwkOptions = {}): Jwk {
  const keyObject = options.public ? key.verificationKey : key.keyObject;
  if (keyObject.type === 'secret' && options.public) {
    throw new TypeError(
      'exportJwk: a secret key has no public part, so { public: true } cannot apply to it (export it without the option to get its "k", which is the secret itself)',
    );
  }
  if (keyObject.asymmetricKeyType === 'rsa-pss') {
    throw new JoseNotSupported('an RSASSA-PSS key has no JWK form in node:crypto; use exportPem');
  }
  const material = keyObject.export({ format: 'jwk' }) as Jwk;
  const jwk: Jwk = { ...material };
  if (key.kid !== undefined) jwk.kid = key.kid;
  if (key.alg !== undefined) jwk.alg = key.alg;
  if (key.use !== undefined) jwk.use = key.use;
  if (key.keyOps !== undefined) jwk.key_ops = [...key.keyOps];
  return jwk;
}

/**
 * Exports a key as PEM: SPKI for public keys (or `{ public: true }`), PKCS #8 for private keys.
 *
 * @example
 * ```ts
 * fs.writeFileSync('public.pem', exportPem(privateKey, { public: true }));
 * ```
 */
export function exportPem(key: Key, options: ExportJwkOptions = {}): string {
  if (key.type === 'secret') throw new TypeError('a secret key has no PEM form; use exportJwk');
  if (key.type === 'public' || options.public) {
    return key.verificationKey.export({ format: 'pem', type: 'spki' }) as string;
  }
  return key.keyObject.export({ format: 'pem', type: 'pkcs8' }) as string;
}
