import { Buffer } from 'node:buffer';
import { randomFillSync } from 'node:crypto';

// Each randomBytes() call is a trip to the kernel's CSPRNG; on some hosts that costs ~10 µs, longer
// than the AES-GCM it feeds. Like node's own randomUUID cache, draw from a pool filled in bulk. Bytes
// handed out are copied and wiped from the pool at once, so no IV or key is ever handed out twice
// or left lying in the pool.
const POOL_SIZE = 4096;
const pool = Buffer.alloc(POOL_SIZE);
let offset = POOL_SIZE;

/** `length` cryptographically random bytes (from the CSPRNG, in bulk). */
export function randomBytes(length: number): Buffer {
  if (length > POOL_SIZE / 4) return randomFillSync(Buffer.alloc(length));
  if (offset + length > POOL_SIZE) {
    randomFillSync(pool);
    offset = 0;
  }
  const bytes = Buffer.from(pool.subarray(offset, offset + length));
  pool.fill(0, offset, offset + length);
  offset += length;
  return bytes;
}
