// RFC 7638 §3.1: the JWK thumbprint of the example RSA key, and its RFC 9278 URI form.
import { describe, expect, it } from 'vitest';
import { importJwk, type Jwk, jwkThumbprint, jwkThumbprintUri } from '../../src/index.js';
import { expected, readVector, readVectorJson } from './rfc-vectors.js';

const jwk = readVectorJson<Jwk>('rfc/rfc7638/rfc7638_3.1.jwk');
const thumbprint = readVector('rfc/rfc7638/rfc7638_3.1.thp').trim();

describe('RFC 7638 §3.1 JWK thumbprint', () => {
  it('agrees with expected.json on the thumbprint in the .thp file', () => {
    expect(thumbprint).toBe(expected.rfc7638['3.1'].thumbprint_sha256_b64u);
  });

  it('computes the §3.1 SHA-256 thumbprint of the JWK', () => {
    expect(jwkThumbprint(jwk)).toBe(thumbprint);
  });

  it('computes the same thumbprint from the imported key', () => {
    expect(jwkThumbprint(importJwk(jwk))).toBe(thumbprint);
  });

  it('ignores members outside the required e, kty and n (§3.2), such as "alg" and "kid"', () => {
    expect(jwkThumbprint({ kty: 'RSA', n: jwk.n, e: jwk.e })).toBe(thumbprint);
    expect(jwkThumbprint({ ...jwk, alg: 'PS256', kid: 'another', use: 'sig' })).toBe(thumbprint);
  });

  it('gives the RFC 9278 thumbprint URI', () => {
    expect(jwkThumbprintUri(jwk)).toBe(`urn:ietf:params:oauth:jwk-thumbprint:sha-256:${thumbprint}`);
  });

  it('differs for another digest and names it in the URI', () => {
    expect(jwkThumbprint(jwk, 'sha512')).not.toBe(thumbprint);
    expect(jwkThumbprintUri(jwk, 'sha512')).toMatch(
      /^urn:ietf:params:oauth:jwk-thumbprint:sha-512:[\w-]{86}$/,
    );
  });
});
