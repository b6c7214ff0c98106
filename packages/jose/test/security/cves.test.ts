// Published CVEs and advisories of other JOSE libraries, replayed against Tessera. Each test shows the
// attack (the token or input the advisory describes) and the error Tessera answers with; each would
// fail if Tessera had the bug. Advisories that only concern JWE decryption are kept as tests showing
// that the input never reaches any JWE processing here.
import { Buffer } from 'node:buffer';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { deflateRawSync } from 'node:zlib';
import { describe, expect, it, vi } from 'vitest';
import {
  compactVerify,
  createLocalJwks,
  createVerifier,
  exportJwk,
  generateSecret,
  importKeyObject,
  importPem,
  importSecret,
  type KeyResolver,
  verifyJwt,
} from '../../src/index.js';
import {
  b64u,
  claims,
  forge,
  forgeSegments,
  hmacSigner,
  keySigner,
  segments,
  thrown,
} from '../helpers/forge.js';

const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const rsaPublic = importKeyObject(rsa.publicKey);
const rsaSpkiPem = rsa.publicKey.export({ format: 'pem', type: 'spki' }) as string;
const rsaPkcs1Pem = rsa.publicKey.export({ format: 'pem', type: 'pkcs1' }) as string;
const rsaJwk = exportJwk(rsaPublic);
const secret = generateSecret('HS256');
const hs256 = hmacSigner(secret.keyObject.export());

/** An HS256 token whose HMAC key is `key`: what an attacker signs with a public key they know. */
const hmacForgery = (key: Uint8Array | string, header: object = {}) =>
  forge({ alg: 'HS256', typ: 'JWT', ...header }, { ...claims(), sub: 'admin' }, hmacSigner(key));

describe('jsonwebtoken (auth0/node-jsonwebtoken)', () => {
  it('CVE-2015-9235: refuses an HS256 token keyed with the RS256 public key, even when both are allowed (ERR_JOSE_ALG_NOT_ALLOWED)', async () => {
    await expect(
      verifyJwt(hmacForgery(rsaSpkiPem), rsaPublic, { algorithms: ['RS256', 'HS256'] }),
    ).rejects.toMatchObject({ code: 'ERR_JOSE_ALG_NOT_ALLOWED', alg: 'HS256' });
  });

  it('CVE-2022-23529 (withdrawn, GHSA-27h2-hvpr-p74q): refuses a key argument with a malicious toString without calling it (ERR_KEY_INVALID)', async () => {
    const maliciousToString = vi.fn(() => 'attacker-chosen secret');
    await expect(
      verifyJwt(hmacForgery('x'), { toString: maliciousToString } as never, { algorithms: ['HS256'] }),
    ).rejects.toMatchObject({
      code: 'ERR_KEY_INVALID',
    });
    expect(maliciousToString).not.toHaveBeenCalled();
  });

  it('CVE-2022-23529 (withdrawn, GHSA-27h2-hvpr-p74q): refuses an object posing as a KeyObject without calling into it (ERR_KEY_INVALID)', async () => {
    const fake = {
      type: 'secret',
      symmetricKeySize: 32,
      export: vi.fn(() => Buffer.alloc(32)),
      toString: vi.fn(),
    };
    await expect(
      verifyJwt(hmacForgery(Buffer.alloc(32)), fake as never, { algorithms: ['HS256'] }),
    ).rejects.toMatchObject({ code: 'ERR_KEY_INVALID' });
    expect(fake.export).not.toHaveBeenCalled();
    expect(fake.toString).not.toHaveBeenCalled();
  });

  it('CVE-2022-23539: refuses a legacy DSA key for signature verification (ERR_KEY_INVALID)', async () => {
    const dsa = generateKeyPairSync('dsa', { modulusLength: 2048, divisorLength: 256 });
    const token = forge({ alg: 'RS256', typ: 'JWT' }, claims(), keySigner(rsa.privateKey, 'RS256'));
    await expect(verifyJwt(token, dsa.publicKey, { algorithms: ['RS256'] })).rejects.toMatchObject({
      code: 'ERR_KEY_INVALID',
    });
  });

  it('CVE-2022-23540: refuses an unsecured token verified with a falsy key (ERR_JOSE_ALG_NOT_ALLOWED)', async () => {
    const unsecured = `${b64u({ alg: 'none', typ: 'JWT' })}.${b64u({ ...claims(), sub: 'admin' })}.`;
    await expect(verifyJwt(unsecured, null as never, { algorithms: ['HS256'] })).rejects.toMatchObject({
      code: 'ERR_JOSE_ALG_NOT_ALLOWED',
      alg: 'none',
    });
  });

  it('CVE-2022-23540: refuses to verify without an explicit algorithm list, so nothing defaults to "none" (TypeError)', async () => {
    const unsecured = `${b64u({ alg: 'none', typ: 'JWT' })}.${b64u(claims())}.`;
    await expect(verifyJwt(unsecured, secret, {} as never)).rejects.toThrow(TypeError);
  });

  it('CVE-2022-23541: a key resolver returning the RSA public key for any token finds no key for HS256 (ERR_JWKS_NO_MATCHING_KEY)', async () => {
    const getKey: KeyResolver = () => rsaPublic;
    await expect(
      verifyJwt(hmacForgery(rsaSpkiPem), getKey, { algorithms: ['RS256', 'HS256'] }),
    ).rejects.toMatchObject({ code: 'ERR_JWKS_NO_MATCHING_KEY' });
  });
});

