// RFC 7797 (unencoded payload, "b64": false), from the cookbook's rfc7797/ files and the RFC's own
// §4.1/§4.2 values. All use the RFC 7515 Appendix A.1 HMAC key.
import { Buffer } from 'node:buffer';
import { describe, expect, it } from 'vitest';
import {
  compactSign,
  compactVerify,
  type FlattenedJws,
  flattenedSign,
  flattenedVerify,
  generalSign,
  generalVerify,
  importJwk,
} from '../../src/index.js';
import { readVector, rfc7520Example, singleKey, utf8 } from './rfc-vectors.js';

const B64_FALSE_HEADER = { alg: 'HS256', b64: false, crit: ['b64'] };

describe('RFC 7797 "b64": false, compact-compatible payload (cookbook rfc7797/hmac-sha2_b64_false.json)', () => {
  const example = rfc7520Example('rfc7797/hmac-sha2_b64_false.json');
  const key = importJwk(singleKey(example));
  const { compact, json, json_flat } = example.output;
  const payload = 'This is the payload string!';

  it('uses the RFC 7515 A.1 HMAC key material', () => {
    expect(singleKey(example).k).toBe(JSON.parse(readVector('rfc/rfc7515/rfc7515_A.1.jwk')).k);
  });

  it('verifies in compact serialization, with the payload unencoded', async () => {
    const result = await compactVerify(compact!, key, { algorithms: ['HS256'] });
    expect(compact!.split('.')[1]).toBe(payload);
    expect(utf8(result.payload)).toBe(payload);
    expect(result.protectedHeader).toEqual(B64_FALSE_HEADER);
  });

  it('verifies in general JSON serialization', async () => {
    const result = await generalVerify(json!, key, { algorithms: ['HS256'] });
    expect(utf8(result.payload)).toBe(payload);
  });

  it('verifies in flattened JSON serialization', async () => {
    const result = await flattenedVerify(json_flat!, key, { algorithms: ['HS256'] });
    expect(utf8(result.payload)).toBe(payload);
  });

  // Known data problem: this file's signing.protected_b64u decodes to invalid JSON and its sig-input /
  // sig belong to the §4.2 file; the outputs are the authoritative values.
  it('reproduces the exact compact output', () => {
    expect(compactSign(payload, key, { protectedHeader: B64_FALSE_HEADER })).toBe(compact);
  });

  it('reproduces the exact flattened JSON output', () => {
    expect(flattenedSign(payload, key, { protectedHeader: B64_FALSE_HEADER })).toEqual(json_flat);
  });

  it('reproduces the exact general JSON output', () => {
    expect(generalSign(payload, [{ key, protectedHeader: B64_FALSE_HEADER }])).toEqual(json);
  });
});

// Deliberate refusal: this cookbook file predates RFC 7797's final text; its protected header is
// {"alg":"HS256","b64":false} without "crit". RFC 7797 §6 requires "b64" to be listed in "crit" (so a
// recipient that does not understand it cannot misread the payload), and the library enforces that.
describe('cookbook rfc7797/4.2.hmac-sha2_b64_false.json (pre-RFC draft, "b64" not in "crit")', () => {
  const example = rfc7520Example('rfc7797/4.2.hmac-sha2_b64_false.json');
  const key = importJwk(singleKey(example));

  it('has a protected header without "crit"', () => {
    const header = JSON.parse(Buffer.from(example.output.json_flat!.protected!, 'base64url').toString());
    expect(header).toEqual({ alg: 'HS256', b64: false });
  });

  it('is refused in flattened JSON serialization, as RFC 7797 §6 requires "b64" in "crit"', async () => {
    await expect(
      flattenedVerify(example.output.json_flat!, key, { algorithms: ['HS256'] }),
    ).rejects.toMatchObject({ code: 'ERR_JWS_INVALID' });
  });

  it('is refused in general JSON serialization, as RFC 7797 §6 requires "b64" in "crit"', async () => {
    await expect(generalVerify(example.output.json!, key, { algorithms: ['HS256'] })).rejects.toMatchObject({
      code: 'ERR_JWS_INVALID',
    });
  });
});

describe('RFC 7797 §4.1 and §4.2 (payload "$.02", RFC 7515 A.1 key)', () => {
  const key = importJwk(JSON.parse(readVector('rfc/rfc7515/rfc7515_A.1.jwk')));
  const payload = '$.02';
  // The values printed in RFC 7797 §4.1 and §4.2.
  const encoded = 'eyJhbGciOiJIUzI1NiJ9.JC4wMg.5mvfOroL-g7HyqJoozehmsaqmvTYGEq5jTI1gVvoEoQ';
  const unencoded: FlattenedJws = {
    protected: 'eyJhbGciOiJIUzI1NiIsImI2NCI6ZmFsc2UsImNyaXQiOlsiYjY0Il19',
    payload,
    signature: 'A5dxf2s96_n5FLueVuW1Z_vh161FwXZC4YLPff6dmDY',
  };
  const detachedCompact = `${unencoded.protected}..${unencoded.signature}`;

  it('verifies the §4.1 encoded-payload compact JWS', async () => {
    const result = await compactVerify(encoded, key, { algorithms: ['HS256'] });
    expect(utf8(result.payload)).toBe(payload);
  });

  it('reproduces the §4.1 encoded-payload compact JWS', () => {
    expect(compactSign(payload, key, { protectedHeader: { alg: 'HS256' } })).toBe(encoded);
  });

  it('verifies the §4.2 unencoded-payload flattened JWS', async () => {
    const result = await flattenedVerify(unencoded, key, { algorithms: ['HS256'] });
    expect(utf8(result.payload)).toBe(payload);
  });

  it('reproduces the §4.2 unencoded-payload flattened JWS', () => {
    expect(flattenedSign(payload, key, { protectedHeader: B64_FALSE_HEADER })).toEqual(unencoded);
  });

  it('verifies the §4.2 detached compact JWS when the unencoded payload is supplied', async () => {
    const result = await compactVerify(detachedCompact, key, { algorithms: ['HS256'], payload });
    expect(utf8(result.payload)).toBe(payload);
  });

  it('reproduces the §4.2 detached compact JWS', () => {
    expect(compactSign(payload, key, { protectedHeader: B64_FALSE_HEADER, detached: true })).toBe(
      detachedCompact,
    );
  });

  it('refuses a non-detached compact JWS whose unencoded payload contains "." (RFC 7797 §5.2)', () => {
    expect(() => compactSign(payload, key, { protectedHeader: B64_FALSE_HEADER })).toThrow(
      expect.objectContaining({ code: 'ERR_JWS_INVALID' }),
    );
  });

  it('gives different signatures for the encoded and unencoded forms of the same payload', () => {
    expect(encoded.split('.')[2]).not.toBe(unencoded.signature);
  });
});
