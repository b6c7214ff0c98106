// The public surface of @tessera/jose. This file only re-exports; nothing imports from it.

export { accessTokenHash } from './dpop/access_token_hash.js';
export { type CreateDpopProofOptions, createDpopProof } from './dpop/create.js';
export { dpopHtu } from './dpop/htu.js';
export {
  type VerifiedDpopProof,
  type VerifyDpopProofOptions,
  verifyDpopProof,
} from './dpop/verify.js';
export * from './errors.js';
export {
  type CompactDecryptOptions,
  type CompactDecryptResult,
  compactDecrypt,
} from './jwe/compact/decrypt.js';
export { type CompactEncryptOptions, compactEncrypt } from './jwe/compact/encrypt.js';
export { createDecrypter, type Decrypter, type DecrypterOptions } from './jwe/decrypter.js';
export { type FlattenedDecryptResult, flattenedDecrypt } from './jwe/flattened/decrypt.js';
export {
  type FlattenedEncryptOptions,
  type FlattenedJwe,
  flattenedEncrypt,
} from './jwe/flattened/encrypt.js';
export {
  type GeneralDecryptOptions,
  type GeneralDecryptResult,
  generalDecrypt,
} from './jwe/general/decrypt.js';
export { type GeneralEncryptOptions, type GeneralJwe, generalEncrypt } from './jwe/general/encrypt.js';
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
export {
  type DecryptJwtOptions,
  type DecryptJwtResult,
  decryptJwt,
  type EncryptJwtOptions,
  encryptJwt,
} from './jwt/encrypt.js';
export {
  type DecryptAndVerifyJwtResult,
  decryptAndVerifyJwt,
  type NestedEncryptionOptions,
  signAndEncryptJwt,
} from './jwt/nested.js';
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
export { Key, type KeyOperation, type KeyOperationKind, type KeyOptions, type KeyUse } from './key/key.js';
export { jwkThumbprint, jwkThumbprintUri, type ThumbprintDigest } from './key/thumbprint.js';
export type {
  ContentEncryptionAlgorithm,
  KeyManagementAlgorithm,
  KeyManagementParameters,
} from './lib/jwe_algorithms.js';
export type { JweDecryptOptions } from './lib/jwe_decrypt.js';
export type { JweHeaderParameters, JweRecipient } from './lib/jwe_encrypt.js';
export type { JwsAlgorithm } from './lib/jws_algorithms.js';
export type { AlgorithmOptions, JwsHeaderParameters } from './lib/jws_header.js';
export type { JwtClaimsOptions, JwtIssueOptions, JwtPayload } from './lib/jwt_claims.js';
export type { KeyInput, KeyResolver, KeySet, VerificationKey } from './lib/key_input.js';
export { isLoopbackHost } from './lib/loopback.js';
export { secondsOf as parseTimeSpan } from './lib/time.js';
