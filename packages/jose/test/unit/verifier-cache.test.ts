// The prepared verifier's memory: its result cache (hits are the same deeply frozen object, entries
// never outlive the token, failures are never remembered, a bounded LRU) and its header memo (filled
// only by headers of tokens that verified, a bounded LRU).
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  createLocalJwks,
  createVerifier,
  exportJwk,
  generateSecret,
  signJwt,
  type VerifierOptions,
} from '../../src/index.js';
import { forge, hmacSigner, thrown } from '../helpers/forge.js';

const secret = generateSecret('HS256');
const T0 = Date.UTC(2030, 0, 1);

/** A verifier whose clock the test moves. */
function setup(options: Partial<VerifierOptions> = {}) {
  let now = T0;
  const verifier = createVerifier({
    key: secret,
    algorithms: ['HS256'],
    cache: true,
    clock: () => now,
    ...options,
  });
  return {
    verifier,
    /** Moves the clock to `seconds` after T0. */
    at(seconds: number) {
      now = T0 + seconds * 1000;
    },
  };
}

const token = (claims: Record<string, unknown> = {}, expiresIn = 600) =>
  signJwt({ sub: 'user-1', ...claims }, secret, { expiresIn, currentDate: new Date(T0) });

describe('the prepared verifier cache', () => {
  it('returns the very same result object for a repeat (a hit)', async () => {
    const { verifier } = setup();
    const jwt = await token();
    expect(verifier.verify(jwt)).toBe(verifier.verify(jwt));
  });

  it('returns the same result object from verifyAsync after verify', async () => {
    const { verifier } = setup();
    const jwt = await token();
    expect(await verifier.verifyAsync(jwt)).toBe(verifier.verify(jwt));
  });

  it('verifies afresh without the cache option', async () => {
    const { verifier } = setup({ cache: false });
    const jwt = await token();
    expect(verifier.verify(jwt)).not.toBe(verifier.verify(jwt));
  });

  it('serves a hit later in the token lifetime', async () => {
    const { verifier, at } = setup();
    const jwt = await token();
    const first = verifier.verify(jwt);
    at(599);
    expect(verifier.verify(jwt)).toBe(first);
  });

  it('rejects a cached token once the clock reaches its exp (ERR_JWT_EXPIRED)', async () => {
    const { verifier, at } = setup();
    const jwt = await token();
    verifier.verify(jwt);
    at(600);
    expect(thrown(() => verifier.verify(jwt))).toMatchObject({ code: 'ERR_JWT_EXPIRED' });
  });

  it('keeps a hit within the clock tolerance past exp, and no longer', async () => {
    const { verifier, at } = setup({ clockTolerance: 30 });
    const jwt = await token({}, 60);
    const first = verifier.verify(jwt);
    at(89);
    expect(verifier.verify(jwt)).toBe(first);
    at(90);
    expect(thrown(() => verifier.verify(jwt))).toMatchObject({ code: 'ERR_JWT_EXPIRED' });
  });

  it('rejects a cached token once it is older than maxTokenAge (ERR_JWT_EXPIRED, iat)', async () => {
    const { verifier, at } = setup({ maxTokenAge: 60 });
    const jwt = await token();
    verifier.verify(jwt);
    at(61);
    expect(thrown(() => verifier.verify(jwt))).toMatchObject({ code: 'ERR_JWT_EXPIRED', claim: 'iat' });
  });

  it('re-verifies after the cache ttl while the token is still valid', async () => {
    const { verifier, at } = setup({ cache: { ttl: '1m' } });
    const jwt = await token();
    const first = verifier.verify(jwt);
    at(61);
    const second = verifier.verify(jwt);
    expect(second).not.toBe(first);
    expect(second.payload).toEqual(first.payload);
  });

  it('never caches a failure: a token before its nbf fails, then verifies once the clock reaches nbf', async () => {
    const { verifier, at } = setup();
    const jwt = await signJwt({}, secret, { notBefore: 100, expiresIn: 600, currentDate: new Date(T0) });
    expect(thrown(() => verifier.verify(jwt))).toMatchObject({
      code: 'ERR_JWT_CLAIM_VALIDATION_FAILED',
      claim: 'nbf',
    });
    at(100);
    expect(verifier.verify(jwt).payload.nbf).toBe(T0 / 1000 + 100);
  });

  it('evicts the least recently used token when full', async () => {
    const { verifier } = setup({ cache: { max: 2 } });
    const [a, b, c] = await Promise.all([token({ n: 'a' }), token({ n: 'b' }), token({ n: 'c' })]);
    const firstA = verifier.verify(a);
    const firstB = verifier.verify(b);
    expect(verifier.verify(a)).toBe(firstA); // a is now the most recently used
    verifier.verify(c); // evicts b
    expect(verifier.verify(a)).toBe(firstA);
    expect(verifier.verify(b)).not.toBe(firstB);
  });

  // The cache is keyed on the end of the token (its signature); a hit needs the whole token to match.
  it('verifies in full a token that ends like a cached one (same signature, other payload): refused', async () => {
    const { verifier } = setup();
    const jwt = await token({ role: 'user' });
    verifier.verify(jwt);
    const [header, , signature] = jwt.split('.');
    const forgedPayload = Buffer.from(JSON.stringify({ sub: 'admin', exp: T0 / 1000 + 600 })).toString(
      'base64url',
    );
    const forged = `${header}.${forgedPayload}.${signature}`;
    expect(thrown(() => verifier.verify(forged))).toMatchObject({
      code: 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED',
    });
    await expect(verifier.verifyAsync(forged)).rejects.toMatchObject({
      code: 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED',
    });
    // The genuine token keeps its entry: a forged look-alike neither replaces nor evicts it.
    expect(verifier.verify(jwt).payload).toMatchObject({ sub: 'user-1', role: 'user' });
  });

  it('keeps each cached token its own result, and misses for a string that only ends like one', async () => {
    // Real signatures never share 32 characters; a look-alike string is the case that occurs.
    const { verifier } = setup();
    const a = await token({ n: 'a' });
    const b = await token({ n: 'b' });
    const resultA = verifier.verify(a);
    const resultB = verifier.verify(b);
    expect(verifier.verify(a)).toBe(resultA);
    expect(verifier.verify(b)).toBe(resultB);
    // A string ending like `b` but not `b` (its signature with one character changed at the start).
    const [header, payload, signature] = b.split('.');
    const lookalike = `${header}.${payload}.${signature!.startsWith('A') ? 'B' : 'A'}${signature!.slice(1)}`;
    expect(lookalike.slice(-32)).toBe(b.slice(-32));
    expect(thrown(() => verifier.verify(lookalike))).toMatchObject({
      code: 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED',
    });
    expect(verifier.verify(b)).toBe(resultB);
  });

  it('treats a non-string token as a miss and refuses it (no TypeError from the cache)', () => {
    const { verifier } = setup();
    expect(thrown(() => verifier.verify(undefined as unknown as string))).toMatchObject({
      code: 'ERR_JWS_INVALID',
    });
  });

  it('returns frozen results: result, payload and header', async () => {
    const { verifier } = setup();
    const result = verifier.verify(await token({ roles: ['user'] }));
    expect(Object.isFrozen(result)).toBe(true);
    expect(Object.isFrozen(result.payload)).toBe(true);
    expect(Object.isFrozen(result.protectedHeader)).toBe(true);
  });

  it('refuses to change a cached payload (TypeError in strict mode)', async () => {
    const { verifier } = setup();
    const jwt = await token();
    const { payload } = verifier.verify(jwt);
    expect(() => {
      payload.sub = 'admin';
    }).toThrow(TypeError);
    expect(verifier.verify(jwt).payload.sub).toBe('user-1');
  });

  it('freezes cached payloads deeply: pushing to a claim array or editing a nested claim throws, and later hits are intact', async () => {
    const { verifier } = setup();
    const jwt = await token({ roles: ['user'], profile: { name: 'ada' } });
    const { payload } = verifier.verify(jwt);
    expect(() => (payload.roles as string[]).push('admin')).toThrow(TypeError);
    expect(() => {
      (payload.profile as { name: string }).name = 'eve';
    }).toThrow(TypeError);
    expect(verifier.verify(jwt).payload).toMatchObject({ roles: ['user'], profile: { name: 'ada' } });
  });

  it('freezes nested protected header members, on the first result and on hits', async () => {
    const { verifier } = setup();
    const jwt = await signJwt({}, secret, {
      expiresIn: 600,
      currentDate: new Date(T0),
      header: { ctx: { tenant: 't1' } },
    });
    const { protectedHeader } = verifier.verify(jwt);
    expect(Object.isFrozen(protectedHeader.ctx)).toBe(true);
    expect(Object.isFrozen(verifier.verify(jwt).protectedHeader.ctx)).toBe(true);
  });

  it.each([0, -1, 1.5])('refuses a cache max of %j (TypeError)', (max) => {
    expect(() => setup({ cache: { max } })).toThrow(TypeError);
  });
});

