// RFC 8037 Appendix A (CFRG curves in JOSE): the Ed25519 key (A.1/A.2), its thumbprint (A.3), the
// EdDSA signature (A.4, deterministic, so reproduced exactly) and its verification (A.5), from
// rfc/rfc8037/ and the cookbook's curve25519/jws.json. The X25519/X448 keys (A.6/A.7) are ECDH keys.
import { describe, expect, it } from 'vitest';
import {
  compactSign,
  compactVerify,
  createLocalJwks,
  flattenedSign,
  flattenedVerify,
  generalVerify,
  importJwk,
  type JsonWebKeySet,
  type Jwk,
  jwkThumbprint,
  jwkThumbprintUri,
} from '../../src/index.js';
import { expected, publicJwk, readVectorJson, rfc7520Example, singleKey, utf8 } from './rfc-vectors.js';

const ed25519Jwk = readVectorJson<Jwk>('rfc/rfc8037/rfc8037_A_ed25519.jwk');
const a3 = expected.rfc8037['A.3'];
const a4 = expected.rfc8037['A.4_A.5'];
/** What an X25519 or X448 key serves: the ECDH-ES key agreements (RFC 8037 §3.2). */
const ECDH_ES_ALGORITHMS = ['ECDH-ES', 'ECDH-ES+A128KW', 'ECDH-ES+A192KW', 'ECDH-ES+A256KW'];

describe('RFC 8037 A.1/A.2 Ed25519 key', () => {
  it('imports the A.1 private key, serving EdDSA and Ed25519', () => {
    const key = importJwk(ed25519Jwk);
    expect(key.type).toBe('private');
    expect(key.algorithms).toEqual(['EdDSA', 'Ed25519']);
  });

  it('derives the A.2 public key "x" from the private key "d"', () => {
    const { d: _d, ...withoutD } = ed25519Jwk;
    expect(importJwk(withoutD).type).toBe('public');
    expect(importJwk(ed25519Jwk).verificationKey.export({ format: 'jwk' }).x).toBe(ed25519Jwk.x);
  });

  it('is the same key as the cookbook curve25519/jws.json example', () => {
    const { use: _use, ...cookbook } = singleKey(rfc7520Example('curve25519/jws.json'));
    expect(cookbook).toEqual(ed25519Jwk);
  });
});

describe('RFC 8037 A.3 JWK thumbprint of the Ed25519 key', () => {
  it('is computed over the canonical members crv, kty and x', () => {
    expect(JSON.stringify({ crv: 'Ed25519', kty: 'OKP', x: ed25519Jwk.x })).toBe(a3.canonical_json);
  });

  it('matches the A.3 thumbprint from the public JWK', () => {
    expect(jwkThumbprint(publicJwk(ed25519Jwk))).toBe(a3.thumbprint_sha256_b64u);
  });

  it('matches the A.3 thumbprint from the imported private key', () => {
    expect(jwkThumbprint(importJwk(ed25519Jwk))).toBe(a3.thumbprint_sha256_b64u);
  });

  it('gives the RFC 9278 thumbprint URI', () => {
    expect(jwkThumbprintUri(importJwk(ed25519Jwk))).toBe(
      `urn:ietf:params:oauth:jwk-thumbprint:sha-256:${a3.thumbprint_sha256_b64u}`,
    );
  });
});

describe('RFC 8037 A.4 Ed25519 signing', () => {
  const key = importJwk(ed25519Jwk);

  it('reproduces the exact A.4 compact JWS (Ed25519 is deterministic)', () => {
    expect(compactSign(a4.payload_utf8, key, { protectedHeader: a4.protected })).toBe(a4.compact);
  });

  it('reproduces the exact flattened JSON output of cookbook curve25519/jws.json', () => {
    const example = rfc7520Example('curve25519/jws.json');
    expect(flattenedSign(a4.payload_utf8, key, { protectedHeader: { alg: 'EdDSA' } })).toEqual(
      example.output.json_flat,
    );
  });

  it('needs "alg" in the header, since the key serves both EdDSA and Ed25519', () => {
    expect(() => compactSign(a4.payload_utf8, key)).toThrow(
      expect.objectContaining({ code: 'ERR_KEY_INVALID' }),
    );
  });
});

