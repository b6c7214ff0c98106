import { Buffer } from 'node:buffer';
import { JoseNotSupported, JwsInvalid, KeyInvalid } from '../errors.js';
import type { Key } from '../key/key.js';
import { encodeBase64url } from './base64url.js';
import { isJsonObject, type JsonObject } from './json.js';
import { JWS_ALGORITHMS, type JwsAlgorithmSpec } from './jws_algorithms.js';
import { assertDisjoint, assertNoProtoMember, type JwsHeaderParameters } from './jws_header.js';
import { type KeyInput, toKey } from './key_input.js';

/** The algorithm a signature will use: the header's `alg`, else the key's only algorithm. */
export function signingAlgorithm(key: Key, alg: unknown): JwsAlgorithmSpec {
  if (alg === undefined) {
    if (key.algorithms.length !== 1) {
      throw new KeyInvalid(`this key serves ${key.algorithms.join(', ')}; say which with "alg"`);
    }
    alg = key.algorithms[0];
  }
  if (typeof alg !== 'string') throw new JwsInvalid('"alg" must be a string');
  if (alg === 'none') throw new JoseNotSupported('"none" is only available through encodeUnsecuredJwt');
  const spec = JWS_ALGORITHMS.get(alg);
  if (!spec) throw new JoseNotSupported(`unsupported "alg" ${JSON.stringify(alg)}`);
  key.assertUsable(alg, 'sign');
  return spec;
}

export interface SignedParts {
  protectedSegment: string;
  /** The payload as it appears in the serialization (base64url, or raw when b64 is false). */
  payloadSegment: string;
  signatureSegment: string;
  protectedHeader: JwsHeaderParameters;
}

/**
 * Signs `payload` under `protectedHeader` (RFC 7515 §5.1), honouring RFC 7797 `b64: false`. The
 * header gets `alg` from the key when it has none, and must satisfy the same rules a verifier applies.
 */
export function signParts(
  payload: Uint8Array | string,
  keyInput: KeyInput,
  protectedHeader: JwsHeaderParameters | undefined,
  unprotectedHeader?: JsonObject,
): SignedParts {
  const key = toKey(keyInput);
  if (protectedHeader !== undefined && !isJsonObject(protectedHeader))
    throw new JwsInvalid('protected header must be an object');
  if (unprotectedHeader !== undefined && !isJsonObject(unprotectedHeader))
    throw new JwsInvalid('unprotected header must be an object');
  // The same rule verification applies (assertNoProtoMember): never emit a header a verifier must refuse.
  if (protectedHeader) assertNoProtoMember(protectedHeader, 'protected header');
  if (unprotectedHeader) assertNoProtoMember(unprotectedHeader, 'unprotected header');
  const alg = protectedHeader?.alg ?? unprotectedHeader?.alg;
  const spec = signingAlgorithm(key, alg);
  const header: JwsHeaderParameters =
    alg === undefined ? { alg: spec.alg, ...protectedHeader } : { ...protectedHeader };
  if (unprotectedHeader) assertDisjoint(header, unprotectedHeader);
  let b64 = true;
  if (header.b64 !== undefined) {
    if (typeof header.b64 !== 'boolean') throw new JwsInvalid('"b64" must be a boolean');
    if (!Array.isArray(header.crit) || !header.crit.includes('b64')) {
      throw new JwsInvalid('"b64" must be listed in "crit" (RFC 7797 §6)');
    }
    b64 = header.b64;
  }
  const bytes = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : Buffer.from(payload);
  // RFC 7515 §7.2.1: with every parameter unprotected (JSON serializations only, RFC 7520 §4.7) there
  // is no protected header: "protected" is absent and the signing input starts with '.'.
  const protectedSegment = Object.keys(header).length === 0 ? '' : encodeBase64url(JSON.stringify(header));
  const payloadSegment = b64 ? bytes.toString('base64url') : bytes.toString('utf8');
  const signingInput = b64
    ? `${protectedSegment}.${payloadSegment}`
    : Buffer.concat([Buffer.from(`${protectedSegment}.`, 'ascii'), bytes]);
  const signature = spec.sign(key.keyObject, signingInput);
  return {
    protectedSegment,
    payloadSegment,
    signatureSegment: signature.toString('base64url'),
    protectedHeader: header,
  };
}
