import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../config.js';

export const MASTER_KEY_FILE = 'master.key';

/**
 * Seals and opens secrets at rest (private signing keys, grace-window refresh tokens) with AES-256-GCM
 * under the master key. The purpose is bound as AAD, so a value sealed for one use cannot be opened
 * as another.
 */
export interface Sealer {
  seal(plaintext: string, purpose: string): string;
  open(sealed: string, purpose: string): string;
}

export interface MasterKeySource {
  key: Buffer;
  /** `env` in production; `file` means the development key file in the data directory. */
  origin: 'env' | 'file' | 'generated';
}

/**
 * The master key from `TESSERA_MASTER_KEY`, else from `<dataDir>/master.key`, which is created (mode
 * 0600) on first start. The file exists for development only: the caller warns loudly when it is used.
 */
export function loadMasterKey(config: Pick<Config, 'masterKey' | 'dataDir'>): MasterKeySource {
  if (config.masterKey) return { key: Buffer.from(config.masterKey, 'base64url'), origin: 'env' };
  const file = join(config.dataDir, MASTER_KEY_FILE);
  if (existsSync(file)) {
    const key = Buffer.from(readFileSync(file, 'utf8').trim(), 'base64url');
    if (key.length !== 32) throw new Error(`${file} does not hold a 32-byte base64url key`);
    return { key, origin: 'file' };
  }
  const key = randomBytes(32);
  // On PostgreSQL nothing else creates the data directory.
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  writeFileSync(file, `${key.toString('base64url')}\n`, { mode: 0o600, flag: 'wx' });
  return { key, origin: 'generated' };
}

export function createSealer(masterKey: Buffer): Sealer {
  if (masterKey.length !== 32) throw new Error('the master key must be 32 bytes');
  return {
    seal(plaintext, purpose) {
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', masterKey, iv);
      cipher.setAAD(Buffer.from(purpose));
      const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
      return Buffer.concat([iv, ciphertext, cipher.getAuthTag()]).toString('base64url');
    },
    open(sealed, purpose) {
      const bytes = Buffer.from(sealed, 'base64url');
      const decipher = createDecipheriv('aes-256-gcm', masterKey, bytes.subarray(0, 12), {
        authTagLength: 16,
      });
      decipher.setAAD(Buffer.from(purpose));
      decipher.setAuthTag(bytes.subarray(bytes.length - 16));
      return Buffer.concat([
        decipher.update(bytes.subarray(12, bytes.length - 16)),
        decipher.final(),
      ]).toString('utf8');
    },
  };
}
