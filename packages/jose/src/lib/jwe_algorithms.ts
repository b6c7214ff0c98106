import { Buffer } from 'node:buffer';
import {
  constants,
  createCipheriv,
  createDecipheriv,
  createHash,
  createHmac,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  type KeyObject,
  pbkdf2Sync,
  privateDecrypt,
  publicEncrypt,
  timingSafeEqual,
} from 'node:crypto';
import { JoseNotSupported, JweDecryptionFailed, JweInvalid } from '../errors.js';
import { decodeBase64url } from './base64url.js';
import { isJsonObject, type JsonObject } from './json.js';
import { randomBytes } from './random.js';

// ---------------------------------------------------------------------------------------------
// Content encryption (RFC 7518 §5)
// ---------------------------------------------------------------------------------------------

export type ContentEncryptionAlgorithm =
  | 'A128GCM'
  | 'A192GCM'
  | 'A256GCM'
  | 'A128CBC-HS256'
  | 'A192CBC-HS384'
  | 'A256CBC-HS512';

export interface ContentEncryptionSpec {
  readonly enc: ContentEncryptionAlgorithm;
  /** CEK length in bytes. */
  readonly keyLength: number;
  readonly ivLength: number;
  readonly tagLength: number;
  encrypt(cek: Buffer, iv: Buffer, plaintext: Buffer, aad: Buffer): { ciphertext: Buffer; tag: Buffer };
  /** Decrypts and authenticates; any failure is `ERR_JWE_DECRYPTION_FAILED`. */
  decrypt(cek: Buffer, iv: Buffer, ciphertext: Buffer, tag: Buffer, aad: Buffer): Buffer;
}

// RFC 7518 §5.3: AES GCM with a 96-bit IV and a 128-bit tag.
function gcm(enc: ContentEncryptionAlgorithm, bits: 128 | 192 | 256): ContentEncryptionSpec {
  const cipher = `aes-${bits}-gcm` as const;
  return {
    enc,
    keyLength: bits / 8,
    ivLength: 12,
    tagLength: 16,
    encrypt(cek, iv, plaintext, aad) {
      const c = createCipheriv(cipher, cek, iv, { authTagLength: 16 });
      c.setAAD(aad);
      const ciphertext = Buffer.concat([c.update(plaintext), c.final()]);
      return { ciphertext, tag: c.getAuthTag() };
    },
    decrypt(cek, iv, ciphertext, tag, aad) {
      try {
        // authTagLength pins the tag to 16 bytes: node would otherwise accept a truncated tag.
        const d = createDecipheriv(cipher, cek, iv, { authTagLength: 16 });
        d.setAAD(aad);
        d.setAuthTag(tag);
        return Buffer.concat([d.update(ciphertext), d.final()]);
      } catch {
        throw new JweDecryptionFailed();
      }
    },
  };
}

// RFC 7518 §5.2: AES-CBC with HMAC-SHA2, MAC_KEY ‖ ENC_KEY, tag = first half of the HMAC.
function cbcHmac(
  enc: ContentEncryptionAlgorithm,
  bits: 128 | 192 | 256,
  hash: 'sha256' | 'sha384' | 'sha512',
): ContentEncryptionSpec {
  const half = bits / 8;
  const cipher = `aes-${bits}-cbc` as const;
  const mac = (macKey: Buffer, aad: Buffer, iv: Buffer, ciphertext: Buffer) => {
    const al = Buffer.alloc(8);
    al.writeBigUInt64BE(BigInt(aad.length) * 8n); // §5.2.2.1 step 4: AAD length in bits
    return createHmac(hash, macKey)
      .update(aad)
      .update(iv)
      .update(ciphertext)
      .update(al)
      .digest()
      .subarray(0, half);
  };
  return {
    enc,
    keyLength: 2 * half,
    ivLength: 16,
    tagLength: half,
    encrypt(cek, iv, plaintext, aad) {
      const c = createCipheriv(cipher, cek.subarray(half), iv);
      const ciphertext = Buffer.concat([c.update(plaintext), c.final()]);
      return { ciphertext, tag: mac(cek.subarray(0, half), aad, iv, ciphertext) };
    },
    decrypt(cek, iv, ciphertext, tag, aad) {
      // §5.2.2.2: the tag is checked, in constant time, before anything is decrypted, so padding
      // errors can never serve as an oracle (CVE-2021-29443 in jose was exactly that).
      const expected = mac(cek.subarray(0, half), aad, iv, ciphertext);
      if (tag.length !== expected.length || !timingSafeEqual(tag, expected)) throw new JweDecryptionFailed();
      try {
        const d = createDecipheriv(cipher, cek.subarray(half), iv);
        return Buffer.concat([d.update(ciphertext), d.final()]);
      } catch {
        throw new JweDecryptionFailed();
      }
    },
  };
}

