import { randomUUID } from 'node:crypto';
import { hashPassword } from '../passwords.js';
import { usernameKey, usernameProblem } from '../usernames.js';
import { type Db, isUniqueViolation } from './database.js';
import { parseJsonText, toJsonText, type UsersTable } from './schema.js';

export interface User {
  id: string;
  /** As stored: the RFC 8265 form (usernames.ts), whatever case or width it was created with. */
  username: string;
  passwordHash: string;
  tokenVersion: number;
  disabled: boolean;
  roles: string[];
  permissions: string[];
  /** OIDC Core §5.1 profile claims (`profile` and `email` scopes). */
  profile: UserProfile;
  createdAt: number;
}

/** The standard claims a user may have (OIDC Core §5.1); absent ones are left out of tokens. */
export interface UserProfile {
  name?: string;
  email?: string;
  emailVerified: boolean;
}

/** Why a profile value is not acceptable, or undefined. */
export function profileProblem(profile: Partial<UserProfile>): string | undefined {
  if (profile.name !== undefined && !/^[^\p{Cc}]{1,256}$/u.test(profile.name))
    return 'a name is 1–256 characters without control characters';
  // A pragmatic shape check (RFC 5322 addr-spec is far looser): one @, no spaces, a dot in the domain.
  if (
    profile.email !== undefined &&
    !/^[^\s@\p{Cc}]{1,64}@[^\s@\p{Cc}]+\.[^\s@\p{Cc}]+$/u.test(profile.email)
  )
    return `not an email address: ${JSON.stringify(profile.email)}`;
  if (profile.email !== undefined && profile.email.length > 254)
    return 'an email address is at most 254 characters';
  return undefined;
}

export class UserExists extends Error {
  constructor(username: string) {
    super(`user ${JSON.stringify(username)} already exists`);
    this.name = 'UserExists';
  }
}

export const MIN_PASSWORD_LENGTH = 12;
export const MAX_PASSWORD_LENGTH = 1024;

/** Why a new account may not have this name (see usernames.ts), or undefined. */
export const validateUsername = usernameProblem;

export function validatePassword(password: string): string | undefined {
  if (password.length < MIN_PASSWORD_LENGTH)
    return `password must be at least ${MIN_PASSWORD_LENGTH} characters`;
  if (password.length > MAX_PASSWORD_LENGTH)
    return `password must be at most ${MAX_PASSWORD_LENGTH} characters`;
  return undefined;
}

export interface Users {
  /** Stores the name in its RFC 8265 form: `Alice` exists once `alice` does. */
  create(
    username: string,
    password: string,
    options?: { roles?: string[]; permissions?: string[] } & Partial<UserProfile>,
  ): Promise<User>;
  /** Finds the account whatever the case or width the name is given in. */
  byUsername(username: string): Promise<User | undefined>;
  byId(id: string): Promise<User | undefined>;
  list(): Promise<User[]>;
  /**
   * Sets a new password, given as a hash made by `hashPassword` (after `validatePassword`), and bumps
   * the token version (every existing token stops working); with
   * `executor`, inside the caller's transaction (see endEverySession). Hash first: argon2 takes a
   * while, and a transaction should not wait on it.
   */
  setPasswordHash(id: string, passwordHash: string, executor?: Db): Promise<number>;
  /**
   * Replaces the stored hash `previousHash` (same password, current argon2 parameters) without
   * touching tokens; false when the stored hash is no longer `previousHash`. The new hash takes a
   * while to make, and a password set meanwhile must not be overwritten with the old password.
   */
  rehash(id: string, previousHash: string, passwordHash: string): Promise<boolean>;
  /** Disables the account and bumps the token version. */
  disable(id: string, executor?: Db): Promise<number>;
  /** "Log out everywhere": bumps and returns the token version. */
  bumpTokenVersion(id: string, executor?: Db): Promise<number>;
  /**
   * Lets a disabled account log in again. The token version stays: tokens from before the account
   * was disabled stay invalid.
   */
  enable(id: string): Promise<void>;
  /**
   * Changes profile claims (`null` clears one); a new email is unverified unless `emailVerified` says
   * otherwise, and only an email there is may be verified. TypeError for a bad value.
   */
  setProfile(
    id: string,
    changes: { name?: string | null; email?: string | null; emailVerified?: boolean },
  ): Promise<void>;
  /** Replaces the roles (new tokens carry them; with `executor`, inside the caller's transaction). */
  setRoles(id: string, roles: string[], executor?: Db): Promise<void>;
  /** Replaces the permissions (new tokens carry them; with `executor`, inside the caller's transaction). */
  setPermissions(id: string, permissions: string[], executor?: Db): Promise<void>;
  /**
   * Deletes the account with its sessions' rows. End its sessions first (endEverySession): this
   * records no revocation. False when there was no such user.
   */
  delete(id: string): Promise<boolean>;
}

