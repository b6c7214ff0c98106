import { format } from 'node:util';
import { describe, expect, it } from 'vitest';
import { type AccessTokenClaims, principalOf } from '../src/principal.js';

const TOKEN = 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ1c2VyLTEifQ.c2lnbmF0dXJlLW9mLXRoZS10b2tlbg';
const claims = (): AccessTokenClaims => ({
  sub: 'user-1',
  scope: 'orders:read',
  sid: 'session-1',
  client_id: 'web-app',
  exp: 2_000_000_000,
});

describe('the principal', () => {
  it('hands the token to code that asks for it', () => {
    expect(principalOf(claims(), TOKEN).token).toBe(TOKEN);
  });

  it('keeps the token out of every generic way of copying or printing an object', () => {
    const principal = principalOf(claims(), TOKEN);
    const forms = {
      entries: JSON.stringify(Object.entries(principal)),
      clone: JSON.stringify(structuredClone(principal)),
      assigned: JSON.stringify(Object.assign({}, principal)),
      formatted: format('%s %o %O %j', principal, principal, principal, principal),
    };
    for (const [form, text] of Object.entries(forms)) {
      expect(text, form).toContain('user-1');
      expect(text, form).not.toContain(TOKEN);
    }
    expect(Object.getOwnPropertyNames(principal)).not.toContain('token');
  });

  it('prints as a Principal with its public members', () => {
    const printed = format('%O', principalOf(claims(), TOKEN));
    expect(printed).toMatch(/^Principal \{/);
    expect(printed).toContain("clientId: 'web-app'");
  });

  it('is frozen: the token cannot be replaced or added as an own property', () => {
    const principal = principalOf(claims(), TOKEN);
    expect(() => {
      (principal as { token: string }).token = 'other';
    }).toThrow(TypeError);
    expect(() => Object.defineProperty(principal, 'token', { value: 'other' })).toThrow(TypeError);
    expect(principal.token).toBe(TOKEN);
  });
});
