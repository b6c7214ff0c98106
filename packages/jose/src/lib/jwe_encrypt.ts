import { Buffer } from 'node:buffer';
import { deflateRawSync } from 'node:zlib';
import { JoseNotSupported, JweInvalid } from '../errors.js';
import { encodeBase64url } from './base64url.js';
import { isJsonObject, type JsonObject } from './json.js';
import {
  CONTENT_ENCRYPTION,
  type ContentEncryptionSpec,
  KEY_MANAGEMENT,
  type KeyManagementParameters,
  rejectUnofferedKeyManagement,
} from './jwe_algorithms.js';
import { assertDisjoint, assertNoProtoMember } from './jws_header.js';
import { type KeyInput, toKey } from './key_input.js';
import { randomBytes } from './random.js';

/** The JOSE header of a JWE (RFC 7516 §4.1), as written or read. */
export interface JweHeaderParameters {
  alg?: string;
  enc?: string;
  zip?: string;
  kid?: string;
  typ?: string;
  cty?: string;
  crit?: string[];
  epk?: Record<string, unknown>;
  apu?: string;
  apv?: string;
  iv?: string;
  tag?: string;
  p2s?: string;
  p2c?: number;
  [parameter: string]: unknown;
}

export interface JweRecipient {
  key: KeyInput;
  /** Per-recipient unprotected header (JSON serializations only). */
  unprotectedHeader?: JweHeaderParameters;
  /** Fixed key-management inputs (ephemeral key, PBES2 salt and count, …); random when absent. */
  parameters?: KeyManagementParameters;
}

export interface JweEncryptInput {
  plaintext: Uint8Array | string;
  protectedHeader?: JweHeaderParameters;
  sharedUnprotectedHeader?: JweHeaderParameters;
  /** JSON serializations only: additional authenticated data (RFC 7516 §5.1 step 14). */
  aad?: Uint8Array | string;
  recipients: readonly JweRecipient[];
  /** Fixed content encryption key and IV (to reproduce test vectors); random when absent. */
  cek?: Uint8Array;
  iv?: Uint8Array;
}

export interface EncryptedParts {
  protectedHeader: JweHeaderParameters;
  protectedSegment: string;
  recipients: { header: JweHeaderParameters | undefined; encryptedKey: string }[];
  iv: string;
  ciphertext: string;
  tag: string;
  aad: string | undefined;
}

/**
 * RFC 7516 §5.1 for every serialization. Key management runs first, because with one recipient its
 * header parameters (`epk`, `p2s`, `iv`, …) join the protected header, which is the AAD.
 */
