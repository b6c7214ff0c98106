import { type CreateTableBuilder, type Kysely, type Migration, Migrator, sql } from 'kysely';
import { usernameKey } from '../usernames.js';

export type Dialect = 'sqlite' | 'postgres';

/**
 * One set of migrations for both dialects: only types both understand (text, bigint, integer). The
 * one difference is how an auto-numbered id is spelled.
 */
export function migrations(dialect: Dialect): Record<string, Migration> {
  const id = <T extends { addColumn: CreateTableBuilder<string, never>['addColumn'] }>(table: T) =>
    table.addColumn('id', 'integer', (c) =>
      dialect === 'postgres' ? c.primaryKey().generatedByDefaultAsIdentity() : c.primaryKey().autoIncrement(),
    ) as unknown as CreateTableBuilder<string, never>;
  return {
    '0001_initial': {
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable('users')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('username', 'text', (c) => c.notNull().unique())
          .addColumn('password_hash', 'text', (c) => c.notNull())
          .addColumn('token_version', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('disabled', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('roles', 'text', (c) => c.notNull().defaultTo('[]'))
          .addColumn('permissions', 'text', (c) => c.notNull().defaultTo('[]'))
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addColumn('updated_at', 'bigint', (c) => c.notNull())
          .execute();
        await db.schema
          .createTable('clients')
          .addColumn('client_id', 'text', (c) => c.primaryKey())
          .addColumn('type', 'text', (c) => c.notNull())
          .addColumn('secret_hash', 'text')
          .addColumn('name', 'text', (c) => c.notNull())
          .addColumn('audiences', 'text', (c) => c.notNull())
          .addColumn('scopes', 'text', (c) => c.notNull())
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .execute();
        await db.schema
          .createTable('refresh_token_families')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('user_id', 'text', (c) => c.notNull().references('users.id'))
          .addColumn('client_id', 'text', (c) => c.notNull())
          .addColumn('scope', 'text', (c) => c.notNull())
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addColumn('expires_at', 'bigint', (c) => c.notNull())
          .addColumn('revoked_at', 'bigint')
          .addColumn('revoked_reason', 'text')
          .execute();
        await db.schema
          .createIndex('refresh_token_families_user')
          .on('refresh_token_families')
          .column('user_id')
          .execute();
        await db.schema
          .createTable('refresh_tokens')
          .addColumn('token_hash', 'text', (c) => c.primaryKey())
          .addColumn('family_id', 'text', (c) => c.notNull().references('refresh_token_families.id'))
          .addColumn('parent_hash', 'text')
          .addColumn('issued_at', 'bigint', (c) => c.notNull())
          .addColumn('expires_at', 'bigint', (c) => c.notNull())
          .addColumn('rotated_at', 'bigint')
          .addColumn('successor_hash', 'text')
          .addColumn('successor_sealed', 'text')
          .execute();
        await db.schema
          .createIndex('refresh_tokens_family')
          .on('refresh_tokens')
          .column('family_id')
          .execute();
        await db.schema
          .createTable('signing_keys')
          .addColumn('kid', 'text', (c) => c.primaryKey())
          .addColumn('alg', 'text', (c) => c.notNull())
          .addColumn('state', 'text', (c) => c.notNull())
          .addColumn('public_jwk', 'text', (c) => c.notNull())
          .addColumn('private_jwk_sealed', 'text', (c) => c.notNull())
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addColumn('activated_at', 'bigint')
          .addColumn('retired_at', 'bigint')
          .addColumn('expires_at', 'bigint')
          .execute();
        await id(db.schema.createTable('revocations'))
          .addColumn('kind', 'text', (c) => c.notNull())
          .addColumn('value', 'text', (c) => c.notNull())
          .addColumn('ver', 'integer')
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addColumn('expires_at', 'bigint', (c) => c.notNull())
          .execute();
        await id(db.schema.createTable('audit_events'))
          .addColumn('type', 'text', (c) => c.notNull())
          .addColumn('user_id', 'text')
          .addColumn('client_id', 'text')
          .addColumn('ip', 'text')
          .addColumn('detail', 'text', (c) => c.notNull())
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .execute();
      },
    },
    '0002_refresh_successor_index': {
      async up(db: Kysely<unknown>) {
        await db.schema
          .createIndex('refresh_tokens_successor')
          .on('refresh_tokens')
          .column('successor_hash')
          .execute();
      },
    },
    '0003_refresh_sealed_index': {
      // Rotation no longer clears sealed successor copies one by one; housekeeping drops them once
      // their grace window has passed. This partial index holds only the few rows that still carry
      // one, so the sweep never scans the table (and 0002's index is no longer needed).
      async up(db: Kysely<unknown>) {
        await db.schema.dropIndex('refresh_tokens_successor').execute();
        await db.schema
          .createIndex('refresh_tokens_sealed')
          .on('refresh_tokens')
          .column('rotated_at')
          .where(sql.ref('successor_sealed'), 'is not', null)
          .execute();
      },
    },
    '0004_scale_out': {
      // Several instances share one database. Revocations remember whether they reached the shared
      // stream (Redis), so what could not be delivered is sent again from here; and at most one key
      // may be `next` and one `current`, so two instances rotating at once cannot both win.
      async up(db: Kysely<unknown>) {
        await db.schema.alterTable('revocations').addColumn('published_at', 'bigint').execute();
        await db.schema
          .createIndex('revocations_unpublished')
          .on('revocations')
          .column('id')
          .where(sql.ref('published_at'), 'is', null)
          .execute();
        // Earlier versions could leave two `next` keys after a first-start race: keep the oldest.
        // (A `next` key has never signed, so dropping one loses nothing.)
        await sql`delete from signing_keys where state = 'next' and kid not in (
            select kid from signing_keys where state = 'next' order by created_at, kid limit 1)`.execute(db);
        // Two `current` keys: keep the newest signing; the other stays published as retired for the
        // longest access-token lifetime there can be (a day), since it may have signed live tokens.
        const now = Date.now();
        await sql`update signing_keys set state = 'retired', retired_at = ${now}, expires_at = ${now + 86_400_000}
            where state = 'current' and kid not in (
              select kid from signing_keys where state = 'current' order by coalesce(activated_at, created_at) desc, kid limit 1)`.execute(
          db,
        );
        for (const state of ['next', 'current']) {
          await db.schema
            .createIndex(`signing_keys_one_${state}`)
            .on('signing_keys')
            .column('state')
            .unique()
            .where(sql.ref('state'), '=', sql.lit(state))
            .execute();
        }
      },
    },
    '0005_access_token_lifetimes': {
      // Each access-token lifetime instances issue with, and when one last did: revocation entries
      // outlive tokens issued under a longer lifetime after it was lowered.
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable('access_token_lifetimes')
          .addColumn('ttl', 'integer', (c) => c.primaryKey())
          .addColumn('last_issued_at', 'bigint', (c) => c.notNull())
          .execute();
      },
    },
    '0006_usernames_rfc8265': {
      // Names are now stored, created and looked up in their RFC 8265 form (usernames.ts), so rows
      // written before must be in it too. Two rows with one form would be one account to a login:
      // then nothing changes and the server does not start, naming them, until the operator renames
      // all but one. Checked in full before any row is written (SQLite runs this outside a
      // transaction; rewriting is idempotent if it is interrupted).
      async up(db: Kysely<unknown>) {
        const { rows } = await sql<{ id: string; username: string }>`
          select id, username from users order by created_at, id`.execute(db);
        const byKey = new Map<string, { id: string; username: string }[]>();
        const problems: string[] = [];
        for (const row of rows) {
          const key = usernameKey(row.username);
          if (key === undefined) {
            problems.push(`${JSON.stringify(row.username)} (${row.id}) contains control characters`);
            continue;
          }
          byKey.set(key, [...(byKey.get(key) ?? []), row]);
        }
        for (const [key, same] of byKey) {
          if (same.length < 2) continue;
          const names = same.map((row) => `${JSON.stringify(row.username)} (${row.id})`).join(', ');
          problems.push(`${names} are all the account ${JSON.stringify(key)}`);
        }
        if (problems.length > 0) {
          throw new Error(
            `usernames now compare without case and width (RFC 8265), and some stored ones clash: ${problems.join('; ')}. ` +
              'Rename all but one of each (UPDATE users SET username = … WHERE id = …) and start again.',
          );
        }
        for (const [key, [row]] of byKey) {
          if (row && row.username !== key)
            await sql`update users set username = ${key} where id = ${row.id}`.execute(db);
        }
      },
    },
    '0007_audit_created_at': {
      // Housekeeping deletes audit rows by age and erases failed-login usernames by age, every
      // minute: by index, not by reading the whole table.
      async up(db: Kysely<unknown>) {
        await db.schema
          .createIndex('audit_events_created_at')
          .on('audit_events')
          .column('created_at')
          .execute();
      },
    },
    '0008_web_client_default_audience': {
      // The web client used to be created with the audience setting of the process that created
      // it, frozen. It was never set by hand (nothing could), so it now follows the setting.
      async up(db: Kysely<unknown>) {
        await sql`update clients set audiences = '[]' where client_id = 'web'`.execute(db);
      },
    },
    '0009_openid_provider': {
      // The server becomes an OpenID Provider: clients gain what OAuth 2 / OIDC registration holds
      // (redirect URIs, grant types, an auth method, keys, lifetimes, resources), users gain profile
      // claims, and the authorization code flow gets its codes, its browser (SSO) sessions and the
      // consents users gave. Signing keys are now kept per algorithm (ES256 access tokens beside RS256
      // ID tokens), each with its own next and current key.
      async up(db: Kysely<unknown>) {
        for (const [column, type] of [
          ['kind', 'text'],
          ['token_endpoint_auth_method', 'text'],
          ['jwks', 'text'],
          ['jwks_uri', 'text'],
          ['access_token_ttl', 'integer'],
          ['refresh_token_ttl', 'integer'],
        ] as const)
          await db.schema.alterTable('clients').addColumn(column, type).execute();
        for (const column of [
          'redirect_uris',
          'post_logout_redirect_uris',
          'grant_types',
          'response_types',
          'resources',
        ])
          await db.schema
            .alterTable('clients')
            .addColumn(column, 'text', (c) => c.notNull().defaultTo('[]'))
            .execute();
        await db.schema
          .alterTable('clients')
          .addColumn('skip_consent', 'integer', (c) => c.notNull().defaultTo(0))
          .execute();
        // Clients registered before keep working as they did: refresh only, their secret or none.
        await sql`update clients set grant_types = '["refresh_token"]',
            token_endpoint_auth_method = case when type = 'confidential' then 'client_secret_basic' else 'none' end,
            skip_consent = case when type = 'first-party' then 1 else 0 end`.execute(db);

        await db.schema.alterTable('users').addColumn('name', 'text').execute();
        await db.schema.alterTable('users').addColumn('email', 'text').execute();
        await db.schema
          .alterTable('users')
          .addColumn('email_verified', 'integer', (c) => c.notNull().defaultTo(0))
          .execute();

        // A session started by the authorization code flow remembers its browser session, when and
        // how the user authenticated (ID tokens repeat auth_time and amr on refresh) and its resource.
        await db.schema.alterTable('refresh_token_families').addColumn('sso_session_id', 'text').execute();
        await db.schema.alterTable('refresh_token_families').addColumn('auth_time', 'bigint').execute();
        await db.schema.alterTable('refresh_token_families').addColumn('amr', 'text').execute();
        await db.schema.alterTable('refresh_token_families').addColumn('acr', 'text').execute();
        await db.schema.alterTable('refresh_token_families').addColumn('resource', 'text').execute();

        await db.schema
          .createTable('resources')
          .addColumn('resource', 'text', (c) => c.primaryKey())
          .addColumn('name', 'text', (c) => c.notNull())
          .addColumn('audience', 'text', (c) => c.notNull())
          .addColumn('access_token_ttl', 'integer')
          .addColumn('access_token_format', 'text', (c) => c.notNull().defaultTo('jwt'))
          .addColumn('encryption_jwk', 'text')
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .execute();

        await db.schema
          .createTable('sso_sessions')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('user_id', 'text', (c) => c.notNull().references('users.id'))
          .addColumn('token_version', 'integer', (c) => c.notNull())
          .addColumn('auth_time', 'bigint', (c) => c.notNull())
          .addColumn('amr', 'text', (c) => c.notNull())
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addColumn('expires_at', 'bigint', (c) => c.notNull())
          .addColumn('revoked_at', 'bigint')
          .execute();
        await db.schema.createIndex('sso_sessions_user').on('sso_sessions').column('user_id').execute();

        await db.schema
          .createTable('consents')
          .addColumn('user_id', 'text', (c) => c.notNull().references('users.id'))
          .addColumn('client_id', 'text', (c) => c.notNull())
          .addColumn('scopes', 'text', (c) => c.notNull())
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addPrimaryKeyConstraint('consents_pk', ['user_id', 'client_id'])
          .execute();

        await db.schema
          .createTable('authorization_codes')
          .addColumn('code_hash', 'text', (c) => c.primaryKey())
          .addColumn('client_id', 'text', (c) => c.notNull())
          .addColumn('user_id', 'text', (c) => c.notNull())
          .addColumn('redirect_uri', 'text', (c) => c.notNull())
          .addColumn('scope', 'text', (c) => c.notNull())
          .addColumn('nonce', 'text')
          .addColumn('code_challenge', 'text')
          .addColumn('resource', 'text')
          .addColumn('sso_session_id', 'text', (c) => c.notNull())
          .addColumn('auth_time', 'bigint', (c) => c.notNull())
          .addColumn('amr', 'text', (c) => c.notNull())
          .addColumn('acr', 'text', (c) => c.notNull())
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addColumn('expires_at', 'bigint', (c) => c.notNull())
          .addColumn('used_at', 'bigint')
          .addColumn('family_id', 'text')
          .execute();
        await db.schema
          .createIndex('authorization_codes_expires')
          .on('authorization_codes')
          .column('expires_at')
          .execute();

        for (const state of ['next', 'current']) {
          await db.schema.dropIndex(`signing_keys_one_${state}`).execute();
          await db.schema
            .createIndex(`signing_keys_one_${state}_per_alg`)
            .on('signing_keys')
            .columns(['alg', 'state'])
            .unique()
            .where(sql.ref('state'), '=', sql.lit(state))
            .execute();
        }
      },
    },
    '0010_web_origins': {
      // Browser apps on other origins call the server with CORS: each client lists the exact origins
      // its pages run on (none for every client registered before).
      async up(db: Kysely<unknown>) {
        await db.schema
          .alterTable('clients')
          .addColumn('web_origins', 'text', (c) => c.notNull().defaultTo('[]'))
          .execute();
      },
    },
    '0011_dpop': {
      // RFC 9449: a client may be required to send DPoP proofs (§5.2 dpop_bound_access_tokens); a
      // session of a public or first-party client remembers the key its refresh tokens are bound to
      // (§5), and a code remembers the key `dpop_jkt` named at the authorization endpoint (§10).
      async up(db: Kysely<unknown>) {
        await db.schema
          .alterTable('clients')
          .addColumn('dpop_bound_access_tokens', 'integer', (c) => c.notNull().defaultTo(0))
          .execute();
        await db.schema.alterTable('refresh_token_families').addColumn('dpop_jkt', 'text').execute();
        await db.schema.alterTable('authorization_codes').addColumn('dpop_jkt', 'text').execute();
      },
    },
    '0013_backchannel_logout': {
      // OpenID Connect Back-Channel Logout 1.0 §2.2: where a client wants logout tokens, and whether it
      // needs `sid` in them. The outbox holds what must reach another server (a logout token, later
      // security event tokens) until it got there: written in the transaction that ended the session,
      // so nothing is promised that was not done, and nothing done goes untold (outbox/outbox.ts).
      async up(db: Kysely<unknown>) {
        await db.schema.alterTable('clients').addColumn('backchannel_logout_uri', 'text').execute();
        await db.schema
          .alterTable('clients')
          .addColumn('backchannel_logout_session_required', 'integer', (c) => c.notNull().defaultTo(0))
          .execute();
        await id(db.schema.createTable('outbox'))
          .addColumn('kind', 'text', (c) => c.notNull())
          .addColumn('payload', 'text', (c) => c.notNull())
          .addColumn('target', 'text', (c) => c.notNull())
          .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('next_attempt_at', 'bigint', (c) => c.notNull())
          .addColumn('lease_owner', 'text')
          .addColumn('lease_until', 'bigint')
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addColumn('delivered_at', 'bigint')
          .addColumn('gave_up_at', 'bigint')
          .addColumn('last_error', 'text')
          .execute();
        // The due-row query reads only unfinished rows, by next attempt: the index holds only those.
        await db.schema
          .createIndex('outbox_due')
          .on('outbox')
          .column('next_attempt_at')
          .where(sql<boolean>`delivered_at is null and gave_up_at is null`)
          .execute();
        // A receiver that fails holds back its other waiting rows (outbox.deferTarget): by target.
        await db.schema
          .createIndex('outbox_pending_target')
          .on('outbox')
          .column('target')
          .where(sql<boolean>`delivered_at is null and gave_up_at is null`)
          .execute();
        // Pruning finished rows reads them by age.
        await db.schema.createIndex('outbox_created').on('outbox').column('created_at').execute();
      },
    },
    '0014_token_exchange': {
      // RFC 8693: a client's exchange policy (the audiences or resources it may ask exchanged tokens
      // for, and whether it may delegate or impersonate), and the impersonations begun, each open
      // until its token expires or is revoked (closed by housekeeping: http/grants/impersonation.ts).
      async up(db: Kysely<unknown>) {
        await db.schema
          .alterTable('clients')
          .addColumn('token_exchange_targets', 'text', (c) => c.notNull().defaultTo('[]'))
          .execute();
        await db.schema
          .alterTable('clients')
          .addColumn('token_exchange_delegation', 'integer', (c) => c.notNull().defaultTo(0))
          .execute();
        await db.schema
          .alterTable('clients')
          .addColumn('token_exchange_impersonation', 'integer', (c) => c.notNull().defaultTo(0))
          .execute();
        await db.schema
          .createTable('impersonations')
          .addColumn('jti', 'text', (c) => c.primaryKey())
          .addColumn('admin_id', 'text', (c) => c.notNull())
          .addColumn('user_id', 'text', (c) => c.notNull())
          .addColumn('client_id', 'text', (c) => c.notNull())
          .addColumn('sid', 'text', (c) => c.notNull())
          .addColumn('ver', 'integer', (c) => c.notNull())
          .addColumn('started_at', 'bigint', (c) => c.notNull())
          .addColumn('expires_at', 'bigint', (c) => c.notNull())
          .addColumn('ended_at', 'bigint')
          .addColumn('end_reason', 'text')
          .execute();
        await db.schema.createIndex('impersonations_open').on('impersonations').column('ended_at').execute();
      },
    },
  };
}

export async function migrate(db: Kysely<unknown>, dialect: Dialect): Promise<void> {
  const migrator = new Migrator({ db, provider: { getMigrations: async () => migrations(dialect) } });
  const { error, results } = await migrator.migrateToLatest();
  const failed = results?.find((r) => r.status === 'Error');
  if (error || failed) {
    // The migration's own message says what to do (a clash of usernames, say): pass it on.
    const reason = error instanceof Error ? `: ${error.message}` : '';
    throw new Error(`database migration ${failed?.migrationName ?? ''} failed${reason}`, { cause: error });
  }
}
