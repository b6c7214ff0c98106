import { randomUUID } from 'node:crypto';
import { hashPassword } from '../passwords.js';
import { type Db, isUniqueViolation } from './database.js';

export interface User {
  id: string;
  username: string;
  passwordHash: string;
  tokenVersion: number;
  disabled: boolean;
  roles: string[];
  permissions: string[];
  createdAt: number;
}

export class UserExists extends Error {
  constructor(username: string) {
    super(`user ${JSON.stringify(username)} already exists`);
    this.name = 'UserExists';
  }
}

/** RFC 7613-ish hygiene without the dependency: trimmed, 1–64 characters, no control characters. */
const USERNAME = /^[^\p{Cc}\s][^\p{Cc}]{0,62}[^\p{Cc}\s]$|^[^\p{Cc}\s]$/u;
export const MIN_PASSWORD_LENGTH = 12;
export const MAX_PASSWORD_LENGTH = 1024;

export function validateUsername(username: string): string | undefined {
  return USERNAME.test(username)
    ? undefined
    : 'username must be 1–64 characters, without control characters or edge spaces';
}

export function validatePassword(password: string): string | undefined {
  if (password.length < MIN_PASSWORD_LENGTH)
    return `password must be at least ${MIN_PASSWORD_LENGTH} characters`;
  if (password.length > MAX_PASSWORD_LENGTH)
    return `password must be at most ${MAX_PASSWORD_LENGTH} characters`;
  return undefined;
}

export interface Users {
  create(
    username: string,
    password: string,
    options?: { roles?: string[]; permissions?: string[] },
  ): Promise<User>;
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
  /** Replaces the stored hash (same password, current argon2 parameters) without touching tokens. */
  rehash(id: string, passwordHash: string): Promise<void>;
  /** Disables the account and bumps the token version. */
  disable(id: string, executor?: Db): Promise<number>;
  /** "Log out everywhere": bumps and returns the token version. */
  bumpTokenVersion(id: string, executor?: Db): Promise<number>;
}

export function createUsers(db: Db, clock: () => number = Date.now): Users {
  const toUser = (row: {
    id: string;
    username: string;
    password_hash: string;
    token_version: number;
    disabled: number;
    roles: string;
    permissions: string;
    created_at: number;
  }): User => ({
    id: row.id,
    username: row.username,
    passwordHash: row.password_hash,
    tokenVersion: Number(row.token_version),
    disabled: Number(row.disabled) !== 0,
    roles: JSON.parse(row.roles) as string[],
    permissions: JSON.parse(row.permissions) as string[],
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
      const problem = validateUsername(username) ?? validatePassword(password);
      if (problem) throw new TypeError(problem);
      if (await db.selectFrom('users').select('id').where('username', '=', username).executeTakeFirst()) {
        throw new UserExists(username);
      }
      const now = clock();
      const row = {
        id: `usr_${randomUUID()}`,
        username,
        password_hash: await hashPassword(password),
        token_version: 0,
        disabled: 0,
        roles: JSON.stringify(options.roles ?? []),
        permissions: JSON.stringify(options.permissions ?? []),
        created_at: now,
        updated_at: now,
      };
      try {
        await db.insertInto('users').values(row).execute();
      } catch (err) {
        // Created meanwhile by another process (two instances starting at once, say).
        if (isUniqueViolation(err)) throw new UserExists(username);
        throw err;
      }
      return toUser(row);
    },
    async byUsername(username) {
      const row = await db
        .selectFrom('users')
        .selectAll()
        .where('username', '=', username)
        .executeTakeFirst();
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
    async rehash(id, passwordHash) {
      await db
        .updateTable('users')
        .set({ password_hash: passwordHash, updated_at: clock() })
        .where('id', '=', id)
        .execute();
    },
    disable: (id, executor) => bump(id, { disabled: 1 }, executor),
    bumpTokenVersion: (id, executor) => bump(id, {}, executor),
  };
}
