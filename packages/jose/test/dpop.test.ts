// DPoP proofs (RFC 9449 §4): createDpopProof, verifyDpopProof, dpopHtu, accessTokenHash. Every
// §4.3 check has the proof that breaks it, crafted by hand (forge) or with panva's `dpop` package;
// proofs from `dpop` verify here and proofs made here verify in panva's `jose`, with thumbprints that
// agree. The RFC's own example proofs verify at the time they were made.
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import * as dpop from 'dpop';
import * as jose from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  accessTokenHash,
  createDpopProof,
  type DpopFailureReason,
  dpopHtu,
  exportJwk,
  generateKeyPair,
  generateSecret,
  type Key,
  type VerifyDpopProofOptions,
  verifyDpopProof,
} from '../src/index.js';
import { b64u, forge, hmacSigner, keySigner, now, segments, thrown } from './helpers/forge.js';

const HTU = 'https://api.example.com/orders';
const TOKEN = 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ1c2VyLTEifQ.c2lnbmF0dXJl';
const OPTIONS: VerifyDpopProofOptions = {
  htm: 'GET',
  htu: HTU,
  algorithms: ['ES256', 'EdDSA', 'RS256', 'PS256'],
};

/** The RFC 9449 example key (§4.2 Figure 3, §7.1 Figure 13) and its thumbprint (§6.1). */
const RFC_JKT = '0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I';
const RFC_TOKEN_PROOF =
  'eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7Imt0eSI6IkVDIiwieCI6Imw4dEZyaHgtMzR0VjNoUklDUkRZOXpDa0RscEJoRjQyVVFVZldWQVdCRnMiLCJ5IjoiOVZFNGpmX09rX282NHpiVFRsY3VOSmFqSG10NnY5VERWclUwQ2R2R1JEQSIsImNydiI6IlAtMjU2In19.eyJqdGkiOiItQndDM0VTYzZhY2MybFRjIiwiaHRtIjoiUE9TVCIsImh0dSI6Imh0dHBzOi8vc2VydmVyLmV4YW1wbGUuY29tL3Rva2VuIiwiaWF0IjoxNTYyMjYyNjE2fQ.2-GxA6T8lP4vfrg8v-FdWP0A0zdrj8igiMLvqRMUvwnQg4PtFLbdLXiOSsX0x7NVY-FNyJK70nfbV37xRZT3Lg';
const RFC_RESOURCE_PROOF =
  'eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7Imt0eSI6IkVDIiwieCI6Imw4dEZyaHgtMzR0VjNoUklDUkRZOXpDa0RscEJoRjQyVVFVZldWQVdCRnMiLCJ5IjoiOVZFNGpmX09rX282NHpiVFRsY3VOSmFqSG10NnY5VERWclUwQ2R2R1JEQSIsImNydiI6IlAtMjU2In19.eyJqdGkiOiJlMWozVl9iS2ljOC1MQUVCIiwiaHRtIjoiR0VUIiwiaHR1IjoiaHR0cHM6Ly9yZXNvdXJjZS5leGFtcGxlLm9yZy9wcm90ZWN0ZWRyZXNvdXJjZSIsImlhdCI6MTU2MjI2MjYxOCwiYXRoIjoiZlVIeU8ycjJaM0RaNTNFc05yV0JiMHhXWG9hTnk1OUlpS0NBcWtzbVFFbyJ9.2oW9RP35yRqzhrtNP86L-Ey71EOptxRimPPToA1plemAgR6pxHF8y6-yqyVnmcw6Fy1dqd-jfxSYoMxhAJpLjA';
const RFC_ACCESS_TOKEN = 'Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU';

let es256: { privateKey: Key; publicKey: Key };
let nodeKey: KeyObject;
let publicJwk: Record<string, unknown>;

beforeAll(async () => {
  es256 = await generateKeyPair('ES256');
  nodeKey = es256.privateKey.keyObject;
  publicJwk = { ...exportJwk(es256.publicKey) };
  delete publicJwk.alg;
});

/** A proof built by hand: any header and payload, signed with node:crypto by `signer`. */
function handProof(
  header: Record<string, unknown> = {},
  payload: Record<string, unknown> = {},
  signer = keySigner(nodeKey, 'ES256'),
): string {
  return forge(
    { typ: 'dpop+jwt', alg: 'ES256', jwk: publicJwk, ...header },
    { jti: 'j-1', htm: 'GET', htu: HTU, iat: now(), ...payload },
    signer,
  );
}

