import { readFileSync } from 'node:fs';
import { generateKeyPair } from '@tessera/jose';
import type { RevocationEntry } from '@tessera/protocol';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Guard } from '../src/index.js';
import { guardFor } from './helpers/guard.js';
import { bearer, startIssuer, type TestIssuer } from './helpers/issuer.js';

/**
 * The guard's side of the revocation wire contract (packages/protocol/test/contract): each event as
 * the server writes it, read from a real stream, revokes exactly the tokens it names.
 */

interface Contract {
  events: { entry: RevocationEntry; sse: string }[];
}
const contract = JSON.parse(
  readFileSync(new URL('../../protocol/test/contract/revocation_events.json', import.meta.url), 'utf8'),
) as Contract;

let issuer: TestIssuer;
let guard: Guard;
beforeEach(async () => {
  issuer = await startIssuer();
});
afterEach(async () => {
  await guard?.close();
  await issuer.close();
});

const accepted = (token: string) =>
  guard.authenticate(bearer(token)).then(
    () => true,
    () => false,
  );

describe('the revocation wire contract, guard side', () => {
  for (const { entry, sse } of contract.events) {
    it(`a ${entry.kind} event as the server writes it revokes the tokens it names, and no other`, async () => {
      // A kid revocation names the key that signed a token: here, the issuer's own signing key, with a
      // second published key whose tokens must still pass.
      const other = await generateKeyPair('ES256', { kid: 'still-trusted' });
      if (entry.kind === 'kid') {
        await issuer.close();
        issuer = await startIssuer({ kid: entry.value });
        issuer.extraKeys = [other.publicKey];
      }
      ({ guard } = guardFor(issuer));
      await guard.ready();
      const before = guard.health().revocations.entries;
      issuer.write(sse);
      // The event is heard once the set holds it.
      await expect.poll(() => guard.health().revocations.entries).toBe(before + 1);
      const matching =
        entry.kind === 'kid'
          ? issuer.token()
          : entry.kind === 'sub'
            ? issuer.token({ sub: entry.value, ver: (entry.ver ?? 0) - 1 })
            : issuer.token({ [entry.kind]: entry.value });
      expect(await accepted(matching)).toBe(false);
      const unaffected =
        entry.kind === 'kid'
          ? issuer.token({}, { key: other.privateKey, kid: 'still-trusted' })
          : entry.kind === 'sub'
            ? issuer.token({ sub: entry.value, ver: entry.ver ?? 0 })
            : issuer.token();
      expect(await accepted(unaffected)).toBe(true);
    });
  }
});
