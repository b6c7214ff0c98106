import { randomBytes } from 'node:crypto';
import { hash, verify } from '@node-rs/argon2';

/** OWASP Password Storage Cheat Sheet: argon2id, 19 MiB of memory, 2 iterations, 1 lane. */
export const ARGON2_PARAMETERS = { memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const;
const ARGON2ID = 2; // @node-rs/argon2's Algorithm.Argon2id (a const enum, which isolatedModules cannot import)

export function hashPassword(password: string): Promise<string> {
  return hash(password, { algorithm: ARGON2ID, ...ARGON2_PARAMETERS });
}

export interface PasswordCheck {
  ok: boolean;
  /** The hash was made with other parameters: store a fresh one now that the password is known. */
  needsRehash: boolean;
}

export async function verifyPassword(passwordHash: string, password: string): Promise<PasswordCheck> {
  let ok = false;
  try {
    ok = await verify(passwordHash, password);
  } catch {
    ok = false;
  }
  return { ok, needsRehash: ok && !hasCurrentParameters(passwordHash) };
}

function hasCurrentParameters(passwordHash: string): boolean {
  const { memoryCost: m, timeCost: t, parallelism: p } = ARGON2_PARAMETERS;
  return passwordHash.startsWith(`$argon2id$v=19$m=${m},t=${t},p=${p}$`);
}

/**
 * The check for a username with no account: it spends the same work as a real check (one argon2id
 * verification with the current parameters) and always fails, so neither the answer nor its timing
 * says whether the account exists. The hash it verifies against is made here, once, before the
 * server answers anyone: made on the first unknown user's login instead, that one login would take a
 * whole hash longer than any other, and say so.
 */
export async function createUnknownUserCheck(): Promise<(password: string) => Promise<PasswordCheck>> {
  const dummyHash = await hashPassword(randomBytes(32).toString('base64url'));
  return async (password) => {
    await verifyPassword(dummyHash, password);
    return { ok: false, needsRehash: false };
  };
}
