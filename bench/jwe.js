// JWE suite: compact encrypt and decrypt of a typical claims set against raw node:crypto and jose.
// BENCH_JWE picks a subset of the pairs below.
import {
  constants,
  createCipheriv,
  createDecipheriv,
  createHash,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  privateDecrypt,
  publicEncrypt,
  randomBytes,
} from 'node:crypto';
import * as jose from 'jose';
import {
  compactDecrypt,
  compactEncrypt,
  createDecrypter,
  importKeyObject,
  importSecret,
} from '../packages/jose/dist/index.js';
import { measure, ratioOf, table } from './harness.js';
import { printTargets } from './jwt.js';

const PAIRS = (
  process.env.BENCH_JWE ?? 'dir+A256GCM,A256KW+A256GCM,ECDH-ES+A256KW+A256GCM,RSA-OAEP-256+A256GCM'
).split(',');

const PLAINTEXT = Buffer.from(
  JSON.stringify({
    iss: 'https://auth.example.com',
    sub: 'user-4f1c2a9e',
    aud: 'https://api.example.com',
    iat: 1_764_000_000,
    exp: 1_764_000_900,
    email: 'ada@example.com',
    phone_number: '+44 20 7946 0000',
    scope: 'openid profile orders:read',
  }),
);

const b64 = (data) => Buffer.from(data).toString('base64url');
const KW_IV = Buffer.from('A6A6A6A6A6A6A6A6', 'hex');
const wrap = (kek, cek) => {
  const c = createCipheriv('id-aes256-wrap', kek, KW_IV);
  return Buffer.concat([c.update(cek), c.final()]);
};
const unwrap = (kek, wrapped) => {
  const d = createDecipheriv('id-aes256-wrap', kek, KW_IV);
  return Buffer.concat([d.update(wrapped), d.final()]);
};
const u32 = (n) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
};
// RFC 7518 §4.6.2 for a 256-bit output: one SHA-256 round.
const concatKdf256 = (z, alg) =>
  createHash('sha256')
    .update(u32(1))
    .update(z)
    .update(Buffer.concat([u32(alg.length), Buffer.from(alg), u32(0), u32(0), u32(256)]))
    .digest();

