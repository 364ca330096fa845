/**
 * MurmurHash3 (x86, 32-bit) over the UTF-8 bytes of a string.
 *
 * Why this hash: the hashing strategies need a fast, well-mixed, stable
 * 32-bit hash of short strings (IPs, header values, backend ids). MurmurHash3
 * passes SMHasher, its 32-bit variant maps onto `Math.imul` with no BigInt,
 * it is the hash Envoy, Cassandra and Guava ship for the same job, and
 * because it has published test vectors, every switchyard instance (and any
 * other implementation) maps a key to the same place. FNV-1a is simpler but
 * mixes short keys poorly without a finalizer; xxHash32 is no faster on
 * strings of a few dozen bytes in JavaScript.
 *
 * The string is encoded to UTF-8 on the fly (lone surrogates as U+FFFD, as
 * `TextEncoder` does), so hashing allocates nothing; `start`/`end` hash a
 * slice without making one (used for cookie values).
 */

const C1 = 0xcc9e2d51;
const C2 = 0x1b873593;

// Module-level state instead of a closure: the byte feeder is a plain function
// V8 inlines, and nothing is allocated per call.
let h = 0;
let tail = 0;
let tailBytes = 0;
let length = 0;

function feed(byte: number): void {
  tail |= byte << (tailBytes << 3);
  length++;
  if (++tailBytes === 4) {
    let k = Math.imul(tail, C1);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, C2);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
    tail = 0;
    tailBytes = 0;
  }
}

/**
 * Hashes `str.slice(start, end)` (UTF-8 encoded) with MurmurHash3 x86_32.
 * Returns an unsigned 32-bit integer.
 *
 * @param str text to hash
 * @param seed 32-bit seed; different seeds give independent hash functions
 * @param start first UTF-16 index to hash @default 0
 * @param end index after the last one to hash @default str.length
 *
 * @example
 * ```ts
 * import { murmur3 } from './hash.js';
 * murmur3('hello'); // 0x248bfa47
 * murmur3('The quick brown fox jumps over the lazy dog'); // 0x2e4ff723
 * ```
 */
export function murmur3(str: string, seed = 0, start = 0, end = str.length): number {
  h = seed | 0;
  tail = 0;
  tailBytes = 0;
  length = 0;
  for (let i = start; i < end; i++) {
    let c = str.charCodeAt(i);
    if (c < 0x80) {
      feed(c);
    } else if (c < 0x800) {
      feed(0xc0 | (c >> 6));
      feed(0x80 | (c & 0x3f));
    } else {
      if (c >= 0xd800 && c <= 0xdfff) {
        const next = i + 1 < end ? str.charCodeAt(i + 1) : 0;
        if (c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
          const cp = 0x10000 + ((c - 0xd800) << 10) + (next - 0xdc00);
          i++;
          feed(0xf0 | (cp >> 18));
          feed(0x80 | ((cp >> 12) & 0x3f));
          feed(0x80 | ((cp >> 6) & 0x3f));
          feed(0x80 | (cp & 0x3f));
          continue;
        }
        c = 0xfffd;
      }
      feed(0xe0 | (c >> 12));
      feed(0x80 | ((c >> 6) & 0x3f));
      feed(0x80 | (c & 0x3f));
    }
  }
  if (tailBytes > 0) {
    let k = Math.imul(tail, C1);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, C2);
    h ^= k;
  }
  return fmix32(h ^ length);
}

/**
 * MurmurHash3's finalizer: a bijection on 32-bit integers with full
 * avalanche. Returns an unsigned 32-bit integer.
 *
 * @example
 * ```ts
 * import { fmix32 } from './hash.js';
 * fmix32(1); // 0x514e28b7
 * ```
 */
export function fmix32(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x85ebca6b);
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35);
  x ^= x >>> 16;
  return x >>> 0;
}

const encoder = new TextEncoder();

/**
 * One string prepared for hashing under many seeds: the seed only enters the
 * running state, so the string's UTF-8 blocks are encoded and mixed once, and
 * each seed then costs a few operations per 4 bytes. `hash(seed)` equals
 * `murmur3(str, seed)`. Used to place a backend's many ring points.
 *
 * @example
 * ```ts
 * import { PreparedMurmur3, murmur3 } from './hash.js';
 * const prepared = new PreparedMurmur3('backend-1');
 * prepared.hash(7) === murmur3('backend-1', 7); // true
 * ```
 */
export class PreparedMurmur3 {
  readonly #blocks: Int32Array;
  readonly #tail: number;
  readonly #hasTail: boolean;
  readonly #length: number;

  constructor(str: string) {
    const bytes = encoder.encode(str);
    const n = bytes.length >> 2;
    const blocks = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      let k = bytes[4 * i]! | (bytes[4 * i + 1]! << 8) | (bytes[4 * i + 2]! << 16) | (bytes[4 * i + 3]! << 24);
      k = Math.imul(k, C1);
      k = (k << 15) | (k >>> 17);
      blocks[i] = Math.imul(k, C2);
    }
    let k = 0;
    const rest = bytes.length & 3;
    for (let j = rest - 1; j >= 0; j--) k = (k << 8) | bytes[4 * n + j]!;
    k = Math.imul(k, C1);
    k = (k << 15) | (k >>> 17);
    this.#tail = Math.imul(k, C2);
    this.#hasTail = rest > 0;
    this.#blocks = blocks;
    this.#length = bytes.length;
  }

  /** `murmur3(str, seed)`, unsigned 32-bit. */
  hash(seed: number): number {
    let x = seed | 0;
    const blocks = this.#blocks;
    for (let i = 0; i < blocks.length; i++) {
      x ^= blocks[i]!;
      x = (x << 13) | (x >>> 19);
      x = (Math.imul(x, 5) + 0xe6546b64) | 0;
    }
    if (this.#hasTail) x ^= this.#tail;
    return fmix32(x ^ this.#length);
  }
}
