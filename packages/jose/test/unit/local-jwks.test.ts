// createLocalJwks: which key a token gets (kid, alg, kty, crv, use, key_ops), the set-level rules
// (unique kids, no secrets mixed with public keys) and the keys it leaves out.
import { Buffer } from 'node:buffer';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  createLocalJwks,
  exportJwk,
  generateKeyPair,
  generateSecret,
  importKeyObject,
  type Jwk,
  signJwt,
  verifyJwt,
} from '../../src/index.js';
import { thrown } from '../helpers/forge.js';

const ecA = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const ecB = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const ec384 = generateKeyPairSync('ec', { namedCurve: 'P-384' });
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const ed = generateKeyPairSync('ed25519');

const jwk = (keyObject: KeyObject, extra: Partial<Jwk> = {}): Jwk => ({
  ...exportJwk(importKeyObject(keyObject)),
  ...extra,
});
const sign = (privateKey: KeyObject, alg: string, kid?: string) =>
  signJwt({ sub: 'user-1' }, importKeyObject(privateKey), { alg, kid, expiresIn: 60 });

describe('key selection', () => {
  it('picks the key whose kid the token names', async () => {
    const jwks = createLocalJwks({
      keys: [jwk(ecA.publicKey, { kid: 'a' }), jwk(ecB.publicKey, { kid: 'b' })],
    });
    const { key } = await verifyJwt(await sign(ecB.privateKey, 'ES256', 'b'), jwks, {
      algorithms: ['ES256'],
    });
    expect(key.kid).toBe('b');
  });

  it('select() returns only the key with the token kid', () => {
    const jwks = createLocalJwks({
      keys: [jwk(ecA.publicKey, { kid: 'a' }), jwk(ecB.publicKey, { kid: 'b' })],
    });
    expect(jwks.select({ alg: 'ES256', kid: 'b' }).map((key) => key.kid)).toEqual(['b']);
  });

  it('without a kid, picks by alg: an ES256 token gets the EC key, not the RSA key', () => {
    const jwks = createLocalJwks({ keys: [jwk(rsa.publicKey), jwk(ecA.publicKey)] });
    const selected = jwks.select({ alg: 'ES256' });
    expect(selected.map((key) => key.keyObject.asymmetricKeyType)).toEqual(['ec']);
  });

  it('picks by kty: an EdDSA token gets the OKP key only', () => {
    const jwks = createLocalJwks({ keys: [jwk(ecA.publicKey), jwk(rsa.publicKey), jwk(ed.publicKey)] });
    expect(jwks.select({ alg: 'EdDSA' }).map((key) => key.keyObject.asymmetricKeyType)).toEqual(['ed25519']);
  });

  it('picks by crv: an ES384 token gets the P-384 key', async () => {
    const jwks = createLocalJwks({ keys: [jwk(ecA.publicKey), jwk(ec384.publicKey)] });
    const { key } = await verifyJwt(await sign(ec384.privateKey, 'ES384'), jwks, {
      algorithms: ['ES256', 'ES384'],
    });
    expect(key.keyObject.equals(ec384.publicKey)).toBe(true);
  });

  it('tries every candidate when the token has no kid', async () => {
    const jwks = createLocalJwks({ keys: [jwk(ecA.publicKey), jwk(ecB.publicKey)] });
    const { key } = await verifyJwt(await sign(ecB.privateKey, 'ES256'), jwks, { algorithms: ['ES256'] });
    expect(key.keyObject.equals(ecB.publicKey)).toBe(true);
  });

  it('never picks a key with use "enc" (ERR_JWKS_NO_MATCHING_KEY)', async () => {
    const jwks = createLocalJwks({ keys: [jwk(ecA.publicKey, { kid: 'a', use: 'enc' })] });
    await expect(
      verifyJwt(await sign(ecA.privateKey, 'ES256', 'a'), jwks, { algorithms: ['ES256'] }),
    ).rejects.toMatchObject({ code: 'ERR_JWKS_NO_MATCHING_KEY' });
  });

  it('never picks a key whose key_ops lack "verify"', () => {
    const jwks = createLocalJwks({ keys: [jwk(ecA.publicKey, { key_ops: ['encrypt'] })] });
    expect(jwks.select({ alg: 'ES256' })).toEqual([]);
  });

  it('never picks a key for an algorithm other than its "alg"', () => {
    const jwks = createLocalJwks({ keys: [jwk(rsa.publicKey, { alg: 'RS256' })] });
    expect(jwks.select({ alg: 'PS256' })).toEqual([]);
  });

  it('verifies HS256 tokens from a set of secrets', async () => {
    const secret = generateSecret('HS256', { kid: 's1' });
    const jwks = createLocalJwks({ keys: [exportJwk(secret)] });
    const token = await signJwt({ sub: 'user-1' }, secret, { expiresIn: 60 });
    await expect(verifyJwt(token, jwks, { algorithms: ['HS256'] })).resolves.toMatchObject({
      key: { kid: 's1' },
    });
  });
});