export const CONTENT_ENCRYPTION: ReadonlyMap<string, ContentEncryptionSpec> = new Map(
  [
    gcm('A128GCM', 128),
    gcm('A192GCM', 192),
    gcm('A256GCM', 256),
    cbcHmac('A128CBC-HS256', 128, 'sha256'),
    cbcHmac('A192CBC-HS384', 192, 'sha384'),
    cbcHmac('A256CBC-HS512', 256, 'sha512'),
  ].map((spec) => [spec.enc, spec]),
);

// ---------------------------------------------------------------------------------------------
// Key management (RFC 7518 §4)
// ---------------------------------------------------------------------------------------------

export type KeyManagementAlgorithm =
  | 'dir'
  | 'RSA-OAEP'
  | 'RSA-OAEP-256'
  | 'RSA-OAEP-384'
  | 'RSA-OAEP-512'
  | 'A128KW'
  | 'A192KW'
  | 'A256KW'
  | 'A128GCMKW'
  | 'A192GCMKW'
  | 'A256GCMKW'
  | 'ECDH-ES'
  | 'ECDH-ES+A128KW'
  | 'ECDH-ES+A192KW'
  | 'ECDH-ES+A256KW'
  | 'PBES2-HS256+A128KW'
  | 'PBES2-HS384+A192KW'
  | 'PBES2-HS512+A256KW';

/** Per-message parameters a caller may fix (tests reproducing RFC examples); random otherwise. */
export interface KeyManagementParameters {
  /** Content encryption key to use (ignored by `dir` and `ECDH-ES`, which derive it). */
  cek?: Uint8Array;
  /** A*GCMKW: the IV for wrapping the CEK. */
  iv?: Uint8Array;
  /** ECDH-ES: the ephemeral private key (a KeyObject on the recipient's curve). */
  epk?: KeyObject;
  /** ECDH-ES: Agreement PartyUInfo / PartyVInfo. */
  apu?: Uint8Array;
  apv?: Uint8Array;
  /** PBES2: salt input and iteration count. */
  p2s?: Uint8Array;
  p2c?: number;
}

export interface KeyManagementLimits {
  /** Largest PBES2 `p2c` accepted when decrypting (default 10,000). */
  maxPbes2Count: number;
}

export interface WrappedKey {
  cek: Buffer;
  encryptedKey: Buffer;
  /** Header parameters the algorithm adds (`epk`, `apu`, `apv`, `iv`, `tag`, `p2s`, `p2c`). */
  parameters: JsonObject;
}

export interface KeyManagementSpec {
  readonly alg: KeyManagementAlgorithm;
  /** Why `key` cannot serve this algorithm (for `encrypt` or `decrypt`), or `undefined` when it can. */
  reject(key: KeyObject): string | undefined;
  /** True when the CEK is the key or is derived (no encrypted key, one recipient only). */
  readonly direct: boolean;
  wrap(key: KeyObject, enc: ContentEncryptionSpec, params: KeyManagementParameters): WrappedKey;
  /** Recovers the CEK; every failure is `ERR_JWE_DECRYPTION_FAILED` or, for malformed headers, `ERR_JWE_INVALID`. */
  unwrap(
    key: KeyObject,
    enc: ContentEncryptionSpec,
    encryptedKey: Buffer,
    header: JsonObject,
    limits: KeyManagementLimits,
  ): Buffer;
}

