import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import type { Candidate, SelectionContext } from '../../core/strategy.js';
import { roundRobin } from './round-robin.js';

const ctx: SelectionContext = {
  req: { headers: {} } as IncomingMessage,
  clientAddress: '10.0.0.1',
  now: 0,
  attempt: 1,
};
const backend = (id: string, weight = 1): Candidate => ({ id, weight, effectiveWeight: weight, active: 0 });

describe('roundRobin', () => {
  it('takes the candidates in turn', () => {
    const all = [backend('a'), backend('b'), backend('c')];
    const strategy = roundRobin();
    strategy.update?.(all);
    const seq = Array.from({ length: 7 }, () => strategy.pick(all, ctx)?.id).join(' ');
    expect(seq).toBe('a b c a b c a');
  });

  it('gives every backend exactly the same share, whatever the weights (tolerance 0)', () => {
    const all = [backend('a', 5), backend('b', 1), backend('c', 2), backend('d', 1)];
    const strategy = roundRobin();
    const counts = new Map<string, number>();
    for (let i = 0; i < 4000; i++) {
      const id = strategy.pick(all, ctx)!.id;
      counts.set(id, (counts.get(id) ?? 0) + 1);
    }
    expect([...counts.values()]).toEqual([1000, 1000, 1000, 1000]);
  });

  it('moves on to another backend when a retry excludes the one just tried', () => {
    const all = [backend('a'), backend('b'), backend('c')];
    const strategy = roundRobin();
    for (let i = 0; i < 30; i++) {
      const first = strategy.pick(all, ctx)!;
      const rest = all.filter((b) => b !== first);
      const second = strategy.pick(rest, { ...ctx, attempt: 2 })!;
      expect(rest).toContain(second);
    }
  });
});
