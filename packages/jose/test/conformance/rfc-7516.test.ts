// RFC 7516 Appendix A (JWE examples) and RFC 7518 Appendix C (ECDH-ES key agreement), from rfc/rfc7516
// and rfc/rfc7518 with the plaintexts of rfc/expected.json. A.1 (RSA-OAEP) and A.3 (A128KW) decrypt,
// and their content (A.3 entirely) is reproduced from the CEK the example's key recovers; A.2 uses
// RSA1_5, which is refused on purpose (RFC 8725 §3.2); A.4 decrypts for its A128KW recipient and
// refuses its RSA1_5 one. The Appendix C keys derive the published key with the Concat KDF.
import { Buffer } from 'node:buffer';
import {
  constants,
  createDecipheriv,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  privateDecrypt,
} from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  compactDecrypt,
  compactEncrypt,
  type GeneralJwe,
  generalDecrypt,
  generalEncrypt,
  importJwk,
  type JsonWebKeySet,
  type Jwk,
} from '../../src/index.js';
import { CONTENT_ENCRYPTION, concatKdf } from '../../src/lib/jwe_algorithms.js';
import { expected, publicJwk, readVector, readVectorJson, utf8 } from './rfc-vectors.js';

const a1 = expected.rfc7516['A.1'];
const a2 = expected.rfc7516['A.2'];
const a3 = expected.rfc7516['A.3'];
const a4 = expected.rfc7516['A.4'];
const c = expected.rfc7518.C;

const jwe = (name: string): string => readVector(`rfc/rfc7516/${name}`).trim();
const jwk = (path: string): Jwk => readVectorJson<Jwk>(`rfc/${path}`);
const bytes = (b64u: string): Buffer => Buffer.from(b64u, 'base64url');
const only = (alg: string, enc: string) => ({
  keyManagementAlgorithms: [alg],
  contentEncryptionAlgorithms: [enc],
});

/** The parts of a compact JWE that the CEK, IV and protected header fix: all but the encrypted key. */
function contentOf(compact: string): string[] {
  const [protectedSegment, , iv, ciphertext, tag] = compact.split('.');
  return [protectedSegment!, iv!, ciphertext!, tag!];
}

/** RFC 7516 A.3.2 (and A.2.2): the CEK, as the RFC prints it. */
const A3_CEK = Buffer.from([
  4, 211, 31, 197, 84, 157, 252, 254, 11, 100, 157, 250, 63, 170, 106, 206, 107, 124, 212, 45, 111, 107, 9,
  219, 200, 177, 0, 240, 143, 156, 44, 207,
]);

/** RFC 7516 A.1.2: the CEK, as the RFC prints it. */
const A1_CEK = Buffer.from([
  177, 161, 244, 128, 84, 143, 225, 115, 63, 180, 3, 255, 107, 154, 212, 246, 138, 7, 110, 91, 112, 46, 34,
  105, 47, 130, 203, 46, 122, 234, 64, 252,
]);