describe('fast-jwt (nearform/fast-jwt)', () => {
  it('CVE-2023-48223: refuses a PKCS #1 "RSA PUBLIC KEY" PEM passed as the HMAC secret (ERR_KEY_INVALID)', async () => {
    await expect(
      verifyJwt(hmacForgery(rsaPkcs1Pem), Buffer.from(rsaPkcs1Pem), { algorithms: ['RS256', 'HS256'] }),
    ).rejects.toMatchObject({ code: 'ERR_KEY_INVALID' });
  });

  it('CVE-2026-34950 (GHSA-mvf2-f6gm-w987): refuses a whitespace-prefixed public key PEM passed as the HMAC secret (ERR_KEY_INVALID)', async () => {
    const prefixed = `\n \t\r\n${' '.repeat(8192)}${rsaSpkiPem}`;
    await expect(
      verifyJwt(hmacForgery(prefixed), Buffer.from(prefixed), { algorithms: ['RS256', 'HS256'] }),
    ).rejects.toMatchObject({ code: 'ERR_KEY_INVALID' });
  });

  it('CVE-2025-30144: refuses an "iss" array that merely contains the trusted issuer (ERR_JWT_CLAIM_VALIDATION_FAILED, iss, invalid)', async () => {
    const token = forge(
      { alg: 'HS256', typ: 'JWT' },
      { ...claims(), iss: ['https://attacker.example', 'https://issuer.example'] },
      hs256,
    );
    await expect(
      verifyJwt(token, secret, { algorithms: ['HS256'], issuer: 'https://issuer.example' }),
    ).rejects.toMatchObject({ code: 'ERR_JWT_CLAIM_VALIDATION_FAILED', claim: 'iss', reason: 'invalid' });
  });

  it('CVE-2026-35042 (GHSA-hm7r-c7qw-ghp6): refuses a token with an unknown critical header extension (ERR_JOSE_NOT_SUPPORTED)', async () => {
    const token = forge(
      { alg: 'HS256', typ: 'JWT', crit: ['x-custom-policy'], 'x-custom-policy': 'require-mfa' },
      claims(),
      hs256,
    );
    await expect(verifyJwt(token, secret, { algorithms: ['HS256'] })).rejects.toMatchObject({
      code: 'ERR_JOSE_NOT_SUPPORTED',
    });
  });

  it('CVE-2026-44351 (GHSA-gmvf-9v4p-v8jc): a resolver falling back to "" does not verify an empty-key HMAC forgery (ERR_KEY_INVALID)', async () => {
    const keys: Record<string, unknown> = {};
    const resolver = (async (header: { kid?: string }) => keys[header.kid!] || '') as never as KeyResolver;
    const token = forge(
      { alg: 'HS256', typ: 'JWT', kid: 'unknown' },
      { ...claims(), sub: 'admin' },
      hmacSigner(''),
    );
    await expect(verifyJwt(token, resolver, { algorithms: ['HS256'] })).rejects.toMatchObject({
      code: 'ERR_KEY_INVALID',
    });
  });

  it('CVE-2026-35039 (GHSA-rp9m-7r4c-75qg): cached tokens sharing iss and aud each keep their own claims', () => {
    const verifier = createVerifier({ key: secret, algorithms: ['HS256'], audience: 'api', cache: true });
    const alice = forge({ alg: 'HS256', typ: 'JWT' }, { ...claims(), sub: 'alice' }, hs256);
    const bob = forge({ alg: 'HS256', typ: 'JWT' }, { ...claims(), sub: 'bob', admin: true }, hs256);
    expect(verifier.verify(alice).payload.sub).toBe('alice');
    expect(verifier.verify(bob).payload.sub).toBe('bob');
    expect(verifier.verify(alice).payload).not.toHaveProperty('admin');
  });

  it('CVE-2026-35039 (GHSA-rp9m-7r4c-75qg): a cached token with a swapped signature is verified, not served from cache (ERR_JWS_SIGNATURE_VERIFICATION_FAILED)', () => {
    const verifier = createVerifier({ key: secret, algorithms: ['HS256'], cache: true });
    const token = forge({ alg: 'HS256', typ: 'JWT' }, claims(), hs256);
    verifier.verify(token);
    const [h, p, s] = segments(token);
    const tampered = `${h}.${p}.${s[0] === 'A' ? 'B' : 'A'}${s.slice(1)}`;
    expect(thrown(() => verifier.verify(tampered))).toMatchObject({
      code: 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED',
    });
  });
});

