import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import type { Candidate, SelectionContext } from '../../core/strategy.js';
import { seededRandom } from './random.js';
import { weightedRoundRobin } from './weighted-round-robin.js';

interface TestBackend extends Candidate {
  weight: number;
  effectiveWeight: number;
}

const ctx: SelectionContext = {
  req: { headers: {} } as IncomingMessage,
  clientAddress: '10.0.0.1',
  now: 0,
  attempt: 1,
};
const backend = (id: string, weight = 1): TestBackend => ({ id, weight, effectiveWeight: weight, active: 0 });

describe('weightedRoundRobin', () => {
  it('gives a a b a c a a for weights 5,1,1', () => {
    const all = [backend('a', 5), backend('b', 1), backend('c', 1)];
    const strategy = weightedRoundRobin();
    strategy.update?.(all);
    const seq = Array.from({ length: 14 }, () => strategy.pick(all, ctx)?.id).join(' ');
    expect(seq).toBe('a a b a c a a a a b a c a a');
  });

  it('gives each backend exactly its weight in every full cycle (tolerance 0)', () => {
    const all = [backend('a', 3), backend('b', 2), backend('c', 1), backend('d', 4)];
    const strategy = weightedRoundRobin();
    strategy.update?.(all);
    for (let cycle = 0; cycle < 50; cycle++) {
      const counts: Record<string, number> = { a: 0, b: 0, c: 0, d: 0 };
      for (let i = 0; i < 10; i++) counts[strategy.pick(all, ctx)!.id]!++;
      expect(counts).toEqual({ a: 3, b: 2, c: 1, d: 4 });
    }
  });

  it('continues the sequence across an update with the same weights', () => {
    const all = [backend('a', 5), backend('b', 1), backend('c', 1)];
    const strategy = weightedRoundRobin();
    strategy.update?.(all);
    const seq: string[] = [];
    for (let i = 0; i < 3; i++) seq.push(strategy.pick(all, ctx)!.id);
    strategy.update?.([...all]);
    for (let i = 0; i < 4; i++) seq.push(strategy.pick(all, ctx)!.id);
    expect(seq.join(' ')).toBe('a a b a c a a');
  });

  it('keeps every backend within 1 pick of its ideal share across random weight changes (measured 0.84)', () => {
    const random = seededRandom(42);
    const all = [backend('a', 1), backend('b', 1), backend('c', 1), backend('d', 1)];
    const strategy = weightedRoundRobin();
    strategy.update?.(all);
    // ideal[i] = sum over picks of w_i / W at that pick; a fair scheduler stays close to it in every prefix.
    const ideal = [0, 0, 0, 0];
    const counts = [0, 0, 0, 0];
    let worst = 0;
    for (let step = 0; step < 20_000; step++) {
      if (step % 37 === 0) {
        for (const b of all) {
          b.weight = 1 + Math.floor(random() * 9);
          b.effectiveWeight = b.weight;
        }
        strategy.update?.(all);
      }
      const total = all.reduce((sum, b) => sum + b.effectiveWeight, 0);
      all.forEach((b, i) => {
        ideal[i]! += b.effectiveWeight / total;
      });
      counts[all.indexOf(strategy.pick(all, ctx) as TestBackend)]!++;
      for (let i = 0; i < 4; i++) worst = Math.max(worst, Math.abs(counts[i]! - ideal[i]!));
    }
    expect(worst).toBeLessThan(1);
  });

  it('gives no burst to a backend that earned credit under weights that then shrink', () => {
    const a = backend('a', 100);
    const b = backend('b', 1);
    const strategy = weightedRoundRobin();
    strategy.update?.([a, b]);
    for (let i = 0; i < 100; i++) strategy.pick([a, b], ctx);
    a.weight = a.effectiveWeight = 1;
    strategy.update?.([a, b]);
    const seq = Array.from({ length: 20 }, () => strategy.pick([a, b], ctx)!.id).join('');
    expect(seq).not.toMatch(/aaa|bbb/);
  });

  it('tracks a slow-start ramp of effectiveWeight without an update', () => {
    const a = backend('a', 1);
    const b = backend('b', 1);
    const strategy = weightedRoundRobin();
    strategy.update?.([a, b]);
    b.effectiveWeight = 0.25;
    const counts = { a: 0, b: 0 };
    for (let i = 0; i < 1000; i++) counts[strategy.pick([a, b], ctx)!.id as 'a' | 'b']++;
    expect(counts).toEqual({ a: 800, b: 200 });
    b.effectiveWeight = 1;
    for (let i = 0; i < 1000; i++) counts[strategy.pick([a, b], ctx)!.id as 'a' | 'b']++;
    expect(Math.abs(counts.a - 1300)).toBeLessThanOrEqual(1);
  });

  it('treats all-zero weights as equal', () => {
    const all = [backend('a', 0), backend('b', 0), backend('c', 0)];
    const strategy = weightedRoundRobin();
    strategy.update?.(all);
    const counts = { a: 0, b: 0, c: 0 };
    for (let i = 0; i < 300; i++) counts[strategy.pick(all, ctx)!.id as 'a' | 'b' | 'c']++;
    expect(counts).toEqual({ a: 100, b: 100, c: 100 });
  });

  it('does not credit a backend while it is left out of the candidates', () => {
    const all = [backend('a', 1), backend('b', 1)];
    const strategy = weightedRoundRobin();
    strategy.update?.(all);
    for (let i = 0; i < 100; i++) expect(strategy.pick([all[0]!], ctx)!.id).toBe('a');
    // Back in: b must not get a burst of 100 picks in a row.
    const seq = Array.from({ length: 6 }, () => strategy.pick(all, ctx)!.id).join('');
    expect(seq).toMatch(/^(ab|ba){3}$/);
  });
});
