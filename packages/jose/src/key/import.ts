import { Buffer } from 'node:buffer';
import {
  createECDH,
  createPrivateKey,
  createPublicKey,
  createSecretKey,
  type JsonWebKey,
  type KeyObject,
  X509Certificate,
} from 'node:crypto';
import { types } from 'node:util';
import { JoseNotSupported, JwkInvalid, KeyInvalid } from '../errors.js';
import { decodeBase64url } from '../lib/base64url.js';
import { isJsonObject } from '../lib/json.js';
import { Key, type KeyOperation, type KeyOptions, type KeyUse } from './key.js';

/** A JSON Web Key (RFC 7517 §4, RFC 7518 §6, RFC 8037 §2). */
export interface Jwk {
  kty: string;
  alg?: string;
  kid?: string;
  use?: string;
  key_ops?: string[];
  crv?: string;
  x?: string;
  y?: string;
  d?: string;
  n?: string;
  e?: string;
  p?: string;
  q?: string;
  dp?: string;
  dq?: string;
  qi?: string;
  oth?: unknown;
  k?: string;
  ext?: boolean;
  x5c?: string[];
  x5t?: string;
  'x5t#S256'?: string;
  x5u?: string;
  [member: string]: unknown;
}

export interface ImportOptions {
  /** Pin the key to this algorithm (required by some callers to remove any doubt). */
  alg?: string;
  /** Key ID to attach (for PEM / DER / secrets, which carry none). */
  kid?: string;
}

/** RFC 7518 §6.2.1.2 and RFC 8037 §2: coordinates and private values have exactly the curve's size. */
const CURVE_SIZES: Record<string, number> = { 'P-256': 32, 'P-384': 48, 'P-521': 66, secp256k1: 32 };
const OKP_SIZES: Record<string, number> = { Ed25519: 32, Ed448: 57, X25519: 32, X448: 56 };
/** The OpenSSL names of the JWK curves, for createECDH. */
const ECDH_CURVE_NAMES: Record<string, string> = {
  'P-256': 'prime256v1',
  'P-384': 'secp384r1',
  'P-521': 'secp521r1',
  secp256k1: 'secp256k1',
};
const KEY_OPERATIONS = new Set([
  'sign',
  'verify',
  'encrypt',
  'decrypt',
  'wrapKey',
  'unwrapKey',
  'deriveKey',
  'deriveBits',
]);

/**
 * Imports a JSON Web Key. Every member is checked (strict base64url, exact coordinate sizes, known
 * curve) and the JWK's `alg`, `use` and `key_ops` are honoured: a key with `alg: "ES256"` serves
 * ES256 only, a key with `use: "enc"` never verifies a signature. Certificates in `x5c` are not
 * used to build the key.
 *
 * @example
 * ```ts
 * const key = importJwk({ kty: 'EC', crv: 'P-256', x: '…', y: '…', alg: 'ES256', kid: 'k1' });
 * const { payload } = await verifyJwt(token, key, { algorithms: ['ES256'] });
 * ```
 */
export function importJwk(jwk: Jwk | Record<string, unknown>, options: ImportOptions = {}): Key {
  if (!isJsonObject(jwk)) throw new JwkInvalid('a JWK must be a JSON object');
  const { kty } = jwk;
  if (typeof kty !== 'string') throw new JwkInvalid('JWK "kty" must be a string');
  const alg = jwk.alg;
  if (alg !== undefined && typeof alg !== 'string') throw new JwkInvalid('JWK "alg" must be a string');
  if (options.alg !== undefined && alg !== undefined && alg !== options.alg) {
    throw new JwkInvalid(`JWK "alg" is ${alg}, but ${options.alg} was asked for`);
  }
  const keyOptions: KeyOptions = {
    alg: options.alg ?? alg,
    kid: jwkKid(jwk, options.kid),
    use: jwkUse(jwk.use),
    keyOps: jwkKeyOps(jwk.key_ops),
  };
  return new Key(jwkKeyObject(jwk as Jwk, kty), keyOptions);
}

