import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import type { Candidate, SelectionContext } from '../../core/strategy.js';
import { leastConnections } from './least-connections.js';
import { seededRandom } from './random.js';

interface TestBackend extends Candidate {
  active: number;
  effectiveWeight: number;
}

const ctx: SelectionContext = {
  req: { headers: {} } as IncomingMessage,
  clientAddress: '10.0.0.1',
  now: 0,
  attempt: 1,
};
const backend = (id: string, weight = 1, active = 0): TestBackend => ({ id, weight, effectiveWeight: weight, active });

describe('leastConnections', () => {
  it('picks the backend with the fewest requests in flight per unit of weight', () => {
    const strategy = leastConnections({ random: seededRandom(1) });
    const all = [backend('a', 1, 3), backend('b', 1, 1), backend('c', 1, 2)];
    expect(strategy.pick(all, ctx)!.id).toBe('b');
    // 4 in flight at weight 4 (1 per unit) beats 2 in flight at weight 1.
    const weighted = [backend('a', 1, 2), backend('b', 4, 4)];
    expect(strategy.pick(weighted, ctx)!.id).toBe('b');
  });

  it('breaks ties uniformly among equal weights: 4 idle backends get 1/4 each of 40k picks within 5% relative', () => {
    const strategy = leastConnections({ random: seededRandom(2) });
    const all = ['a', 'b', 'c', 'd'].map((id) => backend(id));
    const counts = new Map<string, number>();
    for (let i = 0; i < 40_000; i++) {
      const id = strategy.pick(all, ctx)!.id;
      counts.set(id, (counts.get(id) ?? 0) + 1);
    }
    for (const count of counts.values()) expect(Math.abs(count / 40_000 - 0.25) / 0.25).toBeLessThan(0.05);
  });

  it('breaks ties in proportion to weight: idle weights 1 and 3 get 1/4 and 3/4 within 5% relative', () => {
    const strategy = leastConnections({ random: seededRandom(3) });
    const all = [backend('a', 1), backend('b', 3)];
    let a = 0;
    for (let i = 0; i < 40_000; i++) if (strategy.pick(all, ctx)!.id === 'a') a++;
    expect(Math.abs(a / 40_000 - 0.25) / 0.25).toBeLessThan(0.05);
  });

  it('shares 100k requests of a closed loop in proportion to weights 1,2,3 within 5% relative', () => {
    const random = seededRandom(4);
    const strategy = leastConnections({ random: seededRandom(5) });
    const all = [backend('a', 1), backend('b', 2), backend('c', 3)];
    const inFlight: TestBackend[] = [];
    const picks = new Map<string, number>();
    const start = (): void => {
      const b = strategy.pick(all, ctx) as TestBackend;
      b.active++;
      inFlight.push(b);
      picks.set(b.id, (picks.get(b.id) ?? 0) + 1);
    };
    for (let i = 0; i < 60; i++) start();
    for (let i = 0; i < 100_000; i++) {
      // A uniformly random in-flight request completes (identical backends), then a new one arrives.
      const j = Math.floor(random() * inFlight.length);
      const done = inFlight[j]!;
      inFlight[j] = inFlight[inFlight.length - 1]!;
      inFlight.pop();
      done.active--;
      start();
    }
    const total = 100_060;
    const expected: Record<string, number> = { a: 1 / 6, b: 2 / 6, c: 3 / 6 };
    for (const [id, count] of picks) expect(Math.abs(count / total - expected[id]!) / expected[id]!).toBeLessThan(0.05);
  });

  it('treats all-zero weights as equal', () => {
    const strategy = leastConnections({ random: seededRandom(6) });
    const all = [backend('a', 0, 2), backend('b', 0, 1)];
    expect(strategy.pick(all, ctx)!.id).toBe('b');
  });
});
