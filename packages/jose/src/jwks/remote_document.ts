// What a key set fetched from a URL may hold. Beyond the rules of any JWKS (`importKeySet`), a
// remote set must be public keys only: a document anyone can read must never carry a secret.

import { isJoseError, JwksInvalid } from '../errors.js';
import type { Key } from '../key/key.js';
import { isJsonObject } from '../lib/json.js';
import { importKeySet, type SkippedKey } from './local.js';

/**
 * Parses the body of a JWKS response (RFC 7517 §5) and imports its keys. The whole set is refused if
 * any member holds a secret (`oct`, `k`) or private key material (`d`): such a set is either a
 * misconfigured server or an attacker's, and HMAC keys taken from a URL would let anyone who can read
 * it sign tokens.
 */
export function parseRemoteKeySet(text: string, origin: string): { keys: Key[]; skipped: SkippedKey[] } {
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch {
    // The parser's message quotes the body; leave it out.
    throw new JwksInvalid(`the response from ${origin} is not valid JSON`);
  }
  // Checked on the raw members, before import: a member that would be skipped as unusable must not
  // hide a published secret.
  if (isJsonObject(document) && Array.isArray(document.keys)) {
    for (const jwk of document.keys as unknown[]) {
      if (!isJsonObject(jwk)) continue;
      if (jwk.kty === 'oct' || 'k' in jwk)
        throw new JwksInvalid(
          `the JWKS from ${origin} holds secret keys; secrets are never accepted from a URL`,
        );
      if ('d' in jwk)
        throw new JwksInvalid(
          `the JWKS from ${origin} publishes private key material; refusing it (anyone could sign with it)`,
        );
    }
  }
  let imported: { keys: Key[]; skipped: SkippedKey[] };
  try {
    imported = importKeySet(document);
  } catch (err) {
    if (isJoseError(err, 'ERR_JWKS_INVALID'))
      throw new JwksInvalid(`the JWKS from ${origin} is invalid: ${err.message}`);
    throw err;
  }
  // Belt and braces: whatever the members said, no secret or private key is ever served.
  if (imported.keys.some((key) => key.type !== 'public'))
    throw new JwksInvalid(`the JWKS from ${origin} holds non-public keys; only public keys are accepted`);
  return imported;
}
