import { Buffer } from 'node:buffer';
import { constants, createHmac, type KeyObject, sign, timingSafeEqual, verify } from 'node:crypto';

/**
 * The JWS algorithms of RFC 7518 §3, RFC 8037 §3.1, RFC 8812 §3.2 (ES256K) and the fully-specified
 * EdDSA names (`Ed25519`, `Ed448`). `none` is deliberately absent: it exists only in the unsecured
 * JWT API, which no verify function reaches (RFC 8725 §3.1).
 */
export type JwsAlgorithm =
  | 'HS256'
  | 'HS384'
  | 'HS512'
  | 'RS256'
  | 'RS384'
  | 'RS512'
  | 'PS256'
  | 'PS384'
  | 'PS512'
  | 'ES256'
  | 'ES384'
  | 'ES512'
  | 'ES256K'
  | 'EdDSA'
  | 'Ed25519'
  | 'Ed448';

export type SignatureFamily = 'hmac' | 'rsa' | 'rsa-pss' | 'ecdsa' | 'eddsa';

/** What one algorithm needs, decided once: prepared signers and verifiers capture these closures. */
export interface JwsAlgorithmSpec {
  readonly alg: JwsAlgorithm;
  readonly family: SignatureFamily;
  /** Digest name for node:crypto (`null` for EdDSA, which hashes internally). */
  readonly hash: 'sha256' | 'sha384' | 'sha512' | null;
  /** Why `key` cannot serve this algorithm, or `undefined` when it can. */
  reject(key: KeyObject): string | undefined;
  /** Exact signature length in bytes for this key (RFC 7518 §3.4: ECDSA is raw r‖s). */
  signatureLength(key: KeyObject): number;
  sign(key: KeyObject, data: Buffer | string): Buffer;
  verify(key: KeyObject, data: Buffer | string, signature: Buffer): boolean;
}

const HASH_BYTES = { sha256: 32, sha384: 48, sha512: 64 } as const;
type Hash = keyof typeof HASH_BYTES;

/**
 * RSA keys of 2048 bits or more: RFC 7518 §3.3 (RS*) and §3.5 (PS*) for signatures, §4.3 for
 * RSA-OAEP key encryption.
 */
export const MIN_RSA_BITS = 2048;

function hmac(alg: JwsAlgorithm, hash: Hash): JwsAlgorithmSpec {
  const length = HASH_BYTES[hash];
  return {
    alg,
    family: 'hmac',
    hash,
    reject(key) {
      if (key.type !== 'secret') return `${alg} needs a secret key, not ${describe(key)}`;
      // RFC 7518 §3.2: a key of the same size as the hash output or larger MUST be used.
      const size = key.symmetricKeySize ?? 0;
      if (size < length) return `${alg} needs a secret of at least ${length} bytes, got ${size}`;
      return undefined;
    },
    signatureLength: () => length,
    sign: (key, data) => createHmac(hash, key).update(data).digest(),
    verify(key, data, signature) {
      const expected = createHmac(hash, key).update(data).digest();
      return signature.length === expected.length && timingSafeEqual(signature, expected);
    },
  };
}

function rsaReject(alg: JwsAlgorithm, key: KeyObject, pss: boolean, hash: Hash): string | undefined {
  const type = key.asymmetricKeyType;
  if (type !== 'rsa' && !(pss && type === 'rsa-pss')) return `${alg} needs an RSA key, not ${describe(key)}`;
  const details = key.asymmetricKeyDetails ?? {};
  if ((details.modulusLength ?? 0) < MIN_RSA_BITS) {
    return `${alg} needs an RSA key of at least ${MIN_RSA_BITS} bits, got ${details.modulusLength}`;
  }
  // An RSASSA-PSS-restricted key may only be used with the digest it was restricted to.
  if (type === 'rsa-pss' && details.hashAlgorithm !== undefined && details.hashAlgorithm !== hash) {
    return `${alg} needs SHA-${hash.slice(3)}, but this RSA-PSS key is restricted to ${details.hashAlgorithm}`;
  }
  return undefined;
}

function rsa(alg: JwsAlgorithm, hash: Hash): JwsAlgorithmSpec {
  return {
    alg,
    family: 'rsa',
    hash,
    reject: (key) => rsaReject(alg, key, false, hash),
    signatureLength: (key) => (key.asymmetricKeyDetails!.modulusLength! + 7) >> 3,
    sign: (key, data) => sign(hash, toBuffer(data), key),
    verify: (key, data, signature) => verify(hash, toBuffer(data), key, signature),
  };
}

function rsaPss(alg: JwsAlgorithm, hash: Hash): JwsAlgorithmSpec {
  // RFC 7518 §3.5: MGF1 with the same hash, salt as long as the hash output.
  const options = { padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: HASH_BYTES[hash] };
  return {
    alg,
    family: 'rsa-pss',
    hash,
    reject: (key) => rsaReject(alg, key, true, hash),
    signatureLength: (key) => (key.asymmetricKeyDetails!.modulusLength! + 7) >> 3,
    sign: (key, data) => sign(hash, toBuffer(data), { key, ...options }),
    verify: (key, data, signature) => verify(hash, toBuffer(data), { key, ...options }, signature),
  };
}

