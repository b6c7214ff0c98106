import { failureOutcome, type OutboxKind } from '../outbox/kinds.js';
import type { Receivers } from '../store/receivers.js';
import type { SecurityEventBroker } from './broker.js';
import { SECURITY_EVENT_BROKER_KIND, SECURITY_EVENT_KIND, type SecurityEventPayload } from './emitter.js';
import { isSecurityEventName, SECURITY_EVENT_TYPES } from './event_types.js';
import type { SecurityEventTokens } from './set.js';

/** RFC 8935 §2.1: the media type of a SET on the wire. */
export const SET_MEDIA_TYPE = 'application/secevent+jwt';
/** A receiver's `description`, kept for the audit event, is cut to this. */
const MAX_DESCRIPTION = 256;

/** A payload read back from the store, checked: it was written by this version or an older one. */
function parse(payload: unknown): SecurityEventPayload {
  const value = payload as Partial<SecurityEventPayload> | null;
  const claims = value?.claims;
  if (
    (value?.receiver !== undefined && typeof value.receiver !== 'string') ||
    typeof claims?.jti !== 'string' ||
    typeof claims.iat !== 'number' ||
    typeof claims.txn !== 'string' ||
    typeof claims.event?.name !== 'string' ||
    !isSecurityEventName(claims.event.name) ||
    typeof claims.event.userId !== 'string'
  )
    throw new TypeError('not a security event delivery');
  return value as SecurityEventPayload;
}

/** Who and what a delivery concerns, for the audit event and log line of a give-up: no SET, no token. */
function describe({ receiver, claims }: SecurityEventPayload) {
  return {
    userId: claims.event.userId,
    detail: {
      ...(receiver !== undefined ? { receiver } : {}),
      jti: claims.jti,
      txn: claims.txn,
      event: SECURITY_EVENT_TYPES[claims.event.name],
    },
  };
}

/**
 * RFC 8935 push of a SET to a registered receiver. Each attempt signs the claims decided when the
 * cause committed (the same `jti` and `iat`: a receiver drops a repeat by its `jti`, RFC 8417 §2.2)
 * with the current ID-token key. 202 is delivered (§2.2); 400 is the receiver refusing this SET
 * (§2.3), its `err` and `description` read into the audit event, and it is not sent again; 408, 429
 * and 5xx are tried again with back-off; any other answer is a refusal repeating would not change.
 */
export function securityEventKind(
  tokens: SecurityEventTokens,
  receivers: Pick<Receivers, 'byName' | 'bearerToken'>,
): OutboxKind<SecurityEventPayload> {
  return {
    name: SECURITY_EVENT_KIND,
    parse(payload) {
      const parsed = parse(payload);
      if (parsed.receiver === undefined) throw new TypeError('a push names its receiver');
      return parsed;
    },
    async superseded(payload, target) {
      // A receiver removed (or removed and registered again elsewhere under its name) asked to hear
      // no more at the endpoint the SET was written for.
      const receiver = await receivers.byName(payload.receiver as string);
      if (!receiver) return 'the receiver was removed';
      if (receiver.endpoint !== target) return 'the receiver registered another endpoint';
      return undefined;
    },
    async request(payload, target) {
      // Read at each attempt: a token the operator replaced is used from the next attempt on.
      const bearerToken = await receivers.bearerToken(payload.receiver as string);
      return {
        // The endpoint the receiver had when its SET was written.
        url: target,
        headers: {
          'content-type': SET_MEDIA_TYPE,
          accept: 'application/json',
          ...(bearerToken !== undefined ? { authorization: `Bearer ${bearerToken}` } : {}),
        },
        body: tokens.sign(payload.claims),
      };
    },
    outcome: (status) => (status === 202 ? 'delivered' : failureOutcome(status)),
    refusal(status, body) {
      if (status !== 400) return undefined;
      try {
        const answer = JSON.parse(body) as { err?: unknown; description?: unknown };
        // RFC 8935 §2.4 codes are short ASCII tokens; anything else is not worth keeping.
        if (typeof answer.err !== 'string' || !/^[\x21-\x7e]{1,64}$/.test(answer.err)) return undefined;
        return {
          err: answer.err,
          ...(typeof answer.description === 'string'
            ? { description: answer.description.slice(0, MAX_DESCRIPTION) }
            : {}),
        };
      } catch {
        return undefined;
      }
    },
    describe,
  };
}

/**
 * A SET published to the revocation broker (security_events/broker.ts): the same claims at each
 * attempt, `jti` the message id; done once the broker confirmed it, retried (with back-off) while
 * the broker is unreachable.
 */
export function securityEventBrokerKind(
  tokens: SecurityEventTokens,
  broker: SecurityEventBroker,
): OutboxKind<SecurityEventPayload> {
  return {
    name: SECURITY_EVENT_BROKER_KIND,
    parse,
    // The broker's stream is the server's own: there is no receiver to go away.
    superseded: async () => undefined,
    request() {
      throw new Error('a broker publication is sent, not POSTed');
    },
    outcome: () => 'delivered',
    async send(payload) {
      await broker.publish({
        jti: payload.claims.jti,
        type: SECURITY_EVENT_TYPES[payload.claims.event.name],
        set: tokens.sign(payload.claims),
      });
      return 'delivered';
    },
    describe,
  };
}
