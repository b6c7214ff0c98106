import { randomUUID } from 'node:crypto';
import { type Signer, signJwtSync } from '@tessera/jose';
import { SECURITY_EVENT_TYPES } from './event_types.js';

type JsonObject = Record<string, unknown>;

/** RFC 8417 §2.3: the `typ` that tells a SET from every other JWT (RFC 8725 §3.11). */
export const SET_TYP = 'secevent+jwt';

/**
 * Who started what happened, in CAEP 1.0 §2's words (`initiating_entity`): an administrator (the
 * CLI), the user (logging out), policy (the server's own rules, like reuse detection), or the system.
 */
export type InitiatingEntity = 'admin' | 'user' | 'policy' | 'system';

/** What happened, as the code that caused it says it; set.ts turns it into a SET's claims. */
export type SecurityEvent =
  | {
      name: 'session-revoked';
      userId: string;
      /** The session's `sid`, as in its access and ID tokens. */
      sid: string;
      /** Why, for administrators (CAEP `reason_admin`): logout, revoked, reuse_detected, disabled… */
      reason: string;
      initiatingEntity: InitiatingEntity;
    }
  | { name: 'credential-change'; userId: string; initiatingEntity: InitiatingEntity }
  | { name: 'account-disabled'; userId: string }
  | { name: 'refresh-token-reuse'; userId: string; sid: string; clientId: string }
  | {
      name: 'impersonation-started' | 'impersonation-ended';
      /** The user being acted as. */
      userId: string;
      /** Who acts as them. */
      actorId: string;
      clientId: string;
    };

/** RFC 9493 §3.2.6: an account at an issuer. */
function issSub(iss: string, sub: string): JsonObject {
  return { format: 'iss_sub', iss, sub };
}

/**
 * The subject (`sub_id`, RFC 9493 as SSF 1.0 places it in a SET) and the one event's payload. A
 * session is the way CAEP 1.0's session-revoked examples name one: a `complex` subject (SSF 1.0
 * §3.2) with the user and the session, the session `opaque` (RFC 9493 §3.2.4) holding its `sid`.
 */
export function securityEventClaims(
  event: SecurityEvent,
  issuer: string,
  eventTimestamp: number,
): { sub_id: JsonObject; events: JsonObject } {
  const user = issSub(issuer, event.userId);
  const inSession = (sid: string): JsonObject => ({
    format: 'complex',
    user,
    session: { format: 'opaque', id: sid },
  });
  const type = SECURITY_EVENT_TYPES[event.name];
  switch (event.name) {
    case 'session-revoked':
      return {
        sub_id: inSession(event.sid),
        events: {
          [type]: {
            event_timestamp: eventTimestamp,
            initiating_entity: event.initiatingEntity,
            reason_admin: { en: event.reason },
          },
        },
      };
    case 'credential-change':
      // CAEP 1.0 §3.3.1: both are required; a password set anew replaces the old one.
      return {
        sub_id: user,
        events: {
          [type]: {
            credential_type: 'password',
            change_type: 'update',
            event_timestamp: eventTimestamp,
            initiating_entity: event.initiatingEntity,
          },
        },
      };
    case 'account-disabled':
      // RISC 1.0: `reason` is only for hijacking or bulk accounts; an administrator's choice has none.
      return { sub_id: user, events: { [type]: {} } };
    case 'refresh-token-reuse':
      return {
        sub_id: inSession(event.sid),
        events: { [type]: { event_timestamp: eventTimestamp, client_id: event.clientId } },
      };
    case 'impersonation-started':
    case 'impersonation-ended':
      return {
        sub_id: user,
        events: {
          [type]: {
            event_timestamp: eventTimestamp,
            actor: issSub(issuer, event.actorId),
            client_id: event.clientId,
          },
        },
      };
  }
}

/**
 * What a SET says, decided once when its cause commits and kept with the delivery: every attempt
 * signs these same claims, so a retried SET has the same `jti` (RFC 8417 §2.2; receivers drop a
 * duplicate by it) and `iat`, and always the current key's signature.
 */
export interface SecurityEventClaims {
  jti: string;
  /** Seconds. */
  iat: number;
  /** The receiver's audience; none on the broker. */
  aud?: string;
  /** RFC 8417 §2.2: the SETs of one cause share it. */
  txn: string;
  event: SecurityEvent;
}

export interface SecurityEventTokens {
  /** The claims of a new SET: a random `jti`, `iat` now. */
  claims(event: SecurityEvent, options: { aud?: string; txn: string }): SecurityEventClaims;
  /** Signs a SET: `iss`, `iat`, `jti`, `aud`, `txn`, `sub_id` and `events` with exactly one member. */
  sign(claims: SecurityEventClaims): string;
}

/**
 * SETs signed with the current ID-token key (receivers verify them with the server's JWKS), typed
 * `secevent+jwt` (RFC 8417 §2.3), so no verifier of ID or access tokens takes one for those. Each
 * signature is one-shot (`signJwtSync`), not a prepared signer: the issue time is the claims' own,
 * which a prepared signer's options would fix for every token.
 */
export function createSecurityEventTokens(
  idTokenSigner: () => Signer,
  issuer: string,
  clock: () => number = Date.now,
): SecurityEventTokens {
  return {
    claims(event, { aud, txn }) {
      return {
        jti: randomUUID(),
        iat: Math.floor(clock() / 1000),
        ...(aud !== undefined ? { aud } : {}),
        txn,
        event,
      };
    },
    sign({ jti, iat, aud, txn, event }) {
      const { key, alg, kid } = idTokenSigner();
      return signJwtSync(
        { jti, ...(aud !== undefined ? { aud } : {}), txn, ...securityEventClaims(event, issuer, iat) },
        key,
        { alg, ...(kid !== undefined ? { kid } : {}), typ: SET_TYP, issuer, iat },
      );
    },
  };
}