/** The `reason` of the DpopProofInvalid that verifying `proof` throws. */
function reason(proof: string, options: Partial<VerifyDpopProofOptions> = {}): DpopFailureReason {
  const err = thrown(() => verifyDpopProof(proof, { ...OPTIONS, ...options }));
  expect(err).toMatchObject({ code: 'ERR_DPOP_PROOF_INVALID', name: 'DpopProofInvalid' });
  return (err as { reason: DpopFailureReason }).reason;
}

describe('RFC 9449 examples', () => {
  it('verifies the token request proof of §4.2 at the time it was made, with the thumbprint of §6.1', () => {
    const result = verifyDpopProof(RFC_TOKEN_PROOF, {
      htm: 'POST',
      htu: 'https://server.example.com/token',
      algorithms: ['ES256'],
      currentDate: new Date(1562262616_000),
    });
    expect(result).toMatchObject({ jkt: RFC_JKT, jti: '-BwC3ESc6acc2lTc', iat: 1562262616, htm: 'POST' });
  });

  it('verifies the protected resource proof of §7.1 with its access token, whose hash is the ath of §7.1', () => {
    expect(accessTokenHash(RFC_ACCESS_TOKEN)).toBe('fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo');
    const options = {
      htm: 'GET',
      htu: 'https://resource.example.org/protectedresource',
      algorithms: ['ES256'] as const,
      accessToken: RFC_ACCESS_TOKEN,
      jkt: RFC_JKT,
      currentDate: new Date(1562262618_000),
    };
    expect(verifyDpopProof(RFC_RESOURCE_PROOF, options).jti).toBe('e1j3V_bKic8-LAEB');
    expect(reason(RFC_RESOURCE_PROOF, { ...options, accessToken: `${RFC_ACCESS_TOKEN}x` })).toBe('ath');
  });

  it('refuses the §4.2 proof today: it is years older than any window', () => {
    expect(reason(RFC_TOKEN_PROOF, { htm: 'POST', htu: 'https://server.example.com/token' })).toBe('iat');
  });
});

describe('dpopHtu (RFC 9449 §4.3 point 9, RFC 3986 §6.2.2 and §6.2.3)', () => {
  it.each([
    ['https://api.example.com/orders?page=2#top', 'https://api.example.com/orders'],
    ['HTTPS://API.Example.COM/orders', 'https://api.example.com/orders'],
    ['https://api.example.com:443/orders', 'https://api.example.com/orders'],
    ['http://api.example.com:80/orders', 'http://api.example.com/orders'],
    ['https://api.example.com', 'https://api.example.com/'],
    ['https://api.example.com/a/./b/../orders', 'https://api.example.com/a/orders'],
    ['https://api.example.com/%7euser/%2fx', 'https://api.example.com/~user/%2Fx'],
    ['https://api.example.com:8443/orders', 'https://api.example.com:8443/orders'],
  ])('normalises %s to %s', (input, expected) => {
    expect(dpopHtu(input)).toBe(expected);
    expect(dpopHtu(new URL(input))).toBe(expected);
  });

  it.each([
    'api.example.com/orders',
    '/orders',
    'ftp://api.example.com/orders',
    'https://user:pass@api.example.com/orders',
  ])('refuses %s with a TypeError', (input) => {
    expect(() => dpopHtu(input)).toThrow(TypeError);
  });

  it('keeps what tells resources apart: path case, a trailing slash, the port, the scheme', () => {
    const forms = [
      'https://api.example.com/orders',
      'https://api.example.com/Orders',
      'https://api.example.com/orders/',
      'https://api.example.com:8443/orders',
      'http://api.example.com/orders',
    ];
    expect(new Set(forms.map(dpopHtu)).size).toBe(forms.length);
  });
});