/** RFC 7518 §4.8.1.2: a lower bound on PBES2 work the library insists on, both ways. */
export const MIN_PBES2_COUNT = 1000;
export const DEFAULT_MAX_PBES2_COUNT = 10_000;
const DEFAULT_PBES2_COUNT = 2048;

function cekFor(enc: ContentEncryptionSpec, params: KeyManagementParameters): Buffer {
  if (params.cek === undefined) return randomBytes(enc.keyLength);
  if (params.cek.length !== enc.keyLength)
    throw new JweInvalid(`${enc.enc} needs a ${enc.keyLength}-byte CEK`);
  return Buffer.from(params.cek);
}

function secretReject(alg: string, key: KeyObject, length: number | undefined): string | undefined {
  if (key.type !== 'secret') return `${alg} needs a secret key, not an ${key.asymmetricKeyType} key`;
  if (length !== undefined && key.symmetricKeySize !== length) {
    return `${alg} needs a ${length}-byte key, got ${key.symmetricKeySize} bytes`;
  }
  return undefined;
}

function exactKeyEmpty(encryptedKey: Buffer, alg: string): void {
  // RFC 7516 §5.2 step 10 / RFC 7518 §4.5, §4.6: direct modes carry an empty JWE Encrypted Key.
  if (encryptedKey.length !== 0) throw new JweInvalid(`${alg} must have an empty encrypted key`);
}

// RFC 3394 AES Key Wrap with the default IV, as RFC 7518 §4.4 uses it.
const KW_IV = Buffer.from('A6A6A6A6A6A6A6A6', 'hex');
function aesKw(bits: number) {
  const cipher = `id-aes${bits}-wrap`;
  return {
    wrap: (kek: Buffer | KeyObject, cek: Buffer) => {
      const c = createCipheriv(cipher, kek, KW_IV);
      return Buffer.concat([c.update(cek), c.final()]);
    },
    unwrap: (kek: Buffer | KeyObject, wrapped: Buffer): Buffer => {
      if (wrapped.length < 24 || wrapped.length % 8 !== 0) throw new JweDecryptionFailed();
      try {
        const d = createDecipheriv(cipher, kek, KW_IV);
        return Buffer.concat([d.update(wrapped), d.final()]);
      } catch {
        throw new JweDecryptionFailed();
      }
    },
  };
}

function keyWrap(alg: KeyManagementAlgorithm, bits: 128 | 192 | 256): KeyManagementSpec {
  const kw = aesKw(bits);
  return {
    alg,
    direct: false,
    reject: (key) => secretReject(alg, key, bits / 8),
    wrap(key, enc, params) {
      const cek = cekFor(enc, params);
      return { cek, encryptedKey: kw.wrap(key, cek), parameters: {} };
    },
    unwrap: (key, _enc, encryptedKey) => kw.unwrap(key, encryptedKey),
  };
}

// RFC 7518 §4.7: the CEK encrypted with AES-GCM; "iv" and "tag" travel in the header.
function gcmKeyWrap(alg: KeyManagementAlgorithm, bits: 128 | 192 | 256): KeyManagementSpec {
  const cipher = `aes-${bits}-gcm` as const;
  return {
    alg,
    direct: false,
    reject: (key) => secretReject(alg, key, bits / 8),
    wrap(key, enc, params) {
      const cek = cekFor(enc, params);
      const iv = params.iv ? Buffer.from(params.iv) : randomBytes(12);
      if (iv.length !== 12) throw new JweInvalid(`${alg} needs a 96-bit "iv"`);
      const c = createCipheriv(cipher, key, iv, { authTagLength: 16 });
      const encryptedKey = Buffer.concat([c.update(cek), c.final()]);
      return {
        cek,
        encryptedKey,
        parameters: { iv: iv.toString('base64url'), tag: c.getAuthTag().toString('base64url') },
      };
    },
    unwrap(key, _enc, encryptedKey, header) {
      const iv = headerBytes(header, 'iv', 12);
      const tag = headerBytes(header, 'tag', 16);
      try {
        const d = createDecipheriv(cipher, key, iv, { authTagLength: 16 });
        d.setAuthTag(tag);
        return Buffer.concat([d.update(encryptedKey), d.final()]);
      } catch {
        throw new JweDecryptionFailed();
      }
    },
  };
}

