import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../config.js';

export const MASTER_KEY_FILE = 'master.key';

/**
 * Seals and opens secrets at rest (private signing keys, grace-window refresh tokens) with AES-256-GCM
 * under the master key. The purpose is bound as AAD, so a value sealed for one use cannot be opened
 * as another.
 *
 * A sealed value is a versioned envelope, `v1.<key id>.<iv | ciphertext | tag>`, so the master key
 * can rotate: values sealed under a previous key open as long as that key is in the keyring
 * (`masterKeyring`), and `tessera keys reseal` seals them all again under the current key, after
 * which the old one can go. Values from before envelopes existed (no prefix) open with any key.
 */
export interface Sealer {
  seal(plaintext: string, purpose: string): string;
  open(sealed: string, purpose: string): string;
  /** Whether a value is sealed under the current master key (else `reseal` has work to do). */
  isCurrent(sealed: string): boolean;
  /** The current master key's id (a fingerprint, safe to print). */
  readonly keyId: string;
}

/** A master key's id: a short fingerprint that says which key sealed a value, and reveals nothing of it. */
export function masterKeyId(key: Buffer): string {
  return createHash('sha256').update('tessera master key id\0').update(key).digest('base64url').slice(0, 11);
}

/** Opening failed: the value was sealed under a key that is not in the keyring, or it was altered. */
export class SealedValueError extends Error {
  constructor(readonly keyId: string | undefined) {
    super(
      keyId === undefined
        ? 'a sealed value could not be opened with any master key'
        : `a sealed value was sealed under master key ${keyId}, which is not configured (add it to the keyring)`,
    );
    this.name = 'SealedValueError';
  }
}

export interface MasterKeySource {
  key: Buffer;
  /** Previous master keys (open only). */
  keyring: Buffer[];
  /** `env` in production; `file` means the development key file in the data directory. */
  origin: 'env' | 'file' | 'generated';
}

/**
 * The master key from `TESSERA_MASTER_KEY`, else from `<dataDir>/master.key`, which is created (mode
 * 0600) on first start. The file exists for development only: the caller warns loudly when it is used.
 */
export function loadMasterKey(
  config: Pick<Config, 'masterKey' | 'masterKeyring' | 'dataDir'>,
): MasterKeySource {
  const keyring = config.masterKeyring.map((key) => Buffer.from(key, 'base64url'));
  if (config.masterKey) return { key: Buffer.from(config.masterKey, 'base64url'), keyring, origin: 'env' };
  const file = join(config.dataDir, MASTER_KEY_FILE);
  if (existsSync(file)) {
    const key = Buffer.from(readFileSync(file, 'utf8').trim(), 'base64url');
    if (key.length !== 32) throw new Error(`${file} does not hold a 32-byte base64url key`);
    return { key, keyring, origin: 'file' };
  }
  const key = randomBytes(32);
  // On PostgreSQL nothing else creates the data directory.
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  writeFileSync(file, `${key.toString('base64url')}\n`, { mode: 0o600, flag: 'wx' });
  return { key, keyring, origin: 'generated' };
}

const ENVELOPE = /^v1\.([\w-]{11})\.([\w-]+)$/;

function sealWith(key: Buffer, keyId: string, plaintext: string, purpose: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  // The key id is bound too: an envelope cannot be relabelled to send it to another key.
  cipher.setAAD(Buffer.from(`v1.${keyId}.${purpose}`));
  const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return `v1.${keyId}.${Buffer.concat([iv, ciphertext, cipher.getAuthTag()]).toString('base64url')}`;
}

function openWith(key: Buffer, aad: string, body: string): string {
  const bytes = Buffer.from(body, 'base64url');
  if (bytes.length < 28) throw new Error('sealed value too short');
  const decipher = createDecipheriv('aes-256-gcm', key, bytes.subarray(0, 12), { authTagLength: 16 });
  decipher.setAAD(Buffer.from(aad));
  decipher.setAuthTag(bytes.subarray(bytes.length - 16));
  return Buffer.concat([decipher.update(bytes.subarray(12, bytes.length - 16)), decipher.final()]).toString(
    'utf8',
  );
}

/**
 * A sealer that seals under `masterKey` and opens under it or any key of `keyring` (previous master
 * keys, kept only until `tessera keys reseal` has moved every value to the current one).
 */
export function createSealer(masterKey: Buffer, keyring: readonly Buffer[] = []): Sealer {
  for (const key of [masterKey, ...keyring])
    if (key.length !== 32) throw new Error('a master key must be 32 bytes');
  const keyId = masterKeyId(masterKey);
  const byId = new Map<string, Buffer>([
    ...keyring.map((key) => [masterKeyId(key), key] as const),
    [keyId, masterKey],
  ]);
  return {
    keyId,
    seal: (plaintext, purpose) => sealWith(masterKey, keyId, plaintext, purpose),
    open(sealed, purpose) {
      const envelope = ENVELOPE.exec(sealed);
      if (envelope) {
        const [, id, body] = envelope as unknown as [string, string, string];
        const key = byId.get(id);
        if (!key) throw new SealedValueError(id);
        try {
          return openWith(key, `v1.${id}.${purpose}`, body);
        } catch {
          throw new SealedValueError(undefined);
        }
      }
      // Sealed before envelopes: no key id, the purpose alone as AAD; try every key.
      for (const key of byId.values()) {
        try {
          return openWith(key, purpose, sealed);
        } catch {}
      }
      throw new SealedValueError(undefined);
    },
    isCurrent: (sealed) => sealed.startsWith(`v1.${keyId}.`),
  };
}
