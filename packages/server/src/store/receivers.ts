import { isLoopbackHost } from '@tessera/jose';
import type { Sealer } from '../keys/master_key.js';
import { SECURITY_EVENT_KIND } from '../security_events/emitter.js';
import {
  isSecurityEventName,
  SECURITY_EVENT_NAMES,
  SECURITY_EVENT_TYPES,
  type SecurityEventName,
  securityEventName,
} from '../security_events/event_types.js';
import { type Db, isUniqueViolation } from './database.js';
import { type JsonText, parseJsonText, type SecurityEventReceiversTable, toJsonText } from './schema.js';

/** The master-key purpose a receiver's push bearer token is sealed for (master_key.ts binds it as AAD). */
export const RECEIVER_TOKEN_SEAL_PURPOSE = 'security event receiver bearer token';

/**
 * A registered SET receiver (RFC 8935 push): where its SETs go, the `aud` they carry, which events it
 * wants. Its bearer token, if any, is never part of this: only {@link Receivers.bearerToken} opens it.
 */
export interface Receiver {
  /** The name it was registered under (the CLI's handle, in audit rows and logs). */
  name: string;
  /** https, or http on a loopback host; no user name or password. */
  endpoint: string;
  audience: string;
  events: SecurityEventName[];
  /** Whether pushes carry `Authorization: Bearer` (RFC 8935 §2 leaves authentication to the receiver). */
  hasBearerToken: boolean;
  createdAt: number;
}

export interface ReceiverRegistration {
  name: string;
  endpoint: string;
  audience: string;
  /** Default: every event Tessera sends. */
  events?: SecurityEventName[];
  bearerToken?: string;
}

export interface Receivers {
  byName(name: string): Promise<Receiver | undefined>;
  list(): Promise<Receiver[]>;
  /** The receivers that want `event`, read inside the caller's transaction when given one. */
  wanting(event: SecurityEventName, executor?: Db): Promise<Receiver[]>;
  /** TypeError for a bad value and for a name already registered. */
  add(input: ReceiverRegistration): Promise<Receiver>;
  /**
   * Removes a receiver and, in the same transaction, its SETs not delivered yet (it asked to hear no
   * more). Undefined when there was none; else how many SETs were dropped.
   */
  remove(name: string): Promise<{ dropped: number } | undefined>;
  /** The receiver's push bearer token, opened from its sealed form; undefined without one. */
  bearerToken(name: string): Promise<string | undefined>;
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
/** RFC 6750 §2.1 b64token: what may follow `Bearer ` in an Authorization header. */
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;

/** Why a URL may not receive pushed SETs, or undefined when it may. */
export function receiverEndpointProblem(endpoint: string): string | undefined {
  const quoted = JSON.stringify(endpoint);
  if (endpoint.length > 2048) return 'an endpoint is at most 2048 characters';
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    return `an endpoint is an absolute https URL, got ${quoted}`;
  }
  // RFC 8935 §4.1: SETs travel over TLS; plain http only where no network sits in between.
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && isLoopbackHost(url.hostname)))
    return `an endpoint is https (http only on a loopback host), got ${quoted}`;
  // Credentials in a URL end up in logs and process lists: a bearer token is given apart.
  if (url.username !== '' || url.password !== '')
    return 'an endpoint has no user name or password in it: give a bearer token instead (--bearer-token-stdin)';
  if (url.hash !== '') return `an endpoint has no fragment, got ${quoted}`;
  return undefined;
}

