import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LatencyWindow } from './latency-window.js';

function exact(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)] as number;
}

describe('LatencyWindow', () => {
  it('reports zeros before any sample', () => {
    expect(new LatencyWindow({ windowMs: 60_000, slots: 6 }).summary(0)).toEqual({
      count: 0,
      mean: 0,
      p50: 0,
      p95: 0,
      p99: 0,
    });
  });

  it('estimates quantiles within 4.5 % of the exact nearest-rank value', () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: 0.01, max: 600_000, noNaN: true }), { minLength: 1, maxLength: 500 }),
        (values) => {
          const window = new LatencyWindow({ windowMs: 60_000, slots: 6 });
          for (const v of values) window.record(v, 1000);
          const summary = window.summary(1000);
          expect(summary.count).toBe(values.length);
          for (const [q, got] of [
            [0.5, summary.p50],
            [0.95, summary.p95],
            [0.99, summary.p99],
          ] as const) {
            const want = exact(values, q);
            expect(Math.abs(got - want) / want).toBeLessThanOrEqual(0.045);
          }
        },
      ),
    );
  });

  it('computes the mean exactly', () => {
    const window = new LatencyWindow({ windowMs: 10_000, slots: 5 });
    for (const v of [1, 2, 3, 10]) window.record(v, 0);
    expect(window.summary(0).mean).toBe(4);
  });

  it('forgets samples older than the window', () => {
    const window = new LatencyWindow({ windowMs: 60_000, slots: 6 });
    window.record(1000, 0);
    window.record(5, 30_000);
    expect(window.summary(30_000).count).toBe(2);
    expect(window.summary(65_000).count).toBe(1);
    expect(window.summary(65_000).p99).toBeCloseTo(5, 0);
    expect(window.summary(100_000).count).toBe(0);
  });

  it('clears a reused slot instead of mixing in samples from a whole window ago', () => {
    const window = new LatencyWindow({ windowMs: 60_000, slots: 6 });
    window.record(1000, 5_000);
    window.record(2, 65_000); // same ring slot, one window later
    const summary = window.summary(65_000);
    expect(summary.count).toBe(1);
    expect(summary.p99).toBeLessThan(3);
  });

  it('keeps values below 1 µs and beyond the top bucket bounded', () => {
    const window = new LatencyWindow({ windowMs: 60_000, slots: 6 });
    window.record(0, 0);
    window.record(-1, 0);
    window.record(1e12, 0);
    const summary = window.summary(0);
    expect(summary.count).toBe(3);
    expect(summary.p50).toBe(0);
    expect(Number.isFinite(summary.p99)).toBe(true);
  });
});
