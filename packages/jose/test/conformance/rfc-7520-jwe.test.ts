// RFC 7520 §5 and §6 (JOSE Cookbook, JWE), plus the cookbook's X25519 ECDH-ES example: every example
// decrypts to its plaintext in every serialization it is given in. Where the inputs determine the
// output (AES key wrap, AES-GCM key wrap, dir, PBES2 with the given salt and count, ECDH-ES with the
// given ephemeral private key) encrypting with the example's CEK, IV and parameters reproduces it byte
// for byte. RSA-OAEP is randomized, so there only the content encryption (ciphertext and tag, which the
// CEK, IV and protected header fix) is reproduced. RSA1_5 (§5.1 and one recipient of §5.13) is refused
// on purpose (RFC 8725 §3.2), and compressed content (§5.9) only with allowCompression.
import { Buffer } from 'node:buffer';
import { createPrivateKey, createPublicKey, diffieHellman, type KeyObject } from 'node:crypto';
import { inflateRawSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import {
  compactDecrypt,
  compactEncrypt,
  compactVerify,
  decryptAndVerifyJwt,
  type FlattenedJwe,
  flattenedDecrypt,
  flattenedEncrypt,
  type GeneralJwe,
  generalDecrypt,
  generalEncrypt,
  importJwk,
  importSecret,
  type JweDecryptOptions,
  type Jwk,
  type Key,
} from '../../src/index.js';
import { CONTENT_ENCRYPTION, concatKdf } from '../../src/lib/jwe_algorithms.js';
import {
  publicJwk,
  type Rfc7520EncryptingKey,
  type Rfc7520JweExample,
  readVectorJson,
  rfc7520JweExample,
  utf8,
} from './rfc-vectors.js';

/** The plaintext of the RFC 7520 §5 examples (Merry's promise, with U+2013 dashes). */
const PLAINTEXT =
  'You can trust us to stick with you through thick and thin\u2013to the bitter end. And you can trust ' +
  'us to keep any secret of yours\u2013closer than you keep it yourself. But you cannot trust us to let ' +
  'you face trouble alone, and go off without a word. We are your friends, Frodo.';

const bytes = (b64u: string): Buffer => Buffer.from(b64u, 'base64url');

const only = (alg: string, enc: string, extra: Partial<JweDecryptOptions> = {}): JweDecryptOptions => ({
  keyManagementAlgorithms: [alg],
  contentEncryptionAlgorithms: [enc],
  ...extra,
});

function single<T>(value: T | T[] | undefined, what: string): T {
  if (value === undefined || Array.isArray(value)) throw new Error(`expected a single ${what}`);
  return value;
}

const keyOf = (example: Rfc7520JweExample): Jwk => single(example.input.key, 'key');
const encryptingKey = (example: Rfc7520JweExample): Rfc7520EncryptingKey =>
  single(example.encrypting_key, 'encrypting_key');

/**
 * The general serialization of a one-recipient JWE: the flattened one with its recipient moved into
 * "recipients" (RFC 7516 §7.2.2). The bytes are the same, so a reproduced flattened JWE reproduces
 * the cookbook's general one.
 */
function asGeneral(flat: FlattenedJwe): GeneralJwe {
  const { header, encrypted_key, ...shared } = flat;
  const recipient: GeneralJwe['recipients'][number] = {};
  if (header) recipient.header = header;
  if (encrypted_key !== undefined) recipient.encrypted_key = encrypted_key;
  return { ...shared, recipients: [recipient] };
}

/** An ephemeral EC private key from its JWK (node checks that x and y belong to d). */
const ecEphemeral = (jwk: Jwk): KeyObject => createPrivateKey({ key: jwk as never, format: 'jwk' });

/** The parts of a compact JWE that the CEK, IV and protected header fix: all but the encrypted key. */
function contentOf(jwe: string): string[] {
  const [protectedSegment, , iv, ciphertext, tag] = jwe.split('.');
  return [protectedSegment!, iv!, ciphertext!, tag!];
}

/** One test per serialization the example is given in: each decrypts to the example's plaintext. */
function itDecryptsEverySerialization(
  example: Rfc7520JweExample,
  key: () => Key,
  decryption: JweDecryptOptions,
  plaintext = PLAINTEXT,
): void {
  const { compact, json, json_flat } = example.output;
  const expectedProtected = example.encrypting_content.protected;

  it('carries the expected plaintext', () => {
    expect(example.input.plaintext).toBe(plaintext);
  });

  if (compact !== undefined) {
    it('decrypts the compact serialization', async () => {
      const result = await compactDecrypt(compact, key(), decryption);
      expect(utf8(result.plaintext)).toBe(example.input.plaintext);
      expect(result.protectedHeader).toEqual(expectedProtected);
    });
  }

  if (json_flat !== undefined) {
    it('decrypts the flattened JSON serialization', async () => {
      const result = await flattenedDecrypt(json_flat, key(), decryption);
      expect(utf8(result.plaintext)).toBe(example.input.plaintext);
      expect(result.protectedHeader).toEqual(expectedProtected);
      expect(result.sharedUnprotectedHeader).toEqual(example.encrypting_content.unprotected);
      if (json_flat.aad !== undefined)
        expect(result.additionalAuthenticatedData).toEqual(bytes(json_flat.aad));
    });
  }

  if (json?.recipients !== undefined) {
    it('decrypts the general JSON serialization', async () => {
      const result = await generalDecrypt(json, key(), decryption);
      expect(utf8(result.plaintext)).toBe(example.input.plaintext);
      expect(result.protectedHeader).toEqual(expectedProtected);
      expect(result.sharedUnprotectedHeader).toEqual(example.encrypting_content.unprotected);
    });
  } else if (json !== undefined) {
    // The cookbook's "general" output of its direct examples (§5.5, §5.6, X25519) has no "recipients",
    // which RFC 7516 §7.2.1 requires: the object is in fact the flattened serialization (§7.2.2).
    it('gives as "general" JSON the flattened serialization (no "recipients"), which decrypts as such', async () => {
      expect(json).toEqual(json_flat);
      const result = await flattenedDecrypt(json as unknown as FlattenedJwe, key(), decryption);
      expect(utf8(result.plaintext)).toBe(example.input.plaintext);
      await expect(generalDecrypt(json, key(), decryption)).rejects.toMatchObject({
        code: 'ERR_JWE_INVALID',
      });
    });

    it('decrypts the general JSON serialization with its one (empty) recipient spelled out', async () => {
      const general: GeneralJwe = { ...json, recipients: [{}] };
      const result = await generalDecrypt(general, key(), decryption);
      expect(utf8(result.plaintext)).toBe(example.input.plaintext);
    });
  }
}

describe('RFC 7520 §5.1 key encryption using RSA v1.5 and AES-HMAC-SHA2 (deliberately refused)', () => {
  const example = rfc7520JweExample('jwe/5_1.key_encryption_using_rsa_v15_and_aes-hmac-sha2.json');
  const jwk = keyOf(example);
  const { compact, json, json_flat } = example.output;

  it('is an RSA1_5 example', () => {
    expect(example.input.alg).toBe('RSA1_5');
    expect(example.encrypting_content.protected).toMatchObject({ alg: 'RSA1_5', enc: 'A128CBC-HS256' });
    expect(example.input.plaintext).toBe(PLAINTEXT);
  });

  it('refuses to allow RSA1_5 for decryption: ERR_JOSE_NOT_SUPPORTED (RFC 8725 §3.2)', async () => {
    const key = importJwk(jwk);
    const decryption = only('RSA1_5', 'A128CBC-HS256');
    await expect(compactDecrypt(compact!, key, decryption)).rejects.toMatchObject({
      code: 'ERR_JOSE_NOT_SUPPORTED',
    });
    await expect(flattenedDecrypt(json_flat!, key, decryption)).rejects.toMatchObject({
      code: 'ERR_JOSE_NOT_SUPPORTED',
    });
    await expect(generalDecrypt(json!, key, decryption)).rejects.toMatchObject({
      code: 'ERR_JOSE_NOT_SUPPORTED',
    });
  });

  it('does not decrypt it when only RSA-OAEP is allowed (ERR_JOSE_ALG_NOT_ALLOWED)', async () => {
    await expect(
      compactDecrypt(compact!, importJwk(jwk), only('RSA-OAEP', 'A128CBC-HS256')),
    ).rejects.toMatchObject({ code: 'ERR_JOSE_ALG_NOT_ALLOWED', alg: 'RSA1_5' });
  });

  it('imports the "use": "enc" RSA key for RSA-OAEP only, never RSA1_5', () => {
    const key = importJwk(jwk);
    expect(key.algorithms).toEqual(['RSA-OAEP', 'RSA-OAEP-256', 'RSA-OAEP-384', 'RSA-OAEP-512']);
    expect(key.canServe('RSA1_5', 'decrypt')).toBe(false);
  });

  it('refuses a key pinned to RSA1_5: ERR_JOSE_NOT_SUPPORTED', () => {
    expect(() => importJwk({ ...jwk, alg: 'RSA1_5' })).toThrow(
      expect.objectContaining({ code: 'ERR_JOSE_NOT_SUPPORTED' }),
    );
  });

  it('refuses to encrypt with RSA1_5: ERR_JOSE_NOT_SUPPORTED', () => {
    const key = importJwk(publicJwk(jwk));
    expect(() =>
      compactEncrypt(PLAINTEXT, key, { protectedHeader: example.encrypting_content.protected! }),
    ).toThrow(expect.objectContaining({ code: 'ERR_JOSE_NOT_SUPPORTED' }));
  });
});

describe('RFC 7520 §5.2 key encryption using RSA-OAEP with AES-GCM', () => {
  const example = rfc7520JweExample('jwe/5_2.key_encryption_using_rsa-oaep_with_aes-gcm.json');
  const jwk = keyOf(example);
  const privateKey = importJwk(jwk);
  const publicKey = importJwk(publicJwk(jwk));
  const decryption = only('RSA-OAEP', 'A256GCM');
  const { cek, iv } = example.generated;

  it('is not reproducible (RSA-OAEP is randomized)', () => {
    expect(example.reproducible).toBeUndefined();
    expect(privateKey.algorithms).toEqual(['RSA-OAEP']);
  });

  itDecryptsEverySerialization(example, () => privateKey, decryption);

  it('reproduces the protected header, IV, ciphertext and tag with the given CEK and IV', async () => {
    const jwe = compactEncrypt(PLAINTEXT, publicKey, {
      protectedHeader: example.encrypting_content.protected!,
      cek: bytes(cek!),
      iv: bytes(iv),
    });
    expect(contentOf(jwe)).toEqual(contentOf(example.output.compact!));
    expect(jwe.split('.')[1]).not.toBe(encryptingKey(example).encrypted_key);
    expect(utf8((await compactDecrypt(jwe, privateKey, decryption)).plaintext)).toBe(PLAINTEXT);
  });

  it('reproduces the flattened JSON serialization except for the encrypted key', async () => {
    const jwe = flattenedEncrypt(PLAINTEXT, publicKey, {
      protectedHeader: example.encrypting_content.protected!,
      cek: bytes(cek!),
      iv: bytes(iv),
    });
    expect({ ...jwe, encrypted_key: undefined }).toEqual({
      ...example.output.json_flat,
      encrypted_key: undefined,
    });
    expect(utf8((await flattenedDecrypt(jwe, privateKey, decryption)).plaintext)).toBe(PLAINTEXT);
  });

  it('refuses the compact JWE when only RSA-OAEP-256 is allowed', async () => {
    await expect(
      compactDecrypt(example.output.compact!, privateKey, only('RSA-OAEP-256', 'A256GCM')),
    ).rejects.toMatchObject({ code: 'ERR_JOSE_ALG_NOT_ALLOWED' });
  });
});

describe('RFC 7520 §5.3 key wrap using PBES2-AES-KeyWrap with AES-CBC-HMAC-SHA2', () => {
  const example = rfc7520JweExample('jwe/5_3.key_wrap_using_pbes2-aes-keywrap_with-aes-cbc-hmac-sha2.json');
  const password = importSecret(example.input.pwd!, { alg: 'PBES2-HS512+A256KW' });
  const decryption = only('PBES2-HS512+A256KW', 'A128CBC-HS256');
  const { salt, iteration_count } = encryptingKey(example);
  const encryption = {
    protectedHeader: example.encrypting_content.protected!,
    parameters: { p2s: bytes(salt!), p2c: iteration_count! },
    cek: bytes(example.generated.cek!),
    iv: bytes(example.generated.iv),
  };

  it('encrypts a JWK set, with the salt and count of the example', () => {
    expect(example.reproducible).toBe(true);
    expect(JSON.parse(example.input.plaintext).keys).toHaveLength(3);
    expect(example.encrypting_content.protected).toMatchObject({ p2s: salt, p2c: 8192, cty: 'jwk-set+json' });
  });

  itDecryptsEverySerialization(example, () => password, decryption, example.input.plaintext);

  it('reproduces the exact compact output', () => {
    expect(compactEncrypt(example.input.plaintext, password, encryption)).toBe(example.output.compact);
  });

  it('reproduces the exact flattened and general JSON outputs', () => {
    const flat = flattenedEncrypt(example.input.plaintext, password, encryption);
    expect(flat).toEqual(example.output.json_flat);
    expect(asGeneral(flat)).toEqual(example.output.json);
  });

  it('refuses the example when the PBES2 count limit is below its 8192 iterations (ERR_JWE_INVALID)', async () => {
    await expect(
      compactDecrypt(example.output.compact!, password, { ...decryption, maxPbes2Count: 8191 }),
    ).rejects.toMatchObject({ code: 'ERR_JWE_INVALID' });
  });

  it('fails to decrypt with a different password (ERR_JWE_DECRYPTION_FAILED)', async () => {
    const wrong = importSecret(`${example.input.pwd!}!`, { alg: 'PBES2-HS512+A256KW' });
    await expect(compactDecrypt(example.output.compact!, wrong, decryption)).rejects.toMatchObject({
      code: 'ERR_JWE_DECRYPTION_FAILED',
    });
  });
});

describe('RFC 7520 §5.4 key agreement with key wrapping using ECDH-ES and AES-KeyWrap with AES-GCM', () => {
  const example = rfc7520JweExample(
    'jwe/5_4.key_agreement_with_key_wrapping_using_ecdh-es_and_aes-keywrap_with_aes-gcm.json',
  );
  const jwk = keyOf(example);
  const privateKey = importJwk(jwk);
  const publicKey = importJwk(publicJwk(jwk));
  const decryption = only('ECDH-ES+A128KW', 'A128GCM');
  const encryption = () => ({
    protectedHeader: example.encrypting_content.protected!,
    parameters: { epk: ecEphemeral(encryptingKey(example).epk!) },
    cek: bytes(example.generated.cek!),
    iv: bytes(example.generated.iv),
  });

  it('uses a P-384 "use": "enc" key, which serves the ECDH-ES algorithms', () => {
    expect(jwk.crv).toBe('P-384');
    expect(privateKey.canServe('ECDH-ES+A128KW', 'decrypt')).toBe(true);
    expect(publicKey.canServe('ECDH-ES+A128KW', 'encrypt')).toBe(true);
  });

  itDecryptsEverySerialization(example, () => privateKey, decryption);

  it('reproduces the exact compact output, given the ephemeral private key', () => {
    expect(compactEncrypt(PLAINTEXT, publicKey, encryption())).toBe(example.output.compact);
  });

  it('reproduces the exact flattened and general JSON outputs', () => {
    const flat = flattenedEncrypt(PLAINTEXT, publicKey, encryption());
    expect(flat).toEqual(example.output.json_flat);
    expect(asGeneral(flat)).toEqual(example.output.json);
  });

  it('fails to decrypt with a different P-384 key (ERR_JWE_DECRYPTION_FAILED)', async () => {
    const other = importJwk({ ...encryptingKey(example).epk!, use: 'enc' });
    await expect(compactDecrypt(example.output.compact!, other, decryption)).rejects.toMatchObject({
      code: 'ERR_JWE_DECRYPTION_FAILED',
    });
  });
});

describe('RFC 7520 §5.5 key agreement using ECDH-ES with AES-CBC-HMAC-SHA2', () => {
  const example = rfc7520JweExample('jwe/5_5.key_agreement_using_ecdh-es_with_aes-cbc-hmac-sha2.json');
  const jwk = keyOf(example);
  const privateKey = importJwk(jwk);
  const publicKey = importJwk(publicJwk(jwk));
  const decryption = only('ECDH-ES', 'A128CBC-HS256');
  const { epk, cek } = encryptingKey(example);
  const encryption = () => ({
    protectedHeader: example.encrypting_content.protected!,
    parameters: { epk: ecEphemeral(epk!) },
    iv: bytes(example.generated.iv),
  });

  itDecryptsEverySerialization(example, () => privateKey, decryption);

  it('derives the example CEK with the Concat KDF (RFC 7518 §4.6.2, AlgorithmID "A128CBC-HS256")', () => {
    const z = diffieHellman({ privateKey: ecEphemeral(epk!), publicKey: publicKey.keyObject });
    expect(concatKdf(z, 256, 'A128CBC-HS256', Buffer.alloc(0), Buffer.alloc(0))).toEqual(bytes(cek!));
  });

  it('reproduces the exact compact output, given the ephemeral private key', () => {
    expect(compactEncrypt(PLAINTEXT, publicKey, encryption())).toBe(example.output.compact);
  });

  it('reproduces the exact flattened JSON output', () => {
    expect(flattenedEncrypt(PLAINTEXT, publicKey, encryption())).toEqual(example.output.json_flat);
  });

  it('refuses to add a second recipient to a direct key agreement (RFC 7516 §7.2.1)', () => {
    expect(() =>
      generalEncrypt(
        PLAINTEXT,
        [
          { key: publicKey, unprotectedHeader: { alg: 'ECDH-ES' } },
          { key: publicKey, unprotectedHeader: { alg: 'ECDH-ES' } },
        ],
        { protectedHeader: { enc: 'A128CBC-HS256' } },
      ),
    ).toThrow(expect.objectContaining({ code: 'ERR_JWE_INVALID' }));
  });
});

describe('RFC 7520 §5.6 direct encryption using AES-GCM', () => {
  const example = rfc7520JweExample('jwe/5_6.direct_encryption_using_aes-gcm.json');
  const key = importJwk(keyOf(example));
  const decryption = only('dir', 'A128GCM');
  const encryption = {
    protectedHeader: example.encrypting_content.protected!,
    iv: bytes(example.generated.iv),
  };

  it('uses a key whose "alg" names the content encryption, so it serves "dir" only', () => {
    expect(key.alg).toBe('A128GCM');
    expect(key.algorithms).toEqual(['dir']);
  });

  itDecryptsEverySerialization(example, () => key, decryption);

  it('reproduces the exact compact output', () => {
    expect(compactEncrypt(PLAINTEXT, key, encryption)).toBe(example.output.compact);
  });

  it('reproduces the exact flattened JSON output', () => {
    expect(flattenedEncrypt(PLAINTEXT, key, encryption)).toEqual(example.output.json_flat);
  });

  it('reproduces the general JSON output, with its one recipient spelled out as {}', () => {
    const jwe = generalEncrypt(PLAINTEXT, [{ key }], encryption);
    expect(jwe).toEqual({ ...example.output.json, recipients: [{}] });
  });

  it('refuses the key for a different "enc" (it is an A128GCM key)', async () => {
    expect(() =>
      compactEncrypt(PLAINTEXT, key, { protectedHeader: { alg: 'dir', enc: 'A128CBC-HS256' } }),
    ).toThrow(expect.objectContaining({ code: 'ERR_JWE_INVALID' }));
  });
});

describe('RFC 7520 §5.7 key wrap using AES-GCM KeyWrap with AES-CBC-HMAC-SHA2', () => {
  const example = rfc7520JweExample('jwe/5_7.key_wrap_using_aes-gcm_keywrap_with_aes-cbc-hmac-sha2.json');
  const key = importJwk(keyOf(example));
  const decryption = only('A256GCMKW', 'A128CBC-HS256');
  const wrapping = encryptingKey(example);
  const encryption = {
    protectedHeader: example.encrypting_content.protected!,
    parameters: { iv: bytes(wrapping.iv!) },
    cek: bytes(example.generated.cek!),
    iv: bytes(example.generated.iv),
  };

  it('carries the key-wrap IV and tag in the protected header', () => {
    expect(example.encrypting_content.protected).toMatchObject({ iv: wrapping.iv, tag: wrapping.tag });
    expect(key.algorithms).toEqual(['A256GCMKW']);
  });

  itDecryptsEverySerialization(example, () => key, decryption);

  it('reproduces the exact compact output', () => {
    expect(compactEncrypt(PLAINTEXT, key, encryption)).toBe(example.output.compact);
  });

  it('reproduces the exact flattened and general JSON outputs', () => {
    const flat = flattenedEncrypt(PLAINTEXT, key, encryption);
    expect(flat).toEqual(example.output.json_flat);
    expect(asGeneral(flat)).toEqual(example.output.json);
  });
});

describe('RFC 7520 §5.8 key wrap using AES-KeyWrap with AES-GCM', () => {
  const example = rfc7520JweExample('jwe/5_8.key_wrap_using_aes-keywrap_with_aes-gcm.json');
  const key = importJwk(keyOf(example));
  const decryption = only('A128KW', 'A128GCM');
  const encryption = {
    protectedHeader: example.encrypting_content.protected!,
    cek: bytes(example.generated.cek!),
    iv: bytes(example.generated.iv),
  };

  itDecryptsEverySerialization(example, () => key, decryption);

  it('reproduces the exact compact output', () => {
    expect(compactEncrypt(PLAINTEXT, key, encryption)).toBe(example.output.compact);
  });

  it('reproduces the exact flattened JSON output', () => {
    expect(flattenedEncrypt(PLAINTEXT, key, encryption)).toEqual(example.output.json_flat);
  });

  it('reproduces the exact general JSON output', () => {
    expect(generalEncrypt(PLAINTEXT, [{ key }], encryption)).toEqual(example.output.json);
  });

  it('fails to decrypt with a different A128KW key (ERR_JWE_DECRYPTION_FAILED)', async () => {
    const other = importSecret(Buffer.alloc(16, 7), { alg: 'A128KW' });
    await expect(compactDecrypt(example.output.compact!, other, decryption)).rejects.toMatchObject({
      code: 'ERR_JWE_DECRYPTION_FAILED',
    });
  });
});

describe('RFC 7520 §5.9 compressed content', () => {
  const example = rfc7520JweExample('jwe/5_9.compressed_content.json');
  const key = importJwk(keyOf(example));
  const decryption = only('A128KW', 'A128GCM', { allowCompression: true });
  const { compact, json, json_flat } = example.output;
  const { cek, iv, plaintext_c } = example.generated;

  itDecryptsEverySerialization(example, () => key, decryption);

  it('refuses the compressed content without allowCompression (ERR_JWE_INVALID), in every serialization', async () => {
    const refusing = only('A128KW', 'A128GCM');
    await expect(compactDecrypt(compact!, key, refusing)).rejects.toMatchObject({ code: 'ERR_JWE_INVALID' });
    await expect(flattenedDecrypt(json_flat!, key, refusing)).rejects.toMatchObject({
      code: 'ERR_JWE_INVALID',
    });
    await expect(generalDecrypt(json!, key, refusing)).rejects.toMatchObject({ code: 'ERR_JWE_INVALID' });
  });

  it('refuses it when the plaintext inflates beyond maxDecompressedLength (ERR_JWE_INVALID)', async () => {
    const small = { ...decryption, maxDecompressedLength: PLAINTEXT.length - 1 };
    await expect(compactDecrypt(compact!, key, small)).rejects.toMatchObject({ code: 'ERR_JWE_INVALID' });
  });

  it('holds in its ciphertext exactly the example DEFLATE data, which inflates to the plaintext', () => {
    const gcm = CONTENT_ENCRYPTION.get('A128GCM')!;
    const aad = Buffer.from(example.encrypting_content.protected_b64u!, 'ascii');
    const compressed = gcm.decrypt(
      bytes(cek!),
      bytes(iv),
      bytes(example.encrypting_content.ciphertext),
      bytes(example.encrypting_content.tag),
      aad,
    );
    expect(compressed).toEqual(bytes(plaintext_c!));
    expect(inflateRawSync(compressed).toString('utf8')).toBe(PLAINTEXT);
  });

  // DEFLATE output is not canonical: node's zlib compresses the plaintext into other (equally valid)
  // bytes than the cookbook's, so only the parts that do not depend on them are reproduced.
  it('reproduces the protected header, encrypted key and IV; the result decrypts to the plaintext', async () => {
    const jwe = compactEncrypt(PLAINTEXT, key, {
      protectedHeader: example.encrypting_content.protected!,
      cek: bytes(cek!),
      iv: bytes(iv),
    });
    expect(jwe.split('.').slice(0, 3)).toEqual(compact!.split('.').slice(0, 3));
    expect(utf8((await compactDecrypt(jwe, key, decryption)).plaintext)).toBe(PLAINTEXT);
  });
});

describe('RFC 7520 §5.10 including additional authenticated data', () => {
  const example = rfc7520JweExample('jwe/5_10.including_additional_authentication_data.json');
  const key = importJwk(keyOf(example));
  const decryption = only('A128KW', 'A128GCM');
  const encryption = {
    protectedHeader: example.encrypting_content.protected!,
    aad: example.input.aad!,
    cek: bytes(example.generated.cek!),
    iv: bytes(example.generated.iv),
  };

  it('has no compact serialization (compact JWEs cannot carry AAD)', () => {
    expect(example.output.compact).toBeUndefined();
    expect(Buffer.from(example.input.aad!, 'utf8').toString('base64url')).toBe(example.generated.aad_b64u);
  });

  itDecryptsEverySerialization(example, () => key, decryption);

  it('returns the additional authenticated data', async () => {
    const result = await generalDecrypt(example.output.json!, key, decryption);
    expect(utf8(result.additionalAuthenticatedData!)).toBe(example.input.aad);
  });

  it('reproduces the exact flattened JSON output', () => {
    expect(flattenedEncrypt(PLAINTEXT, key, encryption)).toEqual(example.output.json_flat);
  });

  it('reproduces the exact general JSON output', () => {
    expect(generalEncrypt(PLAINTEXT, [{ key }], encryption)).toEqual(example.output.json);
  });

  it('fails to decrypt when the AAD is changed (ERR_JWE_DECRYPTION_FAILED)', async () => {
    const changed = { ...example.output.json_flat!, aad: Buffer.from('["vcard",[]]').toString('base64url') };
    await expect(flattenedDecrypt(changed, key, decryption)).rejects.toMatchObject({
      code: 'ERR_JWE_DECRYPTION_FAILED',
    });
  });
});

describe('RFC 7520 §5.11 protecting specific header fields', () => {
  const example = rfc7520JweExample('jwe/5_11.protecting_specific_header_fields.json');
  const key = importJwk(keyOf(example));
  const decryption = only('A128KW', 'A128GCM');
  const encryption = {
    protectedHeader: example.encrypting_content.protected!,
    sharedUnprotectedHeader: example.encrypting_content.unprotected!,
    cek: bytes(example.generated.cek!),
    iv: bytes(example.generated.iv),
  };

  it('protects "enc" only; "alg" and "kid" are in the shared unprotected header', () => {
    expect(example.encrypting_content.protected).toEqual({ enc: 'A128GCM' });
    expect(example.encrypting_content.unprotected).toMatchObject({ alg: 'A128KW' });
  });

  itDecryptsEverySerialization(example, () => key, decryption);

  it('reproduces the exact flattened JSON output', () => {
    expect(flattenedEncrypt(PLAINTEXT, key, encryption)).toEqual(example.output.json_flat);
  });

  it('reproduces the exact general JSON output', () => {
    expect(generalEncrypt(PLAINTEXT, [{ key }], encryption)).toEqual(example.output.json);
  });
});

describe('RFC 7520 §5.12 protecting content only', () => {
  const example = rfc7520JweExample('jwe/5_12.protecting_content_only.json');
  const key = importJwk(keyOf(example));
  const decryption = only('A128KW', 'A128GCM');
  const encryption = {
    sharedUnprotectedHeader: example.encrypting_content.unprotected!,
    cek: bytes(example.generated.cek!),
    iv: bytes(example.generated.iv),
  };

  it('has no protected header at all', () => {
    expect(example.encrypting_content.protected).toBeUndefined();
    expect(example.output.json_flat).not.toHaveProperty('protected');
  });

  itDecryptsEverySerialization(example, () => key, decryption);

  it('reproduces the exact flattened JSON output', () => {
    expect(flattenedEncrypt(PLAINTEXT, key, encryption)).toEqual(example.output.json_flat);
  });

  it('reproduces the exact general JSON output', () => {
    expect(generalEncrypt(PLAINTEXT, [{ key }], encryption)).toEqual(example.output.json);
  });
});

describe('RFC 7520 §5.13 encrypting to multiple recipients', () => {
  const example = rfc7520JweExample('jwe/5_13.encrypting_to_multiple_recipients.json');
  const [rsaJwk, ecJwk, gcmkwJwk] = example.input.key as Jwk[];
  const [, ecdhKey, gcmKey] = example.encrypting_key as Rfc7520EncryptingKey[];
  const json = example.output.json!;
  const enc = 'A128CBC-HS256';

  it('has three recipients: RSA1_5, ECDH-ES+A256KW and A256GCMKW', () => {
    expect(example.input.alg).toEqual(['RSA1_5', 'ECDH-ES+A256KW', 'A256GCMKW']);
    expect(json.recipients.map((r) => r.header?.alg)).toEqual(example.input.alg);
  });

  it('names its "enc" A128CBC-HS256 in the protected header (the input file misspells it)', () => {
    expect(example.input.enc).toBe('A128CBC-H256');
    expect(example.encrypting_content.protected).toEqual({ enc });
  });

  it('refuses the RSA1_5 recipient: ERR_JOSE_NOT_SUPPORTED (RFC 8725 §3.2)', async () => {
    await expect(generalDecrypt(json, importJwk(rsaJwk!), only('RSA1_5', enc))).rejects.toMatchObject({
      code: 'ERR_JOSE_NOT_SUPPORTED',
    });
  });

  it('finds no recipient the RSA key may decrypt for (the RSA one is RSA1_5)', async () => {
    await expect(generalDecrypt(json, importJwk(rsaJwk!), only('RSA-OAEP', enc))).rejects.toMatchObject({
      code: 'ERR_JWE_DECRYPTION_FAILED',
    });
  });

  it('decrypts for the ECDH-ES+A256KW recipient (the second), skipping the RSA1_5 one', async () => {
    const result = await generalDecrypt(json, importJwk(ecJwk!), only('ECDH-ES+A256KW', enc));
    expect(utf8(result.plaintext)).toBe(PLAINTEXT);
    expect(result.unprotectedHeader).toEqual(json.recipients[1]!.header);
    expect(result.sharedUnprotectedHeader).toEqual({ cty: 'text/plain' });
    expect(result.protectedHeader).toEqual({ enc });
  });

  it('decrypts for the A256GCMKW recipient (the third)', async () => {
    const result = await generalDecrypt(json, importJwk(gcmkwJwk!), only('A256GCMKW', enc));
    expect(utf8(result.plaintext)).toBe(PLAINTEXT);
    expect(result.unprotectedHeader).toEqual(json.recipients[2]!.header);
  });

  it('decrypts with a resolver holding all three keys, allowing every algorithm it offers', async () => {
    const keys = [importJwk(rsaJwk!), importJwk(ecJwk!), importJwk(gcmkwJwk!)];
    const resolve = (header: { kid?: string }) => keys.filter((key) => key.kid === header.kid);
    const result = await generalDecrypt(json, resolve, {
      keyManagementAlgorithms: ['RSA-OAEP', 'ECDH-ES+A256KW', 'A256GCMKW'],
      contentEncryptionAlgorithms: [enc],
    });
    expect(utf8(result.plaintext)).toBe(PLAINTEXT);
    expect(result.key.kid).toBe(ecJwk!.kid);
  });

  it('refuses to encrypt to an RSA1_5 recipient: ERR_JOSE_NOT_SUPPORTED', () => {
    expect(() =>
      generalEncrypt(
        PLAINTEXT,
        [{ key: importJwk(publicJwk(rsaJwk!)), unprotectedHeader: { alg: 'RSA1_5' } }],
        { protectedHeader: { enc } },
      ),
    ).toThrow(expect.objectContaining({ code: 'ERR_JOSE_NOT_SUPPORTED' }));
  });

  it('reproduces the exact JWE for the ECDH-ES+A256KW and A256GCMKW recipients', () => {
    const jwe = generalEncrypt(
      PLAINTEXT,
      [
        {
          key: importJwk(publicJwk(ecJwk!)),
          unprotectedHeader: { alg: 'ECDH-ES+A256KW', kid: ecJwk!.kid },
          parameters: { epk: ecEphemeral(ecdhKey!.epk!) },
        },
        {
          key: importJwk(gcmkwJwk!),
          unprotectedHeader: { alg: 'A256GCMKW', kid: gcmkwJwk!.kid },
          parameters: { iv: bytes(gcmKey!.iv!) },
        },
      ],
      {
        protectedHeader: { enc },
        sharedUnprotectedHeader: example.encrypting_content.unprotected!,
        cek: bytes(example.generated.cek!),
        iv: bytes(example.generated.iv),
      },
    );
    expect(jwe).toEqual({ ...json, recipients: json.recipients.slice(1) });
  });
});

describe('RFC 7520 §6 nesting signatures and encryption', () => {
  const nesting = readVectorJson<{
    sign: { input: { payload: string; key: Jwk }; output: { compact: string } };
    encrypt: Rfc7520JweExample;
  }>('rfc7520/6.nesting_signatures_and_encryption.json');
  const { sign, encrypt } = nesting;
  const decryptionKey = importJwk(keyOf(encrypt));
  const encryptionKey = importJwk(publicJwk(keyOf(encrypt)));
  const signatureKey = importJwk(publicJwk(sign.input.key));
  const decryption = only('RSA-OAEP', 'A128GCM');

  it('encrypts the signed JWT, with "cty": "JWT"', () => {
    expect(encrypt.input.plaintext).toBe(sign.output.compact);
    expect(encrypt.encrypting_content.protected).toMatchObject({ cty: 'JWT' });
  });

  itDecryptsEverySerialization(encrypt, () => decryptionKey, decryption, sign.output.compact);

  it('decrypts, then verifies the PS256 JWS inside (compactDecrypt, then compactVerify)', async () => {
    const { plaintext, protectedHeader } = await compactDecrypt(
      encrypt.output.compact!,
      decryptionKey,
      decryption,
    );
    expect(protectedHeader.cty).toBe('JWT');
    const inner = utf8(plaintext);
    expect(inner).toBe(sign.output.compact);
    const verified = await compactVerify(inner, signatureKey, { algorithms: ['PS256'] });
    expect(utf8(verified.payload)).toBe(sign.input.payload);
    expect(verified.protectedHeader).toEqual({ alg: 'PS256', typ: 'JWT' });
  });

  it('decrypts and verifies it as a nested JWT (decryptAndVerifyJwt), before its 2011 expiry', async () => {
    const result = await decryptAndVerifyJwt(
      encrypt.output.compact!,
      decryptionKey,
      decryption,
      signatureKey,
      {
        algorithms: ['PS256'],
        currentDate: new Date(1_300_819_000 * 1000),
      },
    );
    expect(result.payload).toEqual(JSON.parse(sign.input.payload));
    expect(result.encryptionHeader).toEqual(encrypt.encrypting_content.protected);
  });

  it('refuses the nested JWT once it has expired (ERR_JWT_EXPIRED)', async () => {
    await expect(
      decryptAndVerifyJwt(encrypt.output.compact!, decryptionKey, decryption, signatureKey, {
        algorithms: ['PS256'],
        currentDate: new Date(1_300_819_381 * 1000),
      }),
    ).rejects.toMatchObject({ code: 'ERR_JWT_EXPIRED' });
  });

  it('reproduces the protected header, IV, ciphertext and tag with the given CEK and IV', () => {
    const jwe = compactEncrypt(sign.output.compact, encryptionKey, {
      protectedHeader: encrypt.encrypting_content.protected!,
      cek: bytes(encrypt.generated.cek!),
      iv: bytes(encrypt.generated.iv),
    });
    expect(contentOf(jwe)).toEqual(contentOf(encrypt.output.compact!));
  });
});

describe('RFC 7520 cookbook curve25519/ecdh-es.json: X25519 ECDH-ES with A128GCM', () => {
  const example = rfc7520JweExample('curve25519/ecdh-es.json');
  const jwk = keyOf(example);
  const privateKey = importJwk(jwk);
  const publicKey = importJwk(publicJwk(jwk));
  const decryption = only('ECDH-ES', 'A128GCM');
  const { epk } = encryptingKey(example);
  // Known data problem (vectors README): encrypting_key.epk.x does not belong to its d. The key in the
  // protected header is the one used, and it does, so the ephemeral key is built from d alone.
  const ephemeral = createPrivateKey({
    key: Buffer.concat([Buffer.from('302e020100300506032b656e04220420', 'hex'), bytes(epk!.d!)]),
    format: 'der',
    type: 'pkcs8',
  });
  const ephemeralX = (createPublicKey(ephemeral).export({ format: 'jwk' }) as Jwk).x;

  it('uses an X25519 key, which serves the ECDH-ES algorithms only', () => {
    expect(privateKey.algorithms).toEqual(['ECDH-ES', 'ECDH-ES+A128KW', 'ECDH-ES+A192KW', 'ECDH-ES+A256KW']);
    expect(example.reproducible).toBe(false);
  });

  it('has an ephemeral d whose public key is the protected header "epk", not encrypting_key.epk.x', () => {
    expect(ephemeralX).toBe(example.encrypting_content.protected!.epk!.x);
    expect(ephemeralX).not.toBe(epk!.x);
  });

  itDecryptsEverySerialization(example, () => privateKey, decryption);

  // A second data problem: encrypting_key.cek is the 32-byte CEK of §5.5, copied. A128GCM needs 16
  // bytes; the real CEK is what the Concat KDF derives, and it decrypts the content.
  it('has as encrypting_key.cek the §5.5 CEK; the derived 16-byte CEK is what decrypts the content', () => {
    expect(encryptingKey(example).cek).toBe(
      encryptingKey(rfc7520JweExample('jwe/5_5.key_agreement_using_ecdh-es_with_aes-cbc-hmac-sha2.json')).cek,
    );
    const z = diffieHellman({ privateKey: ephemeral, publicKey: publicKey.keyObject });
    const cek = concatKdf(z, 128, 'A128GCM', Buffer.alloc(0), Buffer.alloc(0));
    const content = example.encrypting_content;
    const aad = Buffer.from(content.protected_b64u!, 'ascii');
    const gcm = CONTENT_ENCRYPTION.get('A128GCM')!;
    const plaintext = gcm.decrypt(
      cek,
      bytes(example.generated.iv),
      bytes(content.ciphertext),
      bytes(content.tag),
      aad,
    );
    expect(plaintext.toString('utf8')).toBe(PLAINTEXT);
  });

  it('reproduces the exact compact output, given the ephemeral private key', () => {
    const jwe = compactEncrypt(PLAINTEXT, publicKey, {
      protectedHeader: example.encrypting_content.protected!,
      parameters: { epk: ephemeral },
      iv: bytes(example.generated.iv),
    });
    expect(jwe).toBe(example.output.compact);
  });

  it('reproduces the exact flattened JSON output', () => {
    const jwe = flattenedEncrypt(PLAINTEXT, publicKey, {
      protectedHeader: example.encrypting_content.protected!,
      parameters: { epk: ephemeral },
      iv: bytes(example.generated.iv),
    });
    expect(jwe).toEqual(example.output.json_flat);
  });
});
