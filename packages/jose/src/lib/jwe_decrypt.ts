import { Buffer } from 'node:buffer';
import { inflateRawSync } from 'node:zlib';
import {
  isJoseError,
  JoseAlgNotAllowed,
  JoseNotSupported,
  JweDecryptionFailed,
  JweInvalid,
} from '../errors.js';
import type { Key } from '../key/key.js';
import { decodeBase64url } from './base64url.js';
import { isJsonObject, type JsonObject } from './json.js';
import {
  CONTENT_ENCRYPTION,
  type ContentEncryptionSpec,
  DEFAULT_MAX_PBES2_COUNT,
  ecdhCurve,
  KEY_MANAGEMENT,
  type KeyManagementSpec,
  MIN_PBES2_COUNT,
  rejectUnofferedKeyManagement,
} from './jwe_algorithms.js';
import { assertDirectKeyFits, type JweHeaderParameters } from './jwe_encrypt.js';
import { assertDisjoint, assertNoProtoMember, checkCrit, parseProtectedHeader } from './jws_header.js';
import { resolveVerificationKeys, type VerificationKey } from './key_input.js';

export interface JweDecryptOptions {
  /** Accepted key-management algorithms (`alg`), e.g. `['ECDH-ES+A256KW']`. Required. */
  keyManagementAlgorithms: readonly string[];
  /** Accepted content-encryption algorithms (`enc`), e.g. `['A256GCM']`. Required. */
  contentEncryptionAlgorithms: readonly string[];
  /** Extension names in `crit` that the caller processes itself. */
  crit?: readonly string[];
  /** Allow `zip: "DEF"` content (default `false`: compressed JWEs are refused). */
  allowCompression?: boolean;
  /** Largest plaintext a compressed JWE may inflate to, in bytes (default 256 KiB). */
  maxDecompressedLength?: number;
  /** Largest PBES2 iteration count accepted, in total over a JWE's recipients (default 10,000; at least 1,000). */
  maxPbes2Count?: number;
}

export interface JwePolicy {
  readonly keyManagement: ReadonlySet<string>;
  readonly contentEncryption: ReadonlySet<string>;
  readonly crit: readonly string[] | undefined;
  readonly maxDecompressedLength: number | undefined;
  readonly maxPbes2Count: number;
}

const DEFAULT_MAX_DECOMPRESSED_LENGTH = 256 * 1024;
const NO_BUILT_IN_EXTENSIONS: ReadonlySet<string> = new Set();

/** Validates the caller's decryption options once. */
export function createJwePolicy(options: JweDecryptOptions | undefined): JwePolicy {
  const keyManagement = options?.keyManagementAlgorithms;
  const contentEncryption = options?.contentEncryptionAlgorithms;
  if (!Array.isArray(keyManagement) || keyManagement.length === 0) {
    throw new TypeError(
      'options.keyManagementAlgorithms is required: list the "alg" values to accept, e.g. ["ECDH-ES+A256KW"]',
    );
  }
  if (!Array.isArray(contentEncryption) || contentEncryption.length === 0) {
    throw new TypeError(
      'options.contentEncryptionAlgorithms is required: list the "enc" values to accept, e.g. ["A256GCM"]',
    );
  }
  for (const alg of keyManagement) {
    rejectUnofferedKeyManagement(alg);
    if (!KEY_MANAGEMENT.has(alg))
      throw new TypeError(`unsupported key-management algorithm ${JSON.stringify(alg)}`);
  }
  for (const enc of contentEncryption) {
    if (!CONTENT_ENCRYPTION.has(enc))
      throw new TypeError(`unsupported content-encryption algorithm ${JSON.stringify(enc)}`);
  }
  const maxPbes2Count = options?.maxPbes2Count ?? DEFAULT_MAX_PBES2_COUNT;
  if (!Number.isInteger(maxPbes2Count) || maxPbes2Count < MIN_PBES2_COUNT) {
    throw new TypeError(`options.maxPbes2Count must be an integer of at least ${MIN_PBES2_COUNT}`);
  }
  const maxDecompressedLength = options?.maxDecompressedLength ?? DEFAULT_MAX_DECOMPRESSED_LENGTH;
  if (!Number.isInteger(maxDecompressedLength) || maxDecompressedLength < 1) {
    throw new TypeError('options.maxDecompressedLength must be a positive integer');
  }
  return {
    keyManagement: new Set(keyManagement),
    contentEncryption: new Set(contentEncryption),
    crit: options?.crit,
    maxDecompressedLength: options?.allowCompression ? maxDecompressedLength : undefined,
    maxPbes2Count,
  };
}