/** A secret KeyObject's bytes, exported once per key: `dir` needs them on every message. */
const exportedSecrets = new WeakMap<KeyObject, Buffer>();
function secretBytes(key: KeyObject): Buffer {
  let bytes = exportedSecrets.get(key);
  if (!bytes) {
    bytes = key.export();
    exportedSecrets.set(key, bytes);
  }
  return bytes;
}

const DIRECT: KeyManagementSpec = {
  alg: 'dir',
  direct: true,
  reject: (key) => secretReject('dir', key, undefined),
  wrap(key, enc) {
    // RFC 7518 §4.5: the shared key is the CEK, so it must have exactly the CEK's length.
    if (key.symmetricKeySize !== enc.keyLength) {
      throw new JweInvalid(`"dir" with ${enc.enc} needs a ${enc.keyLength}-byte key`);
    }
    return { cek: secretBytes(key), encryptedKey: Buffer.alloc(0), parameters: {} };
  },
  unwrap(key, enc, encryptedKey) {
    exactKeyEmpty(encryptedKey, 'dir');
    if (key.symmetricKeySize !== enc.keyLength) throw new JweDecryptionFailed();
    return secretBytes(key);
  },
};

// RFC 7518 §4.3 (RSAES-OAEP; RSA-OAEP-384/512 are registered in the IANA JOSE registry).
function rsaOaep(
  alg: KeyManagementAlgorithm,
  oaepHash: 'sha1' | 'sha256' | 'sha384' | 'sha512',
): KeyManagementSpec {
  const padding = constants.RSA_PKCS1_OAEP_PADDING;
  return {
    alg,
    direct: false,
    reject(key) {
      if (key.asymmetricKeyType !== 'rsa') return `${alg} needs an RSA key`;
      const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
      // RFC 7518 §4.3: a key of 2048 bits or larger MUST be used with RSA-OAEP.
      if (bits < 2048) return `${alg} needs an RSA key of at least 2048 bits, got ${bits}`;
      return undefined;
    },
    wrap(key, enc, params) {
      const cek = cekFor(enc, params);
      return { cek, encryptedKey: publicEncrypt({ key, padding, oaepHash }, cek), parameters: {} };
    },
    unwrap(key, enc, encryptedKey) {
      const bytes = (key.asymmetricKeyDetails!.modulusLength! + 7) >> 3;
      if (encryptedKey.length !== bytes) throw new JweDecryptionFailed();
      try {
        const cek = privateDecrypt({ key, padding, oaepHash }, encryptedKey);
        if (cek.length === enc.keyLength) return cek;
      } catch {}
      // RFC 7516 §11.5: on failure continue with a random CEK, so the content decryption fails in the
      // same way and time whatever went wrong with the key.
      return randomBytes(enc.keyLength);
    },
  };
}

const ECDH_CURVES: Record<string, { crv: string; type: 'ec' | 'x25519' | 'x448' }> = {
  prime256v1: { crv: 'P-256', type: 'ec' },
  secp384r1: { crv: 'P-384', type: 'ec' },
  secp521r1: { crv: 'P-521', type: 'ec' },
  x25519: { crv: 'X25519', type: 'x25519' },
  x448: { crv: 'X448', type: 'x448' },
};

/** The JWK `crv` of an ECDH-capable key, or `undefined`. */
export function ecdhCurve(key: KeyObject): string | undefined {
  const type = key.asymmetricKeyType;
  if (type === 'ec') return ECDH_CURVES[key.asymmetricKeyDetails?.namedCurve ?? '']?.crv;
  if (type === 'x25519') return 'X25519';
  if (type === 'x448') return 'X448';
  return undefined;
}

