import { createPublicKey, type KeyObject } from 'node:crypto';
import { inspect } from 'node:util';
import { JoseAlgNotAllowed, JwkInvalid, KeyInvalid } from '../errors.js';
import {
  CONTENT_ENCRYPTION,
  jweAlgorithmsFor,
  KEY_MANAGEMENT,
  rejectUnofferedKeyManagement,
} from '../lib/jwe_algorithms.js';
import { describe, JWS_ALGORITHMS, jwsAlgorithmsFor, MIN_RSA_BITS } from '../lib/jws_algorithms.js';
import { isRocaModulus } from './roca.js';

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

/** What a key may be asked to do. */
export type KeyOperationKind = 'sign' | 'verify' | 'encrypt' | 'decrypt';

export interface KeyOptions {
  /** Pin the key to exactly this algorithm. Without it the key serves every algorithm its type allows. */
  alg?: string;
  /** Key ID, published as `kid` and matched against the `kid` header. */
  kid?: string;
  /** Intended use (RFC 7517 §4.2): a key for `enc` never signs or verifies, one for `sig` never encrypts. */
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
    const forSignatures = use !== 'enc' && permitsAny(keyOps, 'sign', 'verify');
    const forEncryption = use !== 'sig' && permitsAny(keyOps, 'encrypt', 'decrypt');
    let algorithms: string[];
    if (alg !== undefined) {
      algorithms = [pinnedAlgorithm(keyObject, alg, forSignatures, forEncryption)];
    } else {
      // Encryption is opt-in: a key serves JWE algorithms only when it says so ("use": "enc",
      // encryption key_ops), or when its type can do nothing else (X25519, X448). One key, one job.
      const saysEncryption = use === 'enc' || (keyOps !== undefined && !permitsAny(keyOps, 'sign', 'verify'));
      const onlyAgreement =
        keyObject.asymmetricKeyType === 'x25519' || keyObject.asymmetricKeyType === 'x448';
      algorithms = [
        ...(forSignatures ? jwsAlgorithmsFor(keyObject) : []),
        ...(forEncryption && (saysEncryption || onlyAgreement) ? jweAlgorithmsFor(keyObject) : []),
      ];
      if (algorithms.length === 0) {
        throw new KeyInvalid(
          `${describe(keyObject)} cannot serve any supported algorithm: ${whyUnusable(keyObject, use)}`,
        );
      }
    }
    this.keyObject = keyObject;
    this.type = keyObject.type;
    this.algorithms = Object.freeze(algorithms);
    this.alg = alg;
    this.kid = kid;
    this.use = use;
    this.keyOps = keyOps === undefined ? undefined : Object.freeze([...keyOps]);
  }

  /** The public half of a private key, else the key itself: what verifies and what encrypts. */
  get verificationKey(): KeyObject {
    if (this.type !== 'private') return this.keyObject;
    this.#publicKey ??= createPublicKey(this.keyObject);
    return this.#publicKey;
  }

  /**
   * Throws unless this key may perform `operation` with `alg`: the algorithm must be one the key
   * serves, its `use` must fit the operation (`sig` for signatures, `enc` for encryption), its
   * `key_ops` must permit it, and signing and decrypting need a private or secret key.
   */
  assertUsable(alg: string, operation: KeyOperationKind): void {
    const signature = operation === 'sign' || operation === 'verify';
    if (this.use !== undefined && this.use !== (signature ? 'sig' : 'enc')) {
      throw new KeyInvalid(
        `key is for "${this.use}", not ${signature ? 'signatures' : 'encryption'} (RFC 7517 §4.2)`,
      );
    }
    if (!permitsAny(this.keyOps, operation)) {
      throw new KeyInvalid(`key_ops does not permit "${operation}" (RFC 7517 §4.3)`);
    }
    if (!this.algorithms.includes(alg)) {
      const reason = (JWS_ALGORITHMS.get(alg) ?? KEY_MANAGEMENT.get(alg))?.reject(this.keyObject);
      throw new JoseAlgNotAllowed(reason ?? `key serves ${this.algorithms.join(', ')}, not ${alg}`, alg);
    }
    if ((operation === 'sign' || operation === 'decrypt') && this.type === 'public') {
      throw new KeyInvalid(`${operation === 'sign' ? 'signing' : 'decrypting'} needs a private key`);
    }
  }

  /** True when this key may perform `operation` with `alg` (see {@link Key.assertUsable}). */
  canServe(alg: string, operation: KeyOperationKind): boolean {
    const signature = operation === 'sign' || operation === 'verify';
    return (
      (this.use === undefined || this.use === (signature ? 'sig' : 'enc')) &&
      permitsAny(this.keyOps, operation) &&
      this.algorithms.includes(alg) &&
      ((operation !== 'sign' && operation !== 'decrypt') || this.type !== 'public')
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

// Modulus: RFC 7518 §3.3 (RS*) and §3.5 (PS*), and §4.3 for RSA-OAEP keys, require 2048 bits or more.
// Public exponents: RFC 8017 §3.1 requires an odd e ≥ 3; Wycheproof rejects e = 1 keys.
function rejectWeakKey(key: KeyObject): void {
  const type = key.asymmetricKeyType;
  if (type !== 'rsa' && type !== 'rsa-pss') return;
  const { modulusLength = 0, publicExponent = 0n } = key.asymmetricKeyDetails ?? {};
  if (modulusLength < MIN_RSA_BITS) {
    throw new KeyInvalid(
      `RSA keys must be at least ${MIN_RSA_BITS} bits (RFC 7518 §3.3, §4.3); this one has ${modulusLength}`,
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

/** What each operation needs from `key_ops` (RFC 7517 §4.3): any one of the listed values. */
const KEY_OPS_FOR: Record<KeyOperationKind, readonly KeyOperation[]> = {
  sign: ['sign'],
  verify: ['verify'],
  encrypt: ['encrypt', 'wrapKey', 'deriveKey', 'deriveBits'],
  decrypt: ['decrypt', 'unwrapKey', 'deriveKey', 'deriveBits'],
};

function permitsAny(keyOps: readonly KeyOperation[] | undefined, ...operations: KeyOperationKind[]): boolean {
  return (
    keyOps === undefined ||
    operations.some((operation) => KEY_OPS_FOR[operation].some((op) => keyOps.includes(op)))
  );
}

/** The single algorithm a pinned key serves, after checking the key can serve it. */
function pinnedAlgorithm(
  key: KeyObject,
  alg: string,
  forSignatures: boolean,
  forEncryption: boolean,
): string {
  rejectUnofferedKeyManagement(alg);
  const signature = JWS_ALGORITHMS.get(alg);
  const management = KEY_MANAGEMENT.get(alg);
  const content = CONTENT_ENCRYPTION.get(alg);
  if (!signature && !management && !content)
    throw new KeyInvalid(`unsupported algorithm ${JSON.stringify(alg)}`);
  if (signature ? !forSignatures : !forEncryption) {
    throw new JwkInvalid(
      `key "use"/"key_ops" forbid ${alg}, ${signature ? 'a signature' : 'an encryption'} algorithm`,
    );
  }
  if (content) {
    // A direct-encryption key named by its content encryption (RFC 7520 §5.6 does this): it serves
    // "dir", and only with that "enc", so it must be exactly that long.
    if (key.type !== 'secret' || key.symmetricKeySize !== content.keyLength) {
      throw new KeyInvalid(`${alg} needs a ${content.keyLength}-byte secret key`);
    }
    return 'dir';
  }
  const reason = (signature ?? management)!.reject(key);
  if (reason !== undefined) throw new KeyInvalid(reason);
  return alg;
}

function whyUnusable(key: KeyObject, use: KeyUse | undefined): string {
  if (use === 'enc') return 'no encryption algorithm fits it';
  if (key.type === 'secret') return JWS_ALGORITHMS.get('HS256')!.reject(key)!;
  const type = key.asymmetricKeyType;
  if (type === 'ec') return `curve ${key.asymmetricKeyDetails?.namedCurve ?? 'unknown'} is not supported`;
  return `key type ${type} is not a signature key`;
}
