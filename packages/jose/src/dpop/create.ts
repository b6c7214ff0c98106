import { KeyInvalid } from '../errors.js';
import { exportJwk } from '../key/export.js';
import { Key } from '../key/key.js';
import { encodeBase64url } from '../lib/base64url.js';
import type { JwsAlgorithm } from '../lib/jws_algorithms.js';
import { signingAlgorithm } from '../lib/jws_sign.js';
import { randomBytes } from '../lib/random.js';
import { epochSeconds } from '../lib/time.js';
import { accessTokenHash } from './access_token_hash.js';
import { dpopHtu } from './htu.js';
import { DPOP_TYP } from './proof_header.js';

export interface CreateDpopProofOptions {
  /** The HTTP method of the request (RFC 9449 §4.2 `htm`). */
  htm: string;
  /** The request's URI; query and fragment are dropped (`htu`, see {@link dpopHtu}). */
  htu: string | URL;
  /** The access token sent with the proof, to a protected resource: sets `ath` (§4.2, §7). */
  accessToken?: string;
  /** The nonce the server last gave (§8, §9). */
  nonce?: string;
  /** Default: 128 random bits, base64url-encoded (§4.2 asks for at least 96). */
  jti?: string;
  /** Default: now. */
  iat?: number;
  /** Default: the key's only algorithm. */
  alg?: JwsAlgorithm;
}

/** RFC 9110 §5.6.2: a method is a token. */
const METHOD = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** RFC 7638 §3.2 members: the public key and nothing else goes in the `jwk` header. */
const PUBLIC_MEMBERS = ['crv', 'e', 'kty', 'n', 'x', 'y'] as const;

/** Protected header segments per key and algorithm: a client signs many proofs with one key. */
const headerSegments = new WeakMap<Key, Map<string, string>>();

/**
 * Creates a DPoP proof JWT (RFC 9449 §4.2) with a private key from `generateKeyPair`: `typ`
 * `dpop+jwt`, the public key as `jwk`, and the `jti`, `htm`, `htu`, `iat` claims, with `ath` when
 * an access token is given and `nonce` when the server asked for one. Synchronous.
 *
 * @example
 * ```ts
 * const { privateKey } = await generateKeyPair('ES256');
 * const proof = createDpopProof(privateKey, { htm: 'GET', htu: 'https://api.example.com/orders', accessToken });
 * await fetch('https://api.example.com/orders', { headers: { authorization: `DPoP ${accessToken}`, dpop: proof } });
 * ```
 */
export function createDpopProof(key: Key, options: CreateDpopProofOptions): string {
  if (!(key instanceof Key) || key.type !== 'private') {
    throw new KeyInvalid('a DPoP proof is signed with a private key (RFC 9449 §4.2)');
  }
  const { htm, accessToken, nonce, jti, iat } = options;
  if (typeof htm !== 'string' || !METHOD.test(htm)) throw new TypeError('options.htm must be an HTTP method');
  if (nonce !== undefined && (typeof nonce !== 'string' || nonce.length === 0)) {
    throw new TypeError('options.nonce must be a non-empty string');
  }
  if (jti !== undefined && (typeof jti !== 'string' || jti.length === 0)) {
    throw new TypeError('options.jti must be a non-empty string');
  }
  if (iat !== undefined && !Number.isFinite(iat)) throw new TypeError('options.iat must be a NumericDate');
  const spec = signingAlgorithm(key, options.alg);
  const payload: Record<string, unknown> = {
    jti: jti ?? randomBytes(16).toString('base64url'),
    htm,
    htu: dpopHtu(options.htu),
    iat: iat ?? epochSeconds(),
  };
  if (accessToken !== undefined) payload.ath = accessTokenHash(accessToken);
  if (nonce !== undefined) payload.nonce = nonce;
  const signingInput = `${headerSegment(key, spec.alg)}.${encodeBase64url(JSON.stringify(payload))}`;
  return `${signingInput}.${spec.sign(key.keyObject, signingInput).toString('base64url')}`;
}

function headerSegment(key: Key, alg: string): string {
  let segments = headerSegments.get(key);
  if (!segments) {
    segments = new Map();
    headerSegments.set(key, segments);
  }
  let segment = segments.get(alg);
  if (segment === undefined) {
    const exported = exportJwk(key, { public: true });
    const jwk: Record<string, unknown> = {};
    for (const name of PUBLIC_MEMBERS) if (exported[name] !== undefined) jwk[name] = exported[name];
    segment = encodeBase64url(JSON.stringify({ typ: DPOP_TYP, alg, jwk }));
    segments.set(alg, segment);
  }
  return segment;
}