export interface JweParts {
  readonly protectedSegment: string | undefined;
  readonly sharedUnprotectedHeader?: unknown;
  readonly recipients: readonly { readonly header?: unknown; readonly encryptedKey: unknown }[];
  readonly iv: unknown;
  readonly ciphertext: unknown;
  readonly tag: unknown;
  readonly aad?: unknown;
}

export interface DecryptedJwe {
  readonly plaintext: Buffer;
  readonly protectedHeader: JweHeaderParameters | undefined;
  /** The JOSE header of the recipient that decrypted: protected ∪ shared ∪ per-recipient. */
  readonly header: JweHeaderParameters;
  readonly recipientIndex: number;
  readonly key: Key;
}

/**
 * RFC 7516 §5.2 for every serialization. Each recipient the caller can serve (allowed `alg` and
 * `enc`, a matching key) is tried in order; the first that decrypts wins. Every cryptographic failure
 * is the same `ERR_JWE_DECRYPTION_FAILED`, whichever step failed.
 */
export async function decryptParts(
  parts: JweParts,
  keyInput: VerificationKey,
  policy: JwePolicy,
): Promise<DecryptedJwe> {
  const protectedHeader = parts.protectedSegment
    ? parseProtectedHeader(parts.protectedSegment, JweInvalid)
    : undefined;
  if (parts.protectedSegment === '') throw new JweInvalid('protected header must not be empty');
  const shared = optionalObject(parts.sharedUnprotectedHeader, 'shared unprotected header');
  if (shared && protectedHeader) assertDisjoint(protectedHeader, shared, JweInvalid);
  const iv = bytes(parts.iv, 'iv');
  const ciphertext = bytes(parts.ciphertext, 'ciphertext');
  const tag = bytes(parts.tag, 'tag');
  if (parts.aad !== undefined) bytes(parts.aad, 'aad');
  const aad = Buffer.from(
    parts.aad === undefined ? (parts.protectedSegment ?? '') : `${parts.protectedSegment ?? ''}.${parts.aad}`,
    'ascii',
  );
  // Every header is screened for "__proto__" before anything reads it (the protected header was, by
  // parseProtectedHeader; the shared one, by optionalObject), so each one's own members are all it holds.
  const recipientHeaders = parts.recipients.map((r) => (isJsonObject(r.header) ? r.header : undefined));
  for (const own of recipientHeaders) if (own) assertNoProtoMember(own, 'recipient header', JweInvalid);
  // RFC 7516 §4.1.3: "zip" must be integrity protected.
  if (
    protectedHeader?.zip === undefined &&
    (shared?.zip !== undefined || recipientHeaders.some((own) => own?.zip !== undefined))
  ) {
    throw new JweInvalid('"zip" must be in the protected header');
  }
  if (parts.recipients.length > 1) assertPbes2Budget(parts.recipients, protectedHeader, shared, policy);

  let lastError: unknown;
  for (const [index, recipient] of parts.recipients.entries()) {
    const own = optionalObject(recipient.header, 'recipient header');
    if (own) {
      if (protectedHeader) assertDisjoint(protectedHeader, own, JweInvalid);
      if (shared) assertDisjoint(shared, own, JweInvalid);
    }
    const header = jointHeader(protectedHeader, shared, own);
    try {
      const plaintext = await decryptRecipient(
        header,
        protectedHeader,
        recipient.encryptedKey,
        keyInput,
        policy,
        iv,
        ciphertext,
        tag,
        aad,
      );
      return {
        plaintext: plaintext.plaintext,
        protectedHeader,
        header,
        recipientIndex: index,
        key: plaintext.key,
      };
    } catch (err) {
      // With several recipients, one the caller cannot serve is skipped; malformed input is not.
      if (parts.recipients.length === 1 || !isJoseError(err) || err.code === 'ERR_JWE_INVALID') throw err;
      lastError = err;
    }
  }
  throw lastError instanceof JweDecryptionFailed ? lastError : new JweDecryptionFailed();
}

