// Property-based round trips for every JWS algorithm: whatever claims or bytes go in come out of the
// matching verify function unchanged, and a token with any one character changed is always rejected
// with a JoseError.
import { Buffer } from 'node:buffer';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  compactSign,
  compactVerify,
  createSigner,
  createVerifier,
  flattenedSign,
  flattenedVerify,
  generalSign,
  generalVerify,
  generateKeyPair,
  generateSecret,
  isJoseError,
  type JwsAlgorithm,
  type JwtPayload,
  type Key,
  signJwt,
  verifyJwt,
} from '../../src/index.js';

interface AlgorithmCase {
  readonly label: string;
  readonly alg: JwsAlgorithm;
  readonly crv?: 'Ed25519' | 'Ed448';
  readonly numRuns: number;
}

const FAST = 60;
const RSA = 20;
const CASES: readonly AlgorithmCase[] = [
  { label: 'HS256', alg: 'HS256', numRuns: FAST },
  { label: 'HS384', alg: 'HS384', numRuns: FAST },
  { label: 'HS512', alg: 'HS512', numRuns: FAST },
  { label: 'RS256', alg: 'RS256', numRuns: RSA },
  { label: 'RS384', alg: 'RS384', numRuns: RSA },
  { label: 'RS512', alg: 'RS512', numRuns: RSA },
  { label: 'PS256', alg: 'PS256', numRuns: RSA },
  { label: 'PS384', alg: 'PS384', numRuns: RSA },
  { label: 'PS512', alg: 'PS512', numRuns: RSA },
  { label: 'ES256', alg: 'ES256', numRuns: FAST },
  { label: 'ES384', alg: 'ES384', numRuns: FAST },
  { label: 'ES512', alg: 'ES512', numRuns: FAST },
  { label: 'ES256K', alg: 'ES256K', numRuns: FAST },
  { label: 'EdDSA (Ed25519)', alg: 'EdDSA', crv: 'Ed25519', numRuns: FAST },
  { label: 'EdDSA (Ed448)', alg: 'EdDSA', crv: 'Ed448', numRuns: FAST },
  { label: 'Ed25519', alg: 'Ed25519', numRuns: FAST },
  { label: 'Ed448', alg: 'Ed448', numRuns: FAST },
];

/** The time every token is issued and verified at, so that `iat` and `exp` are known. */
const NOW = 1_700_000_000;
const LIFETIME = 3600;
const REGISTERED_CLAIMS = new Set(['iss', 'sub', 'aud', 'exp', 'nbf', 'iat', 'jti']);
const BASE64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/** Claim names: unicode text, plus names that are special to JavaScript objects. */
const claimName = fc
  .oneof(
    fc.string({ unit: 'grapheme', maxLength: 12 }),
    fc.string({ unit: 'binary', maxLength: 12 }),
    fc.constantFrom('__proto__', 'constructor', 'toString', 'hasOwnProperty', ''),
  )
  .filter((name) => !REGISTERED_CLAIMS.has(name));

/** JSON values with unicode strings, nested objects and arrays, and numbers. */
const claimValue = fc.oneof(
  fc.jsonValue({ stringUnit: 'grapheme', maxDepth: 3 }),
  fc.jsonValue({ stringUnit: 'binary', maxDepth: 3 }),
);

/**
 * Arbitrary private claims (compared with toEqual, as toStrictEqual compares `.constructor`, which an
 * own "constructor" claim overrides; JSON values hold no `undefined`, so toEqual loses nothing). They
 * go through one JSON round trip first, so that they hold only what
 * JSON can carry: `-0` becomes `0` (JSON has no negative zero) and objects get an ordinary prototype.
 */
const claimsArb: fc.Arbitrary<JwtPayload> = fc
  .dictionary(claimName, claimValue, { maxKeys: 8 })
  .map((claims) => JSON.parse(JSON.stringify(claims)) as JwtPayload);

/** Unicode text: code points from the whole range (no lone surrogates) or printable graphemes. */
const textArb = fc.oneof(fc.string({ unit: 'binary', maxLength: 200 }), fc.string({ unit: 'grapheme' }));

const bytesArb = fc.uint8Array({ maxLength: 300 });