describe('RFC 8037 A.5 Ed25519 verification', () => {
  const publicKey = importJwk(publicJwk(ed25519Jwk));
  const example = rfc7520Example('curve25519/jws.json');

  it('verifies the A.4 compact JWS with the A.2 public key', async () => {
    const result = await compactVerify(a4.compact, publicKey, { algorithms: ['EdDSA'] });
    expect(utf8(result.payload)).toBe('Example of Ed25519 signing');
    expect(result.protectedHeader).toEqual({ alg: 'EdDSA' });
  });

  it('verifies the cookbook compact serialization', async () => {
    expect(example.output.compact).toBe(a4.compact);
    const result = await compactVerify(example.output.compact!, publicKey, { algorithms: ['EdDSA'] });
    expect(utf8(result.payload)).toBe('Example of Ed25519 signing');
  });

  it('verifies the cookbook general JSON serialization', async () => {
    const result = await generalVerify(example.output.json!, publicKey, { algorithms: ['EdDSA'] });
    expect(utf8(result.payload)).toBe('Example of Ed25519 signing');
  });

  it('verifies the cookbook flattened JSON serialization', async () => {
    const result = await flattenedVerify(example.output.json_flat!, publicKey, {
      algorithms: ['EdDSA'],
    });
    expect(utf8(result.payload)).toBe('Example of Ed25519 signing');
  });

  it('rejects the A.4 JWS when only the fully-specified "Ed25519" algorithm is allowed', async () => {
    await expect(compactVerify(a4.compact, publicKey, { algorithms: ['Ed25519'] })).rejects.toMatchObject({
      code: 'ERR_JOSE_ALG_NOT_ALLOWED',
    });
  });
});

describe('RFC 8037 A.6/A.7 X25519 and X448 keys (ECDH, not signature keys)', () => {
  it("imports the A.6 X25519 key set with Bob's key serving ECDH-ES only (RFC 8037 §3.2)", () => {
    const jwks = createLocalJwks(readVectorJson<JsonWebKeySet>('rfc/rfc8037/rfc8037_A_X25519.jwk'));
    expect(jwks.skipped).toEqual([]);
    expect(jwks.keys.map((key) => [key.kid, key.type])).toEqual([['Bob', 'public']]);
    expect(jwks.keys[0]!.algorithms).toEqual(ECDH_ES_ALGORITHMS);
    expect(jwks.keys[0]!.canServe('ECDH-ES+A128KW', 'encrypt')).toBe(true);
    // Never a signature key: an EdDSA token naming Bob finds no key.
    expect(jwks.keys[0]!.canServe('EdDSA', 'verify')).toBe(false);
    expect(jwks.select({ alg: 'EdDSA', kid: 'Bob' })).toEqual([]);
  });

  it('imports the A.7 X448 key on its own for ECDH-ES only, never a signature algorithm', () => {
    const key = importJwk(readVectorJson<Jwk>('rfc/rfc8037/rfc8037_A_X448.jwk'));
    expect(key.type).toBe('public');
    expect(key.kid).toBe('Dave');
    expect(key.algorithms).toEqual(ECDH_ES_ALGORITHMS);
    expect(key.canServe('EdDSA', 'verify')).toBe(false);
    expect(key.canServe('Ed448', 'verify')).toBe(false);
    expect(() => key.assertUsable('EdDSA', 'verify')).toThrow(
      expect.objectContaining({ code: 'ERR_JOSE_ALG_NOT_ALLOWED' }),
    );
  });

  it('computes a thumbprint for the X25519 JWK (OKP members crv, kty, x)', () => {
    const { keys } = readVectorJson<JsonWebKeySet>('rfc/rfc8037/rfc8037_A_X25519.jwk');
    expect(jwkThumbprint(keys[0]!)).toMatch(/^[\w-]{43}$/);
  });
});
