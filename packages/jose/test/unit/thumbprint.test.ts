// JWK thumbprints (key/thumbprint.ts): the arguments jwkThumbprint and jwkThumbprintUri accept. The
// RFC 7638 and RFC 8037 vectors are in conformance/.
import { describe, expect, it } from 'vitest';
import { generateSecret, jwkThumbprint, jwkThumbprintUri } from '../../src/index.js';
import { thrown } from '../helpers/forge.js';

const secret = generateSecret('HS256');

describe('jwkThumbprint and jwkThumbprintUri', () => {
  it.each(['nope', 'md5', 'sha1', 'SHA256', ''])(
    'refuse the digest %j with a TypeError naming the accepted digests',
    (digest) => {
      const err = thrown(() => jwkThumbprint(secret, digest as never));
      expect(err).toBeInstanceOf(TypeError);
      expect((err as Error).message).toMatch(/sha256.*sha384.*sha512/);
      expect(() => jwkThumbprintUri(secret, digest as never)).toThrow(TypeError);
    },
  );

  it('accept sha384 and sha512, and the URI names the digest', () => {
    expect(jwkThumbprint(secret, 'sha384')).toHaveLength(64);
    expect(jwkThumbprint(secret, 'sha512')).toHaveLength(86);
    expect(jwkThumbprintUri(secret, 'sha384')).toMatch(/:sha-384:[\w-]{64}$/);
    expect(jwkThumbprintUri(secret, 'sha512')).toMatch(/:sha-512:[\w-]{86}$/);
  });

  it.each(['constructor', 'toString', '__proto__'])(
    'refuse a JWK whose "kty" is the Object.prototype member %j (ERR_JOSE_NOT_SUPPORTED)',
    (kty) => {
      expect(thrown(() => jwkThumbprint({ kty }))).toMatchObject({ code: 'ERR_JOSE_NOT_SUPPORTED' });
      expect(thrown(() => jwkThumbprintUri({ kty }))).toMatchObject({ code: 'ERR_JOSE_NOT_SUPPORTED' });
    },
  );
});