// RFC 7518 §4.6.2: the Concat KDF of NIST SP 800-56A with SHA-256.
export function concatKdf(z: Buffer, bits: number, algorithmId: string, apu: Buffer, apv: Buffer): Buffer {
  const lengthPrefixed = (data: Buffer) => {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(data.length);
    return Buffer.concat([length, data]);
  };
  const suppPubInfo = Buffer.alloc(4);
  suppPubInfo.writeUInt32BE(bits);
  const otherInfo = Buffer.concat([
    lengthPrefixed(Buffer.from(algorithmId, 'ascii')),
    lengthPrefixed(apu),
    lengthPrefixed(apv),
    suppPubInfo,
  ]);
  const rounds = Math.ceil(bits / 256);
  const out = Buffer.alloc(rounds * 32);
  for (let i = 1; i <= rounds; i++) {
    const counter = Buffer.alloc(4);
    counter.writeUInt32BE(i);
    createHash('sha256')
      .update(counter)
      .update(z)
      .update(otherInfo)
      .digest()
      .copy(out, (i - 1) * 32);
  }
  return out.subarray(0, bits / 8);
}

/** Agreement PartyUInfo/PartyVInfo are bounded: they are hashed, but nobody needs kilobytes of them. */
const MAX_PARTY_INFO_BYTES = 1024;

function ecdh(alg: KeyManagementAlgorithm, wrapBits: 128 | 192 | 256 | undefined): KeyManagementSpec {
  const kw = wrapBits ? aesKw(wrapBits) : undefined;
  return {
    alg,
    direct: kw === undefined,
    reject(key) {
      if (ecdhCurve(key) === undefined) return `${alg} needs a P-256, P-384, P-521, X25519 or X448 key`;
      return undefined;
    },
    wrap(key, enc, params) {
      const recipient = key.type === 'private' ? createPublicKey(key) : key;
      const ephemeral = params.epk ?? generateEphemeral(recipient);
      if (ecdhCurve(ephemeral) !== ecdhCurve(recipient) || ephemeral.type !== 'private') {
        throw new JweInvalid("the ephemeral key must be a private key on the recipient key's curve");
      }
      const apu = Buffer.from(params.apu ?? []);
      const apv = Buffer.from(params.apv ?? []);
      const derived = derive(ephemeral, recipient, enc, apu, apv);
      const epkJwk = createPublicKey(ephemeral).export({ format: 'jwk' }) as JsonObject;
      const parameters: JsonObject = { epk: publicJwk(epkJwk) };
      if (apu.length) parameters.apu = apu.toString('base64url');
      if (apv.length) parameters.apv = apv.toString('base64url');
      if (!kw) return { cek: derived, encryptedKey: Buffer.alloc(0), parameters };
      const cek = cekFor(enc, params);
      return { cek, encryptedKey: kw.wrap(derived, cek), parameters };
    },
    unwrap(key, enc, encryptedKey, header) {
      const epk = ephemeralPublicKey(header.epk, key);
      const apu = header.apu === undefined ? Buffer.alloc(0) : headerBytes(header, 'apu');
      const apv = header.apv === undefined ? Buffer.alloc(0) : headerBytes(header, 'apv');
      if (apu.length > MAX_PARTY_INFO_BYTES || apv.length > MAX_PARTY_INFO_BYTES)
        throw new JweInvalid('"apu"/"apv" too long');
      const derived = derive(key, epk, enc, apu, apv);
      if (!kw) {
        exactKeyEmpty(encryptedKey, alg);
        return derived;
      }
      return kw.unwrap(derived, encryptedKey);
    },
  };

  function derive(
    privateKey: KeyObject,
    publicKey: KeyObject,
    enc: ContentEncryptionSpec,
    apu: Buffer,
    apv: Buffer,
  ) {
    let z: Buffer;
    try {
      z = diffieHellman({ privateKey, publicKey });
    } catch {
      throw new JweDecryptionFailed();
    }
    // RFC 7748 §6.1: an all-zero X25519/X448 result means a small-order point; abort. On P-256/384/521
    // Z is an x-coordinate, and 0 is a valid one (NIST SP 800-56A Rev. 3 §5.7.1.2 only rules out the
    // point at infinity, which node:crypto refuses): Wycheproof's ecdh_secp*r1 "x**2 = 0" cases.
    if (privateKey.asymmetricKeyType !== 'ec' && z.every((byte) => byte === 0))
      throw new JweDecryptionFailed();
    // RFC 7518 §4.6.2: AlgorithmID is "enc" for direct agreement, else the "alg" value.
    return kw ? concatKdf(z, wrapBits!, alg, apu, apv) : concatKdf(z, enc.keyLength * 8, enc.enc, apu, apv);
  }
}