describe('jose (panva/jose)', () => {
  it('CVE-2022-36083 (PBES2 "p2c" DoS, JWE only): a PBES2 JWE with a huge p2c is refused as a JWE before any key derivation (ERR_JWS_INVALID)', async () => {
    const header = { alg: 'PBES2-HS512+A256KW', enc: 'A256GCM', p2s: b64u(randomBytes(16)), p2c: 2 ** 31 };
    const jwe = `${b64u(header)}.${b64u(randomBytes(40))}.${b64u(randomBytes(12))}.${b64u('x')}.${b64u(randomBytes(16))}`;
    await expect(verifyJwt(jwe, secret, { algorithms: ['HS256'] })).rejects.toMatchObject({
      code: 'ERR_JWS_INVALID',
    });
  });

  it('CVE-2021-29443 (GHSA-58f5-hfqc-jgch, AES-CBC-HMAC padding oracle, JWE only): an A128CBC-HS256 JWE is refused before any decryption (ERR_JWS_INVALID)', async () => {
    const header = { alg: 'dir', enc: 'A128CBC-HS256' };
    const jwe = `${b64u(header)}..${b64u(randomBytes(16))}.${b64u(randomBytes(32))}.${b64u(randomBytes(16))}`;
    await expect(verifyJwt(jwe, secret, { algorithms: ['HS256'] })).rejects.toMatchObject({
      code: 'ERR_JWS_INVALID',
    });
  });

  it('CVE-2024-28176 (JWE "zip" decompression bomb, JWE only): a "zip": "DEF" header never makes a JWS payload inflate', async () => {
    const bomb = deflateRawSync(Buffer.alloc(1_000_000));
    const token = forgeSegments(b64u({ alg: 'HS256', zip: 'DEF' }), b64u(bomb), hs256);
    const { payload } = await compactVerify(token, secret, { algorithms: ['HS256'] });
    expect(Buffer.from(payload)).toEqual(bomb);
  });
});

describe('node-jose (cisco/node-jose; the embedded-key advisory class)', () => {
  it('CVE-2018-0114: ignores a key embedded in the "jwk" header; the real key fails the signature (ERR_JWS_SIGNATURE_VERIFICATION_FAILED)', async () => {
    const attacker = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const header = { alg: 'RS256', typ: 'JWT', jwk: attacker.publicKey.export({ format: 'jwk' }) };
    const token = forge(header, { ...claims(), sub: 'admin' }, keySigner(attacker.privateKey, 'RS256'));
    await expect(verifyJwt(token, rsaPublic, { algorithms: ['RS256'] })).rejects.toMatchObject({
      code: 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED',
    });
  });
});

