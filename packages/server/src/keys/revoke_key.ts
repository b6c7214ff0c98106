import type { Services } from '../services.js';
import type { KeyState } from './signing_keys.js';

/**
 * Emergency removal of a compromised signing key (`tessera keys revoke KID`). The key leaves the JWKS
 * at once and, if it was signing, the next key of its algorithm takes over (the other algorithm's
 * keys are untouched); in the same transaction a `kid` revocation is recorded, so every guard
 * following revocations refuses the key's tokens within milliseconds instead of waiting for its
 * cached JWKS to expire. Published once committed.
 */
export async function revokeSigningKey(
  services: Pick<Services, 'db' | 'keys' | 'revocations' | 'audit'>,
  kid: string,
): Promise<{ state: KeyState; alg: string }> {
  const { db, keys, revocations } = services;
  const { state, alg, entry } = await db.transaction().execute(async (trx) => {
    const { state, alg } = await keys.revoke(kid, trx);
    return { state, alg, entry: await revocations.record(trx, 'kid', kid) };
  });
  await keys.refresh();
  await revocations.publish(entry);
  await services.audit.record({ type: 'key_revoked', detail: { kid, alg, state } });
  return { state, alg };
}
