import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { FixedWindow } from './fixed-window.js';
import type { LimiterSettings } from './limiter.js';
import { MemorySlidingWindow } from './sliding-window.js';
import { DEFAULT_MAX_KEYS, KeyTable } from './sweep.js';
import { MemoryTokenBucket } from './token-bucket.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

function heapUsed(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

const KEYS = 200_000;
/** The documented cost of a key is about 125 B; the bound allows 3x that for Map overhead and GC slack. */
const BYTES_PER_KEY_BOUND = 400;

interface Sized {
  consume(key: string, cost: number): unknown;
  readonly size: number;
}

const settings: LimiterSettings = { name: 't', points: 10, durationMs: 60_000, blockDurationMs: 0 };
const now = () => 1_000_000;
const makers: Array<[string, (maxKeys?: number) => Sized]> = [
  ['fixed window (rate-limiter-flexible)', (maxKeys) => new FixedWindow({ ...settings, maxKeys }, { now })],
  ['sliding window', (maxKeys) => new MemorySlidingWindow({ ...settings, maxKeys }, now)],
  ['token bucket', (maxKeys) => new MemoryTokenBucket({ ...settings, maxKeys }, now)],
];

describe('in-memory rate-limit stores under attacker-chosen keys', () => {
  for (const [name, make] of makers) {
    it(`${name}: 200,000 distinct live keys stay within maxKeys (default ${DEFAULT_MAX_KEYS}) and its memory`, async () => {
      const before = heapUsed();
      const limiter = make();
      for (let i = 0; i < KEYS; i++) await limiter.consume(`attacker-${i}`, 1);
      const grown = heapUsed() - before;
      console.log(
        `${name}: ${KEYS} keys -> ${limiter.size} held, heap +${(grown / 1e6).toFixed(1)} MB ` +
          `(${(grown / limiter.size).toFixed(0)} B/key)`,
      );
      expect(limiter.size).toBeLessThanOrEqual(DEFAULT_MAX_KEYS);
      expect(grown).toBeLessThan(DEFAULT_MAX_KEYS * BYTES_PER_KEY_BOUND);
    });
  }

  it('evicts the least recently used key, so a client that keeps coming keeps its count', async () => {
    const limiter = new MemorySlidingWindow({ ...settings, points: 2, maxKeys: 100 }, now);
    await limiter.consume('regular', 1);
    for (let i = 0; i < 1000; i++) {
      await limiter.consume(`flood-${i}`, 1);
      if (i % 50 === 0) limiter.consume('regular', 0);
    }
    expect(limiter.size).toBeLessThanOrEqual(100);
    // 'regular' was touched recently, so its count survived: one more passes, the next is refused.
    expect(limiter.consume('regular', 1).allowed).toBe(true);
    expect(limiter.consume('regular', 1).allowed).toBe(false);
  });
});

describe('KeyTable', () => {
  it('sweeps expired keys before evicting live ones', () => {
    const table = new KeyTable<{ expiresAt: number }>(3, 1);
    table.set('a', { expiresAt: 10 }, 0);
    table.set('b', { expiresAt: 100 }, 0);
    table.set('c', { expiresAt: 100 }, 0);
    table.set('d', { expiresAt: 100 }, 50);
    expect(table.has('a')).toBe(false);
    expect(table.has('b')).toBe(true);
    table.get('b');
    table.set('e', { expiresAt: 100 }, 50);
    expect(table.has('c')).toBe(false);
    expect(table.has('b')).toBe(true);
    expect(table.size).toBe(3);
  });
});
