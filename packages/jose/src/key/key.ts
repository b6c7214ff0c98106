import { createPublicKey, type KeyObject } from 'node:crypto';
import { inspect } from 'node:util';
import { JoseAlgNotAllowed, JwkInvalid, KeyInvalid } from '../errors.js';
import { describe, JWS_ALGORITHMS, jwsAlgorithmsFor, MIN_RSA_BITS } from '../lib/jws_algorithms.js';
import { isRocaModulus } from './roca.js';

/** RFC 7518 §4.1 and §5.1 names: keys pinned to these are encryption keys and never sign or verify. */
const JWE_ALGORITHM_NAMES = new Set([
  'RSA1_5',
  'RSA-OAEP',
  'RSA-OAEP-256',
  'RSA-OAEP-384',
  'RSA-OAEP-512',
  'A128KW',
  'A192KW',
  'A256KW',
  'dir',
  'ECDH-ES',
  'ECDH-ES+A128KW',
  'ECDH-ES+A192KW',
  'ECDH-ES+A256KW',
  'A128GCMKW',
  'A192GCMKW',
  'A256GCMKW',
  'PBES2-HS256+A128KW',
  'PBES2-HS384+A192KW',
  'PBES2-HS512+A256KW',
  'A128GCM',
  'A192GCM',
  'A256GCM',
  'A128CBC-HS256',
  'A192CBC-HS384',
  'A256CBC-HS512',
]);

/** RFC 7517 §4.2. */
export type KeyUse = 'sig' | 'enc';
/** RFC 7517 §4.3. */
export type KeyOperation =
  | 'sign'
  | 'verify'
  | 'encrypt'
  | 'decrypt'
  | 'wrapKey'
  | 'unwrapKey'
  | 'deriveKey'
  | 'deriveBits';

export interface KeyOptions {
  /** Pin the key to exactly this algorithm. Without it the key serves every algorithm its type allows. */
  alg?: string;
  /** Key ID, published as `kid` and matched against the `kid` header. */
  kid?: string;
  /** Intended use (RFC 7517 §4.2); a key for `enc` never signs or verifies. */
  use?: KeyUse;
  /** Permitted operations (RFC 7517 §4.3); when present, an operation not listed is refused. */
  keyOps?: readonly KeyOperation[];
}

/**
 * A key and the algorithms it may serve. It wraps a `node:crypto` `KeyObject`; its type is decided by
 * how it was imported (never by looking at a string), so an asymmetric key can never act as an HMAC
 * secret. A `Key` never prints its material: `console.log`, `JSON.stringify` and template strings
 * show only its type, `alg` and `kid`.
 *
 * Build one with `importJwk`, `importPem`, `importSecret`, `importKeyObject`, `generateKeyPair` or
 * `generateSecret`.
 */
export class Key {
  /** The underlying key. Handle with care: for secret and private keys this is the secret itself. */
  readonly keyObject: KeyObject;
  readonly type: 'secret' | 'public' | 'private';
  /** The algorithms this key may serve: its pinned `alg`, or every one its type, curve and size allow. */
  readonly algorithms: readonly string[];
  readonly alg: string | undefined;
  readonly kid: string | undefined;
  readonly use: KeyUse | undefined;
  readonly keyOps: readonly KeyOperation[] | undefined;
  #publicKey: KeyObject | undefined;

  constructor(keyObject: KeyObject, options: KeyOptions = {}) {
    rejectWeakKey(keyObject);
    const { alg, kid, use, keyOps } = options;
    if (kid !== undefined && typeof kid !== 'string') throw new JwkInvalid('"kid" must be a string');
    if (use !== undefined && use !== 'sig' && use !== 'enc') {
      throw new JwkInvalid(`"use" must be "sig" or "enc", got ${JSON.stringify(use)}`);
    }
    let algorithms: string[] = jwsAlgorithmsFor(keyObject);
    if (use === 'enc' || (keyOps !== undefined && !keyOps.includes('sign') && !keyOps.includes('verify'))) {
      algorithms = algorithms.filter((a) => !JWS_ALGORITHMS.has(a));
    }
    if (alg !== undefined && JWE_ALGORITHM_NAMES.has(alg)) {
      // An encryption key: it serves no signature algorithm (JWE support arrives separately).
      algorithms = [];
    } else if (alg !== undefined) {
      const spec = JWS_ALGORITHMS.get(alg);
      if (!spec) throw new KeyInvalid(`unsupported algorithm ${JSON.stringify(alg)}`);
      const reason = spec.reject(keyObject);
      if (reason !== undefined) throw new KeyInvalid(reason);
      if (!algorithms.includes(alg)) {
        throw new JwkInvalid(`key "use"/"key_ops" forbid ${alg}, a signature algorithm`);
      }
      algorithms = [alg];
    } else if (algorithms.length === 0 && use === undefined && keyOps === undefined) {
      throw new KeyInvalid(
        `${describe(keyObject)} cannot serve any supported algorithm: ${whyUnusable(keyObject)}`,
      );
    }
    this.keyObject = keyObject;
    this.type = keyObject.type;
    this.algorithms = Object.freeze(algorithms);
    this.alg = alg;
    this.kid = kid;
    this.use = use;
    this.keyOps = keyOps === undefined ? undefined : Object.freeze([...keyOps]);
  }

