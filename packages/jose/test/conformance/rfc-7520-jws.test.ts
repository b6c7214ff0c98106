// RFC 7520 §4 (JOSE Cookbook): every JWS example verifies in every serialization it is given in, and
// the deterministic ones (RSA v1.5, HMAC) are reproduced byte for byte by signing with the library.
import { Buffer } from 'node:buffer';
import { describe, expect, it } from 'vitest';
import {
  compactSign,
  compactVerify,
  createLocalJwks,
  type FlattenedJws,
  flattenedSign,
  flattenedVerify,
  type GeneralJws,
  generalSign,
  generalVerify,
  generateKeyPair,
  importJwk,
  type Jwk,
  type Key,
} from '../../src/index.js';
import {
  publicJwk,
  type Rfc7520Signing,
  readVectorJson,
  rfc7520Example,
  singleKey,
  singleSigning,
  utf8,
} from './rfc-vectors.js';

const ecPublic = importJwk(readVectorJson<Jwk>('rfc7520/jwk/3_1.ec_public_key.json'));
const rsaPublic = importJwk(readVectorJson<Jwk>('rfc7520/jwk/3_3.rsa_public_key.json'));

/** The payload of every RFC 7520 §4 example (Bilbo's advice, with U+2019 apostrophes). */
const PAYLOAD =
  'It\u2019s a dangerous business, Frodo, going out your door. You step onto the road, and if you ' +
  "don't keep your feet, there\u2019s no knowing where you might be swept off to.";

describe('RFC 7520 §4.1 RSA v1.5 signature (RS256)', () => {
  const example = rfc7520Example('jws/4_1.rsa_v15_signature.json');
  const signing = singleSigning(example);
  const privateKey = importJwk(singleKey(example));
  const { compact, json, json_flat } = example.output;

  it('carries the RFC 7520 payload', () => {
    expect(example.input.payload).toBe(PAYLOAD);
  });

  it('verifies in compact serialization with the §3.3 public key', async () => {
    const result = await compactVerify(compact!, rsaPublic, { algorithms: ['RS256'] });
    expect(utf8(result.payload)).toBe(PAYLOAD);
    expect(result.protectedHeader).toEqual(signing.protected);
  });

  it('verifies in general JSON serialization', async () => {
    const result = await generalVerify(json!, rsaPublic, { algorithms: ['RS256'] });
    expect(utf8(result.payload)).toBe(PAYLOAD);
  });

  it('verifies in flattened JSON serialization', async () => {
    const result = await flattenedVerify(json_flat!, rsaPublic, { algorithms: ['RS256'] });
    expect(utf8(result.payload)).toBe(PAYLOAD);
  });

  it('reproduces the exact compact output when signing with the same protected header', () => {
    expect(compactSign(PAYLOAD, privateKey, { protectedHeader: signing.protected })).toBe(compact);
  });

  it('reproduces the exact flattened JSON output', () => {
    expect(flattenedSign(PAYLOAD, privateKey, { protectedHeader: signing.protected })).toEqual(json_flat);
  });

  it('reproduces the exact general JSON output', () => {
    expect(generalSign(PAYLOAD, [{ key: privateKey, protectedHeader: signing.protected }])).toEqual(json);
  });

  it('rejects the RS256 signature when only PS256 is allowed', async () => {
    await expect(compactVerify(compact!, rsaPublic, { algorithms: ['PS256'] })).rejects.toMatchObject({
      code: 'ERR_JOSE_ALG_NOT_ALLOWED',
    });
  });
});