async function keysFor(c: AlgorithmCase): Promise<{ signingKey: Key; verificationKey: Key }> {
  if (c.alg.startsWith('HS')) {
    const secret = generateSecret(c.alg);
    return { signingKey: secret, verificationKey: secret };
  }
  const { privateKey, publicKey } = await generateKeyPair(c.alg, { crv: c.crv, modulusLength: 2048 });
  return { signingKey: privateKey, verificationKey: publicKey };
}

/** Changes the character at `position` (modulo the length) to a different base64url character. */
function flipCharacter(token: string, position: number, shift: number): string {
  const index = position % token.length;
  const current = BASE64URL.indexOf(token[index]!);
  // '.' is not in the alphabet (index -1): any base64url character then differs from it.
  const replacement = BASE64URL[(current + shift + BASE64URL.length) % BASE64URL.length]!;
  return token.slice(0, index) + replacement + token.slice(index + 1);
}

/** What `run` threw (or rejected with), or `undefined` when it succeeded. */
async function failureOf(run: () => unknown): Promise<unknown> {
  try {
    await run();
  } catch (err) {
    return err;
  }
  return undefined;
}

describe.each(CASES)('$label round trips', (c) => {
  let signingKey: Key;
  let verificationKey: Key;
  const options = { algorithms: [c.alg] };
  const run = { numRuns: c.numRuns };

  beforeAll(async () => {
    ({ signingKey, verificationKey } = await keysFor(c));
  });

  it('signJwt → verifyJwt returns arbitrary claims unchanged', async () => {
    await fc.assert(
      fc.asyncProperty(claimsArb, async (claims) => {
        const currentDate = new Date(NOW * 1000);
        const token = await signJwt(claims, signingKey, { alg: c.alg, expiresIn: LIFETIME, currentDate });
        const { payload } = await verifyJwt(token, verificationKey, { ...options, currentDate });
        expect(payload).toEqual({ ...claims, iat: NOW, exp: NOW + LIFETIME });
      }),
      run,
    );
  });

  it('createSigner → createVerifier returns arbitrary claims unchanged', () => {
    const clock = () => NOW * 1000;
    const signer = createSigner({ key: signingKey, alg: c.alg, expiresIn: LIFETIME, clock });
    const verifier = createVerifier({ key: verificationKey, ...options, clock });
    fc.assert(
      fc.property(claimsArb, (claims) => {
        const { payload } = verifier.verify(signer.sign(claims));
        expect(payload).toEqual({ ...claims, iat: NOW, exp: NOW + LIFETIME });
      }),
      run,
    );
  });

  it('compactSign → compactVerify returns arbitrary bytes unchanged', async () => {
    await fc.assert(
      fc.asyncProperty(bytesArb, async (bytes) => {
        const jws = compactSign(bytes, signingKey, { protectedHeader: { alg: c.alg } });
        const { payload } = await compactVerify(jws, verificationKey, options);
        expect(new Uint8Array(payload)).toStrictEqual(bytes);
      }),
      run,
    );
  });

  it('compactSign → compactVerify returns arbitrary unicode text unchanged', async () => {
    await fc.assert(
      fc.asyncProperty(textArb, async (text) => {
        const jws = compactSign(text, signingKey, { protectedHeader: { alg: c.alg } });
        const { payload } = await compactVerify(jws, verificationKey, options);
        expect(Buffer.from(payload).toString('utf8')).toBe(text);
      }),
      run,
    );
  });

  it('flattenedSign → flattenedVerify returns arbitrary bytes and the unprotected header unchanged', async () => {
    await fc.assert(
      fc.asyncProperty(bytesArb, textArb, async (bytes, kid) => {
        const jws = flattenedSign(bytes, signingKey, {
          protectedHeader: { alg: c.alg },
          unprotectedHeader: { kid },
        });
        const result = await flattenedVerify(JSON.parse(JSON.stringify(jws)), verificationKey, options);
        expect(new Uint8Array(result.payload)).toStrictEqual(bytes);
        expect(result.unprotectedHeader).toStrictEqual({ kid });
      }),
      run,
    );
  });

  it('flattenedSign → flattenedVerify with "b64": false returns arbitrary unicode text unchanged', async () => {
    await fc.assert(
      fc.asyncProperty(textArb, async (text) => {
        const protectedHeader = { alg: c.alg, b64: false, crit: ['b64'] };
        const jws = flattenedSign(text, signingKey, { protectedHeader });
        const result = await flattenedVerify(JSON.parse(JSON.stringify(jws)), verificationKey, options);
        expect(Buffer.from(result.payload).toString('utf8')).toBe(text);
      }),
      run,
    );
  });

  it('"b64": false never alters bytes: they round-trip exactly or signing refuses them with a JoseError', async () => {
    await fc.assert(
      fc.asyncProperty(bytesArb, async (bytes) => {
        const protectedHeader = { alg: c.alg, b64: false, crit: ['b64'] };
        let jws: ReturnType<typeof flattenedSign>;
        try {
          jws = flattenedSign(bytes, signingKey, { protectedHeader });
        } catch (err) {
          expect(isJoseError(err, 'ERR_JWS_INVALID')).toBe(true);
          return;
        }
        const result = await flattenedVerify(jws, verificationKey, options);
        expect(new Uint8Array(result.payload)).toStrictEqual(bytes);
      }),
      run,
    );
  });

  it('generalSign → generalVerify returns arbitrary bytes unchanged, with a second signer present', async () => {
    const other = generateSecret('HS256');
    await fc.assert(
      fc.asyncProperty(bytesArb, async (bytes) => {
        const jws = generalSign(bytes, [
          { key: other, protectedHeader: { alg: 'HS256' } },
          { key: signingKey, protectedHeader: { alg: c.alg }, unprotectedHeader: { kid: 'signer' } },
        ]);
        const result = await generalVerify(JSON.parse(JSON.stringify(jws)), verificationKey, options);
        expect(new Uint8Array(result.payload)).toStrictEqual(bytes);
        expect(result.unprotectedHeader).toStrictEqual({ kid: 'signer' });
      }),
      run,
    );
  });

  describe('a token with one character changed', () => {
    let token: string;
    const verifyAt = { ...options, currentDate: new Date(NOW * 1000) };
    const flip = fc.record({ position: fc.nat(), shift: fc.integer({ min: 1, max: BASE64URL.length - 1 }) });

    beforeAll(async () => {
      token = await signJwt({ sub: 'user-1', scope: 'read write', n: 42 }, signingKey, {
        alg: c.alg,
        expiresIn: LIFETIME,
        currentDate: new Date(NOW * 1000),
      });
    });

    it('verifies unchanged (control)', async () => {
      await expect(verifyJwt(token, verificationKey, verifyAt)).resolves.toBeDefined();
    });

    it('is always rejected by verifyJwt with a JoseError', async () => {
      await fc.assert(
        fc.asyncProperty(flip, async ({ position, shift }) => {
          const tampered = flipCharacter(token, position, shift);
          expect(tampered).not.toBe(token);
          const err = await failureOf(() => verifyJwt(tampered, verificationKey, verifyAt));
          expect(isJoseError(err), `accepted or non-Jose error for ${tampered}: ${String(err)}`).toBe(true);
        }),
        run,
      );
    });

    it('is always rejected by compactVerify with a JoseError', async () => {
      await fc.assert(
        fc.asyncProperty(flip, async ({ position, shift }) => {
          const tampered = flipCharacter(token, position, shift);
          const err = await failureOf(() => compactVerify(tampered, verificationKey, options));
          expect(isJoseError(err), `accepted or non-Jose error for ${tampered}: ${String(err)}`).toBe(true);
        }),
        run,
      );
    });

    it('is always rejected by a prepared verifier with a JoseError', async () => {
      const verifier = createVerifier({ key: verificationKey, ...options, clock: () => NOW * 1000 });
      await fc.assert(
        fc.asyncProperty(flip, async ({ position, shift }) => {
          const tampered = flipCharacter(token, position, shift);
          const err = await failureOf(() => verifier.verify(tampered));
          expect(isJoseError(err), `accepted or non-Jose error for ${tampered}: ${String(err)}`).toBe(true);
        }),
        run,
      );
    });
  });
});
