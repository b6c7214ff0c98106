import { createHmac } from 'node:crypto';
import { JwsInvalid } from '../errors.js';
import type { Key } from '../key/key.js';
import { encodeBase64url } from '../lib/base64url.js';
import type { JsonObject } from '../lib/json.js';
import { assertNoProtoMember, type JwsHeaderParameters } from '../lib/jws_header.js';
import { signingAlgorithm } from '../lib/jws_sign.js';
import { createClaimsBuilder, type JwtIssueOptions, type JwtPayload } from '../lib/jwt_claims.js';
import { type KeyInput, toKey } from '../lib/key_input.js';

export interface SignerOptions extends Omit<JwtIssueOptions, 'currentDate'> {
  /** The signing key (private or secret). */
  key: KeyInput;
  /** Algorithm; may be left out when the key serves exactly one. */
  alg?: string;
  /** `kid` header. Precedence: this, then `header.kid`, then the key's own `kid`. */
  kid?: string;
  /** `typ` header (default `JWT`; `at+jwt` for RFC 9068 access tokens). */
  typ?: string;
  /** Further protected header parameters. */
  header?: JwsHeaderParameters;
  /** Milliseconds since the epoch (default `Date.now`); for tests and simulations. */
  clock?: () => number;
}

export interface Signer {
  /** Signs one JWT synchronously. The signer's options fill in and override `claims`. */
  sign(claims?: JwtPayload): string;
  readonly alg: string;
  readonly kid: string | undefined;
  readonly key: Key;
}

/**
 * Prepares a JWT signer: the key, algorithm and encoded header are settled here, once, so each
 * `sign` call only builds the payload, encodes it and signs, synchronously.
 *
 * @example
 * ```ts
 * const signer = createSigner({ key: privateKey, issuer: 'https://auth.example.com', audience: 'api',
 *   expiresIn: '15m', typ: 'at+jwt', jti: true });
 * const token = signer.sign({ sub: 'user-1', scope: 'read' });
 * ```
 */
export function createSigner(options: SignerOptions): Signer {
  const key = toKey(options.key);
  if (options.header) assertNoProtoMember(options.header, 'header');
  const spec = signingAlgorithm(key, options.alg ?? options.header?.alg);
  // An explicit kid (option, then header.kid) wins over the key's own.
  const kid = options.kid ?? options.header?.kid ?? key.kid;
  const header: JwsHeaderParameters = { ...options.header, alg: spec.alg };
  if (header.b64 !== undefined) throw new JwsInvalid('"b64" cannot be used with JWTs (RFC 7797 §7)');
  if (kid !== undefined) header.kid = kid;
  header.typ = options.typ ?? header.typ ?? 'JWT';
  const head = `${encodeBase64url(JSON.stringify(header))}.`;
  const build = createClaimsBuilder(options);
  const clock = options.clock ?? Date.now;
  const keyObject = key.keyObject;
  const hash = spec.hash;
  const signature: (input: string) => string =
    spec.family === 'hmac'
      ? (input) => createHmac(hash!, keyObject).update(input).digest('base64url')
      : (input) => spec.sign(keyObject, input).toString('base64url');

  return {
    alg: spec.alg,
    kid,
    key,
    sign(claims: JwtPayload = {}) {
      const payload = build(claims as JsonObject, Math.floor(clock() / 1000));
      const input = head + Buffer.from(JSON.stringify(payload), 'utf8').toString('base64url');
      return `${input}.${signature(input)}`;
    },
  };
}
