import { createCipheriv, randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { createSealer, masterKeyId, SealedValueError } from '../src/keys/master_key.js';
import { resealSecrets } from '../src/keys/reseal.js';
import { ADMIN_PASSWORD, post, removeDataDir, startServer, type TestServer } from './helpers.js';

/** Secrets at rest under a master key that can rotate: versioned envelopes, a keyring, reseal. */

const OLD = randomBytes(32);
const NEW = randomBytes(32);

describe('sealed envelopes', () => {
  it('name the master key that sealed them, and open only for the purpose they were sealed for', () => {
    const sealer = createSealer(NEW);
    const sealed = sealer.seal('secret', 'signing-key');
    expect(sealed).toMatch(new RegExp(`^v1\\.${masterKeyId(NEW)}\\.[\\w-]+$`));
    expect(sealed).not.toContain('secret');
    expect(sealer.open(sealed, 'signing-key')).toBe('secret');
    expect(sealer.isCurrent(sealed)).toBe(true);
    expect(() => sealer.open(sealed, 'refresh-successor')).toThrow(SealedValueError);
  });

  it('open under a previous key while it is in the keyring, and not once it is gone', () => {
    const sealed = createSealer(OLD).seal('secret', 'signing-key');
    const rotated = createSealer(NEW, [OLD]);
    expect(rotated.open(sealed, 'signing-key')).toBe('secret');
    expect(rotated.isCurrent(sealed)).toBe(false);
    let error: SealedValueError | undefined;
    try {
      createSealer(NEW).open(sealed, 'signing-key');
    } catch (err) {
      error = err as SealedValueError;
    }
    expect(error).toBeInstanceOf(SealedValueError);
    expect(error?.keyId).toBe(masterKeyId(OLD));
    expect(error?.message).toContain(masterKeyId(OLD));
    expect(error?.message).not.toContain(OLD.toString('base64url'));
  });

  it('refuse an envelope relabelled to another key id, or altered', () => {
    const sealer = createSealer(NEW, [OLD]);
    const sealed = sealer.seal('secret', 'signing-key');
    const relabelled = sealed.replace(masterKeyId(NEW), masterKeyId(OLD));
    expect(() => sealer.open(relabelled, 'signing-key')).toThrow(SealedValueError);
    const body = sealed.split('.')[2]!;
    const flipped = `${sealed.slice(0, -body.length)}${body.slice(0, 20)}${body[20] === 'A' ? 'B' : 'A'}${body.slice(21)}`;
    expect(() => sealer.open(flipped, 'signing-key')).toThrow(SealedValueError);
  });

  it('still open values sealed before envelopes existed (no version prefix)', () => {
    // The format of earlier releases: base64url(iv | ciphertext | tag), the purpose as AAD.
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', OLD, iv);
    cipher.setAAD(Buffer.from('signing-key'));
    const legacy = Buffer.concat([
      iv,
      cipher.update('secret', 'utf8'),
      cipher.final(),
      cipher.getAuthTag(),
    ]).toString('base64url');
    expect(createSealer(OLD).open(legacy, 'signing-key')).toBe('secret');
    expect(createSealer(NEW, [OLD]).open(legacy, 'signing-key')).toBe('secret');
    expect(createSealer(OLD).isCurrent(legacy)).toBe(false);
  });
});

describe('master key rotation (keyring, then tessera keys reseal)', () => {
  let server: TestServer | undefined;
  afterEach(async () => {
    await server?.close();
    if (server) await removeDataDir(server.dataDir);
    server = undefined;
  });

  it('a server restarted with a new master key and the old one in the keyring runs; after reseal the old key can go', async () => {
    server = await startServer({ masterKey: OLD.toString('base64url'), refreshGrace: 30 });
    await server.services.clients.add({
      clientId: 'app',
      type: 'public',
      audiences: [server.services.config.audience],
      scopes: ['openid'],
    });
    const dir = server.dataDir;
    const login = await post(`${server.url}/login`, {
      username: 'alice',
      password: ADMIN_PASSWORD,
      client_id: 'app',
    });
    const { refresh_token: first } = (await login.json()) as { refresh_token: string };
    // A rotation inside the grace window leaves a sealed successor behind.
    const refresh = (token: string) =>
      post(`${server!.url}/token`, { grant_type: 'refresh_token', refresh_token: token, client_id: 'app' });
    const rotated = (await (await refresh(first)).json()) as { refresh_token: string };
    await server.close();

    // Without the old key nothing sealed under it opens: the server refuses to start, naming the key.
    await expect(startServer({ masterKey: NEW.toString('base64url') }, dir)).rejects.toThrow(/master key/);

    server = await startServer(
      { masterKey: NEW.toString('base64url'), masterKeyring: [OLD.toString('base64url')], refreshGrace: 30 },
      dir,
    );
    const report = await resealSecrets(server.services);
    // A current and a next key for access tokens (ES256) and for ID tokens (RS256).
    expect(report).toEqual({
      keyId: masterKeyId(NEW),
      signingKeys: 4,
      refreshSuccessors: 1,
      receiverTokens: 0,
    });
    const rows = await server.services.db.selectFrom('signing_keys').select('private_jwk_sealed').execute();
    for (const row of rows) expect(server.services.sealer.isCurrent(row.private_jwk_sealed)).toBe(true);
    // Resealing again has nothing to do.
    expect(await resealSecrets(server.services)).toEqual({
      keyId: masterKeyId(NEW),
      signingKeys: 0,
      refreshSuccessors: 0,
      receiverTokens: 0,
    });
    await server.close();

    // The old key is no longer needed: keys open, and a duplicate refresh in the grace window still
    // gets the (resealed) successor.
    server = await startServer({ masterKey: NEW.toString('base64url'), refreshGrace: 30 }, dir);
    const duplicate = await refresh(first);
    expect(duplicate.status).toBe(200);
    expect(((await duplicate.json()) as { refresh_token: string }).refresh_token).toBe(rotated.refresh_token);
  });
});
