// Error messages say what was expected and what was found, and never echo a token or key material.
import { Buffer } from 'node:buffer';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  createVerifier,
  exportJwk,
  generateSecret,
  importJwk,
  importKeyObject,
  importPem,
  importSecret,
  signJwt,
  verifyJwt,
} from '../../src/index.js';
import { b64u, segments } from '../helpers/forge.js';

const secret = generateSecret('HS256');
const secretBytes = secret.keyObject.export();
const other = generateSecret('HS256');
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const rsaPem = rsa.publicKey.export({ format: 'pem', type: 'spki' }) as string;
const rsaPrivateJwk = exportJwk(importKeyObject(rsa.privateKey));
const token = await signJwt({ sub: 'user-1', aud: 'api', scope: 'admin' }, secret, { expiresIn: 60 });
const expired = await signJwt({ sub: 'user-1' }, secret, { expiresIn: 60, currentDate: new Date(0) });
const shortSecret = randomBytes(31);
const ecPrivateJwk = exportJwk(
  importKeyObject(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey),
);
const offCurveY = (() => {
  const y = Buffer.from(ecPrivateJwk.y!, 'base64url');
  y[31]! ^= 1;
  return y.toString('base64url');
})();

/** Everything that must never appear in a message: the tokens, their parts, and key material. */
const forbidden = [
  token,
  expired,
  segments(token)[1],
  segments(token)[2],
  segments(expired)[2],
  secretBytes.toString('hex'),
  secretBytes.toString('base64'),
  secretBytes.toString('base64url'),
  shortSecret.toString('hex'),
  shortSecret.toString('base64url'),
  rsaPem.split('\n')[1]!,
  rsaPrivateJwk.d!,
  rsaPrivateJwk.p!,
  ecPrivateJwk.d!,
];

const failures: [string, () => unknown][] = [
  ['a signature failure', () => verifyJwt(token, other, { algorithms: ['HS256'] })],
  ['an expired token', () => verifyJwt(expired, secret, { algorithms: ['HS256'] })],
  ['an audience mismatch', () => verifyJwt(token, secret, { algorithms: ['HS256'], audience: 'web' })],
  ['an algorithm not allowed', () => verifyJwt(token, secret, { algorithms: ['ES256'] })],
  ['a key that cannot serve the algorithm', () => verifyJwt(token, rsa.publicKey, { algorithms: ['HS256'] })],
  [
    'a tampered payload',
    () => verifyJwt(token.replace(/\.[^.]+\./, `.${b64u('[1]')}.`), secret, { algorithms: ['HS256'] }),
  ],
  ['a prepared verifier failure', () => createVerifier({ key: other, algorithms: ['HS256'] }).verify(token)],
  ['a PEM passed as a secret', () => importSecret(rsaPem)],
  ['a short secret', () => importSecret(shortSecret)],
  ['a short secret pinned to HS256', () => importSecret(shortSecret, { alg: 'HS256' })],
  ['an unparsable PEM', () => importPem(rsaPem.replace(/[A-Za-z]{8}/, '!!!!!!!!'))],
  ['a malformed private JWK', () => importJwk({ ...rsaPrivateJwk, dp: undefined })],
  ['an EC private JWK whose point is off the curve', () => importJwk({ ...ecPrivateJwk, y: offCurveY })],
  ['a JWK pinned to the wrong algorithm', () => importJwk({ ...rsaPrivateJwk, alg: 'ES256' })],
];

describe('error messages', () => {
  it.each(failures)('%s: the message and stack hold no token and no key material', async (_what, fail) => {
    let error: unknown;
    try {
      await fail();
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(Error);
    const { message, stack } = error as Error;
    expect(message.length).toBeGreaterThan(0);
    for (const needle of forbidden) {
      expect(message).not.toContain(needle);
      expect(stack ?? '').not.toContain(needle);
    }
  });

  it('(setup) the secret bytes are what the forbidden list looks for', () => {
    expect(Buffer.from(secretBytes.toString('base64url'), 'base64url')).toEqual(secretBytes);
  });
});
