import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { type Db, isUniqueViolation } from './database.js';
import { type ClientsTable, parseJsonText, toJsonText } from './schema.js';

/**
 * `first-party`: the built-in web client; its refresh token travels only in an HttpOnly cookie.
 * `public`: an app that cannot keep a secret (mobile, CLI); it names itself with `client_id`.
 * `confidential`: a server that authenticates with a secret (`client_secret_basic` / `_post`).
 */
export type ClientType = 'first-party' | 'public' | 'confidential';

export interface Client {
  clientId: string;
  type: ClientType;
  name: string;
  /**
   * The audiences (`aud`) of the access tokens it gets: its own, or, when it has none, the server's
   * `audience` setting as this process has it. Never frozen into the client from whichever process
   * created it: `tessera client add` run with other settings (another port, say) would otherwise
   * give every token an `aud` no API expects.
   */
  audiences: string[];
  /** True when the client has no audiences of its own and follows the server's `audience` setting. */
  defaultAudience: boolean;
  scopes: string[];
  secretHash: string | null;
}

/** What `update` may change. `audiences: []` makes the client follow the server's setting. */
export interface ClientChanges {
  name?: string;
  audiences?: string[];
  scopes?: string[];
}

/** The client every fresh installation has: the browser app served next to the auth server. */
export const WEB_CLIENT_ID = 'web';

export interface Clients {
  /** Adds the built-in web client if missing (following the server's audience setting). */
  ensureBuiltIn(): Promise<void>;
  byId(clientId: string): Promise<Client | undefined>;
  list(): Promise<Client[]>;
  /**
   * Registers a client; for confidential clients returns the secret, shown once and stored hashed.
   * With no audiences (`[]`) it follows the server's audience setting. TypeError for a bad value.
   */
  add(input: {
    clientId: string;
    type: ClientType;
    name?: string;
    audiences: string[];
    scopes: string[];
  }): Promise<{ client: Client; secret?: string }>;
  /** Changes name, audiences or scopes; undefined when there is no such client. TypeError for a bad value. */
  update(clientId: string, changes: ClientChanges): Promise<Client | undefined>;
  /**
   * A new secret for a confidential client, returned once; the old one stops working at once.
   * Undefined when there is no such client; TypeError for a client that has no secret.
   */
  rotateSecret(clientId: string): Promise<string | undefined>;
  /** Deletes a client (end its sessions first); false when there was none. TypeError for the web client. */
  remove(clientId: string): Promise<boolean>;
  /** Constant-time check of a confidential client's secret. */
  verifySecret(client: Client, secret: string): boolean;
}

// Client secrets are 256 random bits made here, so a fast hash is enough (no dictionary to resist).
const hashSecret = (secret: string) => createHash('sha256').update(secret).digest('base64url');

/** RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ). */
const SCOPE_TOKEN = /^[\x21\x23-\x5b\x5d-\x7e]+$/;
/** RFC 7519 §4.1.3: each audience a StringOrURI; here at least without spaces or control characters. */
const AUDIENCE = /^[^\s\p{Cc}]{1,512}$/u;

function checkAudiences(audiences: string[]): void {
  for (const audience of audiences)
    if (!AUDIENCE.test(audience))
      throw new TypeError(
        `an audience is 1–512 characters without spaces or control characters, got ${JSON.stringify(audience)}`,
      );
}

/** Why a scope name is not an RFC 6749 §3.3 scope-token, or undefined when it is one. */
export function scopeProblem(scope: string): string | undefined {
  return SCOPE_TOKEN.test(scope)
    ? undefined
    : `a scope is printable ASCII without spaces, " or \\ (RFC 6749 §3.3), got ${JSON.stringify(scope)}`;
}

function checkScopes(scopes: string[]): void {
  for (const scope of scopes) {
    const problem = scopeProblem(scope);
    if (problem) throw new TypeError(problem);
  }
}

/**
 * @param defaultAudience the server's `audience` setting: the audience of clients without their own.
 */