describe('PyJWT (jpadilla/pyjwt)', () => {
  it('CVE-2017-11424: refuses a PKCS #1 "RSA PUBLIC KEY" PEM string as an HMAC secret (ERR_KEY_INVALID)', () => {
    expect(thrown(() => importSecret(rsaPkcs1Pem))).toMatchObject({ code: 'ERR_KEY_INVALID' });
  });

  it('CVE-2022-29217: refuses an OpenSSH "ssh-ed25519" public key as an HMAC secret (ERR_KEY_INVALID)', () => {
    const ed = generateKeyPairSync('ed25519');
    const wire = (bytes: Buffer) => Buffer.concat([Buffer.from([0, 0, 0, bytes.length]), bytes]);
    const raw = Buffer.from(ed.publicKey.export({ format: 'jwk' }).x!, 'base64url');
    const line = `ssh-ed25519 ${Buffer.concat([wire(Buffer.from('ssh-ed25519')), wire(raw)]).toString('base64')} user@host`;
    expect(thrown(() => importSecret(line))).toMatchObject({ code: 'ERR_KEY_INVALID' });
  });

  it('CVE-2024-53861: compares "iss" exactly, never as a substring of the expected issuer (ERR_JWT_CLAIM_VALIDATION_FAILED, iss)', async () => {
    const token = forge({ alg: 'HS256', typ: 'JWT' }, { ...claims(), iss: 'http' }, hs256);
    await expect(
      verifyJwt(token, secret, { algorithms: ['HS256'], issuer: 'https://test.example.com/auth' }),
    ).rejects.toMatchObject({
      code: 'ERR_JWT_CLAIM_VALIDATION_FAILED',
      claim: 'iss',
      reason: 'check_failed',
    });
  });

  it('CVE-2025-45768 (disputed): refuses a guessable HMAC secret shorter than the hash output (ERR_KEY_INVALID)', async () => {
    await expect(
      verifyJwt(hmacForgery('secret'), Buffer.from('secret'), { algorithms: ['HS256'] }),
    ).rejects.toMatchObject({ code: 'ERR_KEY_INVALID' });
  });

  it('CVE-2026-32597 (GHSA-752w-5fwx-jx9f): refuses a token with an unknown critical header extension (ERR_JOSE_NOT_SUPPORTED)', async () => {
    const token = forge(
      '{"alg":"HS256","crit":["x-custom-policy"],"x-custom-policy":"require-mfa"}',
      claims(),
      hs256,
    );
    await expect(verifyJwt(token, secret, { algorithms: ['HS256'] })).rejects.toMatchObject({
      code: 'ERR_JOSE_NOT_SUPPORTED',
    });
  });

  it('CVE-2026-48523 (GHSA-jq35-7prp-9v3f): verifies with the header algorithm, so a PS256 signature labelled RS256 finds no PS256-bound key (ERR_JWKS_NO_MATCHING_KEY)', async () => {
    // The attacker controls a registered key bound to PS256; the policy allows RS256 only.
    const jwks = createLocalJwks({ keys: [{ ...rsaJwk, alg: 'PS256', kid: 'partner' }] });
    const token = forge(
      { alg: 'RS256', typ: 'JWT', kid: 'partner' },
      claims(),
      keySigner(rsa.privateKey, 'PS256'),
    );
    await expect(verifyJwt(token, jwks, { algorithms: ['RS256'] })).rejects.toMatchObject({
      code: 'ERR_JWKS_NO_MATCHING_KEY',
    });
  });

  it('CVE-2026-48526: an RSA JWK in a key set never serves HS256, whatever the token is keyed with (ERR_JWKS_NO_MATCHING_KEY)', async () => {
    const jwks = createLocalJwks({ keys: [{ ...rsaJwk, use: 'sig', kid: 'issuer-1' }] });
    const token = hmacForgery(JSON.stringify(rsaJwk), { kid: 'issuer-1' });
    await expect(verifyJwt(token, jwks, { algorithms: ['RS256', 'HS256'] })).rejects.toMatchObject({
      code: 'ERR_JWKS_NO_MATCHING_KEY',
    });
  });

  it('CVE-2026-48526: refuses to pin an RSA JWK to HS256 (ERR_KEY_INVALID)', () => {
    expect(thrown(() => importPem(rsaSpkiPem, { alg: 'HS256' }))).toMatchObject({ code: 'ERR_KEY_INVALID' });
  });
});
