import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';

/** How long one nonce window lasts; a nonce is accepted in its window and the next (5–10 minutes). */
export const DPOP_NONCE_WINDOW_SECONDS = 300;

/** What the nonce key is derived for (HKDF `info`): no other use of the master key yields it. */
const HKDF_INFO = 'tessera dpop-nonce v1';
/** 6 bytes of window number and 16 bytes of MAC: 30 base64url characters. */
const WINDOW_BYTES = 6;
const MAC_BYTES = 16;
const NONCE = /^[A-Za-z0-9_-]{30}$/;

/**
 * Server-issued DPoP nonces (RFC 9449 §8), stateless and the same on every instance: a nonce is the
 * number of the current time window and an HMAC over it, under a key derived from the master key
 * (HKDF-SHA256), which every instance shares. Nothing is stored; any instance recognises a nonce any
 * other issued. A nonce is fresh in its own window and the one after, so a client that just received
 * one has at least a full window to use it, and a proof made in advance is worthless within minutes.
 * (RFC 9449 §8 leaves the nonce's content to the server; §11.1 asks that it limit how long proofs can
 * be pre-made, which this does.)
 */
export interface DpopNonces {
  /** The nonce to hand out now (`DPoP-Nonce` response header, RFC 9449 §8.1). */
  current(): string;
  /** Whether `nonce` was issued by this server in the current or the previous window. */
  isFresh(nonce: string | undefined): boolean;
}

export function createDpopNonces(masterKey: Buffer, clock: () => number): DpopNonces {
  const key = Buffer.from(hkdfSync('sha256', masterKey, Buffer.alloc(0), HKDF_INFO, 32));
  const windowAt = (ms: number) => Math.floor(ms / 1000 / DPOP_NONCE_WINDOW_SECONDS);
  const mac = (windowBytes: Buffer) =>
    createHmac('sha256', key).update(windowBytes).digest().subarray(0, MAC_BYTES);
  const encode = (window: number) => {
    const bytes = Buffer.alloc(WINDOW_BYTES);
    bytes.writeUIntBE(window, 0, WINDOW_BYTES);
    return Buffer.concat([bytes, mac(bytes)]).toString('base64url');
  };
  let cached = { window: -1, nonce: '' };
  return {
    current() {
      const window = windowAt(clock());
      if (cached.window !== window) cached = { window, nonce: encode(window) };
      return cached.nonce;
    },
    isFresh(nonce) {
      if (nonce === undefined || !NONCE.test(nonce)) return false;
      const bytes = Buffer.from(nonce, 'base64url');
      if (bytes.length !== WINDOW_BYTES + MAC_BYTES) return false;
      const windowBytes = bytes.subarray(0, WINDOW_BYTES);
      const age = windowAt(clock()) - windowBytes.readUIntBE(0, WINDOW_BYTES);
      if (age !== 0 && age !== 1) return false;
      return timingSafeEqual(mac(windowBytes), bytes.subarray(WINDOW_BYTES));
    },
  };
}
