// JWT suite: sign and verify of a typical access token against raw node:crypto, jose, fast-jwt and
// jsonwebtoken. BENCH_ALGS picks a subset of HS256,RS256,PS256,ES256,EdDSA.
import { createHmac, generateKeyPairSync, randomBytes, randomUUID, sign, verify } from 'node:crypto';
import { createSigner as fastJwtSigner, createVerifier as fastJwtVerifier } from 'fast-jwt';
import * as jose from 'jose';
import jsonwebtoken from 'jsonwebtoken';
import {
  createSigner,
  createVerifier,
  importKeyObject,
  importSecret,
  signJwt,
  verifyJwt,
} from '../packages/jose/dist/index.js';
import { measure, ratioOf, table } from './harness.js';

const ALGS = (process.env.BENCH_ALGS ?? 'HS256,RS256,PS256,ES256,EdDSA').split(',');

const ISSUER = 'https://auth.example.com';
const AUDIENCE = 'https://api.example.com';

/** A typical RFC 9068 access token's claims, as Tessera's server issues them. */
function accessTokenClaims() {
  return {
    sub: 'user-4f1c2a9e',
    client_id: 'web',
    scope: 'openid profile orders:read orders:write',
    sid: 'fam_8c2e1b77d9',
    ver: 3,
    roles: ['customer'],
  };
}

function keysFor(alg) {
  if (alg === 'HS256') {
    const secret = randomBytes(32);
    return { secret };
  }
  const type = { RS256: 'rsa', PS256: 'rsa', ES256: 'ec', EdDSA: 'ed25519' }[alg];
  const { publicKey, privateKey } = generateKeyPairSync(type, { modulusLength: 2048, namedCurve: 'P-256' });
  return {
    publicKey,
    privateKey,
    publicPem: publicKey.export({ format: 'pem', type: 'spki' }),
    privatePem: privateKey.export({ format: 'pem', type: 'pkcs8' }),
  };
}

/** Raw node:crypto: the least work a correct hand-written signer/verifier can do. */
function rawCrypto(alg, keys) {
  const hash = alg === 'EdDSA' ? null : 'sha256';
  const signKey =
    alg === 'PS256'
      ? { key: keys.privateKey, padding: 6, saltLength: 32 }
      : alg === 'ES256'
        ? { key: keys.privateKey, dsaEncoding: 'ieee-p1363' }
        : keys.privateKey;
  const verifyKey =
    alg === 'PS256'
      ? { key: keys.publicKey, padding: 6, saltLength: 32 }
      : alg === 'ES256'
        ? { key: keys.publicKey, dsaEncoding: 'ieee-p1363' }
        : keys.publicKey;
  const head = `${Buffer.from(JSON.stringify({ alg, typ: 'at+jwt' })).toString('base64url')}.`;
  const mac = (input) => createHmac('sha256', keys.secret).update(input).digest();
  return {
    sign() {
      const now = Math.floor(Date.now() / 1000);
      // Object.assign rather than spread: the faster way on Node 20, as a careful hand-written signer would.
      const claims = Object.assign(accessTokenClaims(), {
        iss: ISSUER,
        aud: AUDIENCE,
        iat: now,
        exp: now + 900,
      });
      claims.jti = randomUUID();
      const input = head + Buffer.from(JSON.stringify(claims)).toString('base64url');
      const signature = alg === 'HS256' ? mac(input) : sign(hash, Buffer.from(input), signKey);
      return `${input}.${signature.toString('base64url')}`;
    },
    verify(token) {
      const first = token.indexOf('.');
      const second = token.indexOf('.', first + 1);
      // A correct verifier must at least check the header's alg, the signature, and exp.
      const header = JSON.parse(Buffer.from(token.slice(0, first), 'base64url').toString());
      if (header.alg !== alg) throw new Error('alg');
      const input = token.slice(0, second);
      const signature = Buffer.from(token.slice(second + 1), 'base64url');
      const ok =
        alg === 'HS256'
          ? signature.length === 32 && mac(input).equals(signature)
          : verify(hash, Buffer.from(input), verifyKey, signature);
      if (!ok) throw new Error('signature');
      const payload = JSON.parse(Buffer.from(token.slice(first + 1, second), 'base64url').toString());
      if (!(payload.exp > Date.now() / 1000)) throw new Error('exp');
      return payload;
    },
  };
}