function jwkKeyObject(jwk: Jwk, kty: string): KeyObject {
  switch (kty) {
    case 'oct': {
      const k = member(jwk, 'k');
      if (k.length === 0) throw new KeyInvalid('a secret key must not be empty');
      return createSecretKey(k);
    }
    case 'EC': {
      const crv = jwk.crv;
      const size = typeof crv === 'string' && Object.hasOwn(CURVE_SIZES, crv) ? CURVE_SIZES[crv] : undefined;
      if (size === undefined) throw new JoseNotSupported(`unsupported EC curve ${JSON.stringify(crv)}`);
      exactSize(jwk, 'x', size);
      exactSize(jwk, 'y', size);
      if (jwk.d !== undefined) {
        exactSize(jwk, 'd', size);
        assertEcPointMatches(jwk, crv as string);
      }
      return nodeImport(jwk, { kty, crv, x: jwk.x, y: jwk.y, d: jwk.d });
    }
    case 'OKP': {
      const crv = jwk.crv;
      const size = typeof crv === 'string' && Object.hasOwn(OKP_SIZES, crv) ? OKP_SIZES[crv] : undefined;
      if (size === undefined) throw new JoseNotSupported(`unsupported OKP curve ${JSON.stringify(crv)}`);
      exactSize(jwk, 'x', size);
      if (jwk.d !== undefined) exactSize(jwk, 'd', size);
      return nodeImport(jwk, { kty, crv, x: jwk.x, d: jwk.d });
    }
    case 'RSA': {
      member(jwk, 'n');
      member(jwk, 'e');
      if (jwk.oth !== undefined)
        throw new JoseNotSupported('RSA keys with more than two primes ("oth") are not supported');
      if (jwk.d === undefined) return nodeImport(jwk, { kty, n: jwk.n, e: jwk.e });
      // RFC 7518 §6.3.2: the CRT members are optional in the RFC, but node:crypto needs them all.
      for (const name of ['d', 'p', 'q', 'dp', 'dq', 'qi'] as const) member(jwk, name);
      assertRsaConsistent(jwk);
      const { n, e, d, p, q, dp, dq, qi } = jwk;
      return nodeImport(jwk, { kty, n, e, d, p, q, dp, dq, qi });
    }
    default:
      throw new JoseNotSupported(`unsupported JWK "kty" ${JSON.stringify(kty)}`);
  }
}

/**
 * RFC 7518 §6.2.2.1: "d" is the private key of the public point (x, y). node:crypto keeps whatever
 * point it is given, so a JWK whose x and y belong to another key would verify as one key and sign
 * as another. The point is derived from "d" and must be the one given.
 */
function assertEcPointMatches(jwk: Jwk, crv: string): void {
  let derived: Buffer;
  try {
    const ecdh = createECDH(ECDH_CURVE_NAMES[crv]!);
    ecdh.setPrivateKey(member(jwk, 'd'));
    derived = ecdh.getPublicKey(); // uncompressed: 0x04 ‖ x ‖ y
  } catch (cause) {
    // e.g. d = 0 or d ≥ the group order.
    throw new JwkInvalid(`invalid ${crv} private key "d"`, { cause });
  }
  const point = Buffer.concat([Buffer.of(0x04), member(jwk, 'x'), member(jwk, 'y')]);
  if (!derived.equals(point)) throw new JwkInvalid('JWK "x" and "y" are not the public key of "d"');
}

/**
 * RFC 7518 §6.3.2: the private members of an RSA JWK describe one key. node:crypto does not check
 * them against each other, and OpenSSL signs with the CRT members (p, q, dp, dq, qi), so a JWK whose
 * members disagree (another key's primes, say) would sign under a key other than its "n". A few
 * BigInt products and remainders: n = p·q, dp = d mod (p−1), dq = d mod (q−1), q·qi ≡ 1 (mod p),
 * and e·d ≡ 1 modulo p−1 and q−1.
 */
