import type { Services } from '../services.js';
import type { KeyState } from './signing_keys.js';

/**
 * Emergency removal of a compromised signing key (`tessera keys revoke KID`). The key leaves the JWKS
 * at once and, if it was signing, the next key takes over; in the same transaction a `kid`
 * revocation is recorded, so every guard following revocations refuses the key's tokens within
 * milliseconds instead of waiting for its cached JWKS to expire. Published once committed.
 */
export async function revokeSigningKey(
  services: Pick<Services, 'db' | 'keys' | 'revocations' | 'audit'>,
  kid: string,
): Promise<{ state: KeyState }> {
  const { db, keys, revocations } = services;
  const { state, entry } = await db.transaction().execute(async (trx) => {
    const { state } = await keys.revoke(kid, trx);
    return { state, entry: await revocations.record(trx, 'kid', kid) };
  });
  await keys.refresh();
  await revocations.publish(entry);
  await services.audit.record({ type: 'key_revoked', detail: { kid, state } });
  return { state };
}
