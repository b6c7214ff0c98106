import {
  compactEncrypt,
  exportJwk,
  type GeneratedKeyPair,
  generateKeyPair,
  generateSecret,
  type JweHeaderParameters,
  type Key,
  signAndEncryptJwt,
} from '@tessera/jose';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createGuard, type Guard, type GuardOptions } from '../src/index.js';
import { guardFor, refusal, type TestLogger } from './helpers/guard.js';
import { AUDIENCE, bearer, startIssuer, type TestIssuer, waitFor } from './helpers/issuer.js';

// Encrypted access tokens: nested JWTs (RFC 7519 §5.2, §11.2), the signed access token encrypted to
// the API's public key. The guard decrypts with the API's private keys, then verifies the signed
// token inside exactly as it verifies a plain one.

let issuer: TestIssuer;
/** The API's encryption key pairs: RSA-OAEP-256, ECDH-ES+A256KW on P-256, ECDH-ES on P-384. */
let rsa: GeneratedKeyPair;
let ec: GeneratedKeyPair;
let ecDirect: GeneratedKeyPair;
const guards: Guard[] = [];

beforeAll(async () => {
  issuer = await startIssuer();
  [rsa, ec, ecDirect] = await Promise.all([
    generateKeyPair('RSA-OAEP-256', { kid: 'api-rsa' }),
    generateKeyPair('ECDH-ES+A256KW', { kid: 'api-ec' }),
    generateKeyPair('ECDH-ES', { kid: 'api-ec-384', crv: 'P-384' }),
  ]);
});

afterEach(async () => {
  for (const guard of guards.splice(0)) await guard.close();
});

afterAll(async () => {
  await issuer.close();
});

/** A started guard for the test issuer (revocations off unless given), closed after the test. */
async function start(options: Partial<GuardOptions> = {}): Promise<{ guard: Guard; logger: TestLogger }> {
  const started = guardFor(issuer, { revocations: 'off', ...options });
  guards.push(started.guard);
  await started.guard.ready();
  return started;
}

/**
 * `signed` encrypted to `to` as the issuer does it: the key's pinned `alg`, A256GCM, `cty: "JWT"`
 * and the key's `kid`; `header` overrides any of them (a member set to undefined is left out).
 */
function encrypt(signed: string, to: Key, header: Partial<JweHeaderParameters> = {}): string {
  const protectedHeader: JweHeaderParameters = {
    alg: to.alg!,
    enc: 'A256GCM',
    typ: 'JWT',
    cty: 'JWT',
    kid: to.kid,
    ...header,
  };
  for (const [name, value] of Object.entries(protectedHeader))
    if (value === undefined) delete protectedHeader[name];
  return compactEncrypt(signed, to, { protectedHeader });
}

/** Base64url of JSON, to forge headers by hand. */
function segment(value: object): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

