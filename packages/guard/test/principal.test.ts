import { format } from 'node:util';
import { describe, expect, it } from 'vitest';
import { type AccessTokenClaims, MalformedClaim, principalOf } from '../src/principal.js';

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

describe('the actor (RFC 8693 §4.1 act)', () => {
  it('is undefined for a token the subject uses itself', () => {
    expect(principalOf(claims(), TOKEN).actor).toBeUndefined();
  });

  it('names who acts for the subject, and the chain before them, nested', () => {
    const principal = principalOf(
      {
        ...claims(),
        act: { sub: 'gateway', client_id: 'gateway', act: { sub: 'admin-1', client_id: 'console' } },
      },
      TOKEN,
    );
    expect(principal.actor).toEqual({
      sub: 'gateway',
      clientId: 'gateway',
      actor: { sub: 'admin-1', clientId: 'console' },
    });
    expect(Object.isFrozen(principal.actor)).toBe(true);
    expect(format('%O', principal)).toMatch(/actor: \{\s+sub: 'gateway'/);
  });

  it('refuses an act the guard cannot read: the token is not taken for the subject’s own', () => {
    for (const act of [
      'gateway',
      [],
      null,
      {},
      { sub: 7 },
      { sub: 'gateway', client_id: 1 },
      { sub: 'gateway', act: { client_id: 'x' } },
    ])
      expect(
        () => principalOf({ ...claims(), act } as AccessTokenClaims, TOKEN),
        JSON.stringify(act),
      ).toThrow(MalformedClaim);
    let deep: Record<string, unknown> = { sub: 'last' };
    for (let i = 0; i < 20; i++) deep = { sub: `actor-${i}`, act: deep };
    expect(() => principalOf({ ...claims(), act: deep } as AccessTokenClaims, TOKEN)).toThrow(/too deep/);
  });
});
