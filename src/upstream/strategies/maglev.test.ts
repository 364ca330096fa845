import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../core/errors.js';
import type { Candidate, SelectionContext, Strategy } from '../../core/strategy.js';
import { isPrime, type MaglevOptions, maglev, nextPrime } from './maglev.js';
import { seededRandom } from './random.js';

interface TestBackend extends Candidate {
  weight: number;
}

const req = { headers: {} } as IncomingMessage;
const ctxFor = (clientAddress: string, attempt = 1): SelectionContext => ({ req, clientAddress, now: 0, attempt });
const backend = (id: string, weight = 1): TestBackend => ({ id, weight, effectiveWeight: weight, active: 0 });
const backends = (n: number): TestBackend[] => Array.from({ length: n }, (_, i) => backend(`b${i}`));

function keys(n: number, seed = 1): string[] {
  const random = seededRandom(seed);
  return Array.from({ length: n }, () => {
    const x = Math.floor(random() * 2 ** 32);
    return `${x >>> 24}.${(x >>> 16) & 255}.${(x >>> 8) & 255}.${x & 255}`;
  });
}

function assign(strategy: Strategy<TestBackend>, candidates: TestBackend[], ks: string[]): string[] {
  return ks.map((k) => strategy.pick(candidates, ctxFor(k))!.id);
}

function table(all: TestBackend[], options: MaglevOptions = {}) {
  const strategy = maglev<TestBackend>(options);
  strategy.update?.(all);
  return strategy;
}

function countShares(ids: string[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const id of ids) counts.set(id, (counts.get(id) ?? 0) + 1 / ids.length);
  return counts;
}