describe('createDpopProof and verifyDpopProof', () => {
  it.each(['ES256', 'ES384', 'EdDSA', 'RS256', 'PS256'] as const)('round-trip with %s', async (alg) => {
    const { privateKey, publicKey } = await generateKeyPair(alg);
    const proof = createDpopProof(privateKey, { htm: 'POST', htu: `${HTU}?x=1`, accessToken: TOKEN });
    const result = verifyDpopProof(proof, {
      ...OPTIONS,
      htm: 'POST',
      algorithms: [alg],
      accessToken: TOKEN,
      jkt: await jose.calculateJwkThumbprint(exportJwk(publicKey) as jose.JWK),
    });
    expect(result.htu).toBe(HTU);
    expect(result.payload.ath).toBe(accessTokenHash(TOKEN));
    expect(result.jti).toMatch(/^[\w-]{22}$/);
  });

  it('puts the public key alone in the header, and a fresh jti in every proof', () => {
    const proofs = [1, 2, 3].map(() => createDpopProof(es256.privateKey, { htm: 'GET', htu: HTU }));
    const header = JSON.parse(Buffer.from(segments(proofs[0]!)[0], 'base64url').toString());
    expect(header).toEqual({
      typ: 'dpop+jwt',
      alg: 'ES256',
      jwk: { kty: 'EC', crv: 'P-256', x: publicJwk.x, y: publicJwk.y },
    });
    expect(new Set(proofs.map((p) => verifyDpopProof(p, OPTIONS).jti)).size).toBe(3);
  });

  it('sets nonce, jti and iat when given', () => {
    const proof = createDpopProof(es256.privateKey, {
      htm: 'GET',
      htu: HTU,
      nonce: 'n-1',
      jti: 'j-7',
      iat: now() - 10,
    });
    expect(verifyDpopProof(proof, { ...OPTIONS, nonce: 'n-1' })).toMatchObject({
      nonce: 'n-1',
      jti: 'j-7',
      iat: now() - 10,
    });
  });

  it('refuses to sign with a public key or a secret', () => {
    expect(thrown(() => createDpopProof(es256.publicKey, { htm: 'GET', htu: HTU }))).toMatchObject({
      code: 'ERR_KEY_INVALID',
    });
    expect(thrown(() => createDpopProof(generateSecret('HS256'), { htm: 'GET', htu: HTU }))).toMatchObject({
      code: 'ERR_KEY_INVALID',
    });
  });

  it('refuses an htm that is not a method and an htu that is not an http(s) URI', () => {
    expect(() => createDpopProof(es256.privateKey, { htm: 'GET /', htu: HTU })).toThrow(TypeError);
    expect(() => createDpopProof(es256.privateKey, { htm: 'GET', htu: '/orders' })).toThrow(TypeError);
  });

  it('shares one frozen header among the results of proofs with the same key', () => {
    const a = verifyDpopProof(createDpopProof(es256.privateKey, { htm: 'GET', htu: HTU }), OPTIONS);
    const b = verifyDpopProof(createDpopProof(es256.privateKey, { htm: 'GET', htu: HTU }), OPTIONS);
    expect(a.header).toBe(b.header);
    expect(Object.isFrozen(a.header) && Object.isFrozen(a.header.jwk)).toBe(true);
  });

  it('hashes each access token on its own, even one that ends like a token seen before', () => {
    const suffix = TOKEN.slice(-40);
    const [first, second] = [`aaaa.${suffix}`, `bbbb.${suffix}`];
    const proof = createDpopProof(es256.privateKey, { htm: 'GET', htu: HTU, accessToken: first });
    expect(verifyDpopProof(proof, { ...OPTIONS, accessToken: first }).jti).toBeTypeOf('string');
    expect(reason(proof, { accessToken: second })).toBe('ath');
  });

  it('checks in full a header that ends like a header seen before', () => {
    verifyDpopProof(handProof(), OPTIONS);
    // The same key (so the same tail of the header segment), and typ changed at the front.
    const [h] = segments(handProof());
    const json = Buffer.from(h, 'base64url').toString();
    const forged = json.replace('"typ":"dpop+jwt"', '"typ":"dpop+jwx"');
    expect(b64u(forged).slice(-32)).toBe(h.slice(-32));
    expect(
      reason(forge(forged, { jti: 'j', htm: 'GET', htu: HTU, iat: now() }, keySigner(nodeKey, 'ES256'))),
    ).toBe('typ');
  });

  it("applies each caller's algorithms to a header it has seen before (the key cache decides nothing)", () => {
    const proof = createDpopProof(es256.privateKey, { htm: 'GET', htu: HTU });
    verifyDpopProof(proof, OPTIONS);
    expect(reason(proof, { algorithms: ['EdDSA'] })).toBe('alg');
  });
});