describe('RFC 7520 §4.2 RSA-PSS signature (PS384)', () => {
  const example = rfc7520Example('jws/4_2.rsa-pss_signature.json');
  const signing = singleSigning(example);
  const privateKey = importJwk(singleKey(example));
  const { compact, json, json_flat } = example.output;

  it('is not reproducible (RSA-PSS is randomized)', () => {
    expect(example.reproducible).toBeUndefined();
  });

  it('verifies in compact serialization with the §3.3 public key', async () => {
    const result = await compactVerify(compact!, rsaPublic, { algorithms: ['PS384'] });
    expect(utf8(result.payload)).toBe(PAYLOAD);
    expect(result.protectedHeader).toEqual(signing.protected);
  });

  it('verifies in general JSON serialization', async () => {
    const result = await generalVerify(json!, rsaPublic, { algorithms: ['PS384'] });
    expect(utf8(result.payload)).toBe(PAYLOAD);
  });

  it('verifies in flattened JSON serialization', async () => {
    const result = await flattenedVerify(json_flat!, rsaPublic, { algorithms: ['PS384'] });
    expect(utf8(result.payload)).toBe(PAYLOAD);
  });

  it('signs with the same protected header into a JWS the §3.3 public key verifies', async () => {
    const jws = compactSign(PAYLOAD, privateKey, { protectedHeader: signing.protected });
    expect(jws.split('.')[0]).toBe(signing.protected_b64u);
    const result = await compactVerify(jws, rsaPublic, { algorithms: ['PS384'] });
    expect(utf8(result.payload)).toBe(PAYLOAD);
  });
});

describe('RFC 7520 §4.3 ECDSA signature (ES512)', () => {
  const example = rfc7520Example('jws/4_3.ecdsa_signature.json');
  const signing = singleSigning(example);
  const privateKey = importJwk(singleKey(example));
  const { compact, json, json_flat } = example.output;

  it('verifies in compact serialization with the §3.1 public key', async () => {
    const result = await compactVerify(compact!, ecPublic, { algorithms: ['ES512'] });
    expect(utf8(result.payload)).toBe(PAYLOAD);
    expect(result.protectedHeader).toEqual(signing.protected);
  });

  it('verifies in general JSON serialization', async () => {
    const result = await generalVerify(json!, ecPublic, { algorithms: ['ES512'] });
    expect(utf8(result.payload)).toBe(PAYLOAD);
  });

  it('verifies in flattened JSON serialization', async () => {
    const result = await flattenedVerify(json_flat!, ecPublic, { algorithms: ['ES512'] });
    expect(utf8(result.payload)).toBe(PAYLOAD);
  });

  it('signs with the same protected header into a 132-byte R‖S signature the public key verifies', async () => {
    const jws = compactSign(PAYLOAD, privateKey, { protectedHeader: signing.protected });
    expect(Buffer.from(jws.split('.')[2]!, 'base64url')).toHaveLength(132);
    const result = await compactVerify(jws, ecPublic, { algorithms: ['ES512'] });
    expect(utf8(result.payload)).toBe(PAYLOAD);
  });
});

describe('RFC 7520 §4.4 HMAC-SHA2 integrity protection (HS256)', () => {
  const example = rfc7520Example('jws/4_4.hmac-sha2_integrity_protection.json');
  const signing = singleSigning(example);
  const key = importJwk(singleKey(example));
  const { compact, json, json_flat } = example.output;

  it('verifies in compact serialization', async () => {
    const result = await compactVerify(compact!, key, { algorithms: ['HS256'] });
    expect(utf8(result.payload)).toBe(PAYLOAD);
    expect(result.protectedHeader).toEqual(signing.protected);
  });

  it('verifies in general JSON serialization', async () => {
    const result = await generalVerify(json!, key, { algorithms: ['HS256'] });
    expect(utf8(result.payload)).toBe(PAYLOAD);
  });

  it('verifies in flattened JSON serialization', async () => {
    const result = await flattenedVerify(json_flat!, key, { algorithms: ['HS256'] });
    expect(utf8(result.payload)).toBe(PAYLOAD);
  });

  it('verifies through a key set that selects the key by the protected "kid"', async () => {
    const jwks = createLocalJwks({ keys: [singleKey(example)] });
    const result = await compactVerify(compact!, jwks, { algorithms: ['HS256'] });
    expect(result.key.kid).toBe('018c0ae5-4d9b-471b-bfd6-eef314bc7037');
  });

  it('reproduces the exact compact output', () => {
    expect(compactSign(PAYLOAD, key, { protectedHeader: signing.protected })).toBe(compact);
  });

  it('reproduces the exact flattened JSON output', () => {
    expect(flattenedSign(PAYLOAD, key, { protectedHeader: signing.protected })).toEqual(json_flat);
  });

  it('reproduces the exact general JSON output', () => {
    expect(generalSign(PAYLOAD, [{ key, protectedHeader: signing.protected }])).toEqual(json);
  });
});