  /** The key to verify with: the public half of a private key, else the key itself. */
  get verificationKey(): KeyObject {
    if (this.type !== 'private') return this.keyObject;
    this.#publicKey ??= createPublicKey(this.keyObject);
    return this.#publicKey;
  }

  /**
   * Throws unless this key may perform `operation` with `alg`: the algorithm must be one the key
   * serves, its `use` must be `sig`, its `key_ops` must list the operation, and signing needs a
   * private or secret key.
   */
  assertUsable(alg: string, operation: 'sign' | 'verify'): void {
    if (this.use !== undefined && this.use !== 'sig') {
      throw new KeyInvalid(`key is for "${this.use}", not signatures (RFC 7517 §4.2)`);
    }
    if (this.keyOps !== undefined && !this.keyOps.includes(operation)) {
      throw new KeyInvalid(`key_ops does not permit "${operation}" (RFC 7517 §4.3)`);
    }
    if (!this.algorithms.includes(alg)) {
      const reason = JWS_ALGORITHMS.get(alg)?.reject(this.keyObject);
      throw new JoseAlgNotAllowed(
        reason ?? `key serves ${this.algorithms.join(', ') || 'no signature algorithm'}, not ${alg}`,
        alg,
      );
    }
    if (operation === 'sign' && this.type === 'public') throw new KeyInvalid('signing needs a private key');
  }

  /** True when this key may perform `operation` with `alg` (see {@link Key.assertUsable}). */
  canServe(alg: string, operation: 'sign' | 'verify'): boolean {
    return (
      (this.use === undefined || this.use === 'sig') &&
      (this.keyOps === undefined || this.keyOps.includes(operation)) &&
      this.algorithms.includes(alg) &&
      (operation === 'verify' || this.type !== 'public')
    );
  }

  toJSON(): Record<string, unknown> {
    return { type: this.type, algorithms: this.algorithms, kid: this.kid };
  }

  toString(): string {
    return `Key(${this.type}${this.alg ? ` ${this.alg}` : ''}${this.kid ? ` kid=${this.kid}` : ''})`;
  }

  [inspect.custom](): string {
    return this.toString();
  }
}

// Public exponents: RFC 8017 §3.1 requires an odd e ≥ 3; Wycheproof rejects e = 1 keys.
function rejectWeakKey(key: KeyObject): void {
  const type = key.asymmetricKeyType;
  if (type !== 'rsa' && type !== 'rsa-pss') return;
  const { modulusLength = 0, publicExponent = 0n } = key.asymmetricKeyDetails ?? {};
  if (modulusLength < MIN_RSA_BITS) {
    throw new KeyInvalid(
      `RSA keys must be at least ${MIN_RSA_BITS} bits (RFC 8725 §3.5); this one has ${modulusLength}`,
    );
  }
  if (publicExponent < 3n || publicExponent % 2n === 0n) {
    throw new KeyInvalid('RSA public exponent must be odd and at least 3');
  }
  if (isRocaModulus(key)) {
    throw new KeyInvalid(
      'RSA key has the ROCA fingerprint (CVE-2017-15361): its private key can be recovered',
    );
  }
}

function whyUnusable(key: KeyObject): string {
  if (key.type === 'secret') return JWS_ALGORITHMS.get('HS256')!.reject(key)!;
  const type = key.asymmetricKeyType;
  if (type === 'ec') return `curve ${key.asymmetricKeyDetails?.namedCurve ?? 'unknown'} is not supported`;
  return `key type ${type} is not a signature key`;
}
