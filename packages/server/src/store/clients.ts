import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { type Db, isUniqueViolation } from './database.js';

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
  audiences: string[];
  scopes: string[];
  secretHash: string | null;
}

/** The client every fresh installation has: the browser app served next to the auth server. */
export const WEB_CLIENT_ID = 'web';

export interface Clients {
  ensureBuiltIn(audience: string): Promise<void>;
  byId(clientId: string): Promise<Client | undefined>;
  list(): Promise<Client[]>;
  /** Registers a client; for confidential clients returns the secret, shown once and stored hashed. */
  add(input: {
    clientId: string;
    type: ClientType;
    name?: string;
    audiences: string[];
    scopes: string[];
  }): Promise<{ client: Client; secret?: string }>;
  /** Constant-time check of a confidential client's secret. */
  verifySecret(client: Client, secret: string): boolean;
}

// Client secrets are 256 random bits made here, so a fast hash is enough (no dictionary to resist).
const hashSecret = (secret: string) => createHash('sha256').update(secret).digest('base64url');

export function createClients(db: Db, clock: () => number = Date.now): Clients {
  const toClient = (row: {
    client_id: string;
    type: string;
    name: string;
    audiences: string;
    scopes: string;
    secret_hash: string | null;
  }): Client => ({
    clientId: row.client_id,
    type: row.type as ClientType,
    name: row.name,
    audiences: JSON.parse(row.audiences) as string[],
    scopes: JSON.parse(row.scopes) as string[],
    secretHash: row.secret_hash,
  });
  const clients: Clients = {
    async ensureBuiltIn(audience) {
      if (await clients.byId(WEB_CLIENT_ID)) return;
      try {
        await clients.add({
          clientId: WEB_CLIENT_ID,
          type: 'first-party',
          name: 'Web app',
          audiences: [audience],
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
      if (input.audiences.length === 0) throw new TypeError('a client needs at least one audience');
      const secret = input.type === 'confidential' ? randomBytes(32).toString('base64url') : undefined;
      const row = {
        client_id: input.clientId,
        type: input.type,
        secret_hash: secret ? hashSecret(secret) : null,
        name: input.name ?? input.clientId,
        audiences: JSON.stringify(input.audiences),
        scopes: JSON.stringify(input.scopes),
        created_at: clock(),
      };
      await db.insertInto('clients').values(row).execute();
      return { client: toClient(row), secret };
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