function assertRsaConsistent(jwk: Jwk): void {
  const int = (name: 'n' | 'e' | 'd' | 'p' | 'q' | 'dp' | 'dq' | 'qi') =>
    BigInt(`0x0${member(jwk, name).toString('hex')}`);
  const [n, e, d, p, q, dp, dq, qi] = (['n', 'e', 'd', 'p', 'q', 'dp', 'dq', 'qi'] as const).map(int) as [
    bigint,
    bigint,
    bigint,
    bigint,
    bigint,
    bigint,
    bigint,
    bigint,
  ];
  if (p < 2n || q < 2n || p * q !== n) throw new JwkInvalid('JWK "p" and "q" are not the factors of "n"');
  if (
    d % (p - 1n) !== dp ||
    d % (q - 1n) !== dq ||
    (q * qi) % p !== 1n ||
    (e * d) % (p - 1n) !== 1n ||
    (e * d) % (q - 1n) !== 1n
  ) {
    throw new JwkInvalid('JWK RSA private members are inconsistent ("d", "dp", "dq", "qi" or "e")');
  }
}

function nodeImport(jwk: Jwk, material: Record<string, unknown>): KeyObject {
  try {
    const key = material as JsonWebKey;
    return jwk.d === undefined
      ? createPublicKey({ key, format: 'jwk' })
      : createPrivateKey({ key, format: 'jwk' });
  } catch (cause) {
    // e.g. an EC point that is not on the curve.
    throw new JwkInvalid(`invalid ${jwk.kty} key material`, { cause });
  }
}

function member(jwk: Jwk, name: keyof Jwk & string): Buffer {
  const value = jwk[name];
  if (typeof value !== 'string') throw new JwkInvalid(`JWK "${name}" must be a string`);
  const bytes = decodeBase64url(value);
  if (bytes === undefined) throw new JwkInvalid(`JWK "${name}" is not canonical base64url`);
  return bytes;
}

function exactSize(jwk: Jwk, name: 'x' | 'y' | 'd', size: number): void {
  const length = member(jwk, name).length;
  if (length !== size)
    throw new JwkInvalid(`JWK "${name}" must be ${size} bytes for ${jwk.crv}, got ${length}`);
}

function jwkKid(jwk: Record<string, unknown>, override: string | undefined): string | undefined {
  const kid = override ?? jwk.kid;
  if (kid !== undefined && typeof kid !== 'string') throw new JwkInvalid('JWK "kid" must be a string');
  return kid;
}

function jwkUse(use: unknown): KeyUse | undefined {
  if (use === undefined) return undefined;
  if (use !== 'sig' && use !== 'enc')
    throw new JwkInvalid(`JWK "use" must be "sig" or "enc", got ${JSON.stringify(use)}`);
  return use;
}

function jwkKeyOps(ops: unknown): KeyOperation[] | undefined {
  if (ops === undefined) return undefined;
  // RFC 7517 §4.3: an array of unique, known operation names.
  if (!Array.isArray(ops) || !ops.every((op) => typeof op === 'string' && KEY_OPERATIONS.has(op))) {
    throw new JwkInvalid('JWK "key_ops" must be an array of operation names (RFC 7517 §4.3)');
  }
  if (new Set(ops).size !== ops.length) throw new JwkInvalid('JWK "key_ops" must not repeat an operation');
  return ops as KeyOperation[];
}

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g;

export interface PemImportOptions extends ImportOptions {
  /** Passphrase for an `ENCRYPTED PRIVATE KEY`. */
  passphrase?: string;
}

/**
 * Imports a PEM key or certificate, decided by its label: `PUBLIC KEY` (SPKI), `PRIVATE KEY`
 * (PKCS #8), `ENCRYPTED PRIVATE KEY`, `RSA PUBLIC KEY` / `RSA PRIVATE KEY` (PKCS #1),
 * `EC PRIVATE KEY` (SEC 1) or `CERTIFICATE` (X.509: the certificate's public key; the first
 * certificate of a chain). The label is the only thing that decides the key's type.
 *
 * @example
 * ```ts
 * const publicKey = importPem(fs.readFileSync('public.pem', 'utf8'), { alg: 'RS256' });
 * ```
 */
