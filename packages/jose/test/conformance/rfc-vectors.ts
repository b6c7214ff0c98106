// Readers and shapes for the RFC example files in ../vectors (see ../vectors/README.md). Data only:
// the tests decide what each example must prove.
import { Buffer } from 'node:buffer';
import { readFileSync } from 'node:fs';
import type {
  FlattenedJwe,
  FlattenedJws,
  GeneralJwe,
  GeneralJws,
  JweHeaderParameters,
  Jwk,
  JwsHeaderParameters,
} from '../../src/index.js';

/** The text of a vector file, path relative to `test/vectors/`. */
export function readVector(path: string): string {
  return readFileSync(new URL(`../vectors/${path}`, import.meta.url), 'utf8');
}

/** A vector file parsed as JSON. */
export function readVectorJson<T>(path: string): T {
  return JSON.parse(readVector(path)) as T;
}

/** One signature of an RFC 7520 JWS example (`signing`, an array in §4.8). */
export interface Rfc7520Signing {
  protected?: JwsHeaderParameters;
  protected_b64u?: string;
  unprotected?: JwsHeaderParameters;
  'sig-input': string;
  sig: string;
}

/** An RFC 7520 (JOSE Cookbook) JWS example file. */
export interface Rfc7520JwsExample {
  title: string;
  reproducible?: boolean;
  input: { payload: string; key: Jwk | Jwk[]; alg: string | string[] };
  signing: Rfc7520Signing | Rfc7520Signing[];
  output: { compact?: string; json?: GeneralJws; json_flat?: FlattenedJws };
}

export function rfc7520Example(path: string): Rfc7520JwsExample {
  return readVectorJson<Rfc7520JwsExample>(`rfc7520/${path}`);
}

/** The single signature of an example (everything except §4.8). */
export function singleSigning(example: Rfc7520JwsExample): Rfc7520Signing {
  if (Array.isArray(example.signing)) throw new Error(`${example.title} has several signatures`);
  return example.signing;
}

/** The single key of an example (everything except §4.8). */
export function singleKey(example: Rfc7520JwsExample): Jwk {
  if (Array.isArray(example.input.key)) throw new Error(`${example.title} has several keys`);
  return example.input.key;
}

/** How an RFC 7520 JWE example's key was managed (`encrypting_key`, an array in §5.13). */
export interface Rfc7520EncryptingKey {
  encrypted_key?: string;
  /** ECDH-ES: the ephemeral key, private member `d` included. */
  epk?: Jwk;
  /** ECDH-ES (direct): the derived CEK. */
  cek?: string;
  /** PBES2 salt input and count. */
  salt?: string;
  iteration_count?: number;
  /** AES-GCM key wrap IV and tag. */
  iv?: string;
  tag?: string;
  /** §5.13: the recipient's unprotected header. */
  header?: JweHeaderParameters;
}

/** An RFC 7520 (JOSE Cookbook) JWE example file (§5, and the `encrypt` half of §6). */
export interface Rfc7520JweExample {
  title: string;
  reproducible?: boolean;
  input: {
    plaintext: string;
    key?: Jwk | Jwk[];
    pwd?: string;
    alg: string | string[];
    enc: string;
    aad?: string;
    zip?: string;
  };
  generated: { cek?: string; iv: string; aad_b64u?: string; plaintext_c?: string };
  encrypting_key?: Rfc7520EncryptingKey | Rfc7520EncryptingKey[];
  encrypting_content: {
    protected?: JweHeaderParameters;
    protected_b64u?: string;
    unprotected?: JweHeaderParameters;
    ciphertext: string;
    tag: string;
  };
  output: { compact?: string; json?: GeneralJwe; json_flat?: FlattenedJwe };
}

export function rfc7520JweExample(path: string): Rfc7520JweExample {
  return readVectorJson<Rfc7520JweExample>(`rfc7520/${path}`);
}

/** A JWK without its private members (the public key an RFC example's verifier would hold). */
export function publicJwk(jwk: Jwk): Jwk {
  const { d: _d, p: _p, q: _q, dp: _dp, dq: _dq, qi: _qi, ...rest } = jwk;
  return rest;
}

export function utf8(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('utf8');
}

/** `rfc/expected.json`, written by the Tessera team from the copied data files. */
export interface RfcExpected {
  rfc7515: Record<
    'A.1' | 'A.2' | 'A.3' | 'A.4' | 'A.5' | 'A.6' | 'A.7',
    { jws: string; key?: string; alg?: string; payload_utf8?: string; expect: string }
  >;
  rfc7516: Record<
    'A.1' | 'A.2' | 'A.3' | 'A.4',
    { jwe: string; alg?: string; enc?: string; plaintext_utf8: string }
  >;
  rfc7518: {
    C: { header: { alg: string; enc: string; apu: string; apv: string }; derived_key_b64u: string };
  };
  rfc7638: { '3.1': { jwk: string; thumbprint_sha256_b64u: string; canonical_members: string[] } };
  rfc8037: {
    'A.3': { canonical_json: string; thumbprint_sha256_b64u: string };
    'A.4_A.5': { protected: JwsHeaderParameters; payload_utf8: string; compact: string };
  };
}

export const expected: RfcExpected = readVectorJson<RfcExpected>('rfc/expected.json');