function ecdsa(
  alg: JwsAlgorithm,
  hash: Hash,
  namedCurve: string,
  crv: string,
  coordinateBytes: number,
): JwsAlgorithmSpec {
  return {
    alg,
    family: 'ecdsa',
    hash,
    reject(key) {
      if (key.asymmetricKeyType !== 'ec') return `${alg} needs an EC key on ${crv}, not ${describe(key)}`;
      const curve = key.asymmetricKeyDetails?.namedCurve;
      if (curve !== namedCurve) return `${alg} needs an EC key on ${crv}, not on ${curveName(curve)}`;
      return undefined;
    },
    signatureLength: () => 2 * coordinateBytes,
    // RFC 7518 §3.4: the JWS signature is R‖S, each left-padded to the coordinate size (IEEE P1363).
    sign: (key, data) => sign(hash, toBuffer(data), { key, dsaEncoding: 'ieee-p1363' }),
    verify: (key, data, signature) =>
      verify(hash, toBuffer(data), { key, dsaEncoding: 'ieee-p1363' }, signature),
  };
}

function eddsa(alg: JwsAlgorithm, curves: readonly ('ed25519' | 'ed448')[]): JwsAlgorithmSpec {
  return {
    alg,
    family: 'eddsa',
    hash: null,
    reject(key) {
      const type = key.asymmetricKeyType;
      if (type !== 'ed25519' && type !== 'ed448')
        return `${alg} needs an Ed25519 or Ed448 key, not ${describe(key)}`;
      if (!curves.includes(type))
        return `${alg} needs an ${curves[0] === 'ed25519' ? 'Ed25519' : 'Ed448'} key, not ${describe(key)}`;
      return undefined;
    },
    signatureLength: (key) => (key.asymmetricKeyType === 'ed25519' ? 64 : 114),
    sign: (key, data) => sign(null, toBuffer(data), key),
    verify: (key, data, signature) => verify(null, toBuffer(data), key, signature),
  };
}

function toBuffer(data: Buffer | string): Buffer {
  return typeof data === 'string' ? Buffer.from(data, 'latin1') : data;
}

function curveName(namedCurve: string | undefined): string {
  return CURVE_JWK_NAMES[namedCurve ?? ''] ?? namedCurve ?? 'an unknown curve';
}

/** The JWK `crv` names of the node:crypto curves. */
export const CURVE_JWK_NAMES: Record<string, string> = {
  prime256v1: 'P-256',
  secp384r1: 'P-384',
  secp521r1: 'P-521',
  secp256k1: 'secp256k1',
};

/** A short, secret-free description of a key for error messages ("an EC P-256 public key"). */
export function describe(key: KeyObject): string {
  if (key.type === 'secret') return 'a secret key';
  const type = key.asymmetricKeyType;
  const name =
    type === 'ec'
      ? `EC ${curveName(key.asymmetricKeyDetails?.namedCurve)}`
      : type === 'rsa' || type === 'rsa-pss'
        ? type.toUpperCase()
        : type === 'ed25519'
          ? 'Ed25519'
          : type === 'ed448'
            ? 'Ed448'
            : (type ?? 'unknown');
  return `an ${name} ${key.type} key`;
}

export const JWS_ALGORITHMS: ReadonlyMap<string, JwsAlgorithmSpec> = new Map(
  [
    hmac('HS256', 'sha256'),
    hmac('HS384', 'sha384'),
    hmac('HS512', 'sha512'),
    rsa('RS256', 'sha256'),
    rsa('RS384', 'sha384'),
    rsa('RS512', 'sha512'),
    rsaPss('PS256', 'sha256'),
    rsaPss('PS384', 'sha384'),
    rsaPss('PS512', 'sha512'),
    ecdsa('ES256', 'sha256', 'prime256v1', 'P-256', 32),
    ecdsa('ES384', 'sha384', 'secp384r1', 'P-384', 48),
    ecdsa('ES512', 'sha512', 'secp521r1', 'P-521', 66),
    ecdsa('ES256K', 'sha256', 'secp256k1', 'secp256k1', 32),
    eddsa('EdDSA', ['ed25519', 'ed448']),
    eddsa('Ed25519', ['ed25519']),
    eddsa('Ed448', ['ed448']),
  ].map((spec) => [spec.alg, spec]),
);

export function isJwsAlgorithm(alg: unknown): alg is JwsAlgorithm {
  return typeof alg === 'string' && JWS_ALGORITHMS.has(alg);
}

/** Every JWS algorithm `key` may serve, judged by its type, curve and size alone. */
export function jwsAlgorithmsFor(key: KeyObject): JwsAlgorithm[] {
  const algs: JwsAlgorithm[] = [];
  for (const spec of JWS_ALGORITHMS.values()) if (spec.reject(key) === undefined) algs.push(spec.alg);
  return algs;
}
