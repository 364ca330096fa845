import { describe, expect, it } from 'vitest';
import { Gradient2Limiter } from './gradient2.js';

const opts = { initialLimit: 20, minLimit: 1, maxLimit: 200 };

describe('Gradient2Limiter', () => {
  it('grows while latency stays steady and low with the limit in use', () => {
    const limiter = new Gradient2Limiter(opts);
    for (let i = 0; i < 50; i++) limiter.update(10, Math.ceil(limiter.limit), false);
    // +queueSize·smoothing = +0.8 per sample
    expect(limiter.limit).toBeCloseTo(20 + 50 * 0.8, 5);
  });

  it('falls when latency rises well above its long-term average', () => {
    const limiter = new Gradient2Limiter(opts);
    for (let i = 0; i < 100; i++) limiter.update(10, Math.ceil(limiter.limit), false);
    const before = limiter.limit;
    const limits: number[] = [];
    for (let rtt = 20; rtt <= 200; rtt += 10) {
      limiter.update(rtt, Math.ceil(limiter.limit), false);
      limits.push(limiter.limit);
    }
    expect(limits.at(-1)).toBeLessThan(before / 2);
    // Monotone once the latency passes the tolerance (1.5x the long-term RTT).
    const falling = limits.slice(1);
    for (let i = 1; i < falling.length; i++) expect(falling[i]).toBeLessThanOrEqual(falling[i - 1] as number);
  });

  it('does not grow while fewer than half the limit are in flight', () => {
    const limiter = new Gradient2Limiter(opts);
    for (let i = 0; i < 50; i++) limiter.update(10, 5, false);
    expect(limiter.limit).toBe(20);
  });

  it('stays within minLimit and maxLimit', () => {
    const limiter = new Gradient2Limiter({ initialLimit: 10, minLimit: 9, maxLimit: 12 });
    for (let i = 0; i < 50; i++) limiter.update(10, 12, false);
    expect(limiter.limit).toBe(12);
    // Under lasting overload Gradient2 settles at 2·queueSize (8): the floor holds it at 9.
    for (let i = 0; i < 20; i++) limiter.update(10_000, 12, true);
    expect(limiter.limit).toBe(9);
  });

  it('recovers after an overload ends', () => {
    const limiter = new Gradient2Limiter(opts);
    for (let i = 0; i < 20; i++) limiter.update(10, Math.ceil(limiter.limit), false);
    for (let i = 0; i < 50; i++) limiter.update(500, Math.ceil(limiter.limit), false);
    const low = limiter.limit;
    for (let i = 0; i < 50; i++) limiter.update(10, Math.ceil(limiter.limit), false);
    expect(limiter.limit).toBeGreaterThan(low + 10);
  });
});