export function importPem(pem: string, options: PemImportOptions = {}): Key {
  if (typeof pem !== 'string') throw new KeyInvalid('a PEM key must be a string');
  const blocks = [...pem.matchAll(PEM_BLOCK)];
  if (blocks.length === 0) throw new KeyInvalid('no PEM block found');
  const label = blocks[0]![1]!;
  if (label !== 'CERTIFICATE' && blocks.length > 1)
    throw new KeyInvalid('expected one PEM key, found several');
  const text = blocks[0]![0];
  const opts = { alg: options.alg, kid: options.kid };
  switch (label) {
    case 'PUBLIC KEY':
      return new Key(
        parse(() => createPublicKey({ key: text, format: 'pem', type: 'spki' })),
        opts,
      );
    case 'RSA PUBLIC KEY':
      return new Key(
        parse(() => createPublicKey({ key: text, format: 'pem', type: 'pkcs1' })),
        opts,
      );
    case 'PRIVATE KEY':
    case 'ENCRYPTED PRIVATE KEY':
      return new Key(
        parse(() =>
          createPrivateKey({ key: text, format: 'pem', type: 'pkcs8', passphrase: options.passphrase }),
        ),
        opts,
      );
    case 'RSA PRIVATE KEY':
      return new Key(
        parse(() => createPrivateKey({ key: text, format: 'pem', type: 'pkcs1' })),
        opts,
      );
    case 'EC PRIVATE KEY':
      return new Key(
        parse(() => createPrivateKey({ key: text, format: 'pem', type: 'sec1' })),
        opts,
      );
    case 'CERTIFICATE':
      return new Key(
        parse(() => new X509Certificate(text).publicKey),
        opts,
      );
    default:
      throw new KeyInvalid(`unsupported PEM label "${label}"`);
  }
}

export type DerFormat = 'spki' | 'pkcs8' | 'pkcs1-public' | 'pkcs1-private' | 'sec1' | 'x509';

/**
 * Imports a DER-encoded key or certificate whose format the caller names.
 *
 * @example
 * ```ts
 * const key = importDer(spkiBytes, 'spki', { alg: 'ES256' });
 * ```
 */
export function importDer(der: Uint8Array, format: DerFormat, options: ImportOptions = {}): Key {
  if (!(der instanceof Uint8Array)) throw new KeyInvalid('a DER key must be a Uint8Array');
  const key = Buffer.from(der);
  const keyObject = parse(() => {
    switch (format) {
      case 'spki':
        return createPublicKey({ key, format: 'der', type: 'spki' });
      case 'pkcs1-public':
        return createPublicKey({ key, format: 'der', type: 'pkcs1' });
      case 'pkcs8':
        return createPrivateKey({ key, format: 'der', type: 'pkcs8' });
      case 'pkcs1-private':
        return createPrivateKey({ key, format: 'der', type: 'pkcs1' });
      case 'sec1':
        return createPrivateKey({ key, format: 'der', type: 'sec1' });
      case 'x509':
        return new X509Certificate(key).publicKey;
      default:
        throw new KeyInvalid(`unknown DER format ${JSON.stringify(format)}`);
    }
  });
  return new Key(keyObject, options);
}

/**
 * Imports an X.509 certificate (PEM or DER) and returns its public key.
 *
 * @example
 * ```ts
 * const key = importX509(certificatePem, { alg: 'PS256' });
 * ```
 */
export function importX509(certificate: string | Uint8Array, options: ImportOptions = {}): Key {
  if (typeof certificate === 'string') {
    if (!certificate.includes('-----BEGIN CERTIFICATE-----'))
      throw new KeyInvalid('expected a PEM certificate');
    return importPem(certificate, options);
  }
  return importDer(certificate, 'x509', options);
}