describe('the prepared verifier header memo', () => {
  const HS256 = { algorithms: ['HS256'] } as const;
  /**
   * A token with a header of its own (no kid, so a key set offers its key), signed with a key the
   * verifier does not hold: it fails only at the signature.
   */
  const forgedJwt = (i: number) =>
    forge({ alg: 'HS256', forged: i }, { sub: 'x' }, hmacSigner(randomBytes(32)));

  it('is not filled by forged headers: after 64 of them, a legitimate header is still remembered', async () => {
    const verifier = createVerifier({ key: secret, ...HS256 });
    for (let i = 0; i < 64; i++) {
      expect(thrown(() => verifier.verify(forgedJwt(i)))).toMatchObject({
        code: 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED',
      });
    }
    const [a, b] = await Promise.all([
      signJwt({ sub: 'a' }, secret, { expiresIn: 60 }),
      signJwt({ sub: 'b' }, secret, { expiresIn: 60 }),
    ]);
    // Same header: the second token is served the remembered (shared) header object.
    expect(verifier.verify(b).protectedHeader).toBe(verifier.verify(a).protectedHeader);
  });

  it('is not filled by forged headers through verifyAsync either', async () => {
    const verifier = createVerifier({ key: createLocalJwks({ keys: [exportJwk(secret)] }), ...HS256 });
    for (let i = 0; i < 64; i++) {
      await expect(verifier.verifyAsync(forgedJwt(i))).rejects.toMatchObject({
        code: 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED',
      });
    }
    const jwt = await signJwt({}, secret, { expiresIn: 60 });
    const first = await verifier.verifyAsync(jwt);
    expect((await verifier.verifyAsync(jwt)).protectedHeader).toBe(first.protectedHeader);
  });

  it('evicts the least recently used header once 64 others verified', async () => {
    const verifier = createVerifier({ key: secret, ...HS256 });
    const tokens = await Promise.all(
      Array.from({ length: 65 }, (_, i) => signJwt({}, secret, { kid: `k${i}`, expiresIn: 60 })),
    );
    const headers = tokens.map((jwt) => verifier.verify(jwt).protectedHeader);
    // k0 was pushed out by k1…k64; k64 is still there.
    expect(verifier.verify(tokens[0]!).protectedHeader).not.toBe(headers[0]);
    expect(verifier.verify(tokens[64]!).protectedHeader).toBe(headers[64]);
  });
});