describe('RFC 7520 §4.5 signature with detached content (HS256)', () => {
  const example = rfc7520Example('jws/4_5.signature_with_detached_content.json');
  const signing = singleSigning(example);
  const key = importJwk(singleKey(example));
  const { compact, json, json_flat } = example.output;

  it('carries no payload in any serialization (RFC 7515 Appendix F)', () => {
    expect(compact!.split('.')[1]).toBe('');
    expect(json).not.toHaveProperty('payload');
    expect(json_flat).not.toHaveProperty('payload');
  });

  it('verifies in compact serialization when the detached content is supplied', async () => {
    const result = await compactVerify(compact!, key, { algorithms: ['HS256'], payload: PAYLOAD });
    expect(utf8(result.payload)).toBe(PAYLOAD);
  });

  it('verifies in general JSON serialization (no "payload" member) when the content is supplied', async () => {
    const result = await generalVerify(json!, key, { algorithms: ['HS256'], payload: PAYLOAD });
    expect(utf8(result.payload)).toBe(PAYLOAD);
  });

  it('verifies in flattened JSON serialization (no "payload" member) when the content is supplied', async () => {
    const result = await flattenedVerify(json_flat!, key, { algorithms: ['HS256'], payload: PAYLOAD });
    expect(utf8(result.payload)).toBe(PAYLOAD);
  });

  it('rejects the compact form when the detached content is not supplied', async () => {
    await expect(compactVerify(compact!, key, { algorithms: ['HS256'] })).rejects.toMatchObject({
      code: 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED',
    });
  });

  it('rejects the flattened form without a "payload" member when no detached content is supplied', async () => {
    await expect(flattenedVerify(json_flat!, key, { algorithms: ['HS256'] })).rejects.toMatchObject({
      code: 'ERR_JWS_INVALID',
    });
  });

  it('rejects detached content that differs from what was signed', async () => {
    await expect(
      compactVerify(compact!, key, { algorithms: ['HS256'], payload: `${PAYLOAD} ` }),
    ).rejects.toMatchObject({ code: 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED' });
  });

  it('reproduces the exact detached compact output', () => {
    expect(compactSign(PAYLOAD, key, { protectedHeader: signing.protected, detached: true })).toBe(compact);
  });

  it('reproduces the exact signature of the JSON serializations', () => {
    const jws = flattenedSign(PAYLOAD, key, { protectedHeader: signing.protected });
    expect({ protected: jws.protected, signature: jws.signature }).toEqual(json_flat);
  });
});

describe('RFC 7520 §4.6 protecting specific header fields (HS256, "kid" unprotected)', () => {
  const example = rfc7520Example('jws/4_6.protecting_specific_header_fields.json');
  const signing = singleSigning(example);
  const key = importJwk(singleKey(example));
  const { json, json_flat } = example.output;

  it('has no compact serialization (it needs an unprotected header)', () => {
    expect(example.output.compact).toBeUndefined();
  });

  it('verifies in general JSON serialization, protecting only "alg"', async () => {
    const result = await generalVerify(json!, key, { algorithms: ['HS256'] });
    expect(utf8(result.payload)).toBe(PAYLOAD);
    expect(result.protectedHeader).toEqual({ alg: 'HS256' });
    expect(result.unprotectedHeader).toEqual({ kid: '018c0ae5-4d9b-471b-bfd6-eef314bc7037' });
  });

  it('verifies in flattened JSON serialization, protecting only "alg"', async () => {
    const result = await flattenedVerify(json_flat!, key, { algorithms: ['HS256'] });
    expect(utf8(result.payload)).toBe(PAYLOAD);
    expect(result.protectedHeader).toEqual({ alg: 'HS256' });
    expect(result.unprotectedHeader).toEqual(signing.unprotected);
  });

  it('selects the key from a key set by the unprotected "kid"', async () => {
    const jwks = createLocalJwks({ keys: [singleKey(example)] });
    const result = await flattenedVerify(json_flat!, jwks, { algorithms: ['HS256'] });
    expect(result.key.kid).toBe(signing.unprotected!.kid);
  });

  it('reproduces the exact flattened JSON output', () => {
    const jws = flattenedSign(PAYLOAD, key, {
      protectedHeader: signing.protected,
      unprotectedHeader: signing.unprotected,
    });
    expect(jws).toEqual(json_flat);
  });

  it('reproduces the exact general JSON output', () => {
    const jws = generalSign(PAYLOAD, [
      { key, protectedHeader: signing.protected, unprotectedHeader: signing.unprotected },
    ]);
    expect(jws).toEqual(json);
  });
});

describe('RFC 7520 §4.7 protecting content only (HS256, no protected header)', () => {
  const example = rfc7520Example('jws/4_7.protecting_content_only.json');
  const signing = singleSigning(example);
  const key = importJwk(singleKey(example));
  const { json, json_flat } = example.output;

  it('has neither a protected header nor a compact serialization', () => {
    expect(signing.protected).toBeUndefined();
    expect(json_flat).not.toHaveProperty('protected');
    expect(example.output.compact).toBeUndefined();
  });

  it('verifies in general JSON serialization with "alg" in the unprotected header', async () => {
    const result = await generalVerify(json!, key, { algorithms: ['HS256'] });
    expect(utf8(result.payload)).toBe(PAYLOAD);
    expect(result.protectedHeader).toBeUndefined();
    expect(result.unprotectedHeader).toEqual(signing.unprotected);
  });

  it('verifies in flattened JSON serialization with "alg" in the unprotected header', async () => {
    const result = await flattenedVerify(json_flat!, key, { algorithms: ['HS256'] });
    expect(utf8(result.payload)).toBe(PAYLOAD);
    expect(result.protectedHeader).toBeUndefined();
  });

  it('still applies the algorithm allow-list to an unprotected "alg"', async () => {
    await expect(flattenedVerify(json_flat!, key, { algorithms: ['HS512'] })).rejects.toMatchObject({
      code: 'ERR_JOSE_ALG_NOT_ALLOWED',
    });
  });

  it('reproduces the exact flattened JSON output (no "protected" member, RFC 7515 §7.2.1)', () => {
    expect(flattenedSign(PAYLOAD, key, { unprotectedHeader: signing.unprotected })).toEqual(json_flat);
  });

  it('reproduces the exact general JSON output', () => {
    expect(generalSign(PAYLOAD, [{ key, unprotectedHeader: signing.unprotected }])).toEqual(json);
  });
});

describe('RFC 7520 §4.8 multiple signatures (RS256, ES512, HS256)', () => {
  const example = rfc7520Example('jws/4_8.multiple_signatures.json');
  const signings = example.signing as Rfc7520Signing[];
  const [rsaJwk, ecJwk, hmacJwk] = example.input.key as Jwk[];
  const rsaKey = importJwk(rsaJwk!);
  const ecKey = importJwk(ecJwk!);
  const hmacKey = importJwk(hmacJwk!);
  const json = example.output.json!;

  /** One signature of the general serialization, as a flattened JWS. */
  function flattened(index: number): FlattenedJws {
    return { payload: json.payload, ...json.signatures[index]! };
  }

  it('has three signatures and only the general JSON serialization', () => {
    expect(json.signatures).toHaveLength(3);
    expect(example.input.alg).toEqual(['RS256', 'ES512', 'HS256']);
    expect(example.output.compact).toBeUndefined();
    expect(example.output.json_flat).toBeUndefined();
  });

  it('verifies the RS256 signature with the RSA signer key (§3.3 public key)', async () => {
    const result = await generalVerify(json, rsaPublic, { algorithms: ['RS256'] });
    expect(utf8(result.payload)).toBe(PAYLOAD);
    expect(result.protectedHeader).toEqual({ alg: 'RS256' });
    expect(result.unprotectedHeader).toEqual({ kid: 'bilbo.baggins@hobbiton.example' });
  });

  it('verifies the ES512 signature (no protected header) with the EC signer key (§3.1 public key)', async () => {
    const result = await generalVerify(json, ecPublic, { algorithms: ['ES512'] });
    expect(utf8(result.payload)).toBe(PAYLOAD);
    expect(result.protectedHeader).toBeUndefined();
    expect(result.unprotectedHeader).toEqual({ alg: 'ES512', kid: 'bilbo.baggins@hobbiton.example' });
  });

  it('verifies the HS256 signature with the HMAC signer key', async () => {
    const result = await generalVerify(json, hmacKey, { algorithms: ['HS256'] });
    expect(utf8(result.payload)).toBe(PAYLOAD);
    expect(result.protectedHeader).toEqual({ alg: 'HS256', kid: '018c0ae5-4d9b-471b-bfd6-eef314bc7037' });
  });

  it('verifies each of the three signatures on its own, as a flattened JWS', async () => {
    const checks: [number, Key, string][] = [
      [0, rsaKey, 'RS256'],
      [1, ecKey, 'ES512'],
      [2, hmacKey, 'HS256'],
    ];
    for (const [index, key, alg] of checks) {
      const result = await flattenedVerify(flattened(index), key, { algorithms: [alg] });
      expect(utf8(result.payload)).toBe(PAYLOAD);
    }
  });

  it('verifies with a resolver that offers each signer key, trying signatures in order', async () => {
    const keys: Record<string, Key> = { RS256: rsaKey, ES512: ecKey, HS256: hmacKey };
    const result = await generalVerify(json, (header) => keys[header.alg!]!, {
      algorithms: ['ES512', 'HS256'],
    });
    expect(result.key).toBe(ecKey);
  });

  it('rejects all three signatures with a key none of the signers used', async () => {
    const { publicKey } = await generateKeyPair('ES512');
    await expect(generalVerify(json, publicKey, { algorithms: ['ES512'] })).rejects.toMatchObject({
      code: 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED',
    });
  });

  // Deliberate refusal: the cookbook's RSA and EC keys share the kid "bilbo.baggins@hobbiton.example",
  // and a key set with a repeated kid is ambiguous, so createLocalJwks refuses it (Wycheproof's rule).
  it('refuses to hold the RSA and EC signer keys in one key set, as they share a "kid"', () => {
    expect(() => createLocalJwks({ keys: [publicJwk(rsaJwk!), publicJwk(ecJwk!)] })).toThrow(
      expect.objectContaining({ code: 'ERR_JWKS_INVALID' }),
    );
  });

  it('reproduces the deterministic RS256 and HS256 signatures and a verifiable ES512 one', async () => {
    const signers = signings.map((signing, i) => ({
      key: [rsaKey, ecKey, hmacKey][i]!,
      protectedHeader: signing.protected,
      unprotectedHeader: signing.unprotected,
    }));
    const jws: GeneralJws = generalSign(PAYLOAD, signers);
    expect(jws.payload).toBe(json.payload);
    expect(jws.signatures[0]).toEqual(json.signatures[0]);
    expect(jws.signatures[2]).toEqual(json.signatures[2]);
    expect(jws.signatures[1]).toEqual({ header: json.signatures[1]!.header, signature: expect.any(String) });
    const result = await flattenedVerify({ payload: jws.payload, ...jws.signatures[1]! }, ecPublic, {
      algorithms: ['ES512'],
    });
    expect(utf8(result.payload)).toBe(PAYLOAD);
  });
});