/**
 * Imports an HMAC secret: raw bytes, or a string taken as its UTF-8 bytes. Empty secrets are refused,
 * and so is anything that looks like a PEM key, a certificate or a JWK: treating public key text as an
 * HMAC secret is the classic key-confusion attack (RFC 8725 §2.1; jsonwebtoken CVE-2015-9235, fast-jwt
 * CVE-2023-48223), so it cannot happen by accident here. A secret shorter than the hash output of
 * every HS algorithm is refused (RFC 7518 §3.2).
 *
 * @example
 * ```ts
 * const secret = importSecret(crypto.randomBytes(32), { alg: 'HS256' });
 * ```
 */
export function importSecret(secret: Uint8Array | string, options: ImportOptions = {}): Key {
  const bytes =
    typeof secret === 'string'
      ? Buffer.from(secret, 'utf8')
      : secret instanceof Uint8Array
        ? Buffer.from(secret)
        : undefined;
  if (bytes === undefined) throw new KeyInvalid('a secret must be a Uint8Array or a string');
  if (bytes.length === 0) throw new KeyInvalid('a secret must not be empty');
  if (looksLikeKeyText(bytes)) {
    throw new KeyInvalid(
      'this secret looks like a PEM key, certificate or JWK; import it as a key, not as an HMAC secret',
    );
  }
  return new Key(createSecretKey(bytes), options);
}

/**
 * Wraps an existing `node:crypto` `KeyObject`.
 *
 * @example
 * ```ts
 * const { privateKey } = crypto.generateKeyPairSync('ed25519');
 * const key = importKeyObject(privateKey, { alg: 'EdDSA', kid: 'signing-1' });
 * ```
 */
export function importKeyObject(keyObject: KeyObject, options: KeyOptions = {}): Key {
  if (!types.isKeyObject(keyObject)) {
    throw new KeyInvalid('expected a node:crypto KeyObject');
  }
  if (keyObject.type === 'secret' && looksLikeKeyText(keyObject.export())) {
    throw new KeyInvalid(
      'this secret looks like a PEM key, certificate or JWK; import it as a key, not as an HMAC secret',
    );
  }
  return new Key(keyObject, options);
}

function looksLikeKeyText(bytes: Buffer): boolean {
  // Leading whitespace is skipped whatever its length (fast-jwt CVE-2023-48223 / CVE-2026-34950).
  const head = bytes.toString('latin1').trimStart().slice(0, 4096);
  return (
    /-----BEGIN [A-Z0-9 ]+-----/.test(head) ||
    /"kty"\s*:/.test(head) ||
    /^(ssh-|ecdsa-sha2-|sk-(ssh|ecdsa)-)/.test(head) ||
    isDerPublicKey(bytes) ||
    // The base64 body of a PEM without its armour ("MII…"): the same DER, as text.
    (head.startsWith('M') && /^[\w+/=\s-]+$/.test(head) && isDerPublicKey(Buffer.from(head, 'base64')))
  );
}

/**
 * RFC 8725 §2.1 and §3.1: a public key in DER (SPKI, PKCS #1, or an X.509 certificate) is as public
 * as its PEM, so as an HMAC secret it would let anyone sign. Only input that starts like a DER
 * SEQUENCE (0x30) is parsed.
 */
function isDerPublicKey(der: Buffer): boolean {
  if (der[0] !== 0x30) return false;
  for (const type of ['spki', 'pkcs1'] as const) {
    try {
      createPublicKey({ key: der, format: 'der', type });
      return true;
    } catch {}
  }
  try {
    new X509Certificate(der);
    return true;
  } catch {
    return false;
  }
}

function parse(build: () => KeyObject): KeyObject {
  try {
    return build();
  } catch (cause) {
    if (cause instanceof KeyInvalid) throw cause;
    throw new KeyInvalid('could not parse the key', { cause });
  }
}