async function contenders(alg) {
  const keys = keysFor(alg);
  const raw = rawCrypto(alg, keys);
  const signingKey =
    alg === 'HS256' ? importSecret(keys.secret, { alg }) : importKeyObject(keys.privateKey, { alg });
  const verificationKey = alg === 'HS256' ? signingKey : importKeyObject(keys.publicKey, { alg });
  const issue = { alg, typ: 'at+jwt', issuer: ISSUER, audience: AUDIENCE, expiresIn: 900, jti: true };
  const check = { algorithms: [alg], issuer: ISSUER, audience: AUDIENCE, typ: 'at+jwt' };
  const signer = createSigner({ key: signingKey, ...issue });
  const verifier = createVerifier({ key: verificationKey, ...check });
  const cachedVerifier = createVerifier({ key: verificationKey, ...check, cache: { max: 1000 } });

  const joseSignKey =
    alg === 'HS256'
      ? new Uint8Array(keys.secret)
      : await jose.importPKCS8(keys.privatePem, alg, { extractable: false });
  const joseVerifyKey =
    alg === 'HS256' ? new Uint8Array(keys.secret) : await jose.importSPKI(keys.publicPem, alg);

  const fastKeyPrivate = alg === 'HS256' ? keys.secret : keys.privatePem;
  const fastKeyPublic = alg === 'HS256' ? keys.secret : keys.publicPem;
  const fastSign = fastJwtSigner({
    key: fastKeyPrivate,
    algorithm: alg,
    iss: ISSUER,
    aud: AUDIENCE,
    expiresIn: 900_000,
    jti: undefined,
    header: { typ: 'at+jwt' },
  });
  const fastVerifyOptions = {
    key: fastKeyPublic,
    algorithms: [alg],
    allowedIss: ISSUER,
    allowedAud: AUDIENCE,
  };
  const fastVerify = fastJwtVerifier(fastVerifyOptions);
  const fastCachedVerify = fastJwtVerifier({ ...fastVerifyOptions, cache: 1000 });

  const jwtSupported = alg !== 'EdDSA';
  const jwtKeyPrivate = alg === 'HS256' ? keys.secret : keys.privateKey;
  const jwtKeyPublic = alg === 'HS256' ? keys.secret : keys.publicKey;

  const token = raw.sign();
  const tokenBytes = Buffer.from(token, 'latin1');
  const claimsFor = () => Object.assign(accessTokenClaims(), { jti: randomUUID() });
  return {
    token,
    sign: {
      'node:crypto (raw)': raw.sign,
      'tessera createSigner': () => signer.sign(accessTokenClaims()),
      'tessera signJwt': () => signJwt(accessTokenClaims(), signingKey, issue),
      'jose SignJWT': () =>
        new jose.SignJWT(claimsFor())
          .setProtectedHeader({ alg, typ: 'at+jwt' })
          .setIssuer(ISSUER)
          .setAudience(AUDIENCE)
          .setIssuedAt()
          .setExpirationTime('15m')
          .sign(joseSignKey),
      'fast-jwt createSigner': () => fastSign(claimsFor()),
      ...(jwtSupported && {
        'jsonwebtoken sign': () =>
          jsonwebtoken.sign(claimsFor(), jwtKeyPrivate, {
            algorithm: alg,
            issuer: ISSUER,
            audience: AUDIENCE,
            expiresIn: 900,
            header: { alg, typ: 'at+jwt' },
          }),
      }),
    },
    verify: {
      'node:crypto (raw)': () => raw.verify(token),
      'tessera createVerifier': () => verifier.verify(token),
      'tessera verifyJwt': () => verifyJwt(token, verificationKey, check),
      'jose jwtVerify': () =>
        jose.jwtVerify(token, joseVerifyKey, {
          algorithms: [alg],
          issuer: ISSUER,
          audience: AUDIENCE,
          typ: 'at+jwt',
        }),
      'fast-jwt createVerifier': () => fastVerify(token),
      ...(jwtSupported && {
        'jsonwebtoken verify': () =>
          jsonwebtoken.verify(token, jwtKeyPublic, { algorithms: [alg], issuer: ISSUER, audience: AUDIENCE }),
      }),
    },
    // A server receives each token as a new string (read from a header), so the cache key is hashed
    // on every lookup; decoding the same bytes each time models that for both contenders.
    cached: {
      'tessera createVerifier (cache)': () => cachedVerifier.verify(tokenBytes.toString('latin1')),
      'fast-jwt createVerifier (cache)': () => fastCachedVerify(tokenBytes.toString('latin1')),
    },
  };
}

export async function runJwt() {
  const results = {};
  for (const alg of ALGS) {
    const c = await contenders(alg);
    const sign = await measure(c.sign, 'node:crypto (raw)');
    const verifyRows = await measure(c.verify, 'node:crypto (raw)');
    const cached = await measure(c.cached, 'fast-jwt createVerifier (cache)');
    table(`${alg} sign`, sign, 'node:crypto (raw)');
    table(`${alg} verify`, verifyRows, 'node:crypto (raw)');
    table(`${alg} cached verify`, cached, 'fast-jwt createVerifier (cache)');
    const targets = {
      'prepared sign / raw': sign.find((r) => r.name === 'tessera createSigner').ratio,
      'prepared verify / raw': verifyRows.find((r) => r.name === 'tessera createVerifier').ratio,
      'prepared sign / fast-jwt': ratioOf(sign, 'tessera createSigner', 'fast-jwt createSigner'),
      'prepared verify / fast-jwt': ratioOf(verifyRows, 'tessera createVerifier', 'fast-jwt createVerifier'),
      'cached verify / fast-jwt cached': cached.find((r) => r.name === 'tessera createVerifier (cache)')
        .ratio,
      'verifyJwt / jose jwtVerify': ratioOf(verifyRows, 'tessera verifyJwt', 'jose jwtVerify'),
    };
    printTargets(targets);
    results[alg] = { sign, verify: verifyRows, cached, targets };
  }
  return results;
}

export function printTargets(targets) {
  console.log(
    '  targets:',
    Object.entries(targets)
      .map(([k, v]) => `${k} ${v?.toFixed(2)}×`)
      .join(', '),
  );
}
