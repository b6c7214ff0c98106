// RFC 7520 §3 (JOSE Cookbook keys): each key imports, serves the algorithms its type allows (none of
// them carries "alg" except the symmetric ones), and exports back to the same JWK.
import { Buffer } from 'node:buffer';
import { describe, expect, it } from 'vitest';
import { compactSign, exportJwk, importJwk, importSecret, type Jwk, jwkThumbprint } from '../../src/index.js';
import { readVectorJson, rfc7520Example } from './rfc-vectors.js';

const jwk = (name: string): Jwk => readVectorJson<Jwk>(`rfc7520/jwk/${name}`);
const RSA_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'];

describe('RFC 7520 §3.1 EC public key (P-521)', () => {
  const source = jwk('3_1.ec_public_key.json');

  it('imports as a public key that serves ES512 only', () => {
    const key = importJwk(source);
    expect(key.type).toBe('public');
    expect(key.algorithms).toEqual(['ES512']);
    expect(key.kid).toBe('bilbo.baggins@hobbiton.example');
    expect(key.use).toBe('sig');
  });

  it('exports back to the same JWK', () => {
    expect(exportJwk(importJwk(source))).toEqual(source);
  });
});

describe('RFC 7520 §3.2 EC private key (P-521)', () => {
  const source = jwk('3_2.ec_private_key.json');

  it('imports as a private key that serves ES512 only', () => {
    const key = importJwk(source);
    expect(key.type).toBe('private');
    expect(key.algorithms).toEqual(['ES512']);
  });

  it('has the §3.1 key as its public half', () => {
    expect(exportJwk(importJwk(source), { public: true })).toEqual(jwk('3_1.ec_public_key.json'));
  });

  it('exports back to the same JWK, private members included', () => {
    expect(exportJwk(importJwk(source))).toEqual(source);
  });
});

describe('RFC 7520 §3.3 RSA public key (2048 bits)', () => {
  const source = jwk('3_3.rsa_public_key.json');

  it('is 2048 bits, the RFC 7518 §3.3 minimum, so it is not refused', () => {
    const key = importJwk(source);
    expect(key.keyObject.asymmetricKeyDetails?.modulusLength).toBe(2048);
  });

  it('imports without "alg" as a public key serving every RSA signature algorithm', () => {
    const key = importJwk(source);
    expect(key.type).toBe('public');
    expect(key.alg).toBeUndefined();
    expect(key.algorithms).toEqual(RSA_ALGORITHMS);
  });

  it('exports back to the same JWK', () => {
    expect(exportJwk(importJwk(source))).toEqual(source);
  });
});

describe('RFC 7520 §3.4 RSA private key (2048 bits)', () => {
  const source = jwk('3_4.rsa_private_key.json');

  it('imports without "alg" as a private key serving every RSA signature algorithm', () => {
    const key = importJwk(source);
    expect(key.type).toBe('private');
    expect(key.algorithms).toEqual(RSA_ALGORITHMS);
  });

  it('has the §3.3 key as its public half (same RFC 7638 thumbprint)', () => {
    const key = importJwk(source);
    expect(exportJwk(key, { public: true })).toEqual(jwk('3_3.rsa_public_key.json'));
    expect(jwkThumbprint(key)).toBe(jwkThumbprint(jwk('3_3.rsa_public_key.json')));
  });

  it('exports back to the same JWK, CRT members included', () => {
    expect(exportJwk(importJwk(source))).toEqual(source);
  });
});

describe('RFC 7520 §3.5 symmetric key for MAC computation (HS256)', () => {
  const source = jwk('3_5.symmetric_key_mac_computation.json');
  const example = rfc7520Example('jws/4_4.hmac-sha2_integrity_protection.json');

  it('imports as a JWK pinned to HS256 by its "alg"', () => {
    const key = importJwk(source);
    expect(key.type).toBe('secret');
    expect(key.algorithms).toEqual(['HS256']);
    expect(key.use).toBe('sig');
  });

  it('imports as a raw secret of 32 bytes, enough for HS256 only (RFC 7518 §3.2)', () => {
    const key = importSecret(Buffer.from(source.k!, 'base64url'));
    expect(key.keyObject.symmetricKeySize).toBe(32);
    expect(key.algorithms).toEqual(['HS256']);
  });

  it('as a raw secret, reproduces the RFC 7520 §4.4 compact output', () => {
    const key = importSecret(Buffer.from(source.k!, 'base64url'));
    const header = { alg: 'HS256', kid: source.kid };
    expect(compactSign(example.input.payload, key, { protectedHeader: header })).toBe(example.output.compact);
  });

  it('exports back to the same JWK', () => {
    expect(exportJwk(importJwk(source))).toEqual(source);
  });
});

describe('RFC 7520 §3.6 symmetric key for encryption (A256GCM)', () => {
  const source = jwk('3_6.symmetric_key_encryption.json');

  it('imports as a JWK serving "dir" only, no signature algorithm ("use": "enc", "alg": "A256GCM")', () => {
    const key = importJwk(source);
    expect(key.type).toBe('secret');
    // An "alg" naming a content encryption means direct encryption with it (RFC 7520 §5.6).
    expect(key.alg).toBe('A256GCM');
    expect(key.algorithms).toEqual(['dir']);
    expect(key.use).toBe('enc');
    expect(key.canServe('dir', 'decrypt')).toBe(true);
    expect(key.canServe('HS256', 'sign')).toBe(false);
    expect(key.canServe('HS256', 'verify')).toBe(false);
  });

  it('refuses to sign with the JWK, whose "use" is "enc" (RFC 7517 §4.2)', () => {
    const key = importJwk(source);
    expect(() => compactSign('x', key, { protectedHeader: { alg: 'HS256' } })).toThrow(
      expect.objectContaining({ code: 'ERR_KEY_INVALID' }),
    );
  });

  it('imports its raw bytes as a 32-byte secret, which then serves HS256 only', () => {
    const key = importSecret(Buffer.from(source.k!, 'base64url'));
    expect(key.algorithms).toEqual(['HS256']);
  });
});