describe('an encrypted access token', () => {
  it('is accepted with RSA-OAEP-256 and A256GCM, and its principal carries the token as sent', async () => {
    const { guard } = await start({ decryptionKeys: [rsa.privateKey] });
    const token = encrypt(issuer.token({ sub: 'user-rsa' }), rsa.publicKey);
    const principal = await guard.authenticate(bearer(token));
    expect(principal.sub).toBe('user-rsa');
    expect(principal.scopes).toEqual(['orders:read', 'orders:write']);
    expect(principal.claims.iss).toBe(issuer.url);
    // The encrypted token, to forward downstream: never the signed token inside, in clear.
    expect(principal.token).toBe(token);
  });

  it('is accepted with ECDH-ES+A256KW on P-256', async () => {
    const { guard } = await start({ decryptionKeys: [ec.privateKey] });
    const token = encrypt(issuer.token({ sub: 'user-ec' }), ec.publicKey);
    expect((await guard.authenticate(bearer(token))).sub).toBe('user-ec');
  });

  it('is accepted with ECDH-ES on P-384, and with A128GCM and A256CBC-HS512', async () => {
    const { guard } = await start({ decryptionKeys: [ecDirect.privateKey] });
    for (const enc of ['A256GCM', 'A128GCM', 'A256CBC-HS512']) {
      const token = encrypt(issuer.token({ sub: enc }), ecDirect.publicKey, { enc });
      expect((await guard.authenticate(bearer(token))).sub).toBe(enc);
    }
  });

  it('is accepted as @tessera/jose signAndEncryptJwt makes it', async () => {
    const { guard } = await start({ decryptionKeys: [rsa.privateKey] });
    const token = await signAndEncryptJwt(
      { ...issuer.defaultClaims, jti: 'jti-nested' },
      issuer.privateKey,
      {
        alg: 'ES256',
        typ: 'at+jwt',
        issuer: issuer.url,
        audience: AUDIENCE,
        expiresIn: 300,
        currentDate: new Date(issuer.clock.now()),
      },
      rsa.publicKey,
      { alg: 'RSA-OAEP-256', enc: 'A256GCM', kid: 'api-rsa' },
    );
    expect((await guard.authenticate(bearer(token))).claims.jti).toBe('jti-nested');
  });

  it('is accepted whatever the case of "cty", with or without "application/" (RFC 7515 §4.1.10)', async () => {
    const { guard } = await start({ decryptionKeys: [rsa.privateKey] });
    for (const cty of ['jwt', 'application/JWT']) {
      const token = encrypt(issuer.token({ sub: cty }), rsa.publicKey, { cty });
      expect((await guard.authenticate(bearer(token))).sub).toBe(cty);
    }
  });

  it('does not depend on the outer "typ": absent, or anything', async () => {
    const { guard } = await start({ decryptionKeys: [rsa.privateKey] });
    for (const typ of [undefined, 'at+jwt', 'JOSE']) {
      const token = encrypt(issuer.token(), rsa.publicKey, { typ });
      expect((await guard.authenticate(bearer(token))).sub).toBe('user-1');
    }
  });

  it('is decrypted with the key its "kid" names, among several (a rotation)', async () => {
    const { guard } = await start({ decryptionKeys: [rsa.privateKey, ec.privateKey] });
    expect((await guard.authenticate(bearer(encrypt(issuer.token(), rsa.publicKey)))).sub).toBe('user-1');
    expect((await guard.authenticate(bearer(encrypt(issuer.token(), ec.publicKey)))).sub).toBe('user-1');
  });

  it('without "kid" is tried with each key that serves its "alg"', async () => {
    const other = await generateKeyPair('RSA-OAEP-256', { kid: 'api-rsa-old' });
    const { guard } = await start({ decryptionKeys: [other.privateKey, rsa.privateKey] });
    const token = encrypt(issuer.token(), rsa.publicKey, { kid: undefined });
    expect((await guard.authenticate(bearer(token))).sub).toBe('user-1');
  });

  it('is accepted from a private JWK, with its "alg" or with "use": "enc"', async () => {
    const exported = exportJwk(rsa.privateKey);
    for (const jwk of [exported, { ...exported, alg: undefined, use: 'enc' }]) {
      const { guard } = await start({ decryptionKeys: [jwk] });
      expect((await guard.authenticate(bearer(encrypt(issuer.token(), rsa.publicKey)))).sub).toBe('user-1');
    }
  });

  it('yields the same principal when repeated, as a plain token does', async () => {
    const { guard } = await start({ decryptionKeys: [ec.privateKey] });
    const token = encrypt(issuer.token(), ec.publicKey);
    const first = await guard.authenticate(bearer(token));
    expect(await guard.authenticate(bearer(token))).toBe(first);
  });

  it('is accepted when repeated with the token cache off', async () => {
    const { guard } = await start({ decryptionKeys: [ec.privateKey], tokenCache: false });
    const token = encrypt(issuer.token(), ec.publicKey);
    expect((await guard.authenticate(bearer(token))).sub).toBe('user-1');
    expect((await guard.authenticate(bearer(token))).sub).toBe('user-1');
  });

  it('gives each request the token it sent: the same signed token in clear or in another JWE', async () => {
    const { guard } = await start({ decryptionKeys: [rsa.privateKey] });
    const signed = issuer.token();
    const first = encrypt(signed, rsa.publicKey);
    const second = encrypt(signed, rsa.publicKey);
    expect((await guard.authenticate(bearer(first))).token).toBe(first);
    expect((await guard.authenticate(bearer(second))).token).toBe(second);
    expect((await guard.authenticate(bearer(signed))).token).toBe(signed);
    expect((await guard.authenticate(bearer(first))).token).toBe(first);
  });

  it('signed with a key published after the guard started is accepted once the key set is fetched', async () => {
    const { guard } = await start({ decryptionKeys: [rsa.privateKey] });
    const rotated = await generateKeyPair('ES256', { kid: 'rotated-encrypted' });
    issuer.extraKeys.push(rotated.publicKey);
    try {
      issuer.clock.advance(31_000); // past the key set's cool-down since the guard's fetch
      const fetchesBefore = issuer.jwksRequests;
      const token = encrypt(issuer.token({}, { key: rotated.privateKey }), rsa.publicKey);
      const principal = await guard.authenticate(bearer(token));
      expect(principal.token).toBe(token);
      expect(issuer.jwksRequests).toBe(fetchesBefore + 1);
    } finally {
      issuer.extraKeys.splice(0);
    }
  });

  it('is refused once revoked, like a plain token', async () => {
    const started = guardFor(issuer, { decryptionKeys: [rsa.privateKey] });
    guards.push(started.guard);
    const { guard } = started;
    await guard.ready();
    const token = encrypt(issuer.token({ jti: 'jti-encrypted-revoked' }), rsa.publicKey);
    expect((await guard.authenticate(bearer(token))).claims.jti).toBe('jti-encrypted-revoked');
    const entries = guard.health().revocations.entries;
    issuer.push({ kind: 'jti', value: 'jti-encrypted-revoked' });
    await waitFor(() => guard.health().revocations.entries === entries + 1, 2000, 'the revocation');
    const err = await refusal(guard, token);
    expect(err.status).toBe(401);
    expect(err.error).toBe('invalid_token');
    expect(err.reason).toBe('revoked (jti)');
  });

  it('is refused when expired, as "the access token expired"', async () => {
    const { guard } = await start({ decryptionKeys: [rsa.privateKey] });
    const token = encrypt(issuer.token({}, { expiresIn: 60 }), rsa.publicKey);
    expect((await guard.authenticate(bearer(token))).sub).toBe('user-1');
    issuer.clock.advance(61_000);
    const err = await refusal(guard, token);
    expect(err.status).toBe(401);
    expect(err.description).toBe('the access token expired');
  });
});

