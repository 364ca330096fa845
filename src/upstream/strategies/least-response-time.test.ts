import { describe, expect, it } from 'vitest';
import { backend, ctxAt, share, simulate } from '../../../test/strategy-simulation.js';
import { leastResponseTime } from './least-response-time.js';
import { seededRandom } from './random.js';

describe('leastResponseTime', () => {
  it('shares 5 identical backends evenly: each gets 1/5 of 20k requests within 10% relative (measured exact)', () => {
    const all = ['a', 'b', 'c', 'd', 'e'].map((id) => backend(id));
    const strategy = leastResponseTime({ random: seededRandom(1) });
    const windows = simulate(strategy, all, { latency: () => 10 }, { durationMs: 10_000 });
    const total = new Map<string, number>();
    for (const w of windows) for (const [id, n] of w) total.set(id, (total.get(id) ?? 0) + n);
    for (const n of total.values()) expect(Math.abs(n / 20_000 - 0.2) / 0.2).toBeLessThan(0.1);
  });

  it('sends a backend 30x slower than the rest less than 2% of traffic within 1 s (fair is 20%; measured 0.45%)', () => {
    const all = ['a', 'b', 'c', 'd', 'e'].map((id) => backend(id));
    const strategy = leastResponseTime({ random: seededRandom(2) });
    const windows = simulate(
      strategy,
      all,
      { latency: (b, now) => (b.id === 'c' && now >= 5_000 ? 300 : 10) },
      { durationMs: 10_000 },
    );
    expect(share(windows[4]!, 'c')).toBeGreaterThan(0.15);
    for (const w of windows.slice(5)) expect(share(w, 'c')).toBeLessThan(0.02);
  });

  it('avoids a backend that fails fast (share < 2% after the first second; measured 0)', () => {
    const all = ['a', 'b', 'c', 'd', 'e'].map((id) => backend(id));
    const strategy = leastResponseTime({ random: seededRandom(3) });
    const windows = simulate(
      strategy,
      all,
      { latency: (b) => (b.id === 'e' ? 1 : 20), ok: (b) => b.id !== 'e' },
      { durationMs: 5_000 },
    );
    for (const w of windows.slice(1)) expect(share(w, 'e')).toBeLessThan(0.02);
  });

  it('assumes a backend without samples is as fast as the average of the others', () => {
    const strategy = leastResponseTime({ random: seededRandom(4) });
    const a = backend('a');
    const b = backend('b');
    const fresh = backend('fresh');
    strategy.update?.([a, b, fresh]);
    strategy.observe?.(a, { latencyMs: 10, ok: true, now: 0 });
    strategy.observe?.(b, { latencyMs: 30, ok: true, now: 0 });
    // fresh is guessed at 20 ms: 20·(2+1) = 60 loses to a at 10·(1+1) = 20 ...
    fresh.active = 2;
    a.active = 1;
    expect(strategy.pick([a, b, fresh], ctxAt(1))).toBe(a);
    // ... and 20·1 beats b at 30·1 and a at 10·(2+1).
    fresh.active = 0;
    a.active = 2;
    expect(strategy.pick([a, b, fresh], ctxAt(1))).toBe(fresh);
  });

  it('behaves as least connections before any sample, ties broken at random', () => {
    const strategy = leastResponseTime({ random: seededRandom(5) });
    const all = [backend('a'), backend('b'), backend('c')];
    all[0]!.active = 1;
    const seen = new Set<string>();
    for (let i = 0; i < 100; i++) seen.add(strategy.pick(all, ctxAt(0))!.id);
    expect([...seen].sort()).toEqual(['b', 'c']);
  });
});