export function encryptParts(
  input: JweEncryptInput,
  keyManagementInProtectedHeader: boolean,
): EncryptedParts {
  const protectedHeader: JweHeaderParameters = Object.assign(
    {},
    checkedObject(input.protectedHeader, 'protected header'),
  );
  const shared = checkedObject(input.sharedUnprotectedHeader, 'shared unprotected header');
  if (shared) assertDisjoint(protectedHeader, shared, JweInvalid);
  const { recipients } = input;
  if (!Array.isArray(recipients) || recipients.length === 0)
    throw new JweInvalid('a JWE needs at least one recipient');

  const joint = recipients.map((recipient) => {
    const header = checkedObject(recipient.unprotectedHeader, 'recipient header');
    if (header) {
      assertDisjoint(protectedHeader, header, JweInvalid);
      if (shared) assertDisjoint(shared, header, JweInvalid);
    }
    return Object.assign({}, header, shared, protectedHeader) as JweHeaderParameters;
  });
  const enc = contentEncryption(joint);
  // RFC 7516 §4.1.3: "zip" must be integrity protected.
  if (joint.some((h) => h.zip !== undefined) && protectedHeader.zip === undefined) {
    throw new JweInvalid('"zip" must be in the protected header');
  }
  if (protectedHeader.zip !== undefined && protectedHeader.zip !== 'DEF') {
    throw new JoseNotSupported(`unsupported "zip" ${JSON.stringify(protectedHeader.zip)}`);
  }

  let cek: Buffer | undefined = input.cek === undefined ? undefined : Buffer.from(input.cek);
  const wrapped = recipients.map((recipient, i) => {
    const alg = joint[i]!.alg;
    if (typeof alg !== 'string') throw new JweInvalid('"alg" header parameter missing or not a string');
    rejectUnofferedKeyManagement(alg);
    const spec = KEY_MANAGEMENT.get(alg);
    if (!spec) throw new JoseNotSupported(`unsupported "alg" ${JSON.stringify(alg)}`);
    // RFC 7516 §7.2.1: direct modes produce the CEK, so they cannot share it with other recipients.
    if (spec.direct && recipients.length > 1) throw new JweInvalid(`${alg} allows exactly one recipient`);
    const key = toKey(recipient.key);
    key.assertUsable(alg, 'encrypt');
    if (alg === 'dir') assertDirectKeyFits(key.alg, enc);
    const result = spec.wrap(
      key.type === 'secret' ? key.keyObject : key.verificationKey,
      enc,
      Object.assign({}, recipient.parameters, { cek: cek ?? recipient.parameters?.cek }),
    );
    cek ??= result.cek;
    return result;
  });

  const recipientHeaders = recipients.map((recipient, i) => {
    const parameters = wrapped[i]!.parameters;
    const own = recipient.unprotectedHeader ? { ...recipient.unprotectedHeader } : undefined;
    if (Object.keys(parameters).length === 0) return own;
    if (keyManagementInProtectedHeader) {
      Object.assign(protectedHeader, parameters);
      return own;
    }
    return { ...own, ...parameters };
  });

  const protectedSegment = Object.keys(protectedHeader).length
    ? encodeBase64url(JSON.stringify(protectedHeader))
    : '';
  const aad = input.aad === undefined ? undefined : encodeBase64url(input.aad);
  // RFC 7516 §5.1 step 14: AAD = ASCII(protected segment) [|| '.' || ASCII(BASE64URL(aad))].
  const additionalData = Buffer.from(
    aad === undefined ? protectedSegment : `${protectedSegment}.${aad}`,
    'ascii',
  );
  let plaintext: Buffer =
    typeof input.plaintext === 'string' ? Buffer.from(input.plaintext, 'utf8') : Buffer.from(input.plaintext);
  if (protectedHeader.zip === 'DEF') plaintext = deflateRawSync(plaintext); // RFC 7516 §4.1.3, RFC 1951
  const iv = input.iv === undefined ? randomBytes(enc.ivLength) : Buffer.from(input.iv);
  if (iv.length !== enc.ivLength) throw new JweInvalid(`${enc.enc} needs a ${enc.ivLength}-byte IV`);
  const { ciphertext, tag } = enc.encrypt(cek!, iv, plaintext, additionalData);
  return {
    protectedHeader,
    protectedSegment,
    recipients: wrapped.map((w, i) => ({
      header: recipientHeaders[i],
      encryptedKey: w.encryptedKey.toString('base64url'),
    })),
    iv: iv.toString('base64url'),
    ciphertext: ciphertext.toString('base64url'),
    tag: tag.toString('base64url'),
    aad,
  };
}

/** RFC 7516 §7.2.1: every recipient uses the same "enc". */
function contentEncryption(headers: readonly JweHeaderParameters[]): ContentEncryptionSpec {
  const encs = new Set(headers.map((h) => h.enc));
  if (encs.size !== 1) throw new JweInvalid('all recipients must share one "enc"');
  const [enc] = encs;
  if (typeof enc !== 'string') throw new JweInvalid('"enc" header parameter missing or not a string');
  const spec = CONTENT_ENCRYPTION.get(enc);
  if (!spec) throw new JoseNotSupported(`unsupported "enc" ${JSON.stringify(enc)}`);
  return spec;
}

/** A key pinned to a content-encryption name (RFC 7520 §5.6) serves "dir" with that "enc" only. */
export function assertDirectKeyFits(keyAlg: string | undefined, enc: ContentEncryptionSpec): void {
  if (keyAlg !== undefined && CONTENT_ENCRYPTION.has(keyAlg) && keyAlg !== enc.enc) {
    throw new JweInvalid(`this key is for ${keyAlg}, not ${enc.enc}`);
  }
}

function checkedObject(value: unknown, what: string): JsonObject | undefined {
  if (value === undefined) return undefined;
  if (!isJsonObject(value)) throw new JweInvalid(`${what} must be an object`);
  // The same rule decryption applies: never emit a header a recipient must refuse.
  assertNoProtoMember(value, what, JweInvalid);
  return value;
}
