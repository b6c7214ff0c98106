import type { Services } from '../services.js';
import { RECEIVER_TOKEN_SEAL_PURPOSE } from '../store/receivers.js';
import { REFRESH_SUCCESSOR_SEAL_PURPOSE } from '../tokens/refresh_tokens.js';
import { SIGNING_KEY_SEAL_PURPOSE } from './signing_keys.js';

export interface ResealReport {
  /** The master key everything is now sealed under. */
  keyId: string;
  signingKeys: number;
  refreshSuccessors: number;
  /** Security event receivers' push bearer tokens. */
  receiverTokens: number;
}

/**
 * Master key rotation, step two (`tessera keys reseal`): seals every secret at rest again under the
 * current master key, so the previous one can leave the keyring. Each value is replaced only if it is
 * still the one read (compare-and-set), all in one transaction: a concurrent rotation or refresh is
 * never overwritten, and a failure leaves every value as it was, still openable.
 */
export async function resealSecrets(services: Pick<Services, 'db' | 'sealer'>): Promise<ResealReport> {
  const { db, sealer } = services;
  return db.transaction().execute(async (trx) => {
    let signingKeys = 0;
    for (const row of await trx.selectFrom('signing_keys').select(['kid', 'private_jwk_sealed']).execute()) {
      if (sealer.isCurrent(row.private_jwk_sealed)) continue;
      const plaintext = sealer.open(row.private_jwk_sealed, SIGNING_KEY_SEAL_PURPOSE);
      const result = await trx
        .updateTable('signing_keys')
        .set({ private_jwk_sealed: sealer.seal(plaintext, SIGNING_KEY_SEAL_PURPOSE) })
        .where('kid', '=', row.kid)
        .where('private_jwk_sealed', '=', row.private_jwk_sealed)
        .executeTakeFirst();
      signingKeys += Number(result.numUpdatedRows);
    }
    let refreshSuccessors = 0;
    const sealed = await trx
      .selectFrom('refresh_tokens')
      .select(['token_hash', 'successor_sealed'])
      .where('successor_sealed', 'is not', null)
      .execute();
    for (const row of sealed) {
      const value = row.successor_sealed as string;
      if (sealer.isCurrent(value)) continue;
      const plaintext = sealer.open(value, REFRESH_SUCCESSOR_SEAL_PURPOSE);
      const result = await trx
        .updateTable('refresh_tokens')
        .set({ successor_sealed: sealer.seal(plaintext, REFRESH_SUCCESSOR_SEAL_PURPOSE) })
        .where('token_hash', '=', row.token_hash)
        .where('successor_sealed', '=', value)
        .executeTakeFirst();
      refreshSuccessors += Number(result.numUpdatedRows);
    }
    let receiverTokens = 0;
    const receivers = await trx
      .selectFrom('security_event_receivers')
      .select(['name', 'bearer_token_sealed'])
      .where('bearer_token_sealed', 'is not', null)
      .execute();
    for (const row of receivers) {
      const value = row.bearer_token_sealed as string;
      if (sealer.isCurrent(value)) continue;
      const plaintext = sealer.open(value, RECEIVER_TOKEN_SEAL_PURPOSE);
      const result = await trx
        .updateTable('security_event_receivers')
        .set({ bearer_token_sealed: sealer.seal(plaintext, RECEIVER_TOKEN_SEAL_PURPOSE) })
        .where('name', '=', row.name)
        .where('bearer_token_sealed', '=', value)
        .executeTakeFirst();
      receiverTokens += Number(result.numUpdatedRows);
    }
    return { keyId: sealer.keyId, signingKeys, refreshSuccessors, receiverTokens };
  });
}