describe('RFC 7516 A.1 RSAES-OAEP and AES GCM', () => {
  const compact = jwe('rfc7516_A1.jws');
  const source = jwk('rfc7516/rfc7516_A1.jwk');
  const privateKey = importJwk(source, { alg: 'RSA-OAEP' });
  const decryption = only('RSA-OAEP', 'A256GCM');

  it('is the RSA-OAEP / A256GCM example', () => {
    expect(a1).toMatchObject({ alg: 'RSA-OAEP', enc: 'A256GCM' });
    expect(JSON.parse(bytes(compact.split('.')[0]!).toString())).toEqual({ alg: 'RSA-OAEP', enc: 'A256GCM' });
  });

  it('decrypts to the expected plaintext with the A.1 key pinned to RSA-OAEP', async () => {
    const result = await compactDecrypt(compact, privateKey, decryption);
    expect(utf8(result.plaintext)).toBe(a1.plaintext_utf8);
    expect(result.protectedHeader).toEqual({ alg: 'RSA-OAEP', enc: 'A256GCM' });
  });

  it('decrypts with the key marked "use": "enc" (no "alg")', async () => {
    const result = await compactDecrypt(compact, importJwk({ ...source, use: 'enc' }), decryption);
    expect(utf8(result.plaintext)).toBe(a1.plaintext_utf8);
  });

  // One key, one job: the JWK says neither "alg" nor "use", so it is a signature key only.
  it('refuses the bare JWK, which serves signature algorithms only (ERR_JOSE_ALG_NOT_ALLOWED)', async () => {
    const bare = importJwk(source);
    expect(bare.algorithms).not.toContain('RSA-OAEP');
    await expect(compactDecrypt(compact, bare, decryption)).rejects.toMatchObject({
      code: 'ERR_JOSE_ALG_NOT_ALLOWED',
    });
  });

  it('wraps the CEK the RFC prints (A.1.2), which reproduces the IV, ciphertext and tag', async () => {
    const cek = privateDecrypt(
      { key: privateKey.keyObject, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' },
      bytes(compact.split('.')[1]!),
    );
    expect(cek).toEqual(A1_CEK);
    const encrypted = compactEncrypt(a1.plaintext_utf8, importJwk(publicJwk(source), { alg: 'RSA-OAEP' }), {
      protectedHeader: { alg: 'RSA-OAEP', enc: 'A256GCM' },
      cek,
      iv: bytes(compact.split('.')[2]!),
    });
    expect(contentOf(encrypted)).toEqual(contentOf(compact));
    expect(utf8((await compactDecrypt(encrypted, privateKey, decryption)).plaintext)).toBe(a1.plaintext_utf8);
  });
});

describe('RFC 7516 A.2 RSAES-PKCS1-v1_5 and AES_128_CBC_HMAC_SHA_256 (deliberately refused)', () => {
  const compact = jwe('rfc7516_A2.jws');
  const source = jwk('rfc7516/rfc7516_A2.jwk');

  it('is the RSA1_5 example', () => {
    expect(a2).toMatchObject({ alg: 'RSA1_5', enc: 'A128CBC-HS256' });
    expect(JSON.parse(bytes(compact.split('.')[0]!).toString())).toEqual({
      alg: 'RSA1_5',
      enc: 'A128CBC-HS256',
    });
  });

  it('refuses to allow RSA1_5: ERR_JOSE_NOT_SUPPORTED (RFC 8725 §3.2)', async () => {
    const key = importJwk({ ...source, use: 'enc' });
    await expect(compactDecrypt(compact, key, only('RSA1_5', 'A128CBC-HS256'))).rejects.toMatchObject({
      code: 'ERR_JOSE_NOT_SUPPORTED',
    });
  });

  it('refuses to pin the key to RSA1_5: ERR_JOSE_NOT_SUPPORTED', () => {
    expect(() => importJwk(source, { alg: 'RSA1_5' })).toThrow(
      expect.objectContaining({ code: 'ERR_JOSE_NOT_SUPPORTED' }),
    );
  });

  it('does not decrypt it when RSA-OAEP is allowed instead (ERR_JOSE_ALG_NOT_ALLOWED)', async () => {
    const key = importJwk(source, { alg: 'RSA-OAEP' });
    await expect(compactDecrypt(compact, key, only('RSA-OAEP', 'A128CBC-HS256'))).rejects.toMatchObject({
      code: 'ERR_JOSE_ALG_NOT_ALLOWED',
    });
  });

  // A.2 and A.3 share their CEK and IV, so the content is checked without any RSA1_5 operation.
  it('holds content that the A.3 CEK decrypts to the expected plaintext (the data is sound)', () => {
    const [protectedSegment, , iv, ciphertext, tag] = compact.split('.');
    const plaintext = CONTENT_ENCRYPTION.get('A128CBC-HS256')!.decrypt(
      A3_CEK,
      bytes(iv!),
      bytes(ciphertext!),
      bytes(tag!),
      Buffer.from(protectedSegment!, 'ascii'),
    );
    expect(plaintext.toString('utf8')).toBe(a2.plaintext_utf8);
  });
});

describe('RFC 7516 A.3 AES Key Wrap and AES_128_CBC_HMAC_SHA_256', () => {
  const compact = jwe('rfc7516_A3.jws');
  const source = jwk('rfc7516/rfc7516_A3.jwk');
  const key = importJwk(source, { alg: 'A128KW' });
  const decryption = only('A128KW', 'A128CBC-HS256');

  it('is the A128KW / A128CBC-HS256 example', () => {
    expect(a3).toMatchObject({ alg: 'A128KW', enc: 'A128CBC-HS256' });
  });

  it('decrypts to the expected plaintext with the A.3 key pinned to A128KW', async () => {
    const result = await compactDecrypt(compact, key, decryption);
    expect(utf8(result.plaintext)).toBe(a3.plaintext_utf8);
    expect(result.protectedHeader).toEqual({ alg: 'A128KW', enc: 'A128CBC-HS256' });
  });

  // A 16-byte secret with no "alg" or "use" could only be an HMAC key, and is too short for one.
  it('refuses the bare 16-byte JWK, which names no algorithm (ERR_KEY_INVALID)', () => {
    expect(() => importJwk(source)).toThrow(expect.objectContaining({ code: 'ERR_KEY_INVALID' }));
  });

  it('wraps the CEK the RFC prints (A.3.2)', () => {
    const unwrap = createDecipheriv(
      'id-aes128-wrap',
      bytes(source.k!),
      Buffer.from('A6A6A6A6A6A6A6A6', 'hex'),
    );
    const cek = Buffer.concat([unwrap.update(bytes(compact.split('.')[1]!)), unwrap.final()]);
    expect(cek).toEqual(A3_CEK);
  });

  it('reproduces the exact compact output from the CEK and IV', () => {
    const encrypted = compactEncrypt(a3.plaintext_utf8, key, {
      protectedHeader: { alg: 'A128KW', enc: 'A128CBC-HS256' },
      cek: A3_CEK,
      iv: bytes(compact.split('.')[2]!),
    });
    expect(encrypted).toBe(compact);
  });
});

describe('RFC 7516 A.4 general JWE JSON serialization (RSA1_5 and A128KW recipients)', () => {
  const general = JSON.parse(jwe('rfc7516_A4.jws')) as GeneralJwe;
  const keys = readVectorJson<JsonWebKeySet>('rfc/rfc7516/rfc7516_A4.jwk').keys;
  const rsaJwk = keys.find((k) => k.kid === '2011-04-29')!;
  const kwKey = importJwk(keys.find((k) => k.kid === '7')!, { alg: 'A128KW' });
  const enc = 'A128CBC-HS256';

  it('has an RSA1_5 recipient and an A128KW recipient, and "jku" in the shared header', () => {
    expect(general.recipients.map((r) => r.header)).toEqual([
      { alg: 'RSA1_5', kid: '2011-04-29' },
      { alg: 'A128KW', kid: '7' },
    ]);
    expect(general.unprotected).toEqual({ jku: 'https://server.example.com/keys.jwks' });
  });

  it('decrypts for the A128KW recipient (kid 7), skipping the RSA1_5 one', async () => {
    const result = await generalDecrypt(general, kwKey, only('A128KW', enc));
    expect(utf8(result.plaintext)).toBe(a4.plaintext_utf8);
    expect(result.unprotectedHeader).toEqual({ alg: 'A128KW', kid: '7' });
    expect(result.sharedUnprotectedHeader).toEqual(general.unprotected);
    expect(result.protectedHeader).toEqual({ enc });
  });

  it('decrypts with a resolver picking each recipient key by kid', async () => {
    const rsaKey = importJwk(rsaJwk, { alg: 'RSA-OAEP' });
    const result = await generalDecrypt(general, (header) => (header.kid === '7' ? kwKey : rsaKey), {
      keyManagementAlgorithms: ['RSA-OAEP', 'A128KW'],
      contentEncryptionAlgorithms: [enc],
    });
    expect(utf8(result.plaintext)).toBe(a4.plaintext_utf8);
    expect(result.key).toBe(kwKey);
  });

  it('refuses the RSA1_5 recipient: ERR_JOSE_NOT_SUPPORTED (RFC 8725 §3.2)', async () => {
    await expect(
      generalDecrypt(general, importJwk({ ...rsaJwk, use: 'enc' }), only('RSA1_5', enc)),
    ).rejects.toMatchObject({ code: 'ERR_JOSE_NOT_SUPPORTED' });
  });

  it('wraps the A.3 CEK with the A.3 key for kid 7', () => {
    expect(general.recipients[1]!.encrypted_key).toBe(jwe('rfc7516_A3.jws').split('.')[1]);
  });

  it('reproduces the exact JWE for the A128KW recipient from the CEK and IV', () => {
    const encrypted = generalEncrypt(
      a4.plaintext_utf8,
      [{ key: kwKey, unprotectedHeader: { alg: 'A128KW', kid: '7' } }],
      {
        protectedHeader: { enc },
        sharedUnprotectedHeader: general.unprotected!,
        cek: A3_CEK,
        iv: bytes(general.iv),
      },
    );
    expect(encrypted).toEqual({ ...general, recipients: general.recipients.slice(1) });
  });
});

describe('RFC 7518 Appendix C ECDH-ES key agreement', () => {
  const aliceJwk = jwk('rfc7518/rfc7518_C_alice.jwk');
  const bobJwk = jwk('rfc7518/rfc7518_C_bob.jwk');
  const alice = createPrivateKey({ key: aliceJwk as never, format: 'jwk' });
  const bob = createPrivateKey({ key: bobJwk as never, format: 'jwk' });
  const apu = Buffer.from('Alice');
  const apv = Buffer.from('Bob');

  it('has the header of the example: ECDH-ES, A128GCM, apu "Alice", apv "Bob"', () => {
    expect(c.header).toEqual({
      alg: 'ECDH-ES',
      enc: 'A128GCM',
      apu: apu.toString('base64url'),
      apv: apv.toString('base64url'),
    });
  });

  it('derives VqqN6vgjbSBcIijNcacQGg with the Concat KDF (AlgorithmID "A128GCM", 128 bits)', () => {
    const z = diffieHellman({ privateKey: alice, publicKey: createPublicKey(bob) });
    expect(concatKdf(z, 128, 'A128GCM', apu, apv).toString('base64url')).toBe(c.derived_key_b64u);
    expect(c.derived_key_b64u).toBe('VqqN6vgjbSBcIijNcacQGg');
  });

  it('derives the same key on the recipient side (Bob private, Alice public)', () => {
    const z = diffieHellman({ privateKey: bob, publicKey: createPublicKey(alice) });
    expect(concatKdf(z, 128, 'A128GCM', apu, apv).toString('base64url')).toBe(c.derived_key_b64u);
  });

  it('encrypts to Bob with Alice as the ephemeral key into a JWE whose CEK is the derived key', async () => {
    const bobPublic = importJwk(publicJwk(bobJwk), { alg: 'ECDH-ES' });
    const token = compactEncrypt('Appendix C', bobPublic, {
      protectedHeader: { alg: 'ECDH-ES', enc: 'A128GCM' },
      parameters: { epk: alice, apu, apv },
    });
    const [protectedSegment, encryptedKey, iv, ciphertext, tag] = token.split('.');
    expect(JSON.parse(bytes(protectedSegment!).toString())).toEqual({
      ...c.header,
      epk: publicJwk({ kty: aliceJwk.kty, crv: aliceJwk.crv, x: aliceJwk.x, y: aliceJwk.y }),
    });
    expect(encryptedKey).toBe('');
    const content = CONTENT_ENCRYPTION.get('A128GCM')!.decrypt(
      bytes(c.derived_key_b64u),
      bytes(iv!),
      bytes(ciphertext!),
      bytes(tag!),
      Buffer.from(protectedSegment!, 'ascii'),
    );
    expect(content.toString('utf8')).toBe('Appendix C');
    const result = await compactDecrypt(
      token,
      importJwk(bobJwk, { alg: 'ECDH-ES' }),
      only('ECDH-ES', 'A128GCM'),
    );
    expect(utf8(result.plaintext)).toBe('Appendix C');
  });
});