describe('an encrypted token is refused with 401 invalid_token', () => {
  /** The refusal must look like any invalid token's: the reason stays in the API's logs. */
  async function invalid(guard: Guard, token: string): Promise<string> {
    const err = await refusal(guard, token);
    expect(err.status).toBe(401);
    expect(err.error).toBe('invalid_token');
    expect(err.toJSON()).toEqual({
      error: 'invalid_token',
      error_description: 'the access token is not valid',
    });
    return err.reason;
  }

  it('when encrypted to another key with the same "kid", without saying more about the keys', async () => {
    const { guard } = await start({ decryptionKeys: [rsa.privateKey] });
    const impostor = await generateKeyPair('RSA-OAEP-256', { kid: 'api-rsa' });
    const reason = await invalid(guard, encrypt(issuer.token(), impostor.publicKey));
    expect(reason).toBe('ERR_JWE_DECRYPTION_FAILED: the token does not decrypt with the decryption keys');
  });

  it('when its "kid" names no decryption key', async () => {
    const { guard } = await start({ decryptionKeys: [rsa.privateKey] });
    const reason = await invalid(guard, encrypt(issuer.token(), rsa.publicKey, { kid: 'unknown' }));
    expect(reason).toMatch(/^ERR_JWKS_NO_MATCHING_KEY/);
  });

  it('when tampered with (the ciphertext changed)', async () => {
    const { guard } = await start({ decryptionKeys: [ec.privateKey] });
    const parts = encrypt(issuer.token(), ec.publicKey).split('.');
    const ciphertext = Buffer.from(parts[3]!, 'base64url');
    ciphertext[0]! ^= 1;
    parts[3] = ciphertext.toString('base64url');
    expect(await invalid(guard, parts.join('.'))).toMatch(/^ERR_JWE_DECRYPTION_FAILED/);
  });

  it('when its header lacks "cty": "JWT" (RFC 7519 §5.2)', async () => {
    const { guard } = await start({ decryptionKeys: [rsa.privateKey] });
    for (const cty of [undefined, 'json', 'at+jwt']) {
      const reason = await invalid(guard, encrypt(issuer.token(), rsa.publicKey, { cty }));
      expect(reason).toMatch(/"cty": "JWT"/);
    }
  });

  it('when the signed token inside has a bad signature', async () => {
    const { guard } = await start({ decryptionKeys: [rsa.privateKey] });
    const forger = await generateKeyPair('ES256', { kid: 'key-1' });
    const forged = issuer.token({}, { key: forger.privateKey, kid: 'key-1' });
    const reason = await invalid(guard, encrypt(forged, rsa.publicKey));
    expect(reason).toMatch(/^ERR_JWS_SIGNATURE_VERIFICATION_FAILED/);
  });

  it('when the token inside is unsigned ("alg": "none")', async () => {
    const { guard } = await start({ decryptionKeys: [rsa.privateKey] });
    const payload = issuer.token().split('.')[1]!;
    const unsigned = `${segment({ alg: 'none', typ: 'at+jwt', kid: 'key-1' })}.${payload}.`;
    const reason = await invalid(guard, encrypt(unsigned, rsa.publicKey));
    expect(reason).toMatch(/^ERR_JOSE_ALG_NOT_ALLOWED/);
  });

  it('when the token inside is not an access token ("typ": "JWT")', async () => {
    const { guard } = await start({ decryptionKeys: [rsa.privateKey] });
    const reason = await invalid(guard, encrypt(issuer.token({}, { typ: 'JWT' }), rsa.publicKey));
    expect(reason).toMatch(/typ/);
  });

  it('when the token inside is another JWE, not a signed token', async () => {
    const { guard } = await start({ decryptionKeys: [rsa.privateKey] });
    const inner = encrypt(issuer.token(), rsa.publicKey);
    expect(await invalid(guard, encrypt(inner, rsa.publicKey))).toMatch(/^ERR_JWS_INVALID/);
  });

  it('when its key-management algorithm is not allowed: dir, RSA1_5, or one left out of the list', async () => {
    const { guard } = await start({ decryptionKeys: [rsa.privateKey, ecDirect.privateKey] });
    // "dir" with a secret: whoever holds the secret could encrypt anything (RFC 8725 §3.1).
    const secret = generateSecret('A256GCM');
    const direct = compactEncrypt(issuer.token(), secret, {
      protectedHeader: { alg: 'dir', enc: 'A256GCM', cty: 'JWT' },
    });
    expect(await invalid(guard, direct)).toMatch(/^ERR_JOSE_ALG_NOT_ALLOWED: "alg" "dir"/);
    // RSA1_5 (RFC 8725 §3.2): no library here makes one, so the header of a real JWE is swapped.
    const parts = encrypt(issuer.token(), rsa.publicKey).split('.');
    parts[0] = segment({ alg: 'RSA1_5', enc: 'A256GCM', cty: 'JWT', kid: 'api-rsa' });
    expect(await invalid(guard, parts.join('.'))).toMatch(/^ERR_JOSE_ALG_NOT_ALLOWED: "alg" "RSA1_5"/);

    // A key for every ECDH-ES variant, with only one of them accepted.
    const anyEcdh = { ...exportJwk(ecDirect.privateKey), alg: undefined, use: 'enc' };
    const pinned = await start({ decryptionKeys: [anyEcdh], keyManagementAlgorithms: ['ECDH-ES+A256KW'] });
    const agreed = encrypt(issuer.token(), ecDirect.publicKey);
    expect(await invalid(pinned.guard, agreed)).toMatch(/^ERR_JOSE_ALG_NOT_ALLOWED: "alg" "ECDH-ES"/);
  });

  it('when its content encryption is not allowed', async () => {
    const { guard } = await start({
      decryptionKeys: [rsa.privateKey],
      contentEncryptionAlgorithms: ['A256GCM'],
    });
    const token = encrypt(issuer.token(), rsa.publicKey, { enc: 'A128CBC-HS256' });
    expect(await invalid(guard, token)).toMatch(/^ERR_JOSE_ALG_NOT_ALLOWED: "enc" "A128CBC-HS256"/);
  });

  it('when compressed ("zip": "DEF", RFC 8725 §3.6)', async () => {
    const { guard } = await start({ decryptionKeys: [rsa.privateKey] });
    const token = encrypt(issuer.token(), rsa.publicKey, { zip: 'DEF' });
    expect(await invalid(guard, token)).toMatch(/^ERR_JWE_INVALID: compressed JWE refused/);
  });

  it('when it arrives at a guard without decryption keys, which logs a warning naming decryptionKeys', async () => {
    const { guard, logger } = await start();
    const token = encrypt(issuer.token(), rsa.publicKey);
    expect(await invalid(guard, token)).toMatch(/decryption key \(decryptionKeys\)/);
    await invalid(guard, encrypt(issuer.token(), rsa.publicKey));
    const warnings = logger.warnings.filter(({ message }) => message.includes('options.decryptionKeys'));
    // Once a minute, not once per request.
    expect(warnings).toHaveLength(1);
    issuer.clock.advance(60_000);
    await invalid(guard, encrypt(issuer.token(), rsa.publicKey));
    expect(logger.warnings.filter(({ message }) => message.includes('options.decryptionKeys'))).toHaveLength(
      2,
    );
  });
});

