// Builds tokens by hand, the way an attacker would: raw header text (so duplicate members survive),
// raw segments (so non-canonical base64url survives) and signatures made straight with node:crypto.
import { Buffer } from 'node:buffer';
import { constants, createHmac, type KeyObject, sign } from 'node:crypto';

export type Signer = (signingInput: string) => Buffer;

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/** base64url of a string's UTF-8 bytes, of bytes, or of an object's JSON. */
export function b64u(input: string | Uint8Array | object): string {
  if (typeof input === 'string') return Buffer.from(input, 'utf8').toString('base64url');
  if (input instanceof Uint8Array) return Buffer.from(input).toString('base64url');
  return Buffer.from(JSON.stringify(input), 'utf8').toString('base64url');
}

/** HMAC over the signing input, keyed by `secret` (any bytes, including an empty or public key). */
export function hmacSigner(secret: Uint8Array | string, hash = 'sha256'): Signer {
  return (input) => createHmac(hash, secret).update(input).digest();
}

const HASHES: Record<string, string> = { '256': 'sha256', '384': 'sha384', '512': 'sha512' };

/** A signer for RS*, PS*, ES* (raw r‖s) and EdDSA with a node:crypto private key. */
export function keySigner(
  key: KeyObject,
  alg: string,
  dsaEncoding: 'ieee-p1363' | 'der' = 'ieee-p1363',
): Signer {
  const hash = HASHES[alg.slice(2)] ?? null;
  return (input) => {
    const data = Buffer.from(input, 'latin1');
    if (alg.startsWith('RS')) return sign(hash, data, key);
    if (alg.startsWith('PS')) {
      const saltLength = Number(alg.slice(2)) / 8;
      return sign(hash, data, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength });
    }
    if (alg.startsWith('ES')) return sign(hash, data, { key, dsaEncoding });
    return sign(null, data, key);
  };
}

/** A compact token from raw segments, signed over exactly those segments. */
export function forgeSegments(headerSegment: string, payloadSegment: string, signer: Signer): string {
  const input = `${headerSegment}.${payloadSegment}`;
  return `${input}.${signer(input).toString('base64url')}`;
}

/**
 * A compact token. A string header or payload is taken as raw JSON text (so it may contain duplicate
 * members or be something other than an object); an object is serialized with JSON.stringify.
 */
export function forge(header: string | object, payload: string | object, signer: Signer): string {
  return forgeSegments(b64u(header), b64u(payload), signer);
}

/** The three segments of a compact token. */
export function segments(token: string): [string, string, string] {
  const [h, p, s] = token.split('.');
  return [h!, p!, s!];
}

/**
 * The same bytes, spelled differently: sets an unused trailing bit of the last character. Node's
 * decoder ignores those bits, so `Buffer.from(result, 'base64url')` equals the original bytes.
 */
export function withTrailingBits(segment: string): string {
  const rest = segment.length % 4;
  if (rest !== 2 && rest !== 3) throw new Error('this segment has no unused trailing bits');
  const last = ALPHABET.indexOf(segment.at(-1)!);
  return segment.slice(0, -1) + ALPHABET[last | 1];
}

/** Seconds since the epoch, now. */
export function now(): number {
  return Math.floor(Date.now() / 1000);
}

/** The claims of a token that passes every check: issuer, subject, audience, issued now, valid 10 minutes. */
export function claims(): { iss: string; sub: string; aud: string; iat: number; exp: number } {
  return { iss: 'https://issuer.example', sub: 'user-1', aud: 'api', iat: now(), exp: now() + 600 };
}

/** Calls `fn` and returns what it threw (or fails the test when it returns). */
export function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected the call to throw');
}

/**
 * A JSON serialization with raw members added at the front, as an attacker edits the text: members
 * such as `"__proto__"` survive, which building the object in JavaScript would turn into a prototype.
 */
export function withRawMembers<T>(value: object, members: string): T {
  return JSON.parse(JSON.stringify(value).replace(/^\{/, `{${members},`)) as T;
}