async function decryptRecipient(
  header: JweHeaderParameters,
  protectedHeader: JweHeaderParameters | undefined,
  encryptedKeySegment: unknown,
  keyInput: VerificationKey,
  policy: JwePolicy,
  iv: Buffer,
  ciphertext: Buffer,
  tag: Buffer,
  aad: Buffer,
): Promise<{ plaintext: Buffer; key: Key }> {
  const checked = checkJweHeader(header, protectedHeader, policy);
  const encryptedKey =
    encryptedKeySegment === undefined ? Buffer.alloc(0) : bytes(encryptedKeySegment, 'encrypted_key');
  checkLengths(checked, iv, tag);
  const keys = await resolveVerificationKeys(keyInput, header);
  return decryptWithKeys(checked, keys, encryptedKey, iv, ciphertext, tag, aad, policy);
}

/** A JWE header that passed the checks of RFC 7516 §5.2 that depend on the header alone. */
export interface CheckedJweHeader {
  readonly header: JweHeaderParameters;
  readonly management: KeyManagementSpec;
  readonly content: ContentEncryptionSpec;
}

/** `alg` and `enc` allowed and known, `crit` understood, `zip` permitted. */
export function checkJweHeader(
  header: JweHeaderParameters,
  protectedHeader: JweHeaderParameters | undefined,
  policy: JwePolicy,
): CheckedJweHeader {
  const { alg, enc } = header;
  if (typeof alg !== 'string' || alg.length === 0)
    throw new JweInvalid('"alg" header parameter missing or not a string');
  if (typeof enc !== 'string' || enc.length === 0)
    throw new JweInvalid('"enc" header parameter missing or not a string');
  if (!policy.keyManagement.has(alg))
    throw new JoseAlgNotAllowed(`"alg" ${JSON.stringify(alg)} is not allowed`, alg);
  if (!policy.contentEncryption.has(enc))
    throw new JoseAlgNotAllowed(`"enc" ${JSON.stringify(enc)} is not allowed`, enc);
  checkCrit(header, protectedHeader, policy.crit, JweInvalid, NO_BUILT_IN_EXTENSIONS);
  if (header.zip !== undefined) {
    if (header.zip !== 'DEF') throw new JoseNotSupported(`unsupported "zip" ${JSON.stringify(header.zip)}`);
    if (policy.maxDecompressedLength === undefined) {
      throw new JweInvalid('compressed JWE refused: pass allowCompression: true to accept "zip": "DEF"');
    }
  }
  return { header, management: KEY_MANAGEMENT.get(alg)!, content: CONTENT_ENCRYPTION.get(enc)! };
}

/** RFC 7516 §5.2 steps 9–14: exact lengths are structure, not secrets, so they fail as ERR_JWE_INVALID. */
export function checkLengths({ content }: CheckedJweHeader, iv: Buffer, tag: Buffer): void {
  if (iv.length !== content.ivLength)
    throw new JweInvalid(`"iv" must be ${content.ivLength} bytes for ${content.enc}`);
  if (tag.length !== content.tagLength) {
    throw new JweInvalid(`"tag" must be ${content.tagLength} bytes for ${content.enc}`);
  }
}

/** The cryptographic half of RFC 7516 §5.2: recover the CEK with each candidate key, then decrypt. */
export function decryptWithKeys(
  { header, management, content }: CheckedJweHeader,
  resolved: readonly Key[],
  encryptedKey: Buffer,
  iv: Buffer,
  ciphertext: Buffer,
  tag: Buffer,
  aad: Buffer,
  policy: JwePolicy,
): { plaintext: Buffer; key: Key } {
  const alg = management.alg;
  for (const key of resolved) key.assertUsable(alg, 'decrypt');
  let keys = alg === 'dir' ? resolved.filter((key) => fitsDirect(key, content.enc)) : resolved;
  if (keys.length === 0) assertDirectKeyFits(resolved[0]!.alg, content);
  if (alg.startsWith('ECDH-ES')) keys = onEpkCurve(keys, header.epk);
  for (const key of keys) {
    try {
      const cek = management.unwrap(key.keyObject, content, encryptedKey, header, policy);
      // RFC 7516 §5.2 step 10: the CEK must have the length "enc" requires.
      if (cek.length !== content.keyLength) throw new JweDecryptionFailed();
      let plaintext = content.decrypt(cek, iv, ciphertext, tag, aad);
      if (header.zip === 'DEF') plaintext = inflate(plaintext, policy.maxDecompressedLength!);
      return { plaintext, key };
    } catch (err) {
      if (!(err instanceof JweDecryptionFailed)) throw err;
    }
  }
  throw new JweDecryptionFailed();
}

