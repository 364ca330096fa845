import { describe, expect, it } from 'vitest';
import { backend, ctxAt, share, simulate } from '../../../test/strategy-simulation.js';
import { ConfigError } from '../../core/errors.js';
import { p2c } from './p2c.js';
import { seededRandom } from './random.js';

describe('p2c', () => {
  it('shares 5 identical backends evenly: each gets 1/5 of 20k requests within 10% relative (measured 0.6%)', () => {
    const all = ['a', 'b', 'c', 'd', 'e'].map((id) => backend(id));
    const windows = simulate(p2c({ random: seededRandom(1) }), all, { latency: () => 10 }, { durationMs: 10_000 });
    const total = new Map<string, number>();
    for (const w of windows) for (const [id, n] of w) total.set(id, (total.get(id) ?? 0) + n);
    for (const n of total.values()) expect(Math.abs(n / 20_000 - 0.2) / 0.2).toBeLessThan(0.1);
  });

  it('moves traffic off a backend that turns slow within 1 s of simulated time (share < 2%, fair is 20%; measured 0.4%)', () => {
    const all = ['a', 'b', 'c', 'd', 'e'].map((id) => backend(id));
    const windows = simulate(
      p2c({ random: seededRandom(2) }),
      all,
      { latency: (b, now) => (b.id === 'c' && now >= 5_000 ? 300 : 10) },
      { durationMs: 10_000 },
    );
    expect(share(windows[4]!, 'c')).toBeGreaterThan(0.15); // before: its fair share
    for (const w of windows.slice(5)) expect(share(w, 'c')).toBeLessThan(0.02);
  });

  it('avoids a backend that fails fast: failures count as slow (share < 1% from the first second on; measured 0.7%, then 0)', () => {
    const all = ['a', 'b', 'c', 'd', 'e'].map((id) => backend(id));
    const windows = simulate(
      p2c({ random: seededRandom(3) }),
      all,
      { latency: (b) => (b.id === 'e' ? 1 : 20), ok: (b) => b.id !== 'e' },
      { durationMs: 5_000 },
    );
    for (const w of windows) expect(share(w, 'e')).toBeLessThan(0.01);
  });

  it('sends traffic back to a backend that recovered: a share > 10% within 30 s (measured 15.5%)', () => {
    const all = ['a', 'b', 'c', 'd', 'e'].map((id) => backend(id));
    const windows = simulate(
      p2c({ random: seededRandom(4) }),
      all,
      { latency: (b, now) => (b.id === 'c' && now >= 2_000 && now < 10_000 ? 300 : 10) },
      { durationMs: 45_000 },
    );
    expect(share(windows[9]!, 'c')).toBeLessThan(0.03);
    expect(share(windows[40]!, 'c')).toBeGreaterThan(0.1);
  });

  it('gives a new backend one probe at a time until its first response', () => {
    const strategy = p2c({ random: seededRandom(5) });
    const a = backend('a');
    const fresh = backend('fresh');
    strategy.update?.([a, fresh]);
    strategy.observe?.(a, { latencyMs: 50, ok: true, now: 0 });
    a.active = 10;
    expect(strategy.pick([a, fresh], ctxAt(1))).toBe(fresh); // no history, nothing pending: cost 0
    fresh.active = 1;
    expect(strategy.pick([a, fresh], ctxAt(2))).toBe(a); // no history, one pending: penalty
  });

  it('takes a slow sample at once (peak) and decays toward faster ones with tau', () => {
    const strategy = p2c({ decay: 1000, random: seededRandom(6) });
    const a = backend('a');
    const b = backend('b');
    strategy.update?.([a, b]);
    strategy.observe?.(a, { latencyMs: 10, ok: true, now: 0 });
    strategy.observe?.(b, { latencyMs: 15, ok: true, now: 0 });
    expect(strategy.pick([a, b], ctxAt(0))).toBe(a);
    strategy.observe?.(a, { latencyMs: 100, ok: true, now: 10 }); // peak: cost 100 at once
    expect(strategy.pick([a, b], ctxAt(10))).toBe(b);
    // Fast samples again: after a few tau the 100 ms peak is forgotten.
    for (let t = 20; t <= 5_000; t += 10) strategy.observe?.(a, { latencyMs: 10, ok: true, now: t });
    strategy.observe?.(b, { latencyMs: 15, ok: true, now: 5_000 });
    expect(strategy.pick([a, b], ctxAt(5_000))).toBe(a);
  });

  it('divides load by effectiveWeight', () => {
    const strategy = p2c({ random: seededRandom(7) });
    const a = backend('a', 1);
    const b = backend('b', 4);
    strategy.update?.([a, b]);
    strategy.observe?.(a, { latencyMs: 10, ok: true, now: 0 });
    strategy.observe?.(b, { latencyMs: 10, ok: true, now: 0 });
    a.active = 1;
    b.active = 3; // 10·2/1 = 20 vs 10·4/4 = 10
    expect(strategy.pick([a, b], ctxAt(0))).toBe(b);
  });

  it('rejects a decay of 0 with a ConfigError naming the option', () => {
    expect(() => p2c({ decay: 0 })).toThrow(ConfigError);
    expect(() => p2c({ decay: 0 })).toThrow(/strategy\.decay/);
  });
});