describe('set-level rules', () => {
  it('refuses two keys with the same kid (ERR_JWKS_INVALID)', () => {
    const keys = [jwk(ecA.publicKey, { kid: 'k' }), jwk(ecB.publicKey, { kid: 'k' })];
    expect(thrown(() => createLocalJwks({ keys }))).toMatchObject({ code: 'ERR_JWKS_INVALID' });
  });

  it('refuses a duplicate kid even when one of the two keys would be skipped (ERR_JWKS_INVALID)', () => {
    const keys = [{ kty: 'unknown', kid: 'k' }, jwk(ecA.publicKey, { kid: 'k' })];
    expect(thrown(() => createLocalJwks({ keys }))).toMatchObject({ code: 'ERR_JWKS_INVALID' });
  });

  it('refuses a set mixing a secret with public keys (ERR_JWKS_INVALID)', () => {
    const keys = [jwk(ecA.publicKey, { kid: 'ec' }), { ...exportJwk(generateSecret('HS256')), kid: 'hmac' }];
    expect(thrown(() => createLocalJwks({ keys }))).toMatchObject({ code: 'ERR_JWKS_INVALID' });
  });

  it.each([
    ['no "keys"', {}],
    ['"keys" that is not an array', { keys: {} }],
    ['a member that is not an object', { keys: ['not a jwk'] }],
  ])('refuses a document with %s (ERR_JWKS_INVALID)', (_what, document) => {
    expect(thrown(() => createLocalJwks(document as never))).toMatchObject({ code: 'ERR_JWKS_INVALID' });
  });
});

describe('skipped keys', () => {
  const weakRsa = generateKeyPairSync('rsa', { modulusLength: 1024 });
  const x25519 = generateKeyPairSync('x25519');
  const ecJwk = jwk(ecA.publicKey);
  const jwks = createLocalJwks({
    keys: [
      jwk(ecA.publicKey, { kid: 'good' }),
      { kty: 'XYZ', kid: 'unknown-kty' },
      { ...weakRsa.publicKey.export({ format: 'jwk' }), kty: 'RSA', kid: 'rsa-1024' },
      { ...ecJwk, x: `${ecJwk.x}AA`, kid: 'bad-ec' },
      { ...x25519.publicKey.export({ format: 'jwk' }), kty: 'OKP', kid: 'x25519' },
    ],
  });

  it('keeps the usable keys, including the X25519 key (an ECDH-ES key)', () => {
    expect(jwks.keys.map((key) => key.kid)).toEqual(['good', 'x25519']);
  });

  it('keeps the X25519 key for ECDH-ES only: it is never picked to verify a signature', () => {
    const key = jwks.keys.find((k) => k.kid === 'x25519')!;
    expect(key.algorithms).toEqual(['ECDH-ES', 'ECDH-ES+A128KW', 'ECDH-ES+A192KW', 'ECDH-ES+A256KW']);
    expect(key.canServe('EdDSA', 'verify')).toBe(false);
    expect(jwks.select({ alg: 'EdDSA', kid: 'x25519' })).toEqual([]);
    expect(jwks.select({ alg: 'ES256' }).map((k) => k.kid)).toEqual(['good']);
  });

  it('lists each key left out, by kid, with a reason', () => {
    expect(jwks.skipped.map((s) => s.kid)).toEqual(['unknown-kty', 'rsa-1024', 'bad-ec']);
    for (const skipped of jwks.skipped) expect(skipped.reason).toMatch(/\w/);
  });

  it('says why a weak RSA key was left out', () => {
    expect(jwks.skipped.find((s) => s.kid === 'rsa-1024')?.reason).toMatch(/2048/);
  });
});

describe('toJSON', () => {
  it('publishes public members only, even for a set built from private JWKs', () => {
    const jwks = createLocalJwks({
      keys: [jwk(ecA.privateKey, { kid: 'a' }), jwk(rsa.privateKey, { kid: 'r' })],
    });
    const published = JSON.stringify(jwks.toJSON());
    for (const name of ['"d"', '"p"', '"q"', '"dp"', '"dq"', '"qi"']) expect(published).not.toContain(name);
    expect(jwks.toJSON().keys.map((k) => k.kid)).toEqual(['a', 'r']);
  });

  it('leaves HMAC secrets (and their "k") out of toJSON and JSON.stringify, yet keeps them for verification', async () => {
    const secret = generateSecret('HS256', { kid: 'hmac-1' });
    const secretJwk = exportJwk(secret);
    const jwks = createLocalJwks({ keys: [secretJwk] });
    expect(jwks.keys).toHaveLength(1);
    const token = await signJwt({}, secret, { expiresIn: 60 });
    await expect(verifyJwt(token, jwks, { algorithms: ['HS256'] })).resolves.toBeDefined();
    expect(jwks.toJSON()).toEqual({ keys: [] });
    expect(JSON.stringify(jwks)).not.toContain(secretJwk.k);
  });

  it('publishes the public members of an asymmetric key given as a private JWK, never "d"', async () => {
    const { privateKey } = await generateKeyPair('ES256', { kid: 'ec-1' });
    const privateJwk = exportJwk(privateKey);
    const jwks = createLocalJwks({ keys: [privateJwk] });
    const [published] = jwks.toJSON().keys;
    expect(published).toMatchObject({
      kty: 'EC',
      kid: 'ec-1',
      crv: 'P-256',
      x: privateJwk.x,
      y: privateJwk.y,
    });
    expect(published).not.toHaveProperty('d');
  });

  it('round trips through createLocalJwks', () => {
    const jwks = createLocalJwks({ keys: [jwk(ecA.publicKey, { kid: 'a', alg: 'ES256', use: 'sig' })] });
    expect(createLocalJwks(jwks.toJSON()).toJSON()).toEqual(jwks.toJSON());
  });

  it('(setup) private JWKs hold "d"', () => {
    expect(Buffer.from(jwk(ecA.privateKey).d!, 'base64url')).toHaveLength(32);
  });
});