export function createClients(db: Db, defaultAudience: string, clock: () => number = Date.now): Clients {
  const toClient = (row: Omit<ClientsTable, 'created_at'>): Client => {
    const own = parseJsonText(row.audiences);
    return {
      clientId: row.client_id,
      type: row.type,
      name: row.name,
      audiences: own.length ? own : [defaultAudience],
      defaultAudience: own.length === 0,
      scopes: parseJsonText(row.scopes),
      secretHash: row.secret_hash,
    };
  };
  const clients: Clients = {
    async ensureBuiltIn() {
      if (await clients.byId(WEB_CLIENT_ID)) return;
      try {
        await clients.add({
          clientId: WEB_CLIENT_ID,
          type: 'first-party',
          name: 'Web app',
          audiences: [],
          scopes: ['openid', 'profile', 'offline_access'],
        });
      } catch (err) {
        // Another instance starting on the same database added it first.
        if (!isUniqueViolation(err)) throw err;
      }
    },
    async byId(clientId) {
      const row = await db
        .selectFrom('clients')
        .selectAll()
        .where('client_id', '=', clientId)
        .executeTakeFirst();
      return row ? toClient(row) : undefined;
    },
    async list() {
      return (await db.selectFrom('clients').selectAll().orderBy('created_at').execute()).map(toClient);
    },
    async add(input) {
      if (!/^[\w.~-]{1,128}$/.test(input.clientId))
        throw new TypeError('client_id must be 1–128 of A-Z a-z 0-9 . _ ~ -');
      checkAudiences(input.audiences);
      checkScopes(input.scopes);
      const secret = input.type === 'confidential' ? randomBytes(32).toString('base64url') : undefined;
      const row = {
        client_id: input.clientId,
        type: input.type,
        secret_hash: secret ? hashSecret(secret) : null,
        name: input.name ?? input.clientId,
        audiences: toJsonText(input.audiences),
        scopes: toJsonText(input.scopes),
        created_at: clock(),
      };
      await db.insertInto('clients').values(row).execute();
      return { client: toClient(row), secret };
    },
    async update(clientId, changes) {
      if (changes.audiences) checkAudiences(changes.audiences);
      if (changes.scopes) checkScopes(changes.scopes);
      if (changes.name !== undefined && !/^[^\p{Cc}]{1,128}$/u.test(changes.name))
        throw new TypeError('a client name is 1–128 characters without control characters');
      const set = {
        ...(changes.name !== undefined ? { name: changes.name } : {}),
        ...(changes.audiences ? { audiences: toJsonText(changes.audiences) } : {}),
        ...(changes.scopes ? { scopes: toJsonText(changes.scopes) } : {}),
      };
      if (Object.keys(set).length)
        await db.updateTable('clients').set(set).where('client_id', '=', clientId).execute();
      return clients.byId(clientId);
    },
    async rotateSecret(clientId) {
      const client = await clients.byId(clientId);
      if (!client) return undefined;
      if (client.type !== 'confidential')
        throw new TypeError(`client ${JSON.stringify(clientId)} is ${client.type}: it has no secret`);
      const secret = randomBytes(32).toString('base64url');
      await db
        .updateTable('clients')
        .set({ secret_hash: hashSecret(secret) })
        .where('client_id', '=', clientId)
        .execute();
      return secret;
    },
    async remove(clientId) {
      if (clientId === WEB_CLIENT_ID)
        throw new TypeError("the built-in web client cannot be removed (its logins are the server's own)");
      const result = await db.deleteFrom('clients').where('client_id', '=', clientId).executeTakeFirst();
      return result.numDeletedRows > 0n;
    },
    verifySecret(client, secret) {
      if (client.secretHash === null) return false;
      const expected = Buffer.from(client.secretHash);
      const actual = Buffer.from(hashSecret(secret));
      return expected.length === actual.length && timingSafeEqual(expected, actual);
    },
  };
  return clients;
}
