import { sql } from 'kysely';
import type { Db } from '../src/store/database.js';
import { TEST_STORE } from './databases.js';

/**
 * Makes every `operation` on `table` fail inside the database (a trigger raising an error), until
 * `heal()`: a real failure in the middle of a transaction, on SQLite and PostgreSQL alike.
 */
export async function breakWrites(
  db: Db,
  table:
    | 'outbox'
    | 'revocations'
    | 'refresh_token_families'
    | 'refresh_tokens'
    | 'users'
    | 'impersonations'
    | 'audit_events'
    | 'outbox',
  operation: 'insert' | 'update',
): Promise<{ heal(): Promise<void> }> {
  const trigger = sql.raw(`tessera_test_fail_${table}_${operation}`);
  const on = sql.raw(`before ${operation} on ${table}`);
  if (TEST_STORE === 'postgres') {
    await sql`create function ${trigger}() returns trigger language plpgsql as $$ begin raise exception 'injected failure'; end $$`.execute(
      db,
    );
    await sql`create trigger ${trigger} ${on} for each row execute function ${trigger}()`.execute(db);
    return {
      async heal() {
        await sql`drop trigger ${trigger} on ${sql.raw(table)}`.execute(db);
        await sql`drop function ${trigger}()`.execute(db);
      },
    };
  }
  await sql`create trigger ${trigger} ${on} begin select raise(abort, 'injected failure'); end`.execute(db);
  return {
    async heal() {
      await sql`drop trigger ${trigger}`.execute(db);
    },
  };
}