export function createUsers(db: Db, clock: () => number = Date.now): Users {
  const toUser = (row: Omit<UsersTable, 'updated_at'>): User => ({
    id: row.id,
    username: row.username,
    passwordHash: row.password_hash,
    tokenVersion: Number(row.token_version),
    disabled: Number(row.disabled) !== 0,
    roles: parseJsonText(row.roles),
    permissions: parseJsonText(row.permissions),
    profile: {
      ...(row.name !== null ? { name: row.name } : {}),
      ...(row.email !== null ? { email: row.email } : {}),
      emailVerified: Number(row.email_verified) === 1,
    },
    createdAt: row.created_at,
  });

  /** Applies `changes` and raises the token version (inside the caller's transaction, if given). */
  async function bump(
    id: string,
    changes: { password_hash?: string; disabled?: number },
    executor?: Db,
  ): Promise<number> {
    // One statement: two bumps at once (two instances, say) each get their own version.
    const row = await (executor ?? db)
      .updateTable('users')
      .set((eb) => ({ ...changes, token_version: eb('token_version', '+', 1), updated_at: clock() }))
      .where('id', '=', id)
      .returning('token_version')
      .executeTakeFirstOrThrow();
    return Number(row.token_version);
  }

  return {
    async create(username, password, options = {}) {
      const problem = usernameProblem(username) ?? validatePassword(password) ?? profileProblem(options);
      if (problem) throw new TypeError(problem);
      if (options.emailVerified && options.email === undefined)
        throw new TypeError('an email can be verified only once the user has one');
      const key = usernameKey(username)!;
      if (await db.selectFrom('users').select('id').where('username', '=', key).executeTakeFirst()) {
        throw new UserExists(key);
      }
      const now = clock();
      const row = {
        id: `usr_${randomUUID()}`,
        username: key,
        password_hash: await hashPassword(password),
        token_version: 0,
        disabled: 0,
        roles: toJsonText(options.roles ?? []),
        permissions: toJsonText(options.permissions ?? []),
        name: options.name ?? null,
        email: options.email ?? null,
        email_verified: options.emailVerified ? 1 : 0,
        created_at: now,
        updated_at: now,
      };
      try {
        await db.insertInto('users').values(row).execute();
      } catch (err) {
        // Created meanwhile by another process (two instances starting at once, say).
        if (isUniqueViolation(err)) throw new UserExists(key);
        throw err;
      }
      return toUser(row);
    },
    async byUsername(username) {
      const key = usernameKey(username);
      if (key === undefined) return undefined;
      const row = await db.selectFrom('users').selectAll().where('username', '=', key).executeTakeFirst();
      return row ? toUser(row) : undefined;
    },
    async byId(id) {
      const row = await db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
      return row ? toUser(row) : undefined;
    },
    async list() {
      return (await db.selectFrom('users').selectAll().orderBy('created_at').execute()).map(toUser);
    },
    async setPasswordHash(id, passwordHash, executor) {
      return bump(id, { password_hash: passwordHash }, executor);
    },
    async rehash(id, previousHash, passwordHash) {
      // Compare-and-set on the hash the password was checked against.
      const result = await db
        .updateTable('users')
        .set({ password_hash: passwordHash, updated_at: clock() })
        .where('id', '=', id)
        .where('password_hash', '=', previousHash)
        .executeTakeFirst();
      return result.numUpdatedRows > 0n;
    },
    disable: (id, executor) => bump(id, { disabled: 1 }, executor),
    bumpTokenVersion: (id, executor) => bump(id, {}, executor),
    async enable(id) {
      await db.updateTable('users').set({ disabled: 0, updated_at: clock() }).where('id', '=', id).execute();
    },
    async setProfile(id, changes) {
      const problem = profileProblem({
        ...(changes.name != null ? { name: changes.name } : {}),
        ...(changes.email != null ? { email: changes.email } : {}),
      });
      if (problem) throw new TypeError(problem);
      const current = await db.selectFrom('users').select('email').where('id', '=', id).executeTakeFirst();
      if (!current) return;
      const email = changes.email !== undefined ? changes.email : current.email;
      // OIDC Core §5.1: email_verified speaks of the email claim; without an address it is not true.
      if (changes.emailVerified === true && email === null)
        throw new TypeError('an email can be verified only once the user has one');
      // Another address is unverified until said otherwise; the same one given again keeps its state.
      const emailChanged = changes.email !== undefined && changes.email !== current.email;
      const set = {
        ...(changes.name !== undefined ? { name: changes.name } : {}),
        ...(changes.email !== undefined ? { email: changes.email } : {}),
        ...(emailChanged || email === null ? { email_verified: 0 } : {}),
        ...(changes.emailVerified !== undefined ? { email_verified: changes.emailVerified ? 1 : 0 } : {}),
        updated_at: clock(),
      };
      await db.updateTable('users').set(set).where('id', '=', id).execute();
    },
    async setRoles(id, roles, executor) {
      await (executor ?? db)
        .updateTable('users')
        .set({ roles: toJsonText(roles), updated_at: clock() })
        .where('id', '=', id)
        .execute();
    },
    async setPermissions(id, permissions, executor) {
      await (executor ?? db)
        .updateTable('users')
        .set({ permissions: toJsonText(permissions), updated_at: clock() })
        .where('id', '=', id)
        .execute();
    },
    async delete(id) {
      // Children first: refresh tokens reference their family, families reference the user.
      return db.transaction().execute(async (trx) => {
        const families = trx.selectFrom('refresh_token_families').select('id').where('user_id', '=', id);
        await trx.deleteFrom('refresh_tokens').where('family_id', 'in', families).execute();
        await trx.deleteFrom('refresh_token_families').where('user_id', '=', id).execute();
        await trx.deleteFrom('authorization_codes').where('user_id', '=', id).execute();
        await trx.deleteFrom('consents').where('user_id', '=', id).execute();
        await trx.deleteFrom('sso_sessions').where('user_id', '=', id).execute();
        const result = await trx.deleteFrom('users').where('id', '=', id).executeTakeFirst();
        return result.numDeletedRows > 0n;
      });
    },
  };
}
