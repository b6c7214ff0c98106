import type { KeyObject } from 'node:crypto';
import { types } from 'node:util';
import { JwksNoMatchingKey, KeyInvalid } from '../errors.js';
import { importKeyObject, importSecret } from '../key/import.js';
import { Key } from '../key/key.js';
import { JWS_ALGORITHMS } from './jws_algorithms.js';
import type { JwsHeaderParameters } from './jws_header.js';

/**
 * A single key: a {@link Key}, a `node:crypto` `KeyObject`, or the raw bytes of an HMAC secret.
 * Strings are never accepted as keys: import PEM with `importPem` and secrets with `importSecret`,
 * so that nothing has to guess what a string is.
 */
export type KeyInput = Key | KeyObject | Uint8Array;

/** A set of keys that picks candidates for a token's header: `createLocalJwks` and `createRemoteJwks`. */
export interface KeySet {
  /** Candidate keys for `header` from what is already in memory (never fetches). */
  select(header: JwsHeaderParameters): readonly Key[];
  /** Candidate keys for `header`, fetching or refreshing the set when it has none. */
  resolve(header: JwsHeaderParameters): Promise<readonly Key[]>;
}

/** A function that picks the key(s) for a token, given its header (which it must not trust). */
export type KeyResolver = (
  header: JwsHeaderParameters,
) => Key | readonly Key[] | Promise<Key | readonly Key[]>;

/** What the verify functions accept: a key, a key set, or a resolver function. */
export type VerificationKey = KeyInput | KeySet | KeyResolver;

const wrapped = new WeakMap<KeyObject, Key>();

/** Normalises a single key input to a {@link Key}. */
export function toKey(input: KeyInput): Key {
  if (input instanceof Key) return input;
  if (input instanceof Uint8Array) return importSecret(input);
  // A real KeyObject, not an object that merely has a `type` (jsonwebtoken CVE-2022-23529: never call
  // into a key argument that is not what it claims to be).
  if (types.isKeyObject(input)) {
    let key = wrapped.get(input as KeyObject);
    if (!key) {
      key = importKeyObject(input as KeyObject);
      wrapped.set(input as KeyObject, key);
    }
    return key;
  }
  throw new KeyInvalid(
    'expected a Key, a KeyObject or a Uint8Array secret (import strings with importPem / importSecret)',
  );
}

export function isKeySet(input: unknown): input is KeySet {
  return typeof input === 'object' && input !== null && typeof (input as KeySet).select === 'function';
}

/**
 * The keys to try for `header`. A single key is returned as is (its fitness is checked by the caller,
 * which reports precisely why it cannot serve); keys from a set or resolver are filtered to those that
 * can verify `alg`, and none left is `ERR_JWKS_NO_MATCHING_KEY`.
 */
export async function resolveVerificationKeys(
  input: VerificationKey,
  header: JwsHeaderParameters,
): Promise<readonly Key[]> {
  if (isKeySet(input)) return usableKeys(await input.resolve(header), header.alg!);
  if (typeof input === 'function') {
    const found = await input(header);
    // RFC 8725 §3.1: only Keys, whose algorithms are known. A `keys[kid] || ''` fallback must not become
    // an empty HMAC secret (fast-jwt CVE-2026-44351); null or undefined means nothing was found.
    if (found === undefined || found === null) throw new JwksNoMatchingKey();
    const keys = found instanceof Key ? [found] : found;
    if (!Array.isArray(keys) || !keys.every((key) => key instanceof Key)) {
      throw new KeyInvalid('a key resolver must return a Key or an array of Keys');
    }
    return usableKeys(keys, header.alg!);
  }
  return [toKey(input)];
}

/** The keys of a set that may verify `alg`; none is `ERR_JWKS_NO_MATCHING_KEY`. */
export function usableKeys(keys: readonly Key[], alg: string): readonly Key[] {
  const operation = receivingOperation(alg);
  const fit = keys.filter((key) => key.canServe(alg, operation));
  if (fit.length === 0) throw new JwksNoMatchingKey();
  return fit;
}

/** What a recipient does with a key for `alg`: verify a JWS, or decrypt a JWE. */
export function receivingOperation(alg: string): 'verify' | 'decrypt' {
  return JWS_ALGORITHMS.has(alg) ? 'verify' : 'decrypt';
}
