import { Buffer, isUtf8 } from 'node:buffer';

// RFC 7515 §2 and RFC 4648 §5: base64url with the padding omitted. Node's decoder is lenient (it
// skips foreign characters, accepts padding and non-zero trailing bits), which would let one token
// have many spellings. These checks make the encoding canonical: exactly one spelling per value.
const ALPHABET = /^[\w-]*$/;
const VALUES = new Int8Array(128).fill(-1);
for (const [i, c] of [...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'].entries()) {
  VALUES[c.charCodeAt(0)] = i;
}

/** True when `input` is canonical unpadded base64url. */
export function isBase64url(input: string): boolean {
  const rest = input.length & 3;
  if (rest === 1 || !ALPHABET.test(input)) return false;
  if (rest === 0) return true;
  // The last character carries 4 (two left over) or 2 (three left over) unused bits: they must be 0.
  const last = VALUES[input.charCodeAt(input.length - 1)]!;
  return (last & (rest === 2 ? 0x0f : 0x03)) === 0;
}

/** Decodes strict base64url, or returns `undefined` when the input is not canonical. */
export function decodeBase64url(input: string): Buffer | undefined {
  return isBase64url(input) ? Buffer.from(input, 'base64url') : undefined;
}

/** Decodes strict base64url that must hold UTF-8 text, or returns `undefined`. */
export function decodeBase64urlText(input: string): string | undefined {
  const bytes = decodeBase64url(input);
  return bytes !== undefined && isUtf8(bytes) ? bytes.toString('utf8') : undefined;
}

export function encodeBase64url(input: Uint8Array | string): string {
  return (
    typeof input === 'string'
      ? Buffer.from(input, 'utf8')
      : Buffer.from(input.buffer, input.byteOffset, input.byteLength)
  ).toString('base64url');
}
