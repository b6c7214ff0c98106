// RFC 7517 Appendices A–C: the example key sets and keys import without unexpected errors. Keys meant
// for encryption ("use": "enc", or a JWE "alg") serve exactly the JWE algorithms their type allows
// (or the one they are pinned to), and never a signature algorithm.
import { Buffer } from 'node:buffer';
import { describe, expect, it } from 'vitest';
import {
  compactSign,
  compactVerify,
  createLocalJwks,
  exportJwk,
  importJwk,
  importSecret,
  importX509,
  type JsonWebKeySet,
  type Jwk,
  jwkThumbprint,
} from '../../src/index.js';
import { readVector, readVectorJson } from './rfc-vectors.js';

const keySet = (name: string): JsonWebKeySet => readVectorJson<JsonWebKeySet>(`rfc/rfc7517/${name}`);

/** What an EC P-256 "enc" key serves: the ECDH-ES key agreements (RFC 7518 §4.6). */
const ECDH_ES_ALGORITHMS = ['ECDH-ES', 'ECDH-ES+A128KW', 'ECDH-ES+A192KW', 'ECDH-ES+A256KW'];

describe('RFC 7517 A.1 example public keys (EC "enc" key, RSA RS256 key)', () => {
  const source = keySet('rfc7517_A.1.jwkset');

  it('imports both keys and skips none', () => {
    const jwks = createLocalJwks(source);
    expect(jwks.keys.map((key) => key.kid)).toEqual(['1', '2011-04-29']);
    expect(jwks.skipped).toEqual([]);
  });

  it('imports the "use": "enc" EC key for the ECDH-ES algorithms only, never a signature algorithm', () => {
    const [ecKey] = createLocalJwks(source).keys;
    expect(ecKey!.use).toBe('enc');
    expect(ecKey!.algorithms).toEqual(ECDH_ES_ALGORITHMS);
    expect(ecKey!.canServe('ECDH-ES+A128KW', 'encrypt')).toBe(true);
    expect(ecKey!.canServe('ES256', 'verify')).toBe(false);
    expect(() => ecKey!.assertUsable('ES256', 'verify')).toThrow(
      expect.objectContaining({ code: 'ERR_KEY_INVALID' }),
    );
  });

  it('imports the RSA key pinned to RS256 by its "alg"', () => {
    const [, rsaKey] = createLocalJwks(source).keys;
    expect(rsaKey!.algorithms).toEqual(['RS256']);
    expect(rsaKey!.keyObject.asymmetricKeyDetails?.modulusLength).toBe(2048);
  });

  it('selects the RSA key for an RS256 header naming its kid', () => {
    const jwks = createLocalJwks(source);
    expect(jwks.select({ alg: 'RS256', kid: '2011-04-29' })).toEqual([jwks.keys[1]]);
  });

  it('never selects the "enc" EC key for a signature, even by its kid', () => {
    const jwks = createLocalJwks(source);
    expect(jwks.select({ alg: 'ES256', kid: '1' })).toEqual([]);
  });

  it('publishes the same public JWKS it was given', () => {
    expect(createLocalJwks(source).toJSON()).toEqual(source);
  });
});

describe('RFC 7517 A.2 example private keys', () => {
  const source = keySet('rfc7517_A.2.jwkset');

  it('imports both keys as private keys and skips none', () => {
    const jwks = createLocalJwks(source);
    expect(jwks.keys.map((key) => key.type)).toEqual(['private', 'private']);
    expect(jwks.skipped).toEqual([]);
  });

  it('keeps the EC private key out of signing, as its "use" is "enc": it serves ECDH-ES only', () => {
    const [ecKey] = createLocalJwks(source).keys;
    expect(ecKey!.algorithms).toEqual(ECDH_ES_ALGORITHMS);
    expect(ecKey!.canServe('ECDH-ES', 'decrypt')).toBe(true);
    expect(ecKey!.canServe('ES256', 'sign')).toBe(false);
    expect(() => compactSign('x', ecKey!, { protectedHeader: { alg: 'ES256' } })).toThrow(
      expect.objectContaining({ code: 'ERR_KEY_INVALID' }),
    );
  });

  it('publishes only public members: the A.1 key set', () => {
    expect(createLocalJwks(source).toJSON()).toEqual(keySet('rfc7517_A.1.jwkset'));
  });

  it('signs with the RSA private key what the A.1 public key set verifies', async () => {
    const [, rsaKey] = createLocalJwks(source).keys;
    const jws = compactSign('RFC 7517', rsaKey!, { protectedHeader: { alg: 'RS256', kid: '2011-04-29' } });
    const result = await compactVerify(jws, createLocalJwks(keySet('rfc7517_A.1.jwkset')), {
      algorithms: ['RS256'],
    });
    expect(result.key.kid).toBe('2011-04-29');
  });
});