const ECDH_CURVES: ReadonlySet<unknown> = new Set(['P-256', 'P-384', 'P-521', 'X25519', 'X448']);

/**
 * RFC 7516 §5.2 step 7 (use the key the JWE was made for) and RFC 7518 §4.6.1.1: only ECDH keys on
 * the curve of "epk" can be it. An "epk" on another supported curve was made for another key: like
 * an RSA-OAEP key of another size, that is a failed decryption (and, in a General JWE, a recipient
 * to skip), not a malformed JWE. Anything else wrong with "epk" is left for the algorithm to report.
 */
function onEpkCurve(keys: readonly Key[], epk: unknown): readonly Key[] {
  const crv = isJsonObject(epk) ? epk.crv : undefined;
  const onCurve = keys.filter((key) => ecdhCurve(key.keyObject) === crv);
  if (onCurve.length > 0) return onCurve;
  if (ECDH_CURVES.has(crv)) throw new JweDecryptionFailed();
  return keys;
}

function fitsDirect(key: Key, enc: string): boolean {
  return key.alg === undefined || !CONTENT_ENCRYPTION.has(key.alg) || key.alg === enc;
}

// CVE-2024-28176 (jose): a few kilobytes of DEFLATE can inflate to gigabytes; the output is capped.
function inflate(data: Buffer, maxOutputLength: number): Buffer {
  try {
    return inflateRawSync(data, { maxOutputLength });
  } catch (cause) {
    if (cause instanceof RangeError)
      throw new JweInvalid(`decompressed plaintext exceeds ${maxOutputLength} bytes`);
    throw new JweDecryptionFailed();
  }
}

export function bytes(value: unknown, name: string): Buffer {
  const decoded = typeof value === 'string' ? decodeBase64url(value) : undefined;
  if (decoded === undefined) throw new JweInvalid(`"${name}" must be canonical base64url`);
  return decoded;
}

/**
 * CVE-2022-36083 (jose) through the General JSON Serialization: each recipient may ask for up to
 * `maxPbes2Count` PBKDF2 iterations and the recipients are tried in turn, so a JWE repeating one
 * PBES2 recipient would multiply the work. The bound therefore holds for the whole JWE, and is
 * checked before any key derivation (RFC 7518 §4.8.1.2 leaves the upper limit to the recipient).
 */
function assertPbes2Budget(
  recipients: JweParts['recipients'],
  protectedHeader: JsonObject | undefined,
  shared: JsonObject | undefined,
  policy: JwePolicy,
): void {
  let total = 0;
  for (const recipient of recipients) {
    const own = isJsonObject(recipient.header) ? recipient.header : undefined;
    const { alg, p2c } = jointHeader(protectedHeader, shared, own);
    if (typeof alg === 'string' && alg.startsWith('PBES2') && policy.keyManagement.has(alg)) {
      if (typeof p2c === 'number' && p2c > 0) total += p2c;
    }
  }
  if (total > policy.maxPbes2Count) {
    throw new JweInvalid(
      `the PBES2 recipients ask for more than ${policy.maxPbes2Count} iterations in total`,
    );
  }
}

function optionalObject(value: unknown, what: string): JsonObject | undefined {
  if (value === undefined) return undefined;
  if (!isJsonObject(value)) throw new JweInvalid(`${what} must be a JSON object`);
  assertNoProtoMember(value, what, JweInvalid);
  return value;
}

/**
 * RFC 7516 §7.2.1: the JOSE header is the union of the (disjoint) protected, shared and per-recipient
 * headers. Spread, not Object.assign: spread defines members, so an own "__proto__" could never set
 * the result's prototype (such headers are refused anyway, by assertNoProtoMember). Only the JSON
 * serializations with unprotected headers get here; a compact JWE returns its protected header as is.
 */
export function jointHeader(
  protectedHeader: JsonObject | undefined,
  shared: JsonObject | undefined,
  own: JsonObject | undefined,
): JweHeaderParameters {
  if (shared === undefined && own === undefined && protectedHeader !== undefined) return protectedHeader;
  return { ...own, ...shared, ...protectedHeader };
}
