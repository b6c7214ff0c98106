/** RFC 4648 §5 base64url without padding, as JOSE uses it (RFC 7515 §2). */
export function base64url(input: Uint8Array | ArrayBuffer | string): string {
  const bytes =
    typeof input === 'string'
      ? new TextEncoder().encode(input)
      : input instanceof Uint8Array
        ? input
        : new Uint8Array(input);
  let binary = '';
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/** Decodes base64url text to a string (UTF-8). Throws on input that is not base64url. */
export function base64urlDecode(input: string): string {
  const binary = atob(input.replace(/-/g, '+').replace(/_/g, '/'));
  return new TextDecoder().decode(Uint8Array.from(binary, (char) => char.charCodeAt(0)));
}

/** `n` bytes from the platform CSPRNG, base64url: state, PKCE verifiers, proof `jti`s. */
export function randomString(n = 32): string {
  return base64url(crypto.getRandomValues(new Uint8Array(n)));
}

/** base64url(SHA-256(ASCII(text))): PKCE S256 (RFC 7636 §4.2) and DPoP `ath` (RFC 9449 §4.2). */
export async function sha256(text: string): Promise<string> {
  return base64url(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text)));
}
