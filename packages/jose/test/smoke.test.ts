import { describe, expect, it } from 'vitest';
import * as j from '../src/index.js';

describe('smoke', () => {
  it('round trips all algs', async () => {
    for (const alg of ['ES256','ES384','ES512','ES256K','RS256','PS256','EdDSA','Ed25519','Ed448','HS256','HS512']) {
      const { privateKey, publicKey } = alg.startsWith('HS') ? { privateKey: j.generateSecret(alg), publicKey: undefined } : await j.generateKeyPair(alg);
      const pub = publicKey ?? privateKey;
      const token = await j.signJwt({ a: 1 }, privateKey, { expiresIn: '15m', issuer: 'me', audience: ['x','api'], typ: 'at+jwt' });
      const r = await j.verifyJwt(token, pub, { algorithms: [alg], issuer: 'me', audience: 'api', typ: 'application/at+JWT' });
      expect(r.payload.a).toBe(1);
      const v = j.createVerifier({ key: pub, algorithms: [alg], cache: true, audience: 'api' });
      expect(v.verify(token).payload.iss).toBe('me');
      expect(v.verify(token).payload.iss).toBe('me');
      const s = j.createSigner({ key: privateKey, expiresIn: 60 });
      expect(v.verify(s.sign({ aud: 'api' })).payload.aud).toBe('api');
      await expect(j.verifyJwt(token, pub, { algorithms: [alg], audience: 'nope' })).rejects.toMatchObject({ code: 'ERR_JWT_CLAIM_VALIDATION_FAILED', claim: 'aud' });
      const jwks = j.createLocalJwks({ keys: [j.exportJwk(pub, { public: pub.type !== 'secret' })] });
      expect((await j.verifyJwt(token, jwks, { algorithms: [alg] })).payload.a).toBe(1);
    }
  });
  it('general + flattened + b64', async () => {
    const k = j.generateSecret('HS256');
    const f = j.flattenedSign('hi.there', k, { protectedHeader: { b64: false, crit: ['b64'] }, unprotectedHeader: { kid: 'x' } });
    const r = await j.flattenedVerify(f, k, { algorithms: ['HS256'] });
    expect(Buffer.from(r.payload).toString()).toBe('hi.there');
    const { privateKey } = await j.generateKeyPair('ES256');
    const g = j.generalSign('p', [{ key: k }, { key: privateKey }]);
    expect((await j.generalVerify(g, privateKey, { algorithms: ['ES256', 'HS256'] })).key).toBe(privateKey);
  });
});
