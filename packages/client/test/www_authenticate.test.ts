import { describe, expect, it } from 'vitest';
import { parseChallenge } from '../src/www_authenticate.js';

/** The challenges the fetch wrapper acts on: RFC 6750 §3 (Bearer) and RFC 9449 §7.1 (DPoP). */
describe('parseChallenge', () => {
  it("reads @tessera/guard's expired-token challenge", () => {
    expect(
      parseChallenge(
        'Bearer realm="https://api.example", error="invalid_token", error_description="the access token expired"',
      ),
    ).toEqual({ scheme: 'Bearer', error: 'invalid_token', description: 'the access token expired' });
  });

  it('takes the challenge that carries an error when several are offered', () => {
    expect(
      parseChallenge(
        'Bearer realm="api", DPoP algs="ES256 PS256", error="use_dpop_nonce", error_description="x"',
      ),
    ).toEqual({ scheme: 'DPoP', error: 'use_dpop_nonce', description: 'x' });
  });

  it('unquotes quoted-pairs, accepts tokens, ignores case of parameter names', () => {
    expect(parseChallenge('DPoP ERROR=invalid_dpop_proof, Error_Description="a \\"quoted\\" word"')).toEqual({
      scheme: 'DPoP',
      error: 'invalid_dpop_proof',
      description: 'a "quoted" word',
    });
  });

  it('finds no error in a bare challenge, an empty or a missing header', () => {
    const none = { scheme: undefined, error: undefined, description: undefined };
    expect(parseChallenge('Bearer realm="tessera"')).toEqual(none);
    expect(parseChallenge('')).toEqual(none);
    expect(parseChallenge(null)).toEqual(none);
  });

  it('does not take a description from another challenge', () => {
    expect(parseChallenge('Basic error_description="elsewhere", Bearer error="invalid_token"')).toEqual({
      scheme: 'Bearer',
      error: 'invalid_token',
      description: undefined,
    });
  });
});
