// The public surface of @tessera/jose. This file only re-exports; nothing imports from it.

export * from './errors.js';
export { createLocalJwks, type JsonWebKeySet, type LocalJwks, type SkippedKey } from './jwks/local.js';
export {
  createRemoteJwks,
  type JwksDuration,
  type JwksFetch,
  type RemoteJwks,
  type RemoteJwksOptions,
  type RemoteJwksStatus,
} from './jwks/remote.js';
export { type CompactSignOptions, compactSign } from './jws/compact/sign.js';
export { type CompactVerifyOptions, type CompactVerifyResult, compactVerify } from './jws/compact/verify.js';
export { type FlattenedJws, type FlattenedSignOptions, flattenedSign } from './jws/flattened/sign.js';
export {
  type FlattenedVerifyOptions,
  type FlattenedVerifyResult,
  flattenedVerify,
} from './jws/flattened/verify.js';
export { type GeneralJws, type GeneralSigner, generalSign } from './jws/general/sign.js';
export { type GeneralVerifyOptions, type GeneralVerifyResult, generalVerify } from './jws/general/verify.js';
export { decodeJwt, decodeJwtUnverified, decodeProtectedHeader } from './jwt/decode.js';
export { type SignJwtOptions, signJwt, signJwtSync } from './jwt/sign.js';
export { createSigner, type Signer, type SignerOptions } from './jwt/signer.js';
export { decodeUnsecuredJwt, encodeUnsecuredJwt } from './jwt/unsecured.js';
export {
  createVerifier,
  type Verifier,
  type VerifierCacheOptions,
  type VerifierOptions,
} from './jwt/verifier.js';
export { type VerifyJwtOptions, type VerifyJwtResult, verifyJwt } from './jwt/verify.js';
export { type ExportJwkOptions, exportJwk, exportPem } from './key/export.js';
export {
  type GeneratedKeyPair,
  type GenerateKeyPairOptions,
  generateKeyPair,
  generateSecret,
} from './key/generate.js';
export {
  type DerFormat,
  type ImportOptions,
  importDer,
  importJwk,
  importKeyObject,
  importPem,
  importSecret,
  importX509,
  type Jwk,
  type PemImportOptions,
} from './key/import.js';
export { Key, type KeyOperation, type KeyOptions, type KeyUse } from './key/key.js';
export { jwkThumbprint, jwkThumbprintUri, type ThumbprintDigest } from './key/thumbprint.js';
export type { JwsAlgorithm } from './lib/jws_algorithms.js';
export type { AlgorithmOptions, JwsHeaderParameters } from './lib/jws_header.js';
export type { JwtClaimsOptions, JwtIssueOptions, JwtPayload } from './lib/jwt_claims.js';
export type { KeyInput, KeyResolver, KeySet, VerificationKey } from './lib/key_input.js';