describe('plain (signed, unencrypted) access tokens', () => {
  it('are still accepted by default when decryption keys are configured', async () => {
    const { guard } = await start({ decryptionKeys: [rsa.privateKey] });
    const token = issuer.token();
    const principal = await guard.authenticate(bearer(token));
    expect(principal.sub).toBe('user-1');
    expect(principal.token).toBe(token);
  });

  it('are refused with requireEncryption, while encrypted ones are accepted', async () => {
    const { guard } = await start({ decryptionKeys: [rsa.privateKey], requireEncryption: true });
    const err = await refusal(guard, issuer.token());
    expect(err.status).toBe(401);
    expect(err.error).toBe('invalid_token');
    expect(err.reason).toMatch(/not encrypted/);
    expect((await guard.authenticate(bearer(encrypt(issuer.token(), rsa.publicKey)))).sub).toBe('user-1');
  });

  it('with characters outside b64token are still a 400 with requireEncryption', async () => {
    const { guard } = await start({ decryptionKeys: [rsa.privateKey], requireEncryption: true });
    const err = await refusal(guard, `${issuer.token()}!`);
    expect(err.status).toBe(400);
  });
});

describe('createGuard refuses decryption options that could never work', () => {
  const base = { issuer: 'https://auth.example.com', audience: AUDIENCE, revocations: 'off' as const };

  it('a public key, a key without "kid", or two keys with the same "kid"', () => {
    expect(() => createGuard({ ...base, decryptionKeys: [rsa.publicKey] })).toThrow(/private key/);
    expect(() =>
      createGuard({ ...base, decryptionKeys: [{ ...exportJwk(rsa.privateKey), kid: undefined }] }),
    ).toThrow(/needs a "kid"/);
    expect(() => createGuard({ ...base, decryptionKeys: [rsa.privateKey, rsa.privateKey] })).toThrow(
      /repeats/,
    );
    expect(() => createGuard({ ...base, decryptionKeys: [] })).toThrow(TypeError);
    expect(() => createGuard({ ...base, decryptionKeys: ['-----BEGIN PRIVATE KEY-----' as never] })).toThrow(
      /Key of @tessera\/jose or a private JWK/,
    );
  });

  it('a key that serves no accepted algorithm: a signing key, or a JWK without "use": "enc" or "alg"', async () => {
    const signing = await generateKeyPair('ES256', { kid: 'sig' });
    expect(() => createGuard({ ...base, decryptionKeys: [signing.privateKey] })).toThrow(/"use": "enc"/);
    const bare = { ...exportJwk(rsa.privateKey), alg: undefined };
    expect(() => createGuard({ ...base, decryptionKeys: [bare] })).toThrow(TypeError);
    expect(() =>
      createGuard({ ...base, decryptionKeys: [ec.privateKey], keyManagementAlgorithms: ['RSA-OAEP-256'] }),
    ).toThrow(/serves none/);
  });

  it('algorithms that need a shared secret, RSA1_5, or unknown ones (RFC 8725 §3.1, §3.2)', () => {
    const keys = { decryptionKeys: [rsa.privateKey] };
    for (const alg of ['dir', 'A256KW', 'A256GCMKW', 'PBES2-HS256+A128KW', 'XX'])
      expect(() => createGuard({ ...base, ...keys, keyManagementAlgorithms: [alg] })).toThrow(TypeError);
    expect(() => createGuard({ ...base, ...keys, keyManagementAlgorithms: ['RSA1_5'] })).toThrow(
      /RFC 8725 §3.2/,
    );
    expect(() => createGuard({ ...base, ...keys, keyManagementAlgorithms: [] })).toThrow(TypeError);
    expect(() => createGuard({ ...base, ...keys, contentEncryptionAlgorithms: ['A256KW'] })).toThrow(
      TypeError,
    );
  });

  it('requireEncryption or algorithm lists without decryption keys', () => {
    expect(() => createGuard({ ...base, requireEncryption: true })).toThrow(/decryptionKeys/);
    expect(() => createGuard({ ...base, keyManagementAlgorithms: ['RSA-OAEP-256'] })).toThrow(
      /decryptionKeys/,
    );
    expect(() => createGuard({ ...base, contentEncryptionAlgorithms: ['A256GCM'] })).toThrow(
      /decryptionKeys/,
    );
  });
});