function generateEphemeral(recipient: KeyObject): KeyObject {
  const type = recipient.asymmetricKeyType;
  if (type === 'ec') {
    return generateKeyPairSync('ec', { namedCurve: recipient.asymmetricKeyDetails!.namedCurve! }).privateKey;
  }
  return generateKeyPairSync(type as 'x25519', {}).privateKey;
}

function publicJwk(jwk: JsonObject): JsonObject {
  return jwk.kty === 'EC'
    ? { kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y }
    : { kty: jwk.kty, crv: jwk.crv, x: jwk.x };
}

/**
 * RFC 7518 §4.6.1.1 and RFC 8725 §3.4: the `epk` header must be a public key on the recipient's own
 * curve. Importing through node:crypto checks that an EC point lies on the curve (the invalid-curve
 * attack); the X25519/X448 small-order points are caught by the all-zero check after agreement.
 */
function ephemeralPublicKey(epk: unknown, recipient: KeyObject): KeyObject {
  if (!isJsonObject(epk)) throw new JweInvalid('"epk" must be a JWK object');
  const crv = ecdhCurve(recipient);
  if (epk.crv !== crv) throw new JweInvalid(`"epk" must be on ${crv}`);
  if (epk.d !== undefined) throw new JweInvalid('"epk" must not contain a private key');
  const kty = crv!.startsWith('P-') ? 'EC' : 'OKP';
  if (epk.kty !== kty) throw new JweInvalid(`"epk" must have "kty" ${kty}`);
  const size = { 'P-256': 32, 'P-384': 48, 'P-521': 66, X25519: 32, X448: 56 }[crv!]!;
  for (const member of kty === 'EC' ? ['x', 'y'] : ['x']) {
    const value = typeof epk[member] === 'string' ? decodeBase64url(epk[member] as string) : undefined;
    if (value?.length !== size)
      throw new JweInvalid(`"epk" member "${member}" must be ${size} bytes of base64url`);
  }
  try {
    return createPublicKey({
      key: kty === 'EC' ? { kty, crv, x: epk.x, y: epk.y } : { kty, crv, x: epk.x },
      format: 'jwk',
    } as never);
  } catch {
    // Not on the curve (RFC 8725 §3.4: invalid-curve attacks).
    throw new JweInvalid('"epk" is not a valid point on the curve');
  }
}

