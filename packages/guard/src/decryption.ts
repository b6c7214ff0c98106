import { createDecrypter, isJoseError, type Key, type KeySet } from '@tessera/jose';
import { assertTokenSyntax } from './bearer.js';
import { createDecryptedTokens } from './decrypted_tokens.js';
import type { ResolvedDecryption } from './decryption_keys.js';
import type { GuardError, GuardErrors } from './errors.js';
import type { ResolvedOptions } from './options.js';

/**
 * Encrypted access tokens (nested JWTs, RFC 7519 §5.2, §11.2): a JWE whose plaintext is the signed
 * access token. Decryption only opens the envelope; the signed token inside is then verified exactly
 * like a plain one, since anyone holding the API's public key can make a JWE.
 */
export interface TokenDecryption {
  /**
   * The signed token a bearer token carries: the one inside an encrypted token, or the token itself.
   * Throws a GuardError for a JWE that does not decrypt or holds no JWT, and, with
   * `requireEncryption`, for a token that is not encrypted.
   */
  signedTokenOf(token: string): string;
  /** Remembers that `jwe` holds `signed`, once `signed` verified. */
  verified(jwe: string, signed: string): void;
}

/**
 * Whether a token is in the JWE Compact Serialization: five segments, four dots (RFC 7516 §7.1),
 * where a JWS has three segments (RFC 7515 §7.1). A scan for dots, stopped at the fifth.
 */
export function isCompactJwe(token: string): boolean {
  let dots = 0;
  for (let at = token.indexOf('.'); at !== -1; at = token.indexOf('.', at + 1)) {
    if (++dots > 4) return false;
  }
  return dots === 4;
}

const UTF8 = new TextDecoder();

/**
 * Prepares the decryption of encrypted access tokens once: the keys, the allowed algorithms
 * (RFC 8725 §3.1) and a decrypter that remembers the headers it has seen, so each token costs only
 * its key unwrap and content decryption, or, for a repeated token, a map lookup.
 */
export function createTokenDecryption(
  decryption: ResolvedDecryption,
  config: ResolvedOptions,
  errors: GuardErrors,
): TokenDecryption {
  const decrypter = createDecrypter({
    key: decryptionKeySet(decryption.keys),
    // RFC 8725 §3.1: the accepted algorithms are pinned here, never taken from the token.
    keyManagementAlgorithms: decryption.keyManagementAlgorithms,
    contentEncryptionAlgorithms: decryption.contentEncryptionAlgorithms,
    // Compressed JWEs stay refused (allowCompression is off): RFC 8725 §3.6.
  });
  const decrypted = createDecryptedTokens(config.tokenCache);
  const { required } = decryption;

  function refuse(token: string, reason: string, cause?: unknown): GuardError {
    // A token with characters outside b64token is a malformed request (400), as for plain tokens.
    assertTokenSyntax(token, errors);
    return errors.invalidToken(reason, cause);
  }

  function decrypt(token: string): string {
    let result: ReturnType<typeof decrypter.decrypt>;
    try {
      result = decrypter.decrypt(token);
    } catch (err) {
      throw refuse(token, decryptionFailure(err), err);
    }
    // RFC 7519 §5.2: "cty": "JWT" says the plaintext is a JWT. The outer "typ" is not looked at: the
    // access token's own "typ" (at+jwt, RFC 9068 §2.1) is checked on the signed token inside.
    if (!isJwtContentType(result.protectedHeader.cty))
      throw refuse(token, 'the encrypted token does not hold a JWT: its header lacks "cty": "JWT"');
    return UTF8.decode(result.plaintext);
  }

  return {
    signedTokenOf(token) {
      if (!isCompactJwe(token)) {
        if (required)
          throw refuse(token, 'the token is not encrypted, and this API accepts encrypted tokens only');
        return token;
      }
      return decrypted.get(token) ?? decrypt(token);
    },
    verified(jwe, signed) {
      decrypted.remember(jwe, signed);
    },
  };
}

/**
 * The reason a JWE did not decrypt, for the API's logs (the answer is the same 401 whatever it
 * says). The header's own faults are named; for the key, only whether one fits the token's `kid`
 * and `alg`: which key was tried and which step failed are never said (RFC 7516 §11.4, §11.5).
 */
function decryptionFailure(err: unknown): string {
  if (isJoseError(err)) {
    switch (err.code) {
      case 'ERR_JOSE_ALG_NOT_ALLOWED':
      case 'ERR_JOSE_NOT_SUPPORTED':
      case 'ERR_JWE_INVALID':
        return `${err.code}: ${err.message}`;
      case 'ERR_JWKS_NO_MATCHING_KEY':
        return 'ERR_JWKS_NO_MATCHING_KEY: no decryption key fits the token\'s "kid" and "alg"';
    }
  }
  return 'ERR_JWE_DECRYPTION_FAILED: the token does not decrypt with the decryption keys';
}

/**
 * RFC 7515 §4.1.10: "cty" is a media type, compared case-insensitively, and a value without "/" is
 * read with "application/" in front: "JWT", "jwt" and "application/jwt" are the same.
 */
function isJwtContentType(cty: unknown): boolean {
  if (typeof cty !== 'string') return false;
  const type = cty.toLowerCase();
  return type === 'jwt' || type === 'application/jwt';
}

/**
 * The decryption keys as a key set: the keys whose `kid` is the JWE's `kid` (RFC 7516 §4.1.6), or
 * every key when the JWE names none; the decrypter keeps those that serve its `alg` and tries them.
 */
function decryptionKeySet(keys: readonly Key[]): KeySet {
  const select = (header: { kid?: unknown }): readonly Key[] =>
    header.kid === undefined ? keys : keys.filter((key) => key.kid === header.kid);
  return { select, resolve: async (header) => select(header) };
}

/**
 * The refusal of an encrypted token by a guard without decryption keys: a 401 like any token it
 * cannot read, and a warning (at most once a minute) for the operator, since the issuer encrypts this
 * API's tokens and every one of them will be refused until the guard gets its key.
 */
export function createUndecryptableRefusal(config: ResolvedOptions, errors: GuardErrors): () => GuardError {
  const { logger, clock } = config;
  let warnedAt: number | undefined;
  return () => {
    const now = clock();
    if (warnedAt === undefined || now - warnedAt >= 60_000) {
      warnedAt = now;
      logger.warn(
        { status: 401, error: 'invalid_token' },
        'an encrypted access token (JWE) was refused: the guard has no decryption key; set options.decryptionKeys',
      );
    }
    return errors.invalidToken(
      'the token is encrypted (a JWE) and the guard has no decryption key (decryptionKeys)',
    );
  };
}
