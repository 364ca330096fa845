import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import type { Candidate, SelectionContext } from '../../core/strategy.js';
import { random, seededRandom } from './random.js';
import { weightedRandom } from './weighted-random.js';

const ctx: SelectionContext = {
  req: { headers: {} } as IncomingMessage,
  clientAddress: '10.0.0.1',
  now: 0,
  attempt: 1,
};
const backend = (id: string, weight = 1): Candidate => ({ id, weight, effectiveWeight: weight, active: 0 });

function shares(pick: () => Candidate, n: number): Map<string, number> {
  const counts = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const id = pick().id;
    counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  for (const [id, count] of counts) counts.set(id, count / n);
  return counts;
}

describe('seededRandom', () => {
  it('repeats the same sequence for the same seed and stays in [0, 1)', () => {
    const a = seededRandom(9);
    const b = seededRandom(9);
    for (let i = 0; i < 1000; i++) {
      const x = a();
      expect(x).toBe(b());
      expect(x).toBeGreaterThanOrEqual(0);
      expect(x).toBeLessThan(1);
    }
  });
});

describe('random', () => {
  it('gives each of 5 backends 1/5 of 100k picks within 5% relative', () => {
    const all = ['a', 'b', 'c', 'd', 'e'].map((id) => backend(id));
    const strategy = random({ random: seededRandom(1) });
    const got = shares(() => strategy.pick(all, ctx)!, 100_000);
    expect(got.size).toBe(5);
    for (const share of got.values()) expect(Math.abs(share - 0.2) / 0.2).toBeLessThan(0.05);
  });

  it('survives a random source that returns 1 or NaN', () => {
    const all = [backend('a'), backend('b')];
    expect(random({ random: () => 1 }).pick(all, ctx)).toBe(all[1]);
    expect(random({ random: () => Number.NaN }).pick(all, ctx)).toBe(all[0]);
  });
});

describe('weightedRandom', () => {
  it('gives weights 1,2,3,4 shares of 0.1,0.2,0.3,0.4 over 100k picks within 5% relative', () => {
    const all = [backend('a', 1), backend('b', 2), backend('c', 3), backend('d', 4)];
    const strategy = weightedRandom({ random: seededRandom(2) });
    const got = shares(() => strategy.pick(all, ctx)!, 100_000);
    const expected: Record<string, number> = { a: 0.1, b: 0.2, c: 0.3, d: 0.4 };
    for (const [id, share] of got) expect(Math.abs(share - expected[id]!) / expected[id]!).toBeLessThan(0.05);
  });

  it('reads effectiveWeight live, so a slow-start ramp counts at once', () => {
    const a = backend('a', 1);
    const b = { ...backend('b', 1), effectiveWeight: 0.1 };
    const strategy = weightedRandom({ random: seededRandom(3) });
    const got = shares(() => strategy.pick([a, b], ctx)!, 50_000);
    expect(Math.abs(got.get('b')! - 0.1 / 1.1) / (0.1 / 1.1)).toBeLessThan(0.05);
  });

  it('treats all-zero weights as equal (within 5% relative)', () => {
    const all = [backend('a', 0), backend('b', 0)];
    const strategy = weightedRandom({ random: seededRandom(4) });
    const got = shares(() => strategy.pick(all, ctx)!, 50_000);
    expect(Math.abs(got.get('a')! - 0.5) / 0.5).toBeLessThan(0.05);
  });

  it('never picks a zero-weight backend next to a weighted one', () => {
    const all = [backend('a', 0), backend('b', 3)];
    const strategy = weightedRandom({ random: seededRandom(5) });
    for (let i = 0; i < 10_000; i++) expect(strategy.pick(all, ctx)!.id).toBe('b');
  });
});