// RFC 7518 §4.8: PBES2 derives the key-wrapping key from a password with PBKDF2.
function pbes2(
  alg: KeyManagementAlgorithm,
  hash: 'sha256' | 'sha384' | 'sha512',
  bits: 128 | 192 | 256,
): KeyManagementSpec {
  const kw = aesKw(bits);
  const kek = (password: KeyObject, p2s: Buffer, p2c: number) =>
    pbkdf2Sync(
      password.export(),
      Buffer.concat([Buffer.from(alg, 'ascii'), Buffer.of(0), p2s]),
      p2c,
      bits / 8,
      hash,
    );
  return {
    alg,
    direct: false,
    reject: (key) => secretReject(alg, key, undefined),
    wrap(key, enc, params) {
      const cek = cekFor(enc, params);
      const p2s = params.p2s ? Buffer.from(params.p2s) : randomBytes(16);
      const p2c = params.p2c ?? DEFAULT_PBES2_COUNT;
      if (p2s.length < 8) throw new JweInvalid('"p2s" must be at least 8 bytes (RFC 7518 §4.8.1.1)');
      if (!Number.isInteger(p2c) || p2c < MIN_PBES2_COUNT)
        throw new JweInvalid(`"p2c" must be an integer ≥ ${MIN_PBES2_COUNT}`);
      return {
        cek,
        encryptedKey: kw.wrap(kek(key, p2s, p2c), cek),
        parameters: { p2s: p2s.toString('base64url'), p2c },
      };
    },
    unwrap(key, _enc, encryptedKey, header, limits) {
      const p2s = headerBytes(header, 'p2s');
      const { p2c } = header;
      if (p2s.length < 8) throw new JweInvalid('"p2s" must be at least 8 bytes (RFC 7518 §4.8.1.1)');
      // CVE-2022-36083 (jose): an attacker-chosen count is a CPU-exhaustion lever, so it is bounded.
      if (
        typeof p2c !== 'number' ||
        !Number.isInteger(p2c) ||
        p2c < MIN_PBES2_COUNT ||
        p2c > limits.maxPbes2Count
      ) {
        throw new JweInvalid(`"p2c" must be an integer from ${MIN_PBES2_COUNT} to ${limits.maxPbes2Count}`);
      }
      return kw.unwrap(kek(key, p2s, p2c), encryptedKey);
    },
  };
}

/** A header member that must be base64url bytes (of an exact length when given). */
function headerBytes(header: JsonObject, name: string, length?: number): Buffer {
  const value = header[name];
  const bytes = typeof value === 'string' ? decodeBase64url(value) : undefined;
  if (bytes === undefined || (length !== undefined && bytes.length !== length)) {
    throw new JweInvalid(
      `"${name}" header parameter must be ${length ? `${length} bytes of ` : ''}base64url`,
    );
  }
  return bytes;
}

export const KEY_MANAGEMENT: ReadonlyMap<string, KeyManagementSpec> = new Map(
  [
    DIRECT,
    rsaOaep('RSA-OAEP', 'sha1'),
    rsaOaep('RSA-OAEP-256', 'sha256'),
    rsaOaep('RSA-OAEP-384', 'sha384'),
    rsaOaep('RSA-OAEP-512', 'sha512'),
    keyWrap('A128KW', 128),
    keyWrap('A192KW', 192),
    keyWrap('A256KW', 256),
    gcmKeyWrap('A128GCMKW', 128),
    gcmKeyWrap('A192GCMKW', 192),
    gcmKeyWrap('A256GCMKW', 256),
    ecdh('ECDH-ES', undefined),
    ecdh('ECDH-ES+A128KW', 128),
    ecdh('ECDH-ES+A192KW', 192),
    ecdh('ECDH-ES+A256KW', 256),
    pbes2('PBES2-HS256+A128KW', 'sha256', 128),
    pbes2('PBES2-HS384+A192KW', 'sha384', 192),
    pbes2('PBES2-HS512+A256KW', 'sha512', 256),
  ].map((spec) => [spec.alg, spec]),
);

/** RFC 8725 §3.2: RSAES-PKCS1-v1_5 is not offered (Bleichenbacher's attack and its descendants). */
export function rejectUnofferedKeyManagement(alg: string): void {
  if (alg === 'RSA1_5') {
    throw new JoseNotSupported(
      'RSA1_5 is not offered: RSAES-PKCS1-v1_5 invites padding-oracle attacks (RFC 8725 §3.2); use RSA-OAEP-256',
    );
  }
}

/**
 * Every key-management algorithm `key` may serve, judged by type, curve and size. PBES2 is left out:
 * a password is only ever a PBES2 key when the caller pins it so.
 */
export function jweAlgorithmsFor(key: KeyObject): string[] {
  const algs: string[] = [];
  for (const spec of KEY_MANAGEMENT.values()) {
    if (spec.alg.startsWith('PBES2')) continue;
    if (spec.reject(key) === undefined) algs.push(spec.alg);
  }
  return algs;
}