describe('RFC 7517 A.3 example symmetric keys (A128KW key, HMAC key)', () => {
  const source = keySet('rfc7517_A.3.jwkset');

  it('imports both keys and skips none', () => {
    const jwks = createLocalJwks(source);
    expect(jwks.keys.map((key) => key.type)).toEqual(['secret', 'secret']);
    expect(jwks.skipped).toEqual([]);
  });

  it('imports the A128KW key pinned to A128KW, with no signature algorithm', () => {
    const [wrapKey] = createLocalJwks(source).keys;
    expect(wrapKey!.alg).toBe('A128KW');
    expect(wrapKey!.algorithms).toEqual(['A128KW']);
    expect(wrapKey!.canServe('A128KW', 'encrypt')).toBe(true);
    expect(wrapKey!.canServe('A128KW', 'decrypt')).toBe(true);
    expect(wrapKey!.canServe('HS256', 'sign')).toBe(false);
    expect(wrapKey!.canServe('HS256', 'verify')).toBe(false);
  });

  // Deliberate refusal: RFC 7518 §3.2 requires an HMAC key at least as long as the hash output.
  it('refuses the 16-byte A128KW key material as an HMAC secret (RFC 7518 §3.2)', () => {
    const [wrapJwk] = source.keys;
    expect(() => importSecret(Buffer.from(wrapJwk!.k!, 'base64url'))).toThrow(
      expect.objectContaining({ code: 'ERR_KEY_INVALID' }),
    );
  });

  it('imports the HMAC key for every HS algorithm, with its kid', () => {
    const [, hmacKey] = createLocalJwks(source).keys;
    expect(hmacKey!.kid).toBe('HMACkeyusedinJWSspecAppendixA.1example');
    expect(hmacKey!.algorithms).toEqual(['HS256', 'HS384', 'HS512']);
  });

  it('verifies the RFC 7515 A.1 JWS (which names no kid) with the HMAC key of the set', async () => {
    const jws = readVector('rfc/rfc7515/rfc7515_A.1.jwsc').trim();
    const result = await compactVerify(jws, createLocalJwks(source), { algorithms: ['HS256'] });
    expect(result.key.kid).toBe('HMACkeyusedinJWSspecAppendixA.1example');
  });
});

describe('RFC 7517 B public key with an X.509 certificate chain', () => {
  const source = readVectorJson<Jwk>('rfc/rfc7517/rfc7517_B.jwk');

  it('imports as a 2048-bit RSA public signature key, with its kid', () => {
    const key = importJwk(source);
    expect(key.type).toBe('public');
    expect(key.kid).toBe('1b94c');
    expect(key.use).toBe('sig');
    expect(key.keyObject.asymmetricKeyDetails?.modulusLength).toBe(2048);
  });

  it('holds in "x5c" a certificate for the same public key', () => {
    const certificate = importX509(Buffer.from(source.x5c![0]!, 'base64'));
    expect(jwkThumbprint(certificate)).toBe(jwkThumbprint(source));
  });

  it('does not carry "x5c" into the imported key (certificates are not used to build it)', () => {
    expect(exportJwk(importJwk(source))).not.toHaveProperty('x5c');
  });
});

describe('RFC 7517 C plaintext RSA private key (the PBES2 example key)', () => {
  const source = readVectorJson<Jwk>('rfc/rfc7517/rfc7517_C.jwk');

  it('imports as a 2048-bit private key serving RSA-OAEP only, as its "use" is "enc"', () => {
    const key = importJwk(source);
    expect(key.type).toBe('private');
    expect(key.kid).toBe('juliet@capulet.lit');
    // RSA1_5 is deliberately not offered (RFC 8725 §3.2), so RSA-OAEP* is all an RSA "enc" key serves.
    expect(key.algorithms).toEqual(['RSA-OAEP', 'RSA-OAEP-256', 'RSA-OAEP-384', 'RSA-OAEP-512']);
    expect(key.canServe('RS256', 'sign')).toBe(false);
    expect(key.canServe('RSA1_5', 'decrypt')).toBe(false);
    expect(key.keyObject.asymmetricKeyDetails?.modulusLength).toBe(2048);
  });

  it('refuses to sign with it', () => {
    expect(() => compactSign('x', importJwk(source), { protectedHeader: { alg: 'RS256' } })).toThrow(
      expect.objectContaining({ code: 'ERR_KEY_INVALID' }),
    );
  });

  it('goes into a key set as a key that never verifies, not into "skipped"', () => {
    const jwks = createLocalJwks({ keys: [source] });
    expect(jwks.skipped).toEqual([]);
    expect(jwks.select({ alg: 'RS256', kid: 'juliet@capulet.lit' })).toEqual([]);
  });
});
