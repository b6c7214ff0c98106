import { describe, expect, it } from 'vitest';
import { ExtraClaimsError, extraClaims, RESERVED_CLAIMS } from '../src/tokens/extra_claims.js';

const context = {
  target: 'access_token' as const,
  user: undefined,
  clientId: 'app',
  scopes: ['openid'],
  resource: undefined,
};

describe('extraClaims: the deployment’s own claims', () => {
  it('passes its claims through, awaited, and nothing without a hook or for undefined', async () => {
    expect(
      await extraClaims(
        async () => ({ 'https://acme.example/tenant': 'eu-1', department: 'sales' }),
        context,
      ),
    ).toEqual({
      'https://acme.example/tenant': 'eu-1',
      department: 'sales',
    });
    expect(await extraClaims(undefined, context)).toEqual({});
    expect(await extraClaims(() => undefined, context)).toEqual({});
  });

  it('refuses every reserved name: the server and the standards own them', async () => {
    for (const name of [
      'sub',
      'aud',
      'scope',
      'sid',
      'ver',
      'roles',
      'cnf',
      'act',
      'nonce',
      'email',
      'auth_time',
    ]) {
      expect(RESERVED_CLAIMS.has(name)).toBe(true);
      await expect(extraClaims(() => ({ [name]: 'x' }), context)).rejects.toThrow(ExtraClaimsError);
    }
  });

  it('refuses what is not a JSON object of JSON values', async () => {
    await expect(extraClaims(() => ['a'] as never, context)).rejects.toThrow(/object of claims/);
    await expect(extraClaims(() => ({ fn: () => 1 }), context)).rejects.toThrow(/JSON value/);
    await expect(extraClaims(() => ({ big: 1n }), context)).rejects.toThrow(/JSON value/);
    await expect(extraClaims(() => ({ '': 1 }), context)).rejects.toThrow(/1–256/);
  });
});
