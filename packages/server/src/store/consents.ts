import type { Db } from './database.js';
import { parseJsonText, toJsonText } from './schema.js';

/** What a user allowed each client, so the next authorization asks only for what is new. */
export interface Consents {
  /** The scopes among `scopes` the user has not yet allowed this client. */
  missing(userId: string, clientId: string, scopes: readonly string[]): Promise<string[]>;
  /** Adds `scopes` to what the user allowed the client. */
  grant(userId: string, clientId: string, scopes: readonly string[]): Promise<void>;
}

export function createConsents(db: Db, clock: () => number = Date.now): Consents {
  const allowed = async (userId: string, clientId: string) => {
    const row = await db
      .selectFrom('consents')
      .select('scopes')
      .where('user_id', '=', userId)
      .where('client_id', '=', clientId)
      .executeTakeFirst();
    return row ? parseJsonText(row.scopes) : [];
  };
  return {
    async missing(userId, clientId, scopes) {
      const given = new Set(await allowed(userId, clientId));
      return scopes.filter((scope) => !given.has(scope));
    },
    async grant(userId, clientId, scopes) {
      const union = [...new Set([...(await allowed(userId, clientId)), ...scopes])];
      await db
        .insertInto('consents')
        .values({ user_id: userId, client_id: clientId, scopes: toJsonText(union), created_at: clock() })
        .onConflict((oc) => oc.columns(['user_id', 'client_id']).doUpdateSet({ scopes: toJsonText(union) }))
        .execute();
    },
  };
}