/** A hand-written compact JWE for one pair: the least a correct implementation does. */
function rawJwe(alg, keys) {
  const staticHeader = alg === 'ECDH-ES+A256KW' ? undefined : b64(JSON.stringify({ alg, enc: 'A256GCM' }));
  const manage = {
    dir: { wrap: () => ({ cek: keys.secret, ek: Buffer.alloc(0) }), unwrap: () => keys.secret },
    A256KW: {
      wrap: () => {
        const cek = randomBytes(32);
        return { cek, ek: wrap(keys.secret, cek) };
      },
      unwrap: (ek) => unwrap(keys.secret, ek),
    },
    'RSA-OAEP-256': {
      wrap: () => {
        const cek = randomBytes(32);
        return {
          cek,
          ek: publicEncrypt(
            { key: keys.publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' },
            cek,
          ),
        };
      },
      unwrap: (ek) =>
        privateDecrypt(
          { key: keys.privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' },
          ek,
        ),
    },
    'ECDH-ES+A256KW': {
      wrap: () => {
        const ephemeral = generateKeyPairSync('ec', { namedCurve: 'P-256' });
        const kek = concatKdf256(
          diffieHellman({ privateKey: ephemeral.privateKey, publicKey: keys.publicKey }),
          alg,
        );
        const cek = randomBytes(32);
        const { kty, crv, x, y } = ephemeral.publicKey.export({ format: 'jwk' });
        return {
          cek,
          ek: wrap(kek, cek),
          header: b64(JSON.stringify({ alg, enc: 'A256GCM', epk: { kty, crv, x, y } })),
        };
      },
      unwrap: (ek, header) => {
        const epk = createPublicKey({ key: header.epk, format: 'jwk' });
        return unwrap(concatKdf256(diffieHellman({ privateKey: keys.privateKey, publicKey: epk }), alg), ek);
      },
    },
  }[alg];
  return {
    encrypt() {
      const { cek, ek, header = staticHeader } = manage.wrap();
      const iv = randomBytes(12);
      const c = createCipheriv('aes-256-gcm', cek, iv);
      c.setAAD(Buffer.from(header));
      const ciphertext = Buffer.concat([c.update(PLAINTEXT), c.final()]);
      return `${header}.${b64(ek)}.${b64(iv)}.${b64(ciphertext)}.${b64(c.getAuthTag())}`;
    },
    decrypt(token) {
      const [h, ek, iv, ciphertext, tag] = token.split('.');
      const header = JSON.parse(Buffer.from(h, 'base64url').toString());
      if (header.alg !== alg || header.enc !== 'A256GCM') throw new Error('alg');
      const cek = manage.unwrap(Buffer.from(ek, 'base64url'), header);
      const d = createDecipheriv('aes-256-gcm', cek, Buffer.from(iv, 'base64url'));
      d.setAAD(Buffer.from(h));
      d.setAuthTag(Buffer.from(tag, 'base64url'));
      return Buffer.concat([d.update(Buffer.from(ciphertext, 'base64url')), d.final()]);
    },
  };
}

async function contenders(pair) {
  const alg = pair.slice(0, pair.lastIndexOf('+'));
  const enc = pair.slice(pair.lastIndexOf('+') + 1);
  const keys =
    alg === 'dir' || alg === 'A256KW'
      ? { secret: randomBytes(32) }
      : generateKeyPairSync(alg === 'RSA-OAEP-256' ? 'rsa' : 'ec', {
          modulusLength: 2048,
          namedCurve: 'P-256',
        });
  const raw = rawJwe(alg, keys);
  const tesseraEncryptKey = keys.secret
    ? importSecret(keys.secret, { alg: alg === 'dir' ? enc : alg })
    : importKeyObject(keys.publicKey, { alg });
  const tesseraDecryptKey = keys.secret ? tesseraEncryptKey : importKeyObject(keys.privateKey, { alg });
  const decryptOptions = { keyManagementAlgorithms: [alg], contentEncryptionAlgorithms: [enc] };
  const joseEncryptKey = keys.secret
    ? new Uint8Array(keys.secret)
    : await jose.importSPKI(keys.publicKey.export({ format: 'pem', type: 'spki' }), alg);
  const joseDecryptKey = keys.secret
    ? new Uint8Array(keys.secret)
    : await jose.importPKCS8(keys.privateKey.export({ format: 'pem', type: 'pkcs8' }), alg);
  const decrypter = createDecrypter({ key: tesseraDecryptKey, ...decryptOptions });
  const token = raw.encrypt();
  return {
    encrypt: {
      'node:crypto (raw)': raw.encrypt,
      'tessera compactEncrypt': () =>
        compactEncrypt(PLAINTEXT, tesseraEncryptKey, { protectedHeader: { alg, enc } }),
      'jose CompactEncrypt': () =>
        new jose.CompactEncrypt(PLAINTEXT).setProtectedHeader({ alg, enc }).encrypt(joseEncryptKey),
    },
    decrypt: {
      'node:crypto (raw)': () => raw.decrypt(token),
      'tessera createDecrypter': () => decrypter.decrypt(token),
      'tessera compactDecrypt': () => compactDecrypt(token, tesseraDecryptKey, decryptOptions),
      'jose compactDecrypt': () => jose.compactDecrypt(token, joseDecryptKey, decryptOptions),
    },
  };
}

export async function runJwe() {
  const results = {};
  for (const pair of PAIRS) {
    const c = await contenders(pair);
    const encrypt = await measure(c.encrypt, 'node:crypto (raw)');
    const decrypt = await measure(c.decrypt, 'node:crypto (raw)');
    table(`${pair} encrypt`, encrypt, 'node:crypto (raw)');
    table(`${pair} decrypt`, decrypt, 'node:crypto (raw)');
    const targets = {
      'encrypt / raw': encrypt.find((r) => r.name === 'tessera compactEncrypt').ratio,
      'prepared decrypt / raw': decrypt.find((r) => r.name === 'tessera createDecrypter').ratio,
      'decrypt / raw': decrypt.find((r) => r.name === 'tessera compactDecrypt').ratio,
      'encrypt / jose': ratioOf(encrypt, 'tessera compactEncrypt', 'jose CompactEncrypt'),
      'prepared decrypt / jose': ratioOf(decrypt, 'tessera createDecrypter', 'jose compactDecrypt'),
      'decrypt / jose': ratioOf(decrypt, 'tessera compactDecrypt', 'jose compactDecrypt'),
    };
    printTargets(targets);
    results[pair] = { encrypt, decrypt, targets };
  }
  return results;
}