describe('interoperability', () => {
  it.each(['ES256', 'Ed25519', 'RS256', 'PS256'] as const)(
    'verifies proofs made by the dpop package with %s, and agrees on the thumbprint',
    async (alg) => {
      const pair = await dpop.generateKeyPair(alg);
      const proof = await dpop.generateProof(pair, HTU, 'DELETE', 'n-9', TOKEN);
      const result = verifyDpopProof(proof, {
        htm: 'DELETE',
        htu: HTU,
        algorithms: [alg],
        accessToken: TOKEN,
        nonce: 'n-9',
        jkt: await dpop.calculateThumbprint(pair.publicKey),
      });
      expect(result.nonce).toBe('n-9');
    },
  );

  it('makes proofs panva jose verifies with the embedded jwk, with the same thumbprint', async () => {
    const proof = createDpopProof(es256.privateKey, { htm: 'GET', htu: HTU, accessToken: TOKEN });
    const { payload, protectedHeader } = await jose.jwtVerify(proof, jose.EmbeddedJWK, {
      typ: 'dpop+jwt',
      algorithms: ['ES256'],
    });
    expect(payload).toMatchObject({ htm: 'GET', htu: HTU, ath: accessTokenHash(TOKEN) });
    expect(verifyDpopProof(proof, OPTIONS).jkt).toBe(await jose.calculateJwkThumbprint(protectedHeader.jwk!));
  });
});

