/**
 * The security events Tessera sends (RFC 8417 SETs), one event per SET. CAEP 1.0 where it has a type
 * for what happened, RISC 1.0 where CAEP has none; for what neither defines (a refresh token reused,
 * impersonation), types of our own under `urn:tessera:secevent:event-type:`, documented in the
 * server README. A receiver registers for the types it wants, by the short names below.
 */
export const SECURITY_EVENT_TYPES = {
  /** CAEP 1.0 §3.1: a session ended (logout, end-session, revocation, every session of a user). */
  'session-revoked': 'https://schemas.openid.net/secevent/caep/event-type/session-revoked',
  /** CAEP 1.0 §3.3: a credential changed; here a password (`credential_type: password`, `change_type: update`). */
  'credential-change': 'https://schemas.openid.net/secevent/caep/event-type/credential-change',
  /** RISC 1.0 §2.3: the account was disabled. */
  'account-disabled': 'https://schemas.openid.net/secevent/risc/event-type/account-disabled',
  /**
   * Ours: a rotated refresh token was presented again (RFC 9700 §4.14.2: a sign of theft). CAEP's
   * credential-change and RISC's credential-compromise name user credentials (passwords, keys), not
   * a session's refresh token, so neither says this truthfully.
   */
  'refresh-token-reuse': 'urn:tessera:secevent:event-type:refresh-token-reuse',
  /** Ours: someone began acting as the user (token exchange with impersonation). */
  'impersonation-started': 'urn:tessera:secevent:event-type:impersonation-started',
  /** Ours: that impersonation ended. */
  'impersonation-ended': 'urn:tessera:secevent:event-type:impersonation-ended',
} as const;

export type SecurityEventName = keyof typeof SECURITY_EVENT_TYPES;
export type SecurityEventType = (typeof SECURITY_EVENT_TYPES)[SecurityEventName];

export const SECURITY_EVENT_NAMES = Object.keys(SECURITY_EVENT_TYPES) as SecurityEventName[];

const NAME_OF_TYPE = new Map<string, SecurityEventName>(
  SECURITY_EVENT_NAMES.map((name) => [SECURITY_EVENT_TYPES[name], name]),
);

/** The short name of an event type URI, or undefined for a type Tessera does not send. */
export function securityEventName(type: string): SecurityEventName | undefined {
  return NAME_OF_TYPE.get(type);
}

export function isSecurityEventName(name: string): name is SecurityEventName {
  return Object.hasOwn(SECURITY_EVENT_TYPES, name);
}
