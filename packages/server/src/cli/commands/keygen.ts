import { randomBytes } from 'node:crypto';
import { exportJwk, exportPem, generateKeyPair } from '@tessera/jose';
import type { Command } from '../command.js';
import { UsageError } from '../errors.js';

/** `tessera keygen`: a signing key pair, or a master key. Reads no settings, opens no store. */
export const keygenCommand: Command = {
  name: 'keygen',
  summary: 'generate a key (--alg ES256) or a master key (--master)',
  help: () => `tessera keygen --alg ES256 [--json]   (prints a private JWK and its PEM)
tessera keygen --master                (prints a TESSERA_MASTER_KEY value)`,
  options: { alg: { type: 'string' }, master: { type: 'boolean' } },
  settings: false,
  async run({ sub, values, out }) {
    if (sub !== undefined) throw new UsageError('usage: tessera keygen --alg <alg> | --master');
    if (values.master === true) {
      const key = randomBytes(32).toString('base64url');
      out.print({ TESSERA_MASTER_KEY: key }, `TESSERA_MASTER_KEY=${key}`);
      return 0;
    }
    if (typeof values.alg !== 'string') throw new UsageError('--alg is required, e.g. --alg ES256');
    const { privateKey } = await generateKeyPair(values.alg);
    const jwk = exportJwk(privateKey);
    const pem = exportPem(privateKey);
    out.print({ jwk, pem }, `${JSON.stringify(jwk, null, 2)}\n${pem.replace(/\n$/, '')}`);
    return 0;
  },
};
