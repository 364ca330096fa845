import { Buffer } from 'node:buffer';
import { randomFillSync } from 'node:crypto';

const POOL_BYTES = 4096;
const pool = Buffer.alloc(POOL_BYTES);
let offset = POOL_BYTES;

/**
 * `bytes` random bytes as lowercase hex, never all zeros. Drawn from a pool
 * refilled 4 KiB at a time by the CSPRNG, so an id costs a slice of a buffer
 * rather than a system call.
 *
 * @example
 * ```ts
 * import { randomHex } from './random-hex.js';
 * randomHex(8); // '9c1f0e5a77b2d403'
 * ```
 */
export function randomHex(bytes: number): string {
  for (;;) {
    if (offset + bytes > POOL_BYTES) {
      randomFillSync(pool);
      offset = 0;
    }
    const start = offset;
    offset += bytes;
    for (let i = start; i < offset; i++) {
      if (pool[i] !== 0) return pool.toString('hex', start, offset);
    }
    // All zeros is the "invalid" id of W3C Trace Context: draw again.
  }
}