describe('RFC 9449 §4.3: each check refuses the proof that breaks it', () => {
  it('accepts the hand-made baseline (so each refusal below is down to its one change)', () => {
    expect(verifyDpopProof(handProof(), OPTIONS).jti).toBe('j-1');
  });

  describe('point 2: a single well-formed JWT (syntax)', () => {
    it.each([
      ['not a string', 42 as unknown as string],
      ['two parts', 'eyJhIjoxfQ.eyJhIjoxfQ'],
      ['a JWE (five parts)', 'a.b.c.d.e'],
      ['an empty header', '.eyJhIjoxfQ.c2ln'],
      ['longer than 8 KiB', `${'a'.repeat(8200)}.b.c`],
      ['a header that is not JSON', `${b64u('{typ')}.${b64u('{}')}.c2ln`],
    ])('%s', (_case, proof) => {
      expect(reason(proof)).toBe('syntax');
    });

    it('a payload that is not a JSON object', () => {
      expect(
        reason(forge({ typ: 'dpop+jwt', alg: 'ES256', jwk: publicJwk }, '[1]', keySigner(nodeKey, 'ES256'))),
      ).toBe('syntax');
    });

    it('a duplicate header member', () => {
      const header = `{"typ":"dpop+jwt","alg":"ES256","alg":"ES256","jwk":${JSON.stringify(publicJwk)}}`;
      expect(
        reason(forge(header, { jti: 'j', htm: 'GET', htu: HTU, iat: now() }, keySigner(nodeKey, 'ES256'))),
      ).toBe('syntax');
    });

    it('a critical extension', () => {
      expect(reason(handProof({ crit: ['exp'], exp: 1 }))).toBe('syntax');
    });
  });

  describe('point 3: the required claims (jti here; htm, htu, iat below)', () => {
    it.each([
      ['missing', undefined],
      ['not a string', 7],
      ['empty', ''],
      ['longer than 256 characters', 'j'.repeat(257)],
    ])('jti %s', (_case, jti) => {
      expect(reason(handProof({}, { jti }))).toBe('syntax');
    });
  });

  describe('point 4: typ is dpop+jwt', () => {
    it.each([undefined, 'JWT', 'at+jwt', 'DPOP+JWT'])('refuses typ %j', (typ) => {
      expect(reason(handProof({ typ }))).toBe('typ');
    });
  });

  describe('point 5: an asymmetric algorithm the caller accepts', () => {
    it('alg none, unsigned', () => {
      const proof = `${b64u({ typ: 'dpop+jwt', alg: 'none', jwk: publicJwk })}.${b64u({ jti: 'j', htm: 'GET', htu: HTU, iat: now() })}.`;
      expect(reason(proof)).toBe('alg');
    });

    it('HS256 keyed with a symmetric jwk', () => {
      const k = 'c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA';
      const proof = handProof(
        { alg: 'HS256', jwk: { kty: 'oct', k } },
        {},
        hmacSigner(Buffer.from(k, 'base64url')),
      );
      expect(reason(proof)).toBe('alg');
    });

    it('HS256 keyed with the public key (key confusion)', () => {
      const spki = es256.publicKey.keyObject.export({ format: 'der', type: 'spki' });
      expect(reason(handProof({ alg: 'HS256' }, {}, hmacSigner(spki)))).toBe('alg');
    });

    it('an algorithm the caller does not accept', async () => {
      const { privateKey } = await generateKeyPair('ES384');
      const proof = createDpopProof(privateKey, { htm: 'GET', htu: HTU });
      expect(reason(proof)).toBe('alg');
      expect(verifyDpopProof(proof, { ...OPTIONS, algorithms: ['ES384'] }).htm).toBe('GET');
    });

    it.each([[['HS256']], [['none']], [[]], [['ES256', 'XYZ']]])(
      'options.algorithms %j is a TypeError',
      (algorithms) => {
        expect(() => verifyDpopProof(handProof(), { ...OPTIONS, algorithms: algorithms as never })).toThrow(
          TypeError,
        );
      },
    );
  });

  describe('point 6: the signature verifies with the jwk', () => {
    it('a proof signed by another key than its jwk', () => {
      const other = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
      expect(reason(handProof({}, {}, keySigner(other, 'ES256')))).toBe('signature');
    });

    it('a payload changed after signing', () => {
      const [h, , s] = segments(handProof());
      const p = b64u({ jti: 'j-1', htm: 'POST', htu: HTU, iat: now() });
      expect(reason(`${h}.${p}.${s}`)).toBe('signature');
    });

    it('a DER-encoded ECDSA signature (RFC 7518 §3.4 wants R‖S)', () => {
      expect(reason(handProof({}, {}, keySigner(nodeKey, 'ES256', 'der')))).toBe('signature');
    });
  });

  describe('point 7: the jwk is a public key', () => {
    it.each(['d', 'p', 'q', 'dp', 'dq', 'qi', 'k'])(
      'refuses a jwk with the private member "%s"',
      (member) => {
        expect(reason(handProof({ jwk: { ...publicJwk, [member]: 'AQAB' } }))).toBe('jwk');
      },
    );

    it('refuses the whole private EC key as jwk', () => {
      expect(reason(handProof({ jwk: exportJwk(es256.privateKey) }))).toBe('jwk');
    });

    it('refuses a private RSA key as jwk', async () => {
      const { privateKey } = await generateKeyPair('RS256');
      const proof = handProof(
        { alg: 'RS256', jwk: exportJwk(privateKey) },
        {},
        keySigner(privateKey.keyObject, 'RS256'),
      );
      expect(reason(proof)).toBe('jwk');
    });

    it.each([
      ['missing', undefined],
      ['not an object', 'AQAB'],
      ['an oct key', { kty: 'oct' }],
      [
        'a key on another curve than alg',
        generateKeyPairSync('ec', { namedCurve: 'P-384' }).publicKey.export({ format: 'jwk' }),
      ],
      ['a key for encryption only', { ...publicJwk, use: 'enc' }],
      ['a key pinned to another alg', { ...publicJwk, alg: 'ES384' }],
      ['a coordinate of the wrong size', { ...publicJwk, x: 'AQAB' }],
    ])('refuses a jwk that is %s', (_case, jwk) => {
      expect(reason(handProof({ jwk: jwk as never }))).toBe('jwk');
    });
  });

  describe('point 8: htm', () => {
    it.each(['POST', 'get', undefined])('refuses htm %j for a GET', (htm) => {
      expect(reason(handProof({}, { htm }))).toBe('htm');
    });
  });

  describe('point 9: htu, ignoring query and fragment', () => {
    it.each([
      'https://evil.example.com/orders',
      'https://api.example.com/orders/1',
      'https://api.example.com:8443/orders',
      'http://api.example.com/orders',
      'https://user@api.example.com/orders',
      '/orders',
      7,
      undefined,
    ])('refuses htu %j', (htu) => {
      expect(reason(handProof({}, { htu }))).toBe('htu');
    });

    it.each([
      'https://api.example.com/orders?page=2',
      'https://api.example.com/orders#top',
      'HTTPS://API.EXAMPLE.COM:443/orders',
      'https://api.example.com/%6frders',
    ])('accepts the equivalent htu %j', (htu) => {
      expect(verifyDpopProof(handProof({}, { htu }), OPTIONS).htu).toBe(htu);
    });

    it('compares with the request URI normalised the same way', () => {
      expect(
        verifyDpopProof(handProof(), { ...OPTIONS, htu: 'https://API.example.com/orders?x#y' }).jti,
      ).toBe('j-1');
    });
  });

  describe('point 10: nonce', () => {
    it('refuses a missing or different nonce when one is expected', () => {
      expect(reason(handProof(), { nonce: 'n-1' })).toBe('nonce');
      expect(reason(handProof({}, { nonce: 'n-0' }), { nonce: 'n-1' })).toBe('nonce');
      expect(reason(handProof({}, { nonce: 5 }))).toBe('nonce');
    });

    it('asks a predicate, with undefined when the proof has none', () => {
      const seen: (string | undefined)[] = [];
      const fresh = (nonce: string | undefined) => {
        seen.push(nonce);
        return nonce === 'fresh';
      };
      expect(verifyDpopProof(handProof({}, { nonce: 'fresh' }), { ...OPTIONS, nonce: fresh }).nonce).toBe(
        'fresh',
      );
      expect(reason(handProof({}, { nonce: 'stale' }), { nonce: fresh })).toBe('nonce');
      expect(reason(handProof(), { nonce: fresh })).toBe('nonce');
      expect(seen).toEqual(['fresh', 'stale', undefined]);
    });
  });

  describe('point 11: iat within the window', () => {
    it('refuses a proof older than maxAge plus the tolerance, and accepts one just inside', () => {
      expect(reason(handProof({}, { iat: now() - 306 }))).toBe('iat');
      expect(verifyDpopProof(handProof({}, { iat: now() - 300 }), OPTIONS).jti).toBe('j-1');
      expect(reason(handProof({}, { iat: now() - 61 }), { maxAge: 60, clockTolerance: 0 })).toBe('iat');
    });

    it('refuses a proof from the future beyond the tolerance', () => {
      expect(reason(handProof({}, { iat: now() + 60 }))).toBe('iat');
      expect(verifyDpopProof(handProof({}, { iat: now() + 3 }), OPTIONS).jti).toBe('j-1');
    });

    it('judges a dpop-package proof against currentDate', async () => {
      const pair = await dpop.generateKeyPair('ES256');
      const proof = await dpop.generateProof(pair, HTU, 'GET');
      expect(reason(proof, { currentDate: new Date(Date.now() + 400_000) })).toBe('iat');
      expect(reason(proof, { currentDate: new Date(Date.now() - 60_000) })).toBe('iat');
    });

    it.each([undefined, '1700000000', Number.NaN])('refuses iat %j', (iat) => {
      expect(reason(handProof({}, { iat }))).toBe('iat');
    });
  });

  describe('point 12: ath and the bound key', () => {
    it('refuses a proof without ath, or with the hash of another token, when an access token came with it', () => {
      expect(reason(handProof(), { accessToken: TOKEN })).toBe('ath');
      expect(reason(handProof({}, { ath: accessTokenHash(`${TOKEN}x`) }), { accessToken: TOKEN })).toBe(
        'ath',
      );
      expect(
        verifyDpopProof(handProof({}, { ath: accessTokenHash(TOKEN) }), { ...OPTIONS, accessToken: TOKEN })
          .jti,
      ).toBe('j-1');
    });

    it('ignores an ath where no access token is expected (§4.3 has no rule for it)', () => {
      expect(verifyDpopProof(handProof({}, { ath: 'anything' }), OPTIONS).payload.ath).toBe('anything');
    });

    it('refuses a proof signed with a key other than the one the token is bound to', async () => {
      const other = await dpop.generateKeyPair('ES256');
      const jkt = await dpop.calculateThumbprint(other.publicKey);
      expect(reason(handProof(), { jkt })).toBe('jkt');
      expect(
        verifyDpopProof(handProof(), {
          ...OPTIONS,
          jkt: await jose.calculateJwkThumbprint(publicJwk as jose.JWK),
        }).jti,
      ).toBe('j-1');
    });
  });

  it('never repeats the proof, the access token or a key in its messages', () => {
    const proof = handProof({}, { ath: accessTokenHash('other') });
    const err = thrown(() => verifyDpopProof(proof, { ...OPTIONS, accessToken: TOKEN })) as Error;
    for (const secret of [TOKEN, proof, ...segments(proof), String(publicJwk.x)]) {
      expect(err.message).not.toContain(secret);
    }
  });
});
