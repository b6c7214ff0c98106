/**
 * The JWK members that carry private or symmetric key material (RFC 7518 §6.2.2, §6.3.2, §6.4.1;
 * RFC 8037 §2). A key registered with the provider must have none of them: a private key sent to the
 * provider is a leaked key, refused rather than stored.
 */
const KEY_MATERIAL = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];

export function holdsKeyMaterial(jwk: object): boolean {
  return KEY_MATERIAL.some((member) => member in jwk);
}