function problems(input: ReceiverRegistration): string | undefined {
  if (!NAME.test(input.name))
    return `a receiver name is 1–64 letters, digits, '.', '_' or '-', starting with a letter or digit, got ${JSON.stringify(input.name)}`;
  const endpoint = receiverEndpointProblem(input.endpoint);
  if (endpoint) return endpoint;
  if (!/^[\x21-\x7e]{1,512}$/.test(input.audience))
    return `an audience is 1–512 printable ASCII characters without spaces, got ${JSON.stringify(input.audience)}`;
  if (input.events !== undefined) {
    if (input.events.length === 0) return 'a receiver wants at least one event';
    for (const name of input.events)
      if (!isSecurityEventName(name))
        return `unknown event ${JSON.stringify(name)}; the events are ${SECURITY_EVENT_NAMES.join(', ')}`;
  }
  if (
    input.bearerToken !== undefined &&
    (!B64TOKEN.test(input.bearerToken) || input.bearerToken.length > 4096)
  )
    return 'a bearer token is 1–4096 characters of the RFC 6750 token alphabet (letters, digits, -._~+/, trailing =)';
  return undefined;
}

function toReceiver(row: SecurityEventReceiversTable): Receiver {
  return {
    name: row.name,
    endpoint: row.endpoint,
    audience: row.audience,
    // A type this version does not know (written by a newer one) is kept in the row, not sent.
    events: parseJsonText(row.event_types)
      .map(securityEventName)
      .filter((name): name is SecurityEventName => name !== undefined),
    hasBearerToken: row.bearer_token_sealed !== null,
    createdAt: row.created_at,
  };
}

export function createReceivers(db: Db, sealer: Sealer, clock: () => number = Date.now): Receivers {
  const rows = (executor: Db) => executor.selectFrom('security_event_receivers').selectAll();
  return {
    async byName(name) {
      const row = await rows(db).where('name', '=', name).executeTakeFirst();
      return row && toReceiver(row);
    },
    async list() {
      return (await rows(db).orderBy('name').execute()).map(toReceiver);
    },
    async wanting(event, executor = db) {
      // A handful of receivers: read them all and filter, rather than match inside JSON text.
      return (await rows(executor).orderBy('name').execute())
        .map(toReceiver)
        .filter((receiver) => receiver.events.includes(event));
    },
    async add(input) {
      const problem = problems(input);
      if (problem) throw new TypeError(problem);
      const events = [...new Set(input.events ?? SECURITY_EVENT_NAMES)];
      const row: SecurityEventReceiversTable = {
        name: input.name,
        endpoint: input.endpoint,
        audience: input.audience,
        event_types: toJsonText(events.map((name) => SECURITY_EVENT_TYPES[name])) as JsonText<string[]>,
        bearer_token_sealed:
          input.bearerToken === undefined
            ? null
            : sealer.seal(input.bearerToken, RECEIVER_TOKEN_SEAL_PURPOSE),
        created_at: clock(),
      };
      try {
        await db.insertInto('security_event_receivers').values(row).execute();
      } catch (err) {
        if (isUniqueViolation(err))
          throw new TypeError(`receiver ${JSON.stringify(input.name)} already exists; remove it first`);
        throw err;
      }
      return toReceiver(row);
    },
    async remove(name) {
      return db.transaction().execute(async (trx) => {
        const { numDeletedRows } = await trx
          .deleteFrom('security_event_receivers')
          .where('name', '=', name)
          .executeTakeFirst();
        if (Number(numDeletedRows) === 0) return undefined;
        const pending = await trx
          .selectFrom('outbox')
          .select(['id', 'payload'])
          .where('kind', '=', SECURITY_EVENT_KIND)
          .where('delivered_at', 'is', null)
          .where('gave_up_at', 'is', null)
          .execute();
        // The receiver is named inside the JSON payload: read, not matched in SQL (both dialects).
        const ids = pending
          .filter((row) => (parseJsonText(row.payload) as { receiver?: unknown } | null)?.receiver === name)
          .map((row) => row.id);
        if (ids.length) await trx.deleteFrom('outbox').where('id', 'in', ids).execute();
        return { dropped: ids.length };
      });
    },
    async bearerToken(name) {
      const row = await db
        .selectFrom('security_event_receivers')
        .select('bearer_token_sealed')
        .where('name', '=', name)
        .executeTakeFirst();
      if (!row?.bearer_token_sealed) return undefined;
      return sealer.open(row.bearer_token_sealed, RECEIVER_TOKEN_SEAL_PURPOSE);
    },
  };
}
