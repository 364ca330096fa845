import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fmix32, murmur3, PreparedMurmur3 } from './hash.js';

/** Straightforward MurmurHash3 x86_32 over a byte array, to check the streaming version against. */
function reference(bytes: Uint8Array, seed: number): number {
  let h = seed | 0;
  const blocks = bytes.length >> 2;
  for (let i = 0; i < blocks; i++) {
    let k = bytes[4 * i]! | (bytes[4 * i + 1]! << 8) | (bytes[4 * i + 2]! << 16) | (bytes[4 * i + 3]! << 24);
    k = Math.imul(k, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, 0x1b873593);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  let k = 0;
  const rest = bytes.length & 3;
  const at = blocks * 4;
  if (rest === 3) k ^= bytes[at + 2]! << 16;
  if (rest >= 2) k ^= bytes[at + 1]! << 8;
  if (rest >= 1) {
    k ^= bytes[at]!;
    k = Math.imul(k, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, 0x1b873593);
    h ^= k;
  }
  return fmix32(h ^ bytes.length);
}

const encoder = new TextEncoder();

describe('murmur3', () => {
  it('matches the published MurmurHash3 x86_32 test vectors', () => {
    expect(murmur3('')).toBe(0);
    expect(murmur3('', 1)).toBe(0x514e28b7);
    expect(murmur3('', 0xffffffff)).toBe(0x81f16f39);
    expect(murmur3('hello')).toBe(0x248bfa47);
    expect(murmur3('Hello, world!', 1234)).toBe(0xfaf6cdb3);
    expect(murmur3('The quick brown fox jumps over the lazy dog')).toBe(0x2e4ff723);
  });

  it('hashes the UTF-8 bytes of any string, surrogates included', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 40 }), fc.integer(), (s, seed) => {
        expect(murmur3(s, seed)).toBe(reference(encoder.encode(s), seed));
      }),
      { numRuns: 300 },
    );
  });

  it('hashes a slice without making one', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 30 }), fc.nat(), fc.nat(), (s, a, b) => {
        const start = Math.min(a % (s.length + 1), b % (s.length + 1));
        const end = Math.max(a % (s.length + 1), b % (s.length + 1));
        expect(murmur3(s, 7, start, end)).toBe(murmur3(s.slice(start, end), 7));
      }),
    );
  });

  it('spreads sequential keys evenly over 16 buckets (chi-square below the 0.1% critical value)', () => {
    const buckets = new Array<number>(16).fill(0);
    const n = 160_000;
    for (let i = 0; i < n; i++) buckets[murmur3(`10.0.${i >> 8}.${i & 255}`) & 15]!++;
    const expected = n / 16;
    const chi2 = buckets.reduce((sum, count) => sum + (count - expected) ** 2 / expected, 0);
    // 15 degrees of freedom: P(chi2 > 37.7) = 0.001.
    expect(chi2).toBeLessThan(37.7);
  });

  it('gives the same hashes prepared once for many seeds', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: 'binary', maxLength: 40 }),
        fc.array(fc.integer(), { maxLength: 8 }),
        (s, seeds) => {
          const prepared = new PreparedMurmur3(s);
          for (const seed of [0, 1, ...seeds]) expect(prepared.hash(seed)).toBe(murmur3(s, seed));
        },
      ),
    );
  });
});