describe('maglev', () => {
  it('gives each of 10 backends 1/10 of 100k keys within 5% relative (measured max 1.3%)', () => {
    const all = backends(10);
    const shares = countShares(assign(table(all), all, keys(100_000)));
    expect(shares.size).toBe(10);
    for (const share of shares.values()) expect(Math.abs(share - 0.1) / 0.1).toBeLessThan(0.05);
  });

  it('gives weights 1,2,3,4 shares 0.1..0.4 of 100k keys within 5% relative (measured 0.4%)', () => {
    const all = [backend('a', 1), backend('b', 2), backend('c', 3), backend('d', 4)];
    const shares = countShares(assign(table(all), all, keys(100_000, 2)));
    const expected: Record<string, number> = { a: 0.1, b: 0.2, c: 0.3, d: 0.4 };
    for (const [id, share] of shares) expect(Math.abs(share - expected[id]!) / expected[id]!).toBeLessThan(0.05);
  });

  it('handles extreme weight ratios quickly and keeps the light backend in the table', () => {
    const all = [backend('heavy', 1_000_000), ...Array.from({ length: 999 }, (_, i) => backend(`light${i}`, 1))];
    const start = performance.now();
    const strategy = table(all);
    expect(performance.now() - start).toBeLessThan(2000);
    // Every backend takes a slot in the first round (as in Envoy): 999 of 65537 slots are light.
    const shares = countShares(assign(strategy, all, keys(20_000, 10)));
    expect(shares.get('heavy')!).toBeGreaterThan(0.98);
    expect(shares.size).toBeGreaterThan(200);
  });

  it('moves at most 1.5/(N+1) of 10k keys when an 11th backend joins 10, over 90% of them to the newcomer', () => {
    const ks = keys(10_000, 3);
    const ten = backends(10);
    const before = assign(table(ten), ten, ks);
    const eleven = [...ten, backend('b10')];
    const after = assign(table(eleven), eleven, ks);
    let moved = 0;
    let toNewcomer = 0;
    for (let i = 0; i < ks.length; i++) {
      if (before[i] !== after[i]) {
        moved++;
        if (after[i] === 'b10') toNewcomer++;
      }
    }
    // Ideal is 1/11 = 9.1%, all to the newcomer; Maglev also reshuffles a little between
    // the others (Envoy's docs warn of up to ~2x a ring's movement for small tables).
    // Measured with M = 65537 over 4 seeds: 1.01-1.07/(N+1) moved, 97% of them to the newcomer.
    expect(moved / ks.length).toBeLessThanOrEqual(1.5 / 11);
    expect(toNewcomer / moved).toBeGreaterThan(0.9);
  });

  it('moves no other key when a backend drops out of the candidates (0 others move), and all back when it returns', () => {
    const ks = keys(10_000, 4);
    const all = backends(10);
    const strategy = table(all);
    const before = assign(strategy, all, ks);
    const eligible = all.filter((b) => b.id !== 'b6');
    const after = assign(strategy, eligible, ks);
    const receivers = new Set<string>();
    for (let i = 0; i < ks.length; i++) {
      if (before[i] === 'b6') receivers.add(after[i]!);
      else expect(after[i]).toBe(before[i]);
    }
    expect(receivers.size).toBe(9); // the failed backend's keys spread over all the others
    expect(assign(strategy, all, ks)).toEqual(before);
  });

  it('moves few other keys when a backend is removed from the set: at most 2% of the rest (measured 0.5%)', () => {
    const ks = keys(10_000, 5);
    const ten = backends(10);
    const before = assign(table(ten), ten, ks);
    const nine = ten.filter((b) => b.id !== 'b6');
    const after = assign(table(nine), nine, ks);
    let others = 0;
    let othersMoved = 0;
    for (let i = 0; i < ks.length; i++) {
      if (before[i] === 'b6') continue;
      others++;
      if (after[i] !== before[i]) othersMoved++;
    }
    // Unlike the ring, a rebuild is not perfectly stable (Eisenbud et al. §3.4): the
    // removed backend's slots go first to others whose permutations wanted them.
    expect(othersMoved / others).toBeLessThanOrEqual(0.02);
  });

  it('sends a retry to another backend', () => {
    const all = backends(5);
    const strategy = table(all);
    for (const k of keys(200, 6)) {
      const first = strategy.pick(all, ctxFor(k))!;
      const second = strategy.pick(
        all.filter((b) => b !== first),
        ctxFor(k, 2),
      )!;
      expect(second).not.toBe(first);
    }
  });

  it('maps keys the same whatever order backends were added in', () => {
    const ks = keys(2000, 7);
    const all = backends(20);
    expect(assign(table([...all].reverse()), all, ks)).toEqual(assign(table(all), all, ks));
  });

  it('grows the table for that build when there are more backends than slots', () => {
    const all = backends(20);
    const strategy = table(all, { tableSize: 7 });
    expect(strategy.tableSize).toBe(nextPrime(2000));
    expect(new Set(assign(strategy, all, keys(5000, 8))).size).toBe(20);
    strategy.update?.(all.slice(0, 5));
    expect(strategy.tableSize).toBe(7);
  });

  it('builds a table even when a weight is vanishingly small next to another', () => {
    for (const tiny of [5e-324, 1e-300, 1e-20]) {
      const all = [backend('big', 1e10), backend('tiny', tiny), backend('one', 1)];
      const strategy = table(all, { tableSize: 251 });
      expect(strategy.tableSize).toBe(251);
      expect(strategy.pick([all[1]!], ctxFor('1.1.1.1'))).toBe(all[1]);
    }
  });

  it('treats all-zero weights as equal', () => {
    const all = [backend('a', 0), backend('b', 0)];
    const shares = countShares(assign(table(all), all, keys(10_000, 9)));
    expect(Math.abs(shares.get('a')! - 0.5)).toBeLessThan(0.05);
  });

  it('rejects a table size that is not prime with a ConfigError naming the option', () => {
    expect(() => maglev({ tableSize: 65536 })).toThrow(ConfigError);
    expect(() => maglev({ tableSize: 65536 })).toThrow(/strategy\.tableSize.*prime/);
    expect(() => maglev({ tableSize: 1 })).toThrow(/strategy\.tableSize/);
    expect(() => maglev({ tableSize: 5_000_101 })).toThrow(/strategy\.tableSize/);
    expect(() => maglev({ key: { cookie: '' } })).toThrow(/strategy\.key\.cookie/);
  });

  it('knows its primes', () => {
    expect([2, 3, 5, 7, 65537, 5_000_011].every(isPrime)).toBe(true);
    expect([0, 1, 4, 9, 65535, 65536, 2.5, -7].some(isPrime)).toBe(false);
    expect(nextPrime(65536)).toBe(65537);
  });
});
